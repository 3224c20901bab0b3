"""A saved character's words, checked the way every input is, with one difference: nothing is
cleaned. A name, kind or trait with a control character or chat-template markup, or over its
length, is refused with one line (exit 2) naming what is wrong, because a character is typed once
and told in every story after: the parent should see what was refused, not find it changed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from dreamflow_cli.errors import UsageError
from dreamflow_cli.story.request import Character
from dreamflow_cli.story.text import MAX_NAME_CHARS, neutralize_markers

MAX_KIND_CHARS = 40
MAX_TRAIT_CHARS = 80
MAX_TRAITS = 5
# A story is a few hundred words: more characters than this and none of them gets a line.
MAX_PER_STORY = 4
# Letters, joined by single spaces, hyphens, apostrophes or a full stop ("Mr. Snuggles", "Mary-Jane").
_WORDS = re.compile(r"[^\W\d_]+(?:[ '’.-]+[^\W\d_]+)*\.?")


def checked_text(text: object, *, what: str, limit: int) -> str:
    """``text`` as given (runs of spaces made one), or UsageError saying why it cannot be used."""
    if not isinstance(text, str):
        raise UsageError(f"the {what} must be text, not {type(text).__name__}", f"write the {what} in plain words")
    for ch in text:
        if unicodedata.category(ch).startswith("C"):
            raise UsageError(f"the {what} {text.strip()[:40]!r} has a control character (U+{ord(ch):04X})",
                             f"type the {what} again in plain words")
    words = " ".join(text.split())
    if not words:
        raise UsageError(f"the {what} is empty", f"give the {what} in plain words")
    normalized = unicodedata.normalize("NFKC", words)
    if neutralize_markers(normalized) != normalized:
        raise UsageError(f"the {what} {words[:40]!r} has markup (<, >, | or a chat-template marker)",
                         f"write the {what} in plain words")
    if len(words) > limit:
        raise UsageError(f"the {what} is {len(words)} characters long; the limit is {limit}",
                         f"shorten the {what} to at most {limit} characters")
    return words


def character(name: object, kind: object, traits: Iterable[object] = ()) -> Character:
    """A Character from what a parent typed (or the characters file holds), or UsageError."""
    who = checked_text(name, what="character name", limit=MAX_NAME_CHARS)
    if not _WORDS.fullmatch(who):
        raise UsageError(f"the character name {who!r} is not a name", 'use letters, e.g. Pip or "Mister Whiskers"')
    what = checked_text(kind, what=f"kind of {who}", limit=MAX_KIND_CHARS)
    if not _WORDS.fullmatch(what):
        raise UsageError(f"the kind of {who}, {what!r}, is not a kind of creature or thing",
                         'use words, e.g. --kind dragon or --kind "little grey rabbit"')
    like = tuple(checked_text(t, what=f"trait of {who}", limit=MAX_TRAIT_CHARS) for t in traits)
    if len(like) > MAX_TRAITS:
        raise UsageError(f"{who} has {len(like)} traits; the limit is {MAX_TRAITS}",
                         "keep the few that matter most at bedtime")
    return Character(who, what, tuple(dict.fromkeys(like)))


def same_name(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()
