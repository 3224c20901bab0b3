"""The hero stays the hero, and endings wind down (issue 26): checks.py's hero and ending checks,
with sentences the real models wrote ("SmolLM2": SmolLM2-135M-Instruct Q4_1, "Gemma": gemma-3-270m
Q4_K_M, through dreamflow's composer on bench/quality.py's prompts, 2026-12-06) and the issue's own."""

from __future__ import annotations

import pytest

from dreamflow_cli.story.checks import (ENDING_LOSS_PATTERNS, MAX_INVENTED_NAMES, PENALTIES, cast_kinds, check_ending,
                                        check_hero, ending_losses, gentle_closing, hero_kinds, instruction_sentences,
                                        invented_names, judge, kind_changes, loss_words, respell_names,
                                        scenes_without_subject)
from dreamflow_cli.story.prompt import AGE_BANDS, build_prompt, ends_sleepily
from dreamflow_cli.story.scenes import split_scenes

SYSTEM, USER = build_prompt("a sleepy dragon who counts the stars", name="Mia", age=5, max_tokens=256)
INSTRUCTIONS = instruction_sentences(SYSTEM, USER, *(band.style for band in AGE_BANDS.values()))


# --- the subject in every scene -------------------------------------------------------------------

def test_scenes_that_never_name_the_subject_are_found():
    scenes = ("Mia met a sleepy dragon.", "They had a party with cake and balloons.", "The dragons yawned.")
    assert scenes_without_subject(scenes, "a sleepy dragon who counts the stars") == [2]
    assert scenes_without_subject(("A bunny hopped.", "The rabbit slept."), "a bunny") == []  # a synonym counts
    # The girl the prompt asks for is the child the parent named.
    lily = ("Once there was a girl who found a door.", "Lily opened it.", "Lily's eyes closed.")
    assert scenes_without_subject(lily, "a girl who finds a door", "Lily") == []
    assert scenes_without_subject(lily, "a girl who finds a door") == [2, 3]


# --- the hero's kind --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, prompt", [
    ("The dragon became a little girl.", "a lion who is afraid of thunder"),  # the issue's
    ("The lion was a toy.", "a lion who is afraid of thunder"),  # the issue's: a pet, then a toy
    ("The two foxes shared the umbrella.", "a fox and a badger sharing one umbrella"),  # the issue's
    ("Both foxes curled up under the umbrella.", "a fox and a badger sharing one umbrella"),
    ("Then the kitten turned into a puppy.", "a lost kitten finds home"),
    ("Soon the owl was now a big brown bear.", "a little owl who cannot sleep"),
])
def test_a_change_of_kind_is_found(text, prompt):
    assert kind_changes(text, prompt)


@pytest.mark.parametrize("text, prompt", [
    ("The caterpillar became a butterfly.", "a caterpillar who dreams of becoming a butterfly"),  # asked for
    ("The fox and the badger became best friends.", "a fox and a badger become friends"),
    ("The bunny was a friendly animal.", "a bunny who is afraid of the dark"),
    ("The star turned into a big bright sun.", "a train ride through the stars"),  # SmolLM2: no hero's kind
    ("Two squirrels shared their acorns.", "two squirrels sharing acorns"),
    ("The rabbit hopped home.", "a bunny who is afraid of the dark"),  # a synonym, not another kind
    ("The dragon became a little girl.", "a snowy night in the mountains"),  # no hero kind to keep
])
def test_what_is_no_change_of_kind(text, prompt):
    assert kind_changes(text, prompt) == []


def test_hero_kinds_and_the_cast_the_beats_name():
    assert hero_kinds("a lighthouse keeper and her cat") == ("keeper", "cat")
    assert hero_kinds("a teddy bear picnic") == ("bear",)
    assert cast_kinds("a lighthouse keeper and her cat") == ("lighthouse keeper", "cat")
    assert cast_kinds("a hot air balloon over the sea") == ("balloon",)
    assert cast_kinds("the moon who is too shy to come out tonight") == ("moon",)
    assert cast_kinds("a friendly cloud") == ("cloud",)
    assert cast_kinds("a trip to the moon") == ()  # an event: the child is the hero
    assert cast_kinds("a garden where the flowers whisper") == ()


# --- invented names ---------------------------------------------------------------------------------

def test_invented_names_are_counted_once_per_character():
    # The fox: Zephyr, Zephereus and Zephire are one fox; Bramble is a second name.
    text = ("Zephyr the fox met a badger named Bramble. Then Zephereus smiled at Mateo. Zephire was happy. "
            "Later Zephyr slept.")
    assert invented_names(text, name="Mateo", prompt="a fox and a badger") == ["Zephyr", "Bramble"]
    assert invented_names(text, name="Mateo", prompt="a fox", characters=["Bramble"]) == ["Zephyr"]
    scenes, fixed = respell_names((text,), name="Mateo", prompt="a fox")
    assert "Zephereus" not in scenes[0] and "Zephire" not in scenes[0] and scenes[0].count("Zephyr") == 4
    assert ("Zephereus", "Zephyr") in fixed


def test_places_openers_and_the_requests_own_words_are_not_invented_names():
    # SmolLM2, "a family trip to see the northern lights": a place, not a character.
    assert invented_names("Oscar and his family flew to the Arctic Circle. Suddenly, the sky glowed. "
                          "Together they watched.", name="Oscar", prompt="a family trip") == []
    assert invented_names("My cat Luna purred. Luna slept.", name="Mia", prompt="my cat Luna") == []


def test_more_than_one_invented_name_loses_points_unless_the_parent_asked_for_them():
    scenes = ("Mia met a dragon named Ember. Ember smiled.", "The dragon and Mia met Pip and Tilly. Pip laughed, "
              "Tilly waved.", "At last, Mia and the dragon fell asleep.")
    hero, _ = check_hero(scenes, "a sleepy dragon", "Mia")
    assert hero.extra_names == 3 - MAX_INVENTED_NAMES and not hero.checks[2].passed
    asked, _ = check_hero(scenes, "a sleepy dragon", "Mia", characters=("Pip", "Tilly"))
    assert asked.extra_names == 0 and asked.checks[2].passed
    verdict = judge(scenes, prompt="a sleepy dragon", name="Mia", instructions=INSTRUCTIONS, split=split_scenes)
    assert verdict.score == 100 - 2 * PENALTIES["extra_name"]


def test_a_draft_that_loses_its_hero_loses_to_one_that_keeps_it():
    kept = ("One quiet evening, Ava met a lion.", "The lion heard the thunder and Ava hugged him.",
            "At last, Ava and the lion fell asleep.")
    lost = ("One quiet evening, Ava met a lion.", "The lion heard the thunder. The dragon became a little girl.",
            "At last, Ava and the girl fell asleep.")
    judged = [judge(s, prompt="a lion who is afraid of thunder", name="Ava", instructions=INSTRUCTIONS,
                    split=split_scenes) for s in (kept, lost)]
    assert judged[0].score > judged[1].score
    assert not judged[1].as_dict()["checks"]["hero_kind"]["passed"]
    assert not judged[1].as_dict()["checks"]["hero_in_every_scene"]["passed"]  # the last scene lost the lion
    assert not judged[1].good_enough  # another draft is written


# --- endings that wind down ---------------------------------------------------------------------------

@pytest.mark.parametrize("ending", [
    "At last, Ava snuggled into bed, and the lion was finally gone.",  # the three
    "Soon, Hana's eyes grew heavy and she started to fall.",
    "But the king didn't want them anymore.",
    "Before long, Oliver gave a big, sleepy yawn. One day, Oliver went out on a boat and got lost in the sea.",
    "Soon, Isla's eyes grew heavy with the realization that she had to leave this world.",  # Gemma
    "The bugs had grown so long that they could not fly away anymore.",  # Gemma
    "Before long, Ava gave a big, sleepy yawn, as if to say \"Good-bye\".",  # Gemma
    "He didn't care about what they looked like.",  # SmolLM2
    "The owl flew away into the night.",
    "Nobody came to the party.",
])
def test_loss_leaving_falling_and_refusal_are_found(ending):
    assert ending_losses(ending)


@pytest.mark.parametrize("ending", [
    "Mia fell fast asleep.", "Soon the dragon fell into a deep, peaceful sleep.", "Snow fell softly outside.",
    "Night fell over the quiet hills.", "All her worries were gone, and she smiled.",
    "She knew she would never be alone.", "They laughed so hard that they fell into each other's arms.",
    "Mia drifted away into sweet dreams.", "The autumn leaves rustled.", "What a wonderful trip it had been.",
])
def test_calm_endings_are_not_losses(ending):
    assert loss_words(ending) == []


def test_the_word_lists_are_data_with_a_meaning_each():
    assert {meaning for meaning, _ in ENDING_LOSS_PATTERNS} == {"loss", "absence", "falling", "leaving", "refusal",
                                                                 "rejection"}


def test_an_ending_with_a_loss_is_rewritten_the_gentle_way():
    result, scenes = check_ending(("Ava met a lion.", "The lion smiled. At last, Ava snuggled into bed, and the lion "
                                   "was finally gone."), "Ava")
    assert not result.passed and "loss" in result.detail
    assert scenes[-1] == "The lion smiled. " + gentle_closing("Ava")
    assert ending_losses("\n\n".join(scenes)) == [] and ends_sleepily(scenes[-1])
    # A loss just before a sleepy last sentence goes, and the sleepy sentence stays.
    result, scenes = check_ending(("Mia played.", "The moon smiled. The owl flew away. Mia fell fast asleep."), "Mia")
    assert scenes[-1] == "The moon smiled. Mia fell fast asleep." and result.repairs == 1
    # A loss in the last two sentences, across a scene break, goes too; no scene is left empty.
    result, scenes = check_ending(("Mia played. The king didn't want them anymore.", "Mia fell fast asleep."), "Mia")
    assert scenes == ("Mia played.", "Mia fell fast asleep.")
