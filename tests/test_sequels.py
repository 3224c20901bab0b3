"""Sequels: `generate --continue STORY` writes the next part with the same child, hero, companions
and setting, one line recalling last time and a new small adventure, and is never a copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamflow_cli.cast import series
from dreamflow_cli.errors import UsageError
from dreamflow_cli.story.checks import judge
from dreamflow_cli.story.continuity import copied_sentences, overlap
from tests.helpers import storyteller
from tests.helpers.cli import assert_refused, invoke
from tests.helpers.fakes import CALM_STORY

SECOND_NIGHT = (
    "Mia and the fox planted a tiny seed by the window. They gave it a little water and sang it a song. "
    "The moon peeked in to see the seed. The fox curled up on the windowsill, warm and soft. "
    "Mia yawned, snuggled into her bed and drifted off to sleep. Goodnight, little seed."
)


@pytest.fixture
def teller():
    one = storyteller.Storyteller()
    storyteller.install(one)
    yield one
    storyteller.uninstall()


def write(runner, *args: str) -> dict:
    result = invoke(runner, "generate", *args, "--backend", "scripted", "--no-images", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    return {"summary": summary, "meta": json.loads(Path(summary["metadata_path"]).read_text()),
            "text": (Path(summary["story_dir"]) / "story.md").read_text()}


def first_part(runner) -> dict:
    assert invoke(runner, "characters", "add", "Pip", "--kind", "dragon", "--trait", "counts the stars").exit_code == 0
    return write(runner, "a sleepy fox", "--name", "Mia", "--age", "5", "--theme", "a quiet meadow", "--with", "Pip",
                 "--seed", "4")


def test_a_sequel_keeps_the_child_friends_and_setting_and_records_its_series(runner, isolated, teller):
    first = first_part(runner)
    teller.text_for = lambda prompt, seed: SECOND_NIGHT
    second = write(runner, "--continue", first["summary"]["story_dir"], "--seed", "5")
    meta = second["meta"]
    assert (meta["name"], meta["age"]) == ("Mia", 5)
    assert meta["characters"] == first["meta"]["characters"]  # Pip the dragon, as saved then
    assert meta["series"]["id"] == first["meta"]["story_id"] and meta["series"]["part"] == 2
    assert meta["series"]["previous"] == {"story_id": first["meta"]["story_id"],
                                          "folder": Path(first["summary"]["story_dir"]).name,
                                          "title": first["meta"]["title"]}
    assert meta["series"]["hero"] == "a sleepy fox" and meta["series"]["adventure"] in series.SMALL_ADVENTURES
    assert meta["prompt"] == "a sleepy fox"  # the hero: what the story must be about
    recap = meta["series"]["recap"]
    assert f"“{first['meta']['title']}”" in recap and "Mia" in recap and "the fox" in recap and "Pip" in recap
    body = second["text"].split("\n\n", 2)[2]  # after the title and the scene heading
    assert body.startswith(recap + " ")  # the first line recalls last time
    user = teller.prompts[-1].user
    assert "The story takes place here: a quiet meadow." in user and f"“{first['meta']['title']}”" in user
    assert "Do not retell the earlier one." in user
    assert meta["checks"]["checks"]["not_a_copy"]["passed"]
    assert meta["parent_note"]["part"] == 2 and "Part 2, after" in meta["parent_note"]["text"]


def test_a_third_part_stays_in_the_series_with_a_new_adventure(runner, isolated, teller):
    first = first_part(runner)
    teller.text_for = lambda prompt, seed: SECOND_NIGHT
    second = write(runner, "--continue", first["summary"]["story_dir"])
    teller.text_for = lambda prompt, seed: SECOND_NIGHT.replace("planted a tiny seed by the window",
                                                                "watched the fireflies by the pond")
    third = write(runner, "a picnic by the pond", "--continue", second["summary"]["story_dir"])
    assert third["meta"]["series"]["id"] == first["meta"]["story_id"] and third["meta"]["series"]["part"] == 3
    assert third["meta"]["series"]["hero"] == "a sleepy fox"  # not "a sleepy fox, and …, and …"
    assert third["meta"]["series"]["adventure"] == "a picnic by the pond"  # the prompt is tonight's adventure
    assert third["meta"]["prompt"] == "a sleepy fox"
    assert "Tonight they have a new small adventure: a picnic by the pond." in teller.prompts[-1].user


def test_continue_by_story_id_or_folder_name(runner, isolated, teller):
    first = first_part(runner)
    teller.text_for = lambda prompt, seed: SECOND_NIGHT
    by_id = write(runner, "--continue", first["meta"]["story_id"])
    by_name = write(runner, "--continue", Path(first["summary"]["story_dir"]).name)
    assert by_id["meta"]["series"]["previous"]["story_id"] == first["meta"]["story_id"]
    assert by_name["meta"]["series"]["previous"]["story_id"] == first["meta"]["story_id"]


def test_missing_or_unreadable_stories_are_usage_errors(runner, isolated, teller):
    assert_refused(invoke(runner, "generate", "--continue", "no-such-story", "--backend", "scripted"), 2,
                   "no story folder or story id 'no-such-story'")
    assert_refused(invoke(runner, "generate", "--continue", "0123456789abcdef", "--backend", "scripted"), 2,
                   "no story with id 0123456789abcdef")
    folder = isolated / "stories" / "broken"
    folder.mkdir(parents=True)
    assert_refused(invoke(runner, "generate", "--continue", str(folder), "--backend", "scripted"), 2,
                   "has no story.json")
    (folder / "story.json").write_text("{not json")
    assert_refused(invoke(runner, "generate", "--continue", str(folder), "--backend", "scripted"), 2,
                   "not valid JSON")
    (folder / "story.json").write_text(json.dumps({"story_id": "ab" * 8, "title": "T", "prompt": "a fox"}))
    assert_refused(invoke(runner, "generate", "--continue", str(folder), "--backend", "scripted"), 2,
                   "has no story.md")
    (folder / "story.md").write_bytes(b"\xff\xfe")
    assert_refused(invoke(runner, "generate", "--continue", str(folder), "--backend", "scripted"), 2,
                   "not UTF-8")
    (folder / "story.md").write_text("# T\n\nA fox slept.\n")
    (folder / "story.json").write_text(json.dumps({"story_id": "ab" * 8, "title": "T", "prompt": "a fox",
                                                   "characters": [{"name": "P<i>p", "kind": "cat"}]}))
    assert_refused(invoke(runner, "generate", "--continue", str(folder), "--backend", "scripted"), 2,
                   "characters are damaged")
    (isolated / "a-file").write_text("x")
    assert_refused(invoke(runner, "generate", "--continue", "a-file", "--backend", "scripted"), 2,
                   "is not a story folder")
    assert teller.opened == []  # every refusal came before the model


def test_a_sequel_without_a_prompt_is_fine_but_a_prompt_and_prompts_file_are_not(runner, isolated, teller):
    assert_refused(invoke(runner, "generate", "--backend", "scripted"), 2, "give either a prompt or --prompts-file")


def test_a_batch_line_may_continue_a_story(runner, isolated, teller):
    first = first_part(runner)
    teller.text_for = lambda prompt, seed: SECOND_NIGHT
    line = json.dumps({"continue": first["summary"]["story_dir"]})
    (isolated / "lines.jsonl").write_text(line + "\n" + json.dumps({"continue": "nowhere"}) + "\n")
    result = invoke(runner, "generate", "--prompts-file", "lines.jsonl", "--backend", "scripted", "--no-images",
                    "--json")
    records = [json.loads(r) for r in result.stdout.splitlines()]
    assert result.exit_code == 7 and [r["status"] for r in records] == ["ok", "failed"]
    assert "no story folder or story id 'nowhere'" in records[1]["error"]
    meta = json.loads(Path(records[0]["metadata_path"]).read_text())
    assert meta["series"]["part"] == 2 and meta["name"] == "Mia"


def test_a_copy_of_the_last_part_loses_to_a_new_story(runner, isolated, teller):
    first = first_part(runner)
    # The first draft of the sequel copies last night's story; the second is new.
    teller.text_for = lambda prompt, seed: CALM_STORY if len(teller.opened[-1].calls) == 1 else SECOND_NIGHT
    second = write(runner, "--continue", first["summary"]["story_dir"], "--seed", "6")
    scores = second["meta"]["candidates"]["scores"]
    assert second["meta"]["candidates"]["chosen"] == 2 and scores[0] < scores[1]
    assert overlap(second["text"], series.read_previous(Path(first["summary"]["story_dir"])).sentences) <= 0.2


def test_overlap_counts_copied_and_nearly_copied_sentences():
    before = ["The fox yawned and smiled at the moon over the quiet meadow.", "Goodnight, little fox."]
    text = ("The fox yawned and smiled at the big moon over the quiet meadow. Mia planted a seed. "
            "They sang a song. Goodnight, little fox.")
    assert copied_sentences(text, before) == ["The fox yawned and smiled at the big moon over the quiet meadow.",
                                              "Goodnight, little fox."]
    assert overlap(text, before) == 0.5 and overlap(text, []) == 0.0


def test_the_judge_penalises_a_copy():
    scenes = ("One starry night, Mia met a sleepy dragon.", "The dragon counted the stars, and Mia smiled.",
              "At last, Mia and the dragon fell asleep.")
    fresh = judge(scenes, prompt="a sleepy dragon", name="Mia", instructions=[], previous=["A fox sat by a tree."])
    copy = judge(scenes, prompt="a sleepy dragon", name="Mia", instructions=[], previous=list(scenes))
    assert fresh.checks[-1].name == "not_a_copy" and fresh.checks[-1].passed
    assert not copy.checks[-1].passed and copy.score <= fresh.score - 30


def test_story_ids_of_plain_stories_are_what_they_were_before_characters_and_sequels(isolated):
    # --skip-existing must still know the stories written before these request fields existed.
    import dataclasses
    import hashlib

    from dreamflow_cli.run.setup import story_id
    from dreamflow_cli.settings.load import load_settings
    from dreamflow_cli.story.request import LATER_FIELDS, Character, StoryRequest
    from tests.helpers.fakes import fake_run

    run = fake_run(load_settings({}, env={}))
    request = StoryRequest("a sleepy fox", name="Mia", age=5, seed=3)
    before = {k: getattr(request, k) for k in ("prompt", "name", "age", "scenes", "images", "seed", "theme", "moral")}
    identity = {"request": before, **run.prepared.identity, "profile": run.profile.as_dict(),
                "sampling": run.settings.sampling()}
    expected = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert story_id(request, run) == expected
    assert set(LATER_FIELDS) == set(StoryRequest.__dataclass_fields__) - set(before)
    with_pip = dataclasses.replace(request, characters=(Character("Pip", "owl"),))
    assert story_id(with_pip, run) != expected and story_id(dataclasses.replace(request, minutes=1), run) != expected


def test_a_hand_edited_series_block_still_continues(tmp_path):
    folder = tmp_path / "story"
    folder.mkdir()
    (folder / "story.md").write_text("# The Fox\n\nLast time, the fox slept. The fox found a leaf.\n")
    (folder / "story.json").write_text(json.dumps({
        "story_id": "ab" * 8, "title": "The Fox", "prompt": "a fox", "age": True,
        "series": {"id": "cd" * 8, "part": "two", "recap": "Last time, the fox slept."}}))
    previous = series.read_previous(folder)
    assert previous.sentences == ("The fox found a leaf.",) and previous.age is None
    nxt = series.sequel(previous, None, ())
    assert nxt.part == 2 and nxt.series_id == "cd" * 8 and nxt.adventure in series.SMALL_ADVENTURES


def test_find_story_prefers_the_newest_folder_with_an_id(tmp_path):
    for name in ("20260101-000000-a", "20260102-000000-a"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "story.json").write_text(json.dumps({"story_id": "cd" * 8}))
    assert series.find_story("cd" * 8, tmp_path).name == "20260102-000000-a"
    with pytest.raises(UsageError):
        series.find_story("ef" * 8, tmp_path)


def test_a_series_on_the_real_model(runner, isolated, models_dir):
    """The real SmolLM2: a first story with a saved character, then its sequel at one minute."""
    assert invoke(runner, "characters", "add", "Pip", "--kind", "owl", "--trait", "hoots softly").exit_code == 0
    common = ("--models-dir", str(models_dir), "--no-images", "--json", "--threads", "1")
    first = invoke(runner, "generate", "a sleepy dragon who counts the stars", "--name", "Mia", "--age", "5",
                   "--with", "Pip", "--seed", "3", *common)
    assert first.exit_code == 0, first.stderr
    one = json.loads(first.stdout)
    second = invoke(runner, "generate", "--continue", one["story_dir"], "--minutes", "1", "--seed", "4", *common)
    assert second.exit_code == 0, second.stderr
    two = json.loads(second.stdout)
    meta = json.loads(Path(two["metadata_path"]).read_text())
    assert meta["series"]["part"] == 2 and meta["characters"][0]["kind"] == "owl" and meta["name"] == "Mia"
    assert meta["max_tokens_effective"] <= 169 and meta["reading_minutes"] > 0
    text = (Path(two["story_dir"]) / "story.md").read_text()
    assert "Pip the owl" in text and meta["series"]["recap"] in text
    previous = series.read_previous(Path(one["story_dir"]))
    assert overlap(text, previous.sentences) <= 0.2
    assert set(meta["parent_note"]) >= {"reading_level", "words", "minutes", "characters", "changed_by_checks", "text"}
