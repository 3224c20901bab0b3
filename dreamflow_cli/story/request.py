"""What the parent asked for, cleaned and checked before the model loads.

The user's text never reaches a prompt unchecked: control characters and chat-template markers
are removed, over-long input is refused (never silently cut), and a word the content guard blocks
is refused with exit 6 before any model is touched. Saved characters (`--with`) and the story a
sequel continues (`--continue`) arrive here already resolved by the cast wing (dreamflow_cli/cast),
which refuses rather than cleans; the guard still reads their words with today's settings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from dreamflow_cli.errors import ContentBlockedError, UsageError
from dreamflow_cli.settings.profiles import MIN_STORY_TOKENS
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.guard import Guard, build_guard, describe
from dreamflow_cli.story.prompt import TOKENS_PER_WORD
from dreamflow_cli.story.readability import WORDS_PER_MINUTE
from dreamflow_cli.story.text import MAX_MORAL_CHARS, MAX_PROMPT_CHARS, MAX_THEME_CHARS, sanitize_name, sanitize_text


@dataclass(frozen=True)
class Character:
    """A saved character a story brings in by name (`generate --with NAME`): who it is, what kind
    of creature or thing (the pictures draw it by its kind), and what it is like."""

    name: str
    kind: str
    traits: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "traits": list(self.traits)}

    def introduced(self) -> str:
        """"Pip, a dragon (counts the stars; loves warm milk)": how the prompt presents it."""
        traits = f" ({'; '.join(self.traits)})" if self.traits else ""
        return f"{self.name}, {_article(self.kind)} {self.kind}{traits}"


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


@dataclass(frozen=True)
class Sequel:
    """The story a sequel continues, as far as the next part needs it (cast/series.py reads it)."""

    series_id: str  # the first part's story_id: every part of a series shares it
    part: int  # this story's number in the series (2 for the first sequel)
    previous_id: str  # the story continued: its story_id, folder name and title
    previous_folder: str
    previous_title: str
    hero: str  # what the first part was about ("a sleepy dragon who counts the stars")
    recap: str  # one line recalling last time: the story's first line, written by dreamflow
    adventure: str  # tonight's new small adventure
    # The previous part's sentences, to measure that this one is no copy (story.continuity).
    previous_sentences: tuple[str, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        """story.json's ``series`` block."""
        return {"id": self.series_id, "part": self.part, "hero": self.hero, "adventure": self.adventure,
                "recap": self.recap, "previous": {"story_id": self.previous_id, "folder": self.previous_folder,
                                                  "title": self.previous_title}}


@dataclass(frozen=True)
class StoryRequest:
    prompt: str
    name: str | None = None
    age: int | None = None
    scenes: int = 3
    images: bool = True
    seed: int | None = None
    theme: str | None = None  # where the story happens, e.g. "a snowy forest"
    moral: str | None = None  # a lesson it shows gently, e.g. "sharing makes friends"
    minutes: float | None = None  # read-aloud length asked for; chooses the token budget
    # As asked (names of saved characters, a story folder or id): the cast wing resolves them
    # into ``characters`` and ``sequel`` before the story is planned, and clears them.
    with_names: tuple[str, ...] = ()
    continue_from: str | None = None
    characters: tuple[Character, ...] = ()
    sequel: Sequel | None = None

    def own_texts(self) -> tuple[str, ...]:
        """Every text the request itself brought: its words in a story are never an "echo" of
        the instructions (checks.request_words)."""
        texts = [self.prompt, self.name, self.theme, self.moral]
        for character in self.characters:
            texts += [character.name, character.kind, *character.traits]
        if self.sequel is not None:
            texts += [self.sequel.recap, self.sequel.previous_title, self.sequel.hero, self.sequel.adventure]
        return tuple(t for t in texts if t)

    def character_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.characters)


# Fields added after story ids were first recorded: a story id counts them only when they are set,
# so `--skip-existing` still knows the stories written before them (run/setup.story_id).
LATER_FIELDS = ("minutes", "with_names", "continue_from", "characters", "sequel")


def guard_from_settings(settings: Settings) -> Guard:
    return build_guard(settings.guard_level, settings.guard_extra_terms)


def prepare_request(request: StoryRequest, settings: Settings) -> StoryRequest:
    """Clean the user's text and check it against the guard. Refusals come before the model
    loads: a blocked word in the prompt, name, theme, moral or a character raises ContentBlockedError."""
    prompt = sanitize_text(request.prompt, what="prompt", limit=MAX_PROMPT_CHARS)
    name = sanitize_name(request.name) if request.name else None
    theme = sanitize_text(request.theme, what="theme", limit=MAX_THEME_CHARS) if request.theme else None
    moral = sanitize_text(request.moral, what="moral", limit=MAX_MORAL_CHARS) if request.moral else None
    guard = guard_from_settings(settings)
    texts: list[tuple[str, str | None]] = [("prompt", prompt), ("name", name), ("theme", theme), ("moral", moral)]
    for character in request.characters:
        texts += [(f"character {character.name}", " ".join((character.name, character.kind, *character.traits)))]
        if name and character.name.casefold() == name.casefold():
            raise UsageError(f"{name} is both the child's name and a saved character's",
                             "give the child another --name, or leave that character out of --with")
    if request.sequel is not None:
        texts += [("story being continued", f"{request.sequel.recap} {request.sequel.adventure}")]
    for what, text in texts:
        found = guard.find_in_request(text) if text else []  # "scared of the dark" may be asked for
        if found:
            raise ContentBlockedError(
                f"the {what} has words not allowed in a bedtime story: {describe(found)}",
                f"describe a gentle idea instead, e.g. \"a sleepy dragon\"; the blocked words depend on "
                f"guard_level (now {guard.level!r}) and guard_extra_terms in the config",
            )
    return dataclasses.replace(request, prompt=prompt, name=name, theme=theme, moral=moral)


# --- length in minutes -------------------------------------------------------------------------

def tokens_for_minutes(minutes: float) -> int:
    """The token budget of a story read aloud in ``minutes`` at WORDS_PER_MINUTE. The model
    writes about TOKENS_PER_WORD tokens a word and uses the budget it is given (the prompt asks for
    fewer words than fit because small models overshoot: story.prompt.word_target)."""
    return math.ceil(minutes * WORDS_PER_MINUTE * TOKENS_PER_WORD)


def minutes_for_tokens(tokens: int) -> float:
    return tokens / TOKENS_PER_WORD / WORDS_PER_MINUTE


def story_budget(minutes: float | None, limit: int) -> int:
    """The story's token budget: the profile's ``limit`` (its max_tokens, or --max-tokens), or,
    when minutes were asked for, what they need within that limit."""
    if minutes is None:
        return limit
    return max(MIN_STORY_TOKENS, min(limit, tokens_for_minutes(minutes)))


def minutes_note(minutes: float | None, limit: int, profile: str) -> str | None:
    """What to say on stderr when the profile cannot fit the minutes asked for, else None."""
    if minutes is None or tokens_for_minutes(minutes) <= limit:
        return None
    return (f"--minutes {minutes:g} needs about {tokens_for_minutes(minutes)} tokens, but the {profile} profile "
            f"writes at most {limit} (about {minutes_for_tokens(limit):.1f} minutes read aloud); the story will be "
            f"shorter. A bigger --max-tokens raises the limit")
