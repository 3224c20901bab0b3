"""From a request to a finished story text: the prompt, the model run, and the checks on its output.

Sits between the engine (tokens) and the pipeline (files): everything about *what* the story says.
A story is written in up to two model calls: the story itself, started for the model with an
opening line about the child, and, when the budget ran out before the child fell asleep, a short
ending. The content guard checks the request before the model loads and every attempt after it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

from dreamflow_cli.config import Settings
from dreamflow_cli.backend import MIN_STORY_TOKENS, Backend, Generation, Prompt, fit_max_tokens
from dreamflow_cli.errors import ContentBlockedError, ModelError
from dreamflow_cli.guard import DEFAULT_LEVEL, Guard, build_guard, describe
from dreamflow_cli.monitor import Status
from dreamflow_cli.seeds import retry_seed
from dreamflow_cli.story import (MAX_MORAL_CHARS, MAX_PROMPT_CHARS, MAX_THEME_CHARS, Story, TextReport, assemble,
                                 build_prompt, closing_cue, draft, ending_from, ends_sleepily, sanitize_name, sanitize_text,
                                 story_opening)

# Tokens kept back from the story for its ending, when the budget is big enough to share.
ENDING_TOKENS = 48
MIN_SHARED_BUDGET = 64
# Room for the opening line written into the answer (a name and a few words).
OPENING_TOKENS = 16
# Below this many words an attempt is no story at all (the model stopped right after the opening).
MIN_STORY_WORDS = 8
TOO_SHORT = "too short"

RetryCallback = Callable[[int, list[str]], None]


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


@dataclass(frozen=True)
class Attempt:
    """One try at the story: its seed and, if rejected, why."""

    seed: int
    rejected_for: tuple[str, ...] = ()  # the guard words found, or (TOO_SHORT,)


@dataclass(frozen=True)
class Composed:
    story: Story
    generation: Generation  # the accepted attempt (its ending call included)
    attempts: int
    history: tuple[Attempt, ...] = ()
    guard_level: str = DEFAULT_LEVEL
    report: TextReport | None = None
    ending_added: bool = False  # the model was asked for an ending after the budget ran out

    def metadata(self) -> dict[str, object]:
        """What story.json records about how the text came to be."""
        meta: dict[str, Any] = {
            "attempts": self.attempts,
            "retries": self.attempts - 1,
            "guard_level": self.guard_level,
            "guard_hits": [list(a.rejected_for) for a in self.history
                           if a.rejected_for and a.rejected_for != (TOO_SHORT,)],
            "short_attempts": sum(a.rejected_for == (TOO_SHORT,) for a in self.history),
            "attempt_seeds": [a.seed for a in self.history],
            "accepted_seed": self.history[-1].seed if self.history else None,
            "ending_added": self.ending_added,
        }
        if self.report is not None:
            meta.update(title_source=self.report.title_source, repeats_removed=self.report.repeats_removed,
                        repeated_ratio=self.report.repeated_ratio)
        return meta


# --- before the model loads ------------------------------------------------------------------

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
        found = guard.find(text) if text else []
        if found:
            raise ContentBlockedError(
                f"the {what} has words not allowed in a bedtime story: {describe(found)}",
                f"describe a gentle idea instead, e.g. \"a sleepy dragon\"; the blocked words depend on "
                f"guard_level (now {guard.level!r}) and guard_extra_terms in the config",
            )
    return dataclasses.replace(request, prompt=prompt, name=name, theme=theme, moral=moral)


# --- the model run ---------------------------------------------------------------------------

def ending_reserve(max_tokens: int) -> int:
    """Tokens held back for a closing passage; tiny budgets keep everything for the story."""
    if max_tokens < MIN_SHARED_BUDGET:
        return 0
    return min(ENDING_TOKENS, max_tokens // 4)


def _combine(first: Generation, second: Generation | None, budget: int) -> Generation:
    """One Generation for both calls, against the whole budget they shared."""
    if second is None:
        return dataclasses.replace(first, max_tokens=budget)
    return dataclasses.replace(
        first,
        generated_tokens=first.generated_tokens + second.generated_tokens,
        max_tokens=budget,
        seconds=first.seconds + second.seconds,
        finish_reason=second.finish_reason,
    )


def _write_once(model: Backend, request: StoryRequest, system: str, user: str, seed: int,
                settings: Settings, status: Status, budget: int) -> tuple[str, Generation, bool]:
    """One attempt: the story, then (if it ran out or never got sleepy) a closing passage.
    Returns (text, generation, ending_added)."""
    status.tokens = 0
    status.generation_started = None

    def counter(offset: int) -> Callable[[int], None]:
        def on_token(count: int) -> None:
            if status.generation_started is None:
                status.generation_started = time.perf_counter()
            status.tokens = offset + count
        return on_token

    opening = story_opening(request.name, seed)
    reserve = ending_reserve(budget)
    first = model.generate(Prompt(system, user, opening), max_tokens=budget - reserve,
                           sampling=settings.sampling(), seed=seed, on_token=counter(0))
    text = draft(opening + first.text)
    left = budget - first.generated_tokens
    if not (reserve and left >= reserve // 2 and text) or (first.finish_reason == "stop" and ends_sleepily(text)):
        return text, _combine(first, None, budget), False
    cue = closing_cue(request.name, seed)
    ending_prompt = Prompt(system, user, f"{text}\n\n{cue}")
    room = model.profile.n_ctx - model.count_tokens(ending_prompt)
    if room < MIN_STORY_TOKENS:  # a context cut very small: the story stands as it is
        return text, _combine(first, None, budget), False
    second = model.generate(ending_prompt, max_tokens=min(left, room), sampling=settings.sampling(),
                            seed=seed, on_token=counter(first.generated_tokens))
    ending = ending_from(cue + second.text)
    return f"{text}\n\n{ending}", _combine(first, second, budget), True


def compose(
    model: Backend,
    request: StoryRequest,
    settings: Settings,
    seed: int,
    status: Status,
    *,
    on_retry: RetryCallback | None = None,
) -> Composed:
    """Write the story. An attempt whose text holds a blocked word (or no story) is thrown away
    and written again with the next derived seed, ``guard_retries`` times at most; then
    ContentBlockedError names the words. ``on_retry(retry_number, words)`` fires before each retry.
    Nothing here writes files, so a rejected text never reaches the disk."""
    guard = guard_from_settings(settings)
    retries = settings.guard_retries
    system, user, budget = _fitted_prompt(model, request)
    status.max_tokens = budget

    history: list[Attempt] = []
    for attempt in range(1, retries + 2):
        attempt_seed = retry_seed(seed, attempt)
        text, generation, ending_added = _write_once(model, request, system, user, attempt_seed,
                                                     settings, status, budget)
        story, report = assemble(text, request.prompt, request.scenes)
        words = len(story.text.split())
        found = guard.find(story.all_text()) if words >= MIN_STORY_WORDS else [TOO_SHORT]
        history.append(Attempt(attempt_seed, tuple(found)))
        if not found:
            return Composed(story, generation, attempt, tuple(history), guard.level, report, ending_added)
        if attempt <= retries and on_retry is not None:
            on_retry(attempt, found)

    blocked = [w for a in history for w in a.rejected_for if w != TOO_SHORT]
    tries = f"{len(history)} attempt{'s' if len(history) > 1 else ''}"
    if not blocked:
        raise ModelError(f"the model wrote no usable story in {tries}",
                         "try another --seed, a larger --max-tokens, or a bigger model")
    raise ContentBlockedError(
        f"every story the model wrote contained words blocked for bedtime ({describe(dict.fromkeys(blocked))}) "
        f"after {tries}; nothing was saved",
        "try another --seed or a gentler prompt, or raise guard_retries in the config",
    )


def _fitted_prompt(model: Backend, request: StoryRequest) -> tuple[str, str, int]:
    """(system, user, budget): the token budget is what the context really leaves after the
    prompt, and the word target asked for follows the part of it the story may use."""
    budget = model.profile.max_tokens
    for _ in range(2):
        story_tokens = budget - ending_reserve(budget)
        system, user = build_prompt(request.prompt, name=request.name, age=request.age, max_tokens=story_tokens,
                                    theme=request.theme, moral=request.moral, scenes=request.scenes)
        prompt_tokens = model.count_tokens(Prompt(system, user)) + OPENING_TOKENS
        room = fit_max_tokens(prompt_tokens, model.profile.max_tokens, model.profile.n_ctx)
        if room >= budget:
            break
        budget = room
    return system, user, budget
