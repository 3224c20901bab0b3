"""The parent's note: what a parent wants to know before reading a story aloud, in story.json
(``parent_note``) and on the library's card: the reading level and whether it fits the child's age,
how long it is, the lesson asked for, the characters in it, and what the checks changed.
"""

from __future__ import annotations

from typing import Any, Sequence

from dreamflow_cli.story import readability
from dreamflow_cli.story.continuity import join_names
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.story.text import Story

# What each check's repairs mean, in a parent's words (checks.CheckResult.repairs > 0).
_CHANGES = {
    "no_instruction_echo": "removed {n} sentence(s) that talked about the story instead of telling it",
    "calm_tone": "cut {n} worried or frightening sentence(s)",
    "names": "corrected misspelt names ({detail})",
    "ending": "ended it with the gentle closing sentence",
}


def changes(checks: Sequence[Any]) -> list[dict[str, str]]:
    """The checks that changed the story, each with what it did (checks.CheckResult-like objects)."""
    made = []
    for check in checks:
        template = _CHANGES.get(check.name)
        if template and check.repairs:
            detail = check.detail.removeprefix("fixed ")
            made.append({"check": check.name, "what": template.format(n=check.repairs, detail=detail)})
    return made


def story_metadata(request: StoryRequest, story: Story, checks: Sequence[Any]) -> dict[str, Any]:
    """story.json's blocks for this issue: characters, series, reading level and time, the note."""
    band = readability.band_for(request.age)
    reading = readability.measure(story.text)
    level = {**reading.as_dict(), "in_range": readability.in_range(reading, band), "range": band.as_dict()}
    minutes = readability.reading_minutes(reading.words)
    note: dict[str, Any] = {"reading_level": level, "words": reading.words, "minutes": minutes,
                            "characters": [{"name": c.name, "kind": c.kind} for c in request.characters],
                            "changed_by_checks": changes(checks)}
    if request.moral:
        note["moral"] = request.moral
    if request.sequel is not None:
        note["part"] = request.sequel.part
    note["text"] = note_text(request, level, reading.words, minutes, note["changed_by_checks"])
    return {
        "theme": request.theme,  # a sequel keeps the setting (cast/series.py reads it back)
        "moral": request.moral,
        "characters": [c.as_dict() for c in request.characters],
        **({"series": request.sequel.as_dict()} if request.sequel is not None else {}),
        **({"minutes_asked": request.minutes} if request.minutes is not None else {}),
        "reading_level": level,
        "reading_minutes": minutes,
        "parent_note": note,
    }


def note_text(request: StoryRequest, level: dict[str, Any], words: int, minutes: float,
              changed: list[dict[str, str]]) -> str:
    """The note as a few plain sentences, for the card."""
    band = level["range"]
    fits = "fits" if level["in_range"] else "is outside"
    parts = [f"Reading level: grade {max(0.0, level['grade']):.0f}, {level['words_per_sentence']:.0f} words a "
             f"sentence ({fits} ages {band['band']}).",
             f"{words} words, about {minutes:g} minute{'s' if minutes != 1 else ''} read aloud."]
    if request.sequel is not None:
        parts.append(f"Part {request.sequel.part}, after “{request.sequel.previous_title}”.")
    if request.moral:
        parts.append(f"Shows gently: {request.moral}.")
    if request.characters:
        parts.append(f"With {join_names([f'{c.name} the {c.kind}' for c in request.characters])}.")
    if changed:
        parts.append("The checks " + "; ".join(c["what"] for c in changed) + ".")
    return " ".join(parts)
