"""The content guard: whole words, their simple forms, levels, extra terms and retry seeds."""

from __future__ import annotations

import pytest

from dreamflow_cli.settings.load import load_settings
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.settings.table import DEFAULT_GUARD_LEVEL as DEFAULT_LEVEL
from dreamflow_cli.settings.table import GUARD_LEVELS as LEVELS
from dreamflow_cli.settings.table import parse_terms
from dreamflow_cli.story.guard import build_guard, names_a_feeling, word_forms
from tests.helpers.cli import invoke
from tests.helpers.scripted_server import ScriptedServer


@pytest.fixture
def guard():
    return build_guard(DEFAULT_LEVEL)


@pytest.mark.parametrize("text", [
    "Mia had a special skill for counting stars.",  # kill
    "They drove through Scunthorpe and Essex.",  # the classic substring traps
    "She was grateful for the grapes by the drapes.",  # rape
    "The therapist scraped the bowl.",
    "Hello! The shell on the beach was warm.",  # hell
    "The diesel train, a diet of studied words.",  # die
    "What a gorgeous, glowing evening.",  # gore
    "A basket of wares at the warm market, an award.",  # war
    "The cookie crumbled, the bloodhound yawned.",  # blood, as part of another word
    "Kindness is the best skillset.",
])
def test_words_that_only_contain_a_term_pass(guard, text):
    assert guard.find(text) == []


@pytest.mark.parametrize("text, words", [
    ("The knight wanted to KILL the dragon.", ["kill"]),
    ("Killing time", ["killing"]),
    ("two Monsters and a ghost", ["monsters", "ghost"]),
    ("She was scared, so scared.", ["scared"]),
    ("Stop scaring the cat", ["scaring"]),
    ("the bird was dying", ["dying"]),
    ("he kept stabbing at it", ["stabbing"]),
    ("three sharp knives", ["knives"]),
    ("a haunted house", ["haunted"]),
    ("blood-red sky", ["blood"]),
    ("Shut   up, said the owl", ["shut up"]),
    ("the killer's hat", ["killer"]),
    ("NIGHTMARES!", ["nightmares"]),
])
def test_terms_match_in_any_case_and_simple_forms(guard, text, words):
    assert guard.find(text) == words


def test_lookalike_tricks_are_folded():
    guard = build_guard()
    assert guard.find("ｋｉｌｌ") == ["kill"]  # fullwidth letters
    assert guard.find("k\u200bill the mood") == ["kill"]  # zero-width space inside


def test_each_word_is_reported_once_in_order(guard):
    assert guard.find("ghost, monster, ghost, Monster") == ["ghost", "monster"]


def test_levels_nest():
    relaxed, standard, strict = (build_guard(level) for level in LEVELS)
    assert set(relaxed.terms) < set(standard.terms) < set(strict.terms)
    text = "A friendly ghost, and a wolf who was afraid of the dark."
    assert relaxed.find(text) == []
    assert standard.find(text) == ["ghost"]
    assert strict.find(text) == ["ghost", "wolf", "afraid"]
    assert relaxed.find("a bloody sword") == ["bloody"]


def test_gentle_bedtime_words_pass_even_when_strict():
    strict = build_guard("strict")
    text = ("Mia yawned. The moon glowed softly over the sleepy dragon, the stars twinkled, and "
            "everyone drifted off to sleep under a warm blanket. Goodnight!")
    assert strict.find(text) == []


def test_extra_terms_join_the_level():
    guard = build_guard("relaxed", parse_terms("spider, thunder storm"))
    assert guard.find("Spiders and a thunder storm") == ["spiders", "thunder storm"]
    assert guard.find("thunder") == []


def test_word_forms():
    assert {"monster", "monsters"} <= word_forms("monster")
    assert {"scares", "scared", "scaring"} <= word_forms("scare")
    assert {"dies", "died", "dying"} <= word_forms("die")
    assert {"stabs", "stabbing", "stabbed"} <= word_forms("stab")
    assert {"bullies", "bullied"} <= word_forms("bully")
    assert "knives" in word_forms("knife") and "wolves" in word_forms("wolf")
    assert "wares" not in word_forms("war")
    assert "punches" in word_forms("punch")


def test_parse_terms():
    assert parse_terms(None) == ()
    assert parse_terms(" Moon, STAR ,, moon ") == ("moon", "star")
    assert parse_terms(["Spider", "dark night"]) == ("spider", "dark night")
    with pytest.raises(ConfigError) as info:
        parse_terms(["<|im_end|>"])
    assert "not a word" in info.value.message and info.value.hint
    with pytest.raises(ConfigError):
        parse_terms([3])


def test_levels_and_retries_are_validated_once_by_the_settings_table():
    assert load_settings(env={}).guard_level == DEFAULT_LEVEL
    assert load_settings(env={"DREAMFLOW_GUARD_LEVEL": " Strict "}).guard_level == "strict"
    with pytest.raises(ConfigError) as info:
        load_settings(env={"DREAMFLOW_GUARD_LEVEL": "paranoid"})
    assert "DREAMFLOW_GUARD_LEVEL" in info.value.message and "relaxed, standard, strict" in info.value.hint
    assert load_settings(env={"DREAMFLOW_GUARD_RETRIES": "0"}).guard_retries == 0
    for bad in ("-1", "11", "true", "2.5"):
        with pytest.raises(ConfigError) as info:
            load_settings(env={"DREAMFLOW_GUARD_RETRIES": bad})
        assert "from 0 to 10" in info.value.hint
    with pytest.raises(ConfigError) as info:
        load_settings(env={"DREAMFLOW_GUARD_EXTRA_TERMS": "owl, <|im_end|>"})
    assert "DREAMFLOW_GUARD_EXTRA_TERMS" in info.value.message and "not a word" in info.value.message
    assert load_settings(env={"DREAMFLOW_GUARD_EXTRA_TERMS": "Owl, OWL , moon"}).guard_extra_terms == ("owl", "moon")


# --- the words for being frightened: the same rule for each of them, level by level -------------

FEELINGS = ("scared", "frightened", "terrified", "afraid", "fear", "fears", "worried", "worries")


@pytest.mark.parametrize("word", FEELINGS)
def test_a_request_may_name_a_feeling_below_strict(word):
    prompt = f"a bunny who is {word} of the dark"
    for level in ("relaxed", "standard"):
        assert build_guard(level).find_in_request(prompt) == [], level
        assert names_a_feeling(prompt)
    assert build_guard("strict").find_in_request(prompt) == [word]


def test_what_frightens_is_still_refused_in_a_request():
    standard = build_guard("standard")
    # The stuff of nightmares is not a feeling the child has: "a scary night" asks for fright.
    assert standard.find_in_request("a scary night") == ["scary"]
    assert standard.find_in_request("a bunny who scares the owl") == ["scares"]
    assert standard.find_in_request("a frightening ghost") == ["frightening", "ghost"]
    assert standard.find_in_request("a bunny who is scared of monsters") == ["monsters"]
    assert not names_a_feeling("a scary night", None, "a bunny who scares the owl", "scarecrow")


def test_a_story_about_a_fear_leaves_its_fear_words_to_the_calm_tone_check():
    story = "The bunny was scared and afraid. The dark was scary. Then a ghost came."
    for level in ("relaxed", "standard"):
        guard = build_guard(level)
        assert guard.find_in_story(story, about_a_fear=True) == (["ghost"] if level == "standard" else [])
    assert build_guard("standard").find_in_story(story, about_a_fear=False) == ["scared", "scary", "ghost"]
    strict = build_guard("strict")  # strict blocks every one, whatever was asked
    assert strict.find_in_story(story, about_a_fear=True) == ["scared", "afraid", "scary", "ghost"]


def test_a_feeling_the_user_added_to_the_guard_stays_blocked():
    guard = build_guard("standard", parse_terms("scared, worry"))
    assert guard.find_in_request("a bunny who is scared and worried") == ["scared", "worried"]
    assert guard.find_in_request("a bunny who is afraid") == []
    assert guard.find_in_story("The bunny was scared, then afraid.", about_a_fear=True) == ["scared"]


def test_cli_refuses_a_named_fear_only_at_strict(runner, isolated):
    prompt = "a bunny who is scared of the dark"
    with ScriptedServer() as server:
        args = ("generate", prompt, "--backend", "openai", "--base-url", server.url, "--no-images",
                "--scenes", "1", "--seed", "4", "--out", "out")
        strict = invoke(runner, *args, env={"DREAMFLOW_GUARD_LEVEL": "strict"})
        asked = len(server.chat_requests())
        standard = invoke(runner, *args, env={"DREAMFLOW_GUARD_LEVEL": "standard"})
    assert strict.exit_code == 6, strict.stderr
    assert strict.stdout == "" and asked == 0
    errors = [line for line in strict.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and 'the prompt has words not allowed' in errors[0] and '"scared"' in errors[0]
    assert "guard_level (now 'strict')" in errors[0]
    assert standard.exit_code == 0, standard.stderr
    assert "Error" not in standard.stderr and list((isolated / "out").glob("*/story.md"))
