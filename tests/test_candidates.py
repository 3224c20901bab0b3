"""Candidates and the judge: several drafts, the best kept, early stop, and base models framed as a
story's first page. The selection logic runs first on a scripted backend (fast, every branch), then
end to end on the real models: SmolLM2-135M through the CLI, and gemma-3-270m (a base model)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping

import pytest

from dreamflow_cli.backend.seam import Generation, Prompt
from dreamflow_cli.model.catalog import find_entry
from dreamflow_cli.story.checks import instruction_sentences, remove_echo, request_words
from dreamflow_cli.story.composer import MOSTLY_INSTRUCTIONS, compose
from dreamflow_cli.story.request import StoryRequest, prepare_request
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.settings.profiles import MemoryMode, choose_profile, Profile
from dreamflow_cli.engine.single import load_model
from dreamflow_cli.errors import ModelError
from dreamflow_cli.seeds import retry_seed
from dreamflow_cli.run.monitor import Status
from dreamflow_cli.story.prompt import SYSTEM_PROMPT
from dreamflow_cli.story.title import is_whole_title, title_from_prompt
from tests.helpers.cli import invoke
from tests.helpers.model import CACHE_DIR

DRAGON = "a sleepy dragon who counts the stars"
GOOD = (" met a sleepy dragon. The dragon counted the stars, one by one, and Mia counted with him.\n\n"
        "They lay on the soft grass and watched the sky. The dragon smiled at Mia.\n\n"
        "At last, Mia and the dragon fell asleep under the stars.")
OFF_SUBJECT = (" played with her toys in the garden. She built a tower of blocks and a little house.\n\n"
               "Her teddy sat on the windowsill and watched the moon rise.\n\n"
               "At last, Mia snuggled into bed and fell asleep.")
ECHO = (" had a toy. Use short sentences and simple words. Write a bedtime story for a toddler. "
        "Never include violence, danger, fear, sadness or harsh words. The main character is Mia.")


class ScriptedBackend:
    """A backend that answers with the given continuations in order (the fast tier only: the
    real models cannot be made to write a chosen draft)."""

    kind = "local"
    load_seconds = 0.0
    max_parallel = 1

    def __init__(self, texts: list[str], *, chat: bool = True):
        self.texts = list(texts)
        self.prompts: list[Prompt] = []
        self.has_chat_template = chat
        self.profile = Profile(name="standard", n_ctx=2048, n_batch=256, n_threads=1, max_tokens=200, repack=False)

    def count_tokens(self, prompt: Prompt) -> int:
        return len((prompt.system + prompt.user + prompt.prefix).split())

    def generate(self, prompt: Prompt, *, max_tokens: int, sampling: Mapping[str, float], seed: int,
                 on_token: Any = None) -> Generation:
        self.prompts.append(prompt)
        if prompt.prefix.rsplit("\n\n", 1)[-1].startswith(("Soon,", "At last,", "Before long,")):
            text = ", and the night was quiet."  # the composer asked for an ending: not a new draft
        else:
            text = self.texts.pop(0) if self.texts else ""
        return Generation(text=text, prompt_tokens=10, generated_tokens=len(text.split()), max_tokens=max_tokens,
                          seconds=0.01, first_token_seconds=0.001, finish_reason="stop")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def close(self) -> None:
        pass


def settings(**values: Any) -> Settings:
    return dataclasses.replace(Settings(), **values)


def request(prompt: str = DRAGON, name: str | None = "Mia") -> StoryRequest:
    return prepare_request(StoryRequest(prompt, name=name, age=5, scenes=3), Settings())


# --- the selection, on scripted drafts ----------------------------------------------------------

def test_a_draft_that_passes_every_check_stops_the_writing():
    backend = ScriptedBackend([OFF_SUBJECT, GOOD, OFF_SUBJECT])
    composed = compose(backend, request(), settings(candidates=3), 7, Status())
    meta = composed.metadata()
    assert meta["candidates"]["written"] == 2 and meta["candidates"]["chosen"] == 2
    # 36: off subject (-40) and no scene names the dragon (-8 each).
    assert meta["candidates"]["scores"] == [36, 100] and meta["candidates"]["stopped_early"] is True
    assert meta["checks"]["passed_all"] and meta["checks"]["checks"]["on_subject"]["passed"]
    assert "dragon" in composed.story.text and meta["accepted_seed"] == retry_seed(7, 2)
    assert len(backend.prompts) == 2


def test_the_best_score_is_kept_and_the_earliest_on_a_tie():
    backend = ScriptedBackend([OFF_SUBJECT, OFF_SUBJECT.replace("blocks", "bricks"), OFF_SUBJECT])
    composed = compose(backend, request(), settings(candidates=3), 7, Status())
    # The 2nd and 3rd start with our sentence naming the dragon, so their first scene has it: a tie.
    assert composed.metadata()["candidates"]["scores"] == [36, 52, 52]
    assert composed.chosen == 2 and "bricks" in composed.story.text

    echo_fixed = GOOD.replace("The dragon smiled at Mia.", "The dragon smiled at Mia. Use short sentences.")
    backend = ScriptedBackend([OFF_SUBJECT, echo_fixed, OFF_SUBJECT])
    composed = compose(backend, request(), settings(candidates=3), 7, Status())
    assert composed.metadata()["candidates"]["scores"] == [36, 90] and composed.chosen == 2  # 90: good enough
    assert "short sentences" not in composed.story.all_text()  # the echo was removed from the kept draft


def test_one_candidate_keeps_the_first_usable_draft():
    composed = compose(ScriptedBackend([OFF_SUBJECT, GOOD]), request(), settings(candidates=1), 7, Status())
    assert composed.chosen == 1 and composed.metadata()["candidates"]["written"] == 1
    assert not composed.metadata()["checks"]["checks"]["on_subject"]["passed"]


def test_drafts_that_are_mostly_instructions_are_thrown_away_and_retried():
    backend = ScriptedBackend([ECHO, GOOD])
    composed = compose(backend, request(), settings(candidates=3), 7, Status())
    meta = composed.metadata()
    assert meta["attempt_seeds"] == [7, retry_seed(7, 2)] and meta["candidates"]["scores"] == [None, 100]
    assert composed.chosen == 2 and meta["guard_hits"] == []


def test_no_usable_draft_is_a_model_error_and_nothing_is_kept():
    backend = ScriptedBackend([ECHO] * 10)
    with pytest.raises(ModelError) as info:
        compose(backend, request(), settings(candidates=2, guard_retries=2), 7, Status())
    assert "no usable story in 3 attempts" in info.value.message
    assert len([p for p in backend.prompts if "\n\n" not in p.prefix]) == 3  # three drafts (endings continue a text)
    assert MOSTLY_INSTRUCTIONS == "mostly instructions"


def test_a_base_model_is_given_a_story_page_not_instructions():
    backend = ScriptedBackend([" lay in bed. The dragon counted the stars for her. Soon Mia fell asleep."],
                              chat=False)
    composed = compose(backend, request(), settings(candidates=1), 3, Status())
    prompt = backend.prompts[0]
    assert prompt.system == "" and prompt.user == ""
    title = title_from_prompt(DRAGON)
    assert prompt.prefix.startswith(f"{title}\n\nOnce upon a time, there was a sleepy dragon who counts the stars.")
    assert "Write" not in prompt.prefix and "sentences" not in prompt.prefix
    assert composed.story.title == title and composed.metadata()["title_source"] == "opening"
    assert composed.story.text.startswith("Once upon a time, there was a sleepy dragon")


# --- the real models ----------------------------------------------------------------------------

def test_generate_records_the_judge_in_story_json_and_json(runner, models_dir, isolated):
    result = invoke(runner, "generate", DRAGON, "--name", "Mia", "--age", "5", "--models-dir", str(models_dir),
                    "--seed", "3", "--no-images", "--candidates", "2", "--max-tokens", "96", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    meta = json.loads(Path(summary["metadata_path"]).read_text())
    drafts = meta["candidates"]
    assert drafts["limit"] == 2 and 1 <= drafts["chosen"] <= drafts["written"] <= 2
    kept = drafts["scores"][drafts["chosen"] - 1]
    assert kept == max(s for s in drafts["scores"] if s is not None) == meta["checks"]["score"]
    assert set(meta["checks"]["checks"]) == {"on_subject", "no_instruction_echo", "calm_tone", "names", "ending",
                                             "hero_in_every_scene", "hero_kind", "cast",
                                             "reading_level"}
    # SmolLM2 is under 1B parameters: written beat by beat (96 tokens leave room for four beats).
    assert meta["scaffold"]["used"] and meta["scaffold"]["setting"] == "auto" and "135M" in meta["scaffold"]["reason"]
    assert meta["scaffold"]["beats"] == ["setting", "wish", "try", "sleep"]
    assert all(opener in Path(summary["story_path"]).read_text() for opener in meta["scaffold"]["openers"][1:])
    assert drafts["stopped_early"] == (meta["checks"]["good_enough"] and drafts["written"] < 2)
    assert summary["checks"] == meta["checks"] and summary["candidates"] == drafts
    assert is_whole_title(summary["title"])


def test_candidates_flag_is_validated(runner, models_dir):
    result = invoke(runner, "generate", DRAGON, "--models-dir", str(models_dir), "--candidates", "0")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--candidates" in result.stderr


@pytest.fixture(scope="module")
def smollm(test_model):
    profile = choose_profile(MemoryMode.LOW_MEMORY, os.cpu_count() or 1, {}, {"n_threads": 1})
    loaded = load_model(test_model, profile)
    yield loaded
    loaded.close()


def test_the_kept_smollm2_draft_has_the_best_score(smollm):
    story_request = request("a little boat that is afraid of the dark at night", "Ada")
    composed = compose(smollm, story_request, settings(candidates=3), 4, Status())
    meta = composed.metadata()
    scores = meta["candidates"]["scores"]
    usable = [s for s in scores if s is not None]
    assert meta["checks"]["score"] == max(usable) == scores[composed.chosen - 1]
    assert len(scores) <= 3 + Settings().guard_retries
    assert is_whole_title(composed.story.title) and composed.story.title == "The Little Boat"


@pytest.fixture(scope="module")
def gemma():
    from dreamflow_cli.download.api import download_catalog_model

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = download_catalog_model(find_entry("gemma3-270m"), CACHE_DIR).path
    profile = choose_profile(MemoryMode.LOW_MEMORY, os.cpu_count() or 1, {}, {"n_threads": 1, "max_tokens": 96})
    loaded = load_model(path, profile)
    yield loaded
    loaded.close()


@pytest.mark.model  # the real gemma-3-270m model
def test_gemma_base_model_writes_a_story_without_our_instructions(gemma):
    assert not gemma.has_chat_template
    story_request = request("a whale who sings lullabies", "Zoe")
    composed = compose(gemma, story_request, settings(candidates=2), 6, Status())
    instructions = instruction_sentences(SYSTEM_PROMPT, "Write a bedtime story for a young child.",
                                         "Use short sentences and simple words.")
    own = request_words(story_request.prompt, story_request.name)
    assert remove_echo(composed.story.text, instructions, own)[1] == []
    assert composed.story.title == "A Whale Who Sings Lullabies" and is_whole_title(composed.story.title)
    assert composed.metadata()["title_source"] == "opening"
    assert composed.story.text.startswith("Once upon a time, there was a whale who sings lullabies.")


def test_after_an_off_subject_draft_the_next_starts_by_naming_the_subject():
    backend = ScriptedBackend([OFF_SUBJECT, OFF_SUBJECT, OFF_SUBJECT])
    composed = compose(backend, request(), settings(candidates=3), 7, Status())
    drafts = [p.prefix for p in backend.prompts]
    assert not drafts[0].startswith("Once upon a time, there was")
    assert all(p.startswith("Once upon a time, there was a sleepy dragon who counts the stars. ") for p in drafts[1:])
    assert all(p.endswith(", Mia and the dragon") for p in drafts[1:])
    # Our own sentence does not make a draft on subject: the model has to keep to it (it does put
    # the dragon in the first scene a parent reads, so those drafts lose fewer hero points).
    assert composed.metadata()["candidates"]["scores"] == [36, 52, 52]
    assert composed.metadata()["opening"] == drafts[1]  # the kept (second) draft's
    assert not composed.metadata()["checks"]["checks"]["on_subject"]["passed"]


def test_a_story_about_a_fear_is_written_not_refused(runner, models_dir, isolated):
    # Before, SmolLM2 wrote "scared" in every draft of this classic bedtime theme and the word
    # guard refused the story (exit 6 after 4 attempts with exactly these options).
    result = invoke(runner, "generate", "a little boat that is afraid of the dark", "--name", "Zoe", "--age", "5",
                    "--seed", "3", "--threads", "1", "--no-images", "--json", "--models-dir", str(models_dir))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    story = Path(summary["story_path"]).read_text()
    assert "boat" in story.lower()
    last_scene = story.split("## Scene")[-1].lower()
    assert not any(word in last_scene for word in ("scared", "afraid", "frighten", "fear"))
