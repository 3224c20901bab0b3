"""What a scene's picture shows: the vocabulary of bedtime things and settings (pure, fast)."""

from __future__ import annotations

import pytest

from dreamflow_cli.output.pictures import vocabulary as v


def names(text):
    return [m.thing.name for m in v.find(text) if m.thing]


def test_table_is_big_enough_and_consistent():
    things = v.all_things()
    assert len(things) >= 150
    kinds = {t.kind for t in things}
    assert kinds == {"animal", "creature", "person", "vehicle", "toy", "detail"}
    assert {t.place for t in things} <= {"ground", "air", "sky"}
    assert len({t.name for t in things}) == len(things), "names must be unique: story.json uses them"
    assert set(v.setting_names()) >= {"forest", "sea", "snow", "space", "bedroom", "meadow", "garden",
                                      "desert", "mountain", "farm", "pond", "castle", "sky", "beach",
                                      "cave", "city"}


@pytest.mark.parametrize("text, expected", [
    ("a bunny", "bunny"), ("two rabbits", "bunny"), ("the bunnies", "bunny"),
    ("a kitty", "cat"), ("kittens", "cat"), ("the cat", "cat"),
    ("a ship", "boat"), ("boats", "boat"),
    ("my teddy", "teddy bear"), ("the teddy bear", "teddy bear"), ("Teddy-bear", "teddy bear"),
    ("three mice", "mouse"), ("geese", "goose"), ("wolves", "wolf"), ("foxes", "fox"),
    ("a baby dragon", "dragon"), ("Mama Bear", "bear"), ("the polar bear", "polar bear"),
    ("the owl\u2019s nest", "owl"), ("A T-Rex", "t-rex"),
])
def test_synonyms_plurals_phrases(text, expected):
    assert names(text)[0] == expected


@pytest.mark.parametrize("text", [
    "She started to yawn.",          # "star" inside a word
    "The cattery was closed.",       # "cat" inside a word
    "He dove into the water.",       # "dove" is also dived
    "They went to the royal ball.",  # a dance, not a football
    "She waved and rose from her chair",
])
def test_whole_words_and_verbs_do_not_match(text):
    assert not [n for n in names(text) if n in {"star", "cat", "dove", "ball", "flower"}]


def test_subject_is_the_prompts_first_hero_even_when_a_detail_comes_first():
    assert v.subject("a lantern for a sleepy owl").name == "owl"
    assert v.subject("a girl and her dragon").name == "girl"


def test_subject_falls_back_to_the_story_then_none():
    assert v.subject("a quiet night", "The fox ran. The owl sang. The fox slept.").name == "fox"
    assert v.subject("a quiet night", "Nothing to see.") is None


def test_setting_order_scene_then_previous_then_prompt_then_weak_then_default():
    assert v.setting_of("They walked into the forest.", "a whale at sea") == ("forest", "scene")
    assert v.setting_of("They talked.", "a whale at sea") == ("sea", "prompt")
    assert v.setting_of("They talked.", "a whale at sea", previous="forest") == ("forest", "previous")
    assert v.setting_of("They went home.", "a dragon") == ("home", "scene")
    assert v.setting_of("They went home.", "a dragon in a castle") == ("castle", "prompt")
    assert v.setting_of("They talked.", "a dragon") == ("meadow", "default")
    # The moon in a night scene is a detail, not a trip to space.
    assert v.setting_of("The moon shone on the owl.", "an owl")[0] == "meadow"
    assert v.setting_of("They flew to the moon.", "a rocket")[0] == "space"


def test_choose_hero_companions_details():
    hero = v.subject("a sleepy dragon")
    s = v.choose("a sleepy dragon", "The dragon met a fox, an owl and a kitten by the lantern "
                 "under the stars, with a book, a candle and a flower.", hero)
    assert s.hero.name == "dragon"
    assert [c.name for c in s.companions] == ["fox", "owl"]  # at most two, first mentioned first
    assert [d.name for d in s.details] == ["lantern", "star", "book"]
    assert s.names()[:3] == ["dragon", "fox", "owl"]
    assert "meadow" in s.names()


def test_hero_is_not_repeated_as_companion_through_a_synonym():
    hero = v.subject("a kitten")
    s = v.choose("a kitten", "The cat and the kitty met a puppy.", hero)
    assert [c.name for c in s.companions] == ["dog"]


def test_story_showings_keep_hero_and_carry_setting():
    shows = v.story_showings("a bunny", ["The bunny hopped into the forest.", "It was quiet.",
                                          "She swam in the pond."])
    assert {s.hero.name for s in shows} == {"bunny"}
    assert [s.setting for s in shows] == ["forest", "forest", "pond"]


def test_deterministic():
    text = "The owl and the bunny watched the stars in the snowy forest."
    assert v.choose("an owl", text) == v.choose("an owl", text)


def test_family_of_an_animal_hero_is_that_animal():
    hero = v.subject("a sleepy dragon")
    s = v.choose("a sleepy dragon", "The dragon's mother and grandpa hugged him.", hero)
    assert [(c.name, c.code) for c in s.companions] == [("mom dragon", hero.code), ("grandpa dragon", hero.code)]
    # ...but a toy's or a vehicle's family is the child's.
    s = v.choose("a teddy bear", "Mom tucked the teddy in.", v.subject("a teddy bear"))
    assert [c.name for c in s.companions] == ["mom"]


def test_head_word_of_the_hero_is_the_hero():
    for prompt, text in [("a polar bear", "The bear yawned."), ("a teddy bear", "The bear smiled."),
                         ("a fire truck", "The truck slept.")]:
        assert v.choose(prompt, text, v.subject(prompt)).companions == ()


def test_setting_changes_a_words_meaning():
    s = v.choose("an astronaut", "She stepped out of the ship onto the moon.", v.subject("an astronaut"))
    assert s.setting == "space" and [c.name for c in s.companions] == ["rocket"]


def test_a_thing_can_be_the_hero_when_no_creature_is_named():
    assert v.subject("a little star who could not shine").name == "star"
    assert v.subject("the lonely moon and the owl").name == "owl"
