from __future__ import annotations

import pytest

from dreamflow_cli.output.narration.script import TimedSegment, Timeline, build_script, estimate_timeline
from dreamflow_cli.output.video.subtitles import LINE_CHARS, cues_from_timeline, parse_vtt, timestamp, webvtt

STORY = [
    "Mia climbed into her little wooden boat, and the first stars were blinking awake over the still, dark pond behind the house. "
    '"Where shall we go?" Mia whispered. The <wind> & the reeds --> answered.',
    "The moon lay on the water like a pillow. Goodnight, Moon.",
]


def _timeline() -> Timeline:
    return estimate_timeline(build_script("Mia and the Moon Boat", STORY, "Mia"))


def test_every_sentence_is_covered_in_order_within_its_time() -> None:
    timeline = _timeline()
    cues = parse_vtt(webvtt(timeline))
    spoken = " ".join(" ".join(c.text.split()) for c in cues)
    position = 0
    for segment in timeline.segments:
        found = spoken.find(segment.text, position)
        assert found >= 0, segment.text
        position = found + len(segment.text)
        own = [c for c in cues if c.start >= segment.start - 1e-3 and c.start < segment.end]
        assert own and abs(own[0].start - segment.start) < 2e-3
        assert own[-1].end >= segment.end - 2e-3  # on screen for the whole sentence


def test_cues_never_overlap_and_fit_two_lines() -> None:
    cues = cues_from_timeline(_timeline())
    for a, b in zip(cues, cues[1:]):
        assert a.end <= b.start
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= LINE_CHARS for line in lines)
    assert len(cues) > len(_timeline().segments)  # the long first sentence was split


def test_markup_characters_are_escaped() -> None:
    text = webvtt(_timeline())
    assert "&lt;wind&gt; &amp; the reeds --&gt; answered." in text
    assert text.startswith("WEBVTT\n\n1\n00:00:00.500 --> ")


@pytest.mark.parametrize(
    ("seconds", "stamp"), [(0, "00:00:00.000"), (61.2345, "00:01:01.234"), (3725.5, "01:02:05.500")]
)
def test_timestamp(seconds: float, stamp: str) -> None:
    assert timestamp(seconds) == stamp


def test_cue_lingers_into_the_pause_but_not_past_the_next_sentence() -> None:
    timeline = Timeline(10.0, (TimedSegment("One.", 1, 1.0, 2.0), TimedSegment("Two.", 1, 2.2, 3.0)))
    first, second = cues_from_timeline(timeline)
    assert first.end == pytest.approx(2.15)
    assert second.end == pytest.approx(3.6)
