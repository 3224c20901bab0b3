"""What the parent asked for, cleaned and checked before the model loads.

The user's text never reaches a prompt unchecked: control characters and chat-template markers
are removed, over-long input is refused (never silently cut), and a word the content guard blocks
is refused with exit 6 before any model is touched.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dreamflow_cli.errors import ContentBlockedError
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.guard import Guard, build_guard, describe
from dreamflow_cli.story.text import MAX_MORAL_CHARS, MAX_PROMPT_CHARS, MAX_THEME_CHARS, sanitize_name, sanitize_text


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


def guard_from_settings(settings: Settings) -> Guard:
    return build_guard(settings.guard_level, settings.guard_extra_terms)


def prepare_request(request: StoryRequest, settings: Settings) -> StoryRequest:
    """Clean the user's text and check it against the guard. Refusals come before the model
    loads: a blocked word in the prompt, name, theme or moral raises ContentBlockedError."""
    prompt = sanitize_text(request.prompt, what="prompt", limit=MAX_PROMPT_CHARS)
    name = sanitize_name(request.name) if request.name else None
    theme = sanitize_text(request.theme, what="theme", limit=MAX_THEME_CHARS) if request.theme else None
    moral = sanitize_text(request.moral, what="moral", limit=MAX_MORAL_CHARS) if request.moral else None
    guard = guard_from_settings(settings)
    for what, text in (("prompt", prompt), ("name", name), ("theme", theme), ("moral", moral)):
        found = guard.find_in_request(text) if text else []  # "scared of the dark" may be asked for
        if found:
            raise ContentBlockedError(
                f"the {what} has words not allowed in a bedtime story: {describe(found)}",
                f"describe a gentle idea instead, e.g. \"a sleepy dragon\"; the blocked words depend on "
                f"guard_level (now {guard.level!r}) and guard_extra_terms in the config",
            )
    return dataclasses.replace(request, prompt=prompt, name=name, theme=theme, moral=moral)
