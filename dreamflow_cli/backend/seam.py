"""The backend seam: what the story pipeline needs from whatever runs the model.

Two implementations: ``local`` (llama.cpp in this process, engine.py) and ``openai`` (any server
speaking the OpenAI chat-completions API). Everything above this seam — prompt building, the
guard and its retries, trimming, scenes, pictures, story folders, story.json, batches — is the
same for both, and fast unit tests plug a fake in here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from dreamflow_cli.errors import UsageError
from dreamflow_cli.settings.profiles import MIN_STORY_TOKENS, Profile

TokenCallback = Callable[[int], None]


@dataclass(frozen=True)
class Prompt:
    """One request to the model. A chat model gets ``system`` and ``user`` as turns of its own
    template and continues ``prefix`` as the start of its answer; a template-less (base) model
    is given empty turns and simply continues ``prefix``."""

    system: str
    user: str
    prefix: str = ""


@dataclass(frozen=True)
class Generation:
    text: str  # the continuation after Prompt.prefix
    prompt_tokens: int
    generated_tokens: int
    max_tokens: int  # the budget actually used (after fitting into the context)
    seconds: float
    first_token_seconds: float
    finish_reason: str  # "stop" (the model ended) or "length" (budget ran out)
    usage: Mapping[str, Any] | None = None  # the server's own usage block, when there is one
    endpoint: str | None = None  # the base URL that wrote it (never with credentials)

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds > 0 else 0.0


class Backend(Protocol):
    kind: str  # "local" | "openai"
    profile: Profile  # n_ctx bounds prompt + story; max_tokens is the story budget
    has_chat_template: bool  # False: a base model, which continues text instead of following turns
    load_seconds: float
    max_parallel: int  # how many generate() calls can usefully run at once (1 = one at a time)

    def count_tokens(self, prompt: Prompt) -> int: ...

    def generate(self, prompt: Prompt, *, max_tokens: int, sampling: Mapping[str, float], seed: int,
                 on_token: TokenCallback | None = None) -> Generation:
        """Thread-safe. If ``on_token`` raises, the exception propagates and the backend stays
        usable for the next call."""
        ...

    def describe(self) -> dict[str, Any]:
        """What story.json records about the backend; never a credential."""
        ...

    def interrupt(self) -> None:
        """Called from another thread to make calls in flight end soon (a server connection is
        closed); a backend whose calls end at the next token anyway does nothing."""
        ...

    def close(self) -> None: ...


def fit_max_tokens(prompt_tokens: int, max_tokens: int, n_ctx: int) -> int:
    """The story budget so that prompt + story never exceeds the context window."""
    room = n_ctx - prompt_tokens
    if room < MIN_STORY_TOKENS:
        raise UsageError(
            f"the prompt takes {prompt_tokens} of the {n_ctx}-token context, "
            f"leaving no room for a story",
            "shorten the prompt, or raise the context with --ctx",
        )
    return min(max_tokens, room)


class Cancelled(Exception):
    """Raised from a token callback to abandon a story in flight (a batch is being stopped)."""


class Cancellable:
    """A backend wrapper for a batch: once ``cancel`` is set, every story in flight stops at its
    next token, so an interrupted batch ends quickly and leaves no half-written story."""

    def __init__(self, backend: Backend, cancel: threading.Event):
        self._backend = backend
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def generate(self, prompt: Prompt, *, max_tokens: int, sampling: Mapping[str, float], seed: int,
                 on_token: TokenCallback | None = None) -> Generation:
        def checked(count: int) -> None:
            if self._cancel.is_set():
                raise Cancelled()
            if on_token is not None:
                on_token(count)

        if self._cancel.is_set():
            raise Cancelled()
        return self._backend.generate(prompt, max_tokens=max_tokens, sampling=sampling, seed=seed,
                                      on_token=checked)
