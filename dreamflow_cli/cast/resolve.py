"""A request's saved characters and the story it continues, resolved before the story is planned:
`--with NAME` becomes the characters themselves (from the characters file), `--continue STORY`
the sequel's child, age, setting, companions, hero and adventure (cast/series.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dreamflow_cli.cast import series, store
from dreamflow_cli.cast.characters import MAX_PER_STORY
from dreamflow_cli.errors import UsageError
from dreamflow_cli.story.request import StoryRequest


def resolve(request: StoryRequest, out_dir: Path, characters_file: Path | None = None) -> StoryRequest:
    """``request`` with ``with_names`` and ``continue_from`` resolved (and cleared)."""
    if not request.with_names and not request.continue_from:
        return request
    chosen = store.lookup(request.with_names, characters_file) if request.with_names else ()
    if request.continue_from:
        request = continued(request, series.read_previous(series.find_story(request.continue_from, out_dir)),
                            chosen)
    else:
        request = dataclasses.replace(request, characters=chosen)
    if len(request.characters) > MAX_PER_STORY:
        raise UsageError(f"{len(request.characters)} characters in one story; the limit is {MAX_PER_STORY}",
                         "bring fewer with --with")
    return dataclasses.replace(request, with_names=(), continue_from=None)


def continued(request: StoryRequest, previous: series.Previous, added: tuple) -> StoryRequest:
    """The next part after ``previous``: the same child, age, setting and hero (the story's own, not
    today's defaults), last time's characters with ``added``, and the request's prompt as tonight's
    adventure (one of series.SMALL_ADVENTURES when it has none)."""
    companions = series.companions(previous, added)
    adventure = " ".join(request.prompt.split()).rstrip(".!?") or None
    sequel = series.sequel(previous, adventure, companions)
    # The prompt stays the hero ("a sleepy dragon who counts the stars"): what the story must be
    # about (the on-subject check) and its title; tonight's adventure is asked for in its own line.
    return dataclasses.replace(request, prompt=sequel.hero, name=previous.name or request.name,
                               age=previous.age if previous.age is not None else request.age,
                               theme=previous.theme or request.theme, characters=companions, sequel=sequel)
