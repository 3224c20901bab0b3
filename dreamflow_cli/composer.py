"""From a request to a finished story text: the prompt, the model run, and the checks on its output.

Sits between the engine (tokens) and the pipeline (files): everything about *what* the story says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dreamflow_cli.config import Settings
from dreamflow_cli.engine import Generation, LoadedModel
from dreamflow_cli.monitor import Status
from dreamflow_cli.story import MAX_NAME_CHARS, MAX_PROMPT_CHARS, Story, assemble, build_prompt, sanitize_text


@dataclass(frozen=True)
class StoryRequest:
    prompt: str
    name: str | None = None
    age: int | None = None
    scenes: int = 3
    images: bool = True
    seed: int | None = None


@dataclass(frozen=True)
class Composed:
    story: Story
    generation: Generation  # the accepted attempt
    attempts: int

    def metadata(self) -> dict[str, object]:
        """What story.json records about how the text came to be."""
        return {"attempts": self.attempts}


def prepare_request(request: StoryRequest, settings: Settings) -> StoryRequest:
    """Clean the user's text before anything else happens (refusals come before the model loads)."""
    prompt = sanitize_text(request.prompt, what="prompt", limit=MAX_PROMPT_CHARS)
    name = sanitize_text(request.name, what="name", limit=MAX_NAME_CHARS) if request.name else None
    return StoryRequest(prompt, name, request.age, request.scenes, request.images, request.seed)


def compose(model: LoadedModel, request: StoryRequest, settings: Settings, seed: int, status: Status) -> Composed:
    max_tokens = model.profile.max_tokens
    system, user = build_prompt(request.prompt, name=request.name, age=request.age, max_tokens=max_tokens)
    status.max_tokens = max_tokens
    status.tokens = 0

    def on_token(count: int) -> None:
        if count == 1:
            status.generation_started = time.perf_counter()
        status.tokens = count

    generation = model.generate(model.chat_prompt(system, user), max_tokens=max_tokens,
                                sampling=settings.sampling(), seed=seed, on_token=on_token)
    return Composed(assemble(generation.text, request.prompt, request.scenes), generation, attempts=1)
