"""Reading level and length: textstat's measures of each draft against the age band's range, the
judge's preference for drafts that fit, --minutes choosing the budget, and the parent's note."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dreamflow_cli.story import readability
from dreamflow_cli.story.checks import judge
from dreamflow_cli.story.note import changes
from dreamflow_cli.story.request import minutes_note, story_budget, tokens_for_minutes
from tests.helpers import storyteller
from tests.helpers.cli import invoke

TODDLER = ("Mia has a cat. The cat is soft. The cat is sleepy. Mia pats the cat. The cat purrs. "
           "Mia yawns. The cat yawns. Good night, cat. Mia and the cat sleep.")
LONG_WINDED = ("As the last amber light faded slowly behind the distant purple mountains, Mia wrapped herself in "
               "her grandmother's enormous woollen blanket and listened thoughtfully to the wind whispering "
               "mysteriously through the ancient pines beside the cabin. The cabin smelled wonderfully of cedar "
               "and freshly baked bread, and the fire painted flickering, dancing, ever-changing shapes across the "
               "ceiling while the cat dozed comfortably beside the hearth. Eventually, Mia and the cat drifted "
               "peacefully off to sleep, dreaming of extraordinary adventures among the glittering constellations.")


def test_measures_are_textstat_s():
    import textstat

    reading = readability.measure(TODDLER)
    assert reading.grade == pytest.approx(textstat.automated_readability_index(TODDLER))
    assert reading.words_per_sentence == pytest.approx(textstat.words_per_sentence(TODDLER))
    assert reading.words == textstat.lexicon_count(TODDLER) == 32
    assert readability.measure("") == readability.Reading(0.0, 0.0, 0)


def test_measuring_needs_neither_textstat_nor_nltk():
    # textstat imports NLTK (32 MB, and its syllable counts fetch a dictionary from the internet):
    # dreamflow measures with textstat's formulas written out, so a story never loads either.
    script = ("import sys\nfrom dreamflow_cli.story import readability\n"
              f"reading = readability.measure({TODDLER!r})\n"
              "print(reading.words, 'textstat' in sys.modules, 'nltk' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["32", "False", "False"]


@pytest.mark.parametrize("age, band", [(None, "5-8"), (2, "0-4"), (4, "0-4"), (5, "5-8"), (8, "5-8"), (9, "9-12"),
                                       (12, "9-12")])
def test_the_bands_follow_the_prompt_s(age, band):
    from dreamflow_cli.story.prompt import age_band

    assert readability.band_for(age).name == band == age_band(age).name


def test_in_range_near_and_far():
    toddler = readability.band_for(3)
    assert readability.in_range(readability.measure(TODDLER), toddler)
    assert readability.penalty(readability.measure(TODDLER), toddler) == 0
    long = readability.measure(LONG_WINDED)
    assert long.grade > toddler.max_grade + readability.FAR_GRADES
    assert readability.penalty(long, toddler) == readability.PENALTY_FAR
    near = readability.Reading(toddler.max_grade + 1, 8.0, 50)
    assert readability.penalty(near, toddler) == readability.PENALTY_NEAR
    older = readability.band_for(10)  # the only band with a floor
    assert not readability.in_range(readability.measure(TODDLER), older)
    assert "outside the 0-4 range" in readability.describe(long, toddler)


def test_the_judge_prefers_a_draft_that_fits_the_age():
    def verdict(text, age):
        return judge((text,), prompt="a sleepy cat", name="Mia", instructions=[], age=age)

    simple, hard = verdict(TODDLER, 3), verdict(LONG_WINDED, 3)
    assert simple.checks[-1].name == "reading_level" and simple.checks[-1].passed
    assert not hard.checks[-1].passed and hard.score < simple.score
    assert verdict(LONG_WINDED, 11).score >= hard.score  # the same text fits an older child better


@pytest.fixture
def teller():
    one = storyteller.Storyteller()
    storyteller.install(one)
    yield one
    storyteller.uninstall()


def test_the_composer_keeps_the_draft_that_fits_the_toddler(runner, isolated, teller):
    # Two drafts with the same flaw (a sentence about the story, removed by the echo check), so the
    # first is not good enough on its own: the one that fits a 3-year-old wins.
    flaw = "This story is about a sleepy cat. "
    teller.text_for = lambda prompt, seed: flaw + (LONG_WINDED if len(teller.opened[-1].calls) == 1 else TODDLER)
    result = invoke(runner, "generate", "a sleepy cat", "--name", "Mia", "--age", "3", "--backend", "scripted",
                    "--scenes", "1", "--no-images", "--json", "--seed", "2")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(Path(json.loads(result.stdout)["metadata_path"]).read_text())
    first, second = meta["candidates"]["scores"]
    assert meta["candidates"]["chosen"] == 2 and first == second - readability.PENALTY_FAR
    assert meta["reading_level"]["in_range"] and meta["reading_level"]["range"]["band"] == "0-4"


def test_minutes_choose_the_budget_within_the_profile():
    assert tokens_for_minutes(1) == 169  # 130 words at 1.3 tokens a word
    assert story_budget(None, 256) == 256
    assert story_budget(1, 256) == 169 and story_budget(3, 256) == 256 and story_budget(0.1, 256) == 32
    assert minutes_note(1, 256, "standard") is None
    note = minutes_note(2, 128, "low-memory")
    assert note is not None and "the low-memory profile writes at most 128" in note and "about 0.8 minutes" in note


def test_minutes_on_the_command_line(runner, isolated, teller):
    result = invoke(runner, "generate", "a sleepy fox", "--backend", "scripted", "--minutes", "0.5", "--no-images",
                    "--json")
    assert result.exit_code == 0 and "Warning" not in result.stderr
    meta = json.loads(Path(json.loads(result.stdout)["metadata_path"]).read_text())
    assert meta["max_tokens_effective"] == tokens_for_minutes(0.5) == 85 and meta["minutes_asked"] == 0.5
    assert meta["reading_minutes"] == round(meta["reading_level"]["words"] / 130, 1)
    assert teller.opened[0].calls[0][1] < 85  # the story's part of the budget, the ending's kept back
    long = invoke(runner, "generate", "a sleepy fox", "--backend", "scripted", "--minutes", "5", "--no-images",
                  "--json")
    assert long.exit_code == 0 and "Warning: --minutes 5 needs about 845 tokens, but the standard profile" in long.stderr
    assert json.loads(Path(json.loads(long.stdout)["metadata_path"]).read_text())["max_tokens_effective"] == 256
    bad = invoke(runner, "generate", "a sleepy fox", "--backend", "scripted", "--minutes", "0")
    assert bad.exit_code == 2 and "minutes" in bad.stderr and bad.stdout == ""


def test_low_memory_says_it_cannot_fit(runner, isolated):
    low = storyteller.Storyteller()
    storyteller.install(low, "scripted-low", profile="low-memory")
    try:
        result = invoke(runner, "generate", "a sleepy fox", "--backend", "scripted-low", "--minutes", "2",
                        "--no-images", "--quiet")
    finally:
        storyteller.uninstall("scripted-low")
    assert result.exit_code == 0
    assert "the low-memory profile writes at most 128 (about 0.8 minutes read aloud)" in result.stderr


def test_the_parent_s_note(runner, isolated, teller):
    teller.text_for = lambda prompt, seed: TODDLER.replace("Mia pats", "Mai pats")
    assert invoke(runner, "characters", "add", "Pip", "--kind", "dragon").exit_code == 0
    result = invoke(runner, "generate", "a sleepy cat", "--name", "Mia", "--age", "3", "--moral", "sharing",
                    "--with", "Pip", "--backend", "scripted", "--no-images", "--json")
    note = json.loads(Path(json.loads(result.stdout)["metadata_path"]).read_text())["parent_note"]
    assert note["moral"] == "sharing" and note["characters"] == [{"name": "Pip", "kind": "dragon"}]
    assert note["reading_level"]["in_range"] and note["words"] > 0 and note["minutes"] == round(note["words"] / 130, 1)
    assert {"check": "names", "what": "corrected misspelt names (Mai→Mia)"} in note["changed_by_checks"]
    assert note["text"].startswith("Reading level: grade ") and "Shows gently: sharing." in note["text"]
    assert "With Pip the dragon." in note["text"] and "corrected misspelt names" in note["text"]


def test_changes_name_only_checks_that_changed_something():
    from dreamflow_cli.story.checks import CheckResult

    found = changes([CheckResult("calm_tone", True, "2 worried", 2), CheckResult("names", True),
                     CheckResult("ending", False, "no sleepy ending; used the gentle closing", 1),
                     CheckResult("reading_level", False, "grade 9")])
    assert [c["check"] for c in found] == ["calm_tone", "ending"]
    assert found[0]["what"] == "cut 2 worried or frightening sentence(s)"
