"""Characters who come back and stories that continue, as far as the text goes: what the prompt
says about saved characters and the story before, the first words dreamflow writes for the model
(one line recalling last time, the characters beside the hero), the names the name check
protects, and the measures the judge adds: the reading level for the age, and that a sequel is no
copy of the part before (sentence overlap).

Pure functions of the request and the text; reading story folders and the cast file is the cast
wing's work (dreamflow_cli/cast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from dreamflow_cli.story import readability
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.story.text import _fingerprint, _near_duplicate, paragraphs, sentences

# A sequel may share at most this share of its sentences with the part before (the bar).
MAX_OVERLAP = 0.2
# Score points (checks.judge): each sentence copied from the part before, and a copy past the bar.
COPY_SENTENCE_PENALTY = 5
COPY_PENALTY = 30


def join_names(names: Sequence[str]) -> str:
    """"A", "A and B", "A, B and C"."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def prompt_lines(request: StoryRequest) -> tuple[str, ...]:
    """Instruction lines for saved characters and a sequel (story.prompt.build_prompt's ``extra``)."""
    lines: list[str] = []
    if request.characters:
        lines.append("Also in the story, always called by these names: "
                     + "; ".join(c.introduced() for c in request.characters) + ".")
    sequel = request.sequel
    if sequel is not None:
        lines.append(f"It continues an earlier bedtime story, “{sequel.previous_title}”, with the same friends.")
        lines.append(f"Tonight they have a new small adventure: {sequel.adventure}. Do not retell the earlier one.")
    return tuple(lines)


def with_cast(opening: str, request: StoryRequest) -> str:
    """The draft's first words with the saved characters beside the hero ("Once upon a time, Mia
    and Pip the dragon"), after one line recalling last time for a sequel. The model continues
    from here, so the names are spelled right and the characters are there from the first line."""
    text = opening
    if request.characters:
        head, stop, last = text.rpartition(". ")
        prefix, comma, who = last.rstrip().rpartition(",")
        named = [w for w in who.strip().split(" and ") if w] if comma else []
        cast = [f"{c.name} the {c.kind}" for c in request.characters]
        last = f"{prefix}, {join_names([*named, *cast])}" if comma else f"{last} and {join_names(cast)}"
        text = head + stop + last
    if request.sequel is not None:
        text = f"{request.sequel.recap} {text}"
    return text


def protected_names(request: StoryRequest) -> tuple[str, ...]:
    """Every word of every saved character's name: never misspelt, never replaced (checks.fix_names)."""
    return tuple(dict.fromkeys(word for c in request.characters for word in c.name.split()))


def judge_inputs(request: StoryRequest) -> dict[str, Any]:
    """checks.judge's arguments for the reading level, saved names and a sequel's previous part."""
    return {"age": request.age, "protected": protected_names(request),
            "previous": request.sequel.previous_sentences if request.sequel is not None else ()}


# --- a sequel is no copy ------------------------------------------------------------------------

def story_sentences(text: str) -> list[str]:
    return [s for p in paragraphs(text) for s in sentences(p)]


def copied_sentences(text: str, previous: Iterable[str]) -> list[str]:
    """The sentences of ``text`` that repeat (or nearly repeat) one of the ``previous`` part's."""
    before = [mark for mark in (_fingerprint(s) for s in previous) if mark]
    copied = []
    for sentence in story_sentences(text):
        mark = _fingerprint(sentence)
        if mark and (mark in before or any(_near_duplicate(mark, b) for b in before)):
            copied.append(sentence)
    return copied


def overlap(text: str, previous: Sequence[str]) -> float:
    """The share of the story's sentences copied from the part before (0 without one)."""
    total = len(story_sentences(text))
    return len(copied_sentences(text, previous)) / total if total and previous else 0.0


# --- what the judge adds ------------------------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    """A check the judge adds (checks.judge wraps it in a CheckResult): its name, whether the draft
    passed, what was found, and the score points it costs."""

    name: str
    passed: bool
    detail: str
    penalty: int


def fit_checks(text: str, *, age: int | None, previous: Sequence[str] = (), own: str | None = None) -> tuple[Fit, ...]:
    """The reading level of ``text`` for the age (always), and for a sequel that it is no copy:
    measured on ``own``, the text without what dreamflow wrote itself (the line recalling last time)."""
    band = readability.band_for(age)
    reading = readability.measure(text)
    fits = [Fit("reading_level", readability.in_range(reading, band), readability.describe(reading, band),
                readability.penalty(reading, band))]
    if previous:
        own = text if own is None else own
        copied = copied_sentences(own, previous)
        share = len(copied) / max(1, len(story_sentences(own)))
        cost = COPY_PENALTY if share > MAX_OVERLAP else COPY_SENTENCE_PENALTY * len(copied)
        detail = f"{share:.0%} of its sentences are from the part before" + (f": {copied[0][:60]!r}" if copied else "")
        fits.append(Fit("not_a_copy", share <= MAX_OVERLAP, detail, cost))
    return tuple(fits)
