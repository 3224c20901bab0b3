from __future__ import annotations

import pytest

from dreamflow_cli.output.narration.script import (
    DEFAULT_PACING,
    Pacing,
    Timeline,
    build_script,
    count_words,
    estimate_timeline,
    script_words,
    split_sentences,
    synthesis_chunks,
    unspeakable_letters,
)


def test_title_first_then_scenes_in_order_with_bedtime_pauses() -> None:
    pacing = Pacing(after_title=1.5, after_sentence=0.7, between_scenes=2.0)
    script = build_script(
        "The Sleepy Dragon", ["Mia yawned. The dragon yawned too.", "They slept. The end."], "Mia", pacing
    )
    assert [(s.text, s.scene, s.pause_after) for s in script] == [
        ("The Sleepy Dragon", 0, 1.5),
        ("Mia yawned.", 1, 0.7),
        ("The dragon yawned too.", 1, 2.0),
        ("They slept.", 2, 0.7),
        ("The end.", 2, 0.0),  # the narrator's own tail follows the last sentence
    ]


def test_pauses_grow_from_sentence_to_title_to_scene() -> None:
    assert DEFAULT_PACING.after_sentence < DEFAULT_PACING.after_title <= DEFAULT_PACING.between_scenes


@pytest.mark.parametrize(
    "name",
    ["Siobhan", "Zoë", "J.J.", "D'Arcy", "Mary-Kate", "Łukasz", "Ngozi", "Dr. Who", "MIA", "李明", "Xæ"],
)
def test_the_name_is_kept_exactly_as_written(name: str) -> None:
    scenes = [f"{name} looked at the stars. Goodnight, {name}. Sleep well, {name}!"]
    script = build_script(f"{name} and the Moon", scenes, name)
    spoken = " ".join(s.text for s in script)
    assert spoken.count(name) == 4
    # A name with full stops never splits a sentence.
    assert [s.text for s in script[1:]] == [
        f"{name} looked at the stars.",
        f"Goodnight, {name}.",
        f"Sleep well, {name}!",
    ]


def test_text_other_than_whitespace_is_unchanged() -> None:
    scene = 'It was   3 o\u2019clock.\n"Shh," said Owl.  The moon\u2026 glowed!'
    script = build_script("T", [scene])
    assert " ".join(s.text for s in script[1:]) == 'It was 3 o\u2019clock. "Shh," said Owl. The moon\u2026 glowed!'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            '"Where shall we go tonight?" Mia whispered. The wind answered.',
            ['"Where shall we go tonight?" Mia whispered.', "The wind answered."],
        ),
        ('"Hello!" The owl hooted.', ['"Hello!"', "The owl hooted."]),
        ("Mr. Owl and Dr. Bear sat down. They smiled.", ["Mr. Owl and Dr. Bear sat down.", "They smiled."]),
        ("J. R. Rabbit hopped home. Then he slept.", ["J. R. Rabbit hopped home.", "Then he slept."]),
        ("It was quiet... So quiet. Yes.", ["It was quiet...", "So quiet.", "Yes."]),
        ("She counted: one, two, three. then stopped.", ["She counted: one, two, three. then stopped."]),
        ("They had 3 wishes. 2 were left.", ["They had 3 wishes.", "2 were left."]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_count_words_counts_contractions_and_hyphens_once() -> None:
    assert count_words("Don't worry, half-asleep bunny \u2014 it's late.") == 6


def test_estimated_timeline_reads_at_the_given_pace_pauses_included() -> None:
    scenes = [
        "one two three four five six seven eight nine ten eleven twelve thirteen. Short one.",
        "Then four more words.",
    ]
    script = build_script("Night", scenes)
    timeline = estimate_timeline(script, words_per_minute=120, lead_in=0.5, tail=1.0, min_segment=0.1)
    spoken = timeline.segments[-1].end - timeline.segments[0].start
    assert spoken == pytest.approx(script_words(script) * 60 / 120)
    title, long, short, last = timeline.segments
    assert title.start == 0.5 and timeline.seconds == pytest.approx(last.end + 1.0)
    assert long.start == pytest.approx(title.end + DEFAULT_PACING.after_title)
    assert last.start == pytest.approx(short.end + DEFAULT_PACING.between_scenes)
    assert (long.end - long.start) / (short.end - short.start) == pytest.approx(13 / 2)
    assert timeline.scene_times() == ((long.start, short.end), (last.start, last.end))


def test_estimated_timeline_keeps_short_titles_readable() -> None:
    timeline = estimate_timeline(build_script("Hi", ["A b."]), words_per_minute=130, min_segment=1.2)
    assert all(s.end - s.start >= 1.2 for s in timeline.segments)


def test_timeline_json_round_trip_and_scene_times() -> None:
    script = build_script("T", ["A b. C d.", "E f."])
    timeline = estimate_timeline(script)
    data = timeline.to_json()
    assert [s["start"] for s in data["scenes"]] == [round(a, 3) for a, _ in timeline.scene_times()]
    again = Timeline.from_json(data)
    assert [s.text for s in again.segments] == [s.text for s in script]
    assert again.seconds == pytest.approx(timeline.seconds, abs=1e-3)


def test_script_words_counts_title_and_scenes() -> None:
    assert script_words(build_script("Two words", ["Three more words."])) == 5


def test_unspeakable_letters_flags_non_latin_names_only() -> None:
    assert unspeakable_letters("Zoë-Łucja D'Arcy") == ""
    assert unspeakable_letters("李明") == "李明"
    assert unspeakable_letters("Mia 李") == "李"


def test_short_sentences_are_one_synthesis_call() -> None:
    sentence = "In the middle of the pond, the moon lay on the water like a round silver pillow."
    assert synthesis_chunks(sentence) == [sentence]


def test_long_sentences_are_split_at_commas_then_conjunctions_keeping_every_word() -> None:
    sentence = (
        "The little boat drifted past the reeds and the lily pads and the sleeping ducks, "
        "and the fireflies glowed and faded over the water while the owl watched from the old oak tree "
        "and the moon rose higher and higher above the hills until everything was quiet."
    )
    chunks = synthesis_chunks(sentence, max_words=18)
    assert all(count_words(c) <= 18 for c in chunks)
    assert " ".join(chunks).replace(",", "").split() == sentence.replace(",", "").split()
    assert chunks[0].endswith("ducks,")  # the comma was the preferred cut
    assert all(c.endswith(",") for c in chunks[:-1]) and chunks[-1].endswith("quiet.")
    assert all(len(c.split()) >= 3 for c in chunks)


def test_a_sentence_without_any_break_is_cut_at_the_limit() -> None:
    sentence = " ".join(["la"] * 40) + "."
    chunks = synthesis_chunks(sentence, max_words=18)
    assert [len(c.split()) for c in chunks] == [18, 18, 4]
