"""From a request to a finished story text: the prompt, the model run, and the checks on its output.

Sits between the backend (tokens) and the pipeline (files): everything about *what* the story says.
A draft is written in up to two model calls: the story itself, started for the model with an
opening line about the child, and, when the budget ran out before the child fell asleep, a short
ending. The content guard checks the request before the model loads and every draft after it.

Candidates: up to ``candidates`` drafts are written, each with its own derived seed, and the
content checks (checks.py) judge each one; the best score is kept, the earliest on a tie, and
writing stops as soon as a draft is good enough (checks.STOP_SCORE: on subject, nothing
unresolved, at most a small repair). A draft with a blocked
word, no story, or mostly instructions is thrown away; those are retried (``guard_retries`` more
drafts at most) and never kept. A base model (no chat template) is given the opening of a story
to continue instead of instructions (story.base_model_opening). After a draft that wandered off
subject, the next ones start with a sentence naming the subject (story.subject_sentence); the
on-subject check does not count that sentence.

The beat scaffold (issue 26, ``scaffold`` setting; auto: on for models under 1B parameters): a draft
is written one beat at a time instead (prompt.BEATS: where we are, a small wish, a gentle try,
comfort, sleep), each beat begun by words naming the child and the hero by kind, so a tiny model
continues from the right place. No ending call is needed: the last beat is sleep.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from dreamflow_cli.backend.seam import MIN_STORY_TOKENS, Backend, Generation, Prompt, fit_max_tokens
from dreamflow_cli.story.checks import (Verdict, cast_kinds, instruction_sentences, is_distressing, judge, prompt_subjects,
                                        request_words)
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.errors import ContentBlockedError, ModelError
from dreamflow_cli.settings.table import DEFAULT_GUARD_LEVEL
from dreamflow_cli.story.guard import describe, names_a_feeling
from dreamflow_cli.seeds import derived_seed, retry_seed
from dreamflow_cli.story.continuity import judge_inputs, prompt_lines, with_cast
from dreamflow_cli.story.request import StoryRequest, guard_from_settings, story_budget
from dreamflow_cli.story.prompt import SYSTEM_PROMPT as SYSTEM_PROMPT_TEXT
from dreamflow_cli.story.prompt import (AGE_BANDS, Cast, base_model_opening, beat_from, beat_opener, beat_plan,
                                        build_prompt, closing_cue, ending_from, ends_sleepily, first_beat_opener,
                                        story_opening, subject_sentence)
from dreamflow_cli.story.scenes import TextReport, assemble, caption_for, draft, split_scenes
from dreamflow_cli.story.text import Story

# Tokens kept back from the story for its ending, when the budget is big enough to share.
ENDING_TOKENS = 48
MIN_SHARED_BUDGET = 64
# Room for the opening line written into the answer (a name and a few words).
OPENING_TOKENS = 16
# Below this many words an attempt is no story at all (the model stopped right after the opening).
MIN_STORY_WORDS = 8
TOO_SHORT = "too short"
MOSTLY_INSTRUCTIONS = "mostly instructions"

RetryCallback = Callable[[int, list[str]], None]


class TokenMeter(Protocol):
    """Where the composer reports a draft's progress (the run's live status has these fields)."""

    tokens: int  # generated so far in this draft
    max_tokens: int  # the draft's budget
    generation_started: float | None  # perf_counter() at the first token


@dataclass(frozen=True)
class Attempt:
    """One draft: its seed and either why it was thrown away or what the judge made of it."""

    seed: int
    rejected_for: tuple[str, ...] = ()  # the guard words found, or (TOO_SHORT,) / (MOSTLY_INSTRUCTIONS,)
    score: int | None = None  # the judge's score of a usable draft
    passed_all: bool = False


@dataclass(frozen=True)
class Composed:
    story: Story
    generation: Generation  # the kept draft (its ending call included)
    attempts: int
    history: tuple[Attempt, ...] = ()
    guard_level: str = DEFAULT_GUARD_LEVEL
    report: TextReport | None = None
    ending_added: bool = False  # the model was asked for an ending after the budget ran out
    verdict: Verdict | None = None  # the content checks of the kept draft
    chosen: int = 1  # which draft was kept (1 = the first written)
    candidates: int = 1  # the most drafts this story could have
    draft_tokens: int = 0  # tokens generated over every draft
    opening: str = ""  # the kept draft's first words, written by dreamflow for the model to continue
    scaffold: Mapping[str, Any] = field(default_factory=dict)  # how the beats went (story.json "scaffold")

    def metadata(self) -> dict[str, object]:
        """What story.json records about how the text came to be."""
        rejected = (TOO_SHORT, MOSTLY_INSTRUCTIONS)
        meta: dict[str, Any] = {
            "attempts": self.attempts,
            "retries": self.attempts - 1,
            "guard_level": self.guard_level,
            "guard_hits": [list(a.rejected_for) for a in self.history
                           if a.rejected_for and a.rejected_for[0] not in rejected],
            "short_attempts": sum(a.rejected_for == (TOO_SHORT,) for a in self.history),
            "attempt_seeds": [a.seed for a in self.history],
            "accepted_seed": self.history[self.chosen - 1].seed if self.history else None,
            "ending_added": self.ending_added,
            "candidates": {
                "limit": self.candidates,
                "written": len(self.history),
                "chosen": self.chosen,
                "scores": [a.score for a in self.history],
                "stopped_early": bool(self.verdict and self.verdict.good_enough and len(self.history) < self.candidates),
                "draft_tokens": self.draft_tokens,
            },
        }
        if self.verdict is not None:
            meta["checks"] = self.verdict.as_dict()
        if self.opening:
            meta["opening"] = self.opening
        if self.scaffold:
            meta["scaffold"] = dict(self.scaffold)
        if self.report is not None:
            meta.update(title_source=self.report.title_source, repeats_removed=self.report.repeats_removed,
                        repeated_ratio=self.report.repeated_ratio)
        return meta


def candidates_from_settings(settings: Settings) -> int:
    return max(1, int(settings.candidates))


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
        usage=_sum_usage(first.usage, second.usage),
    )


def _sum_usage(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A server's usage blocks of both calls, added up (the token counts; other fields from the first)."""
    if not a or not b:
        one = a or b
        return dict(one) if one else None
    total = dict(a)
    for key, value in b.items():
        if isinstance(value, int) and isinstance(total.get(key), int):
            total[key] += value
    return total


@dataclass(frozen=True)
class _Framing:
    """How drafts are asked for: chat turns, or (a base model) a story's first page to continue."""

    system: str
    user: str
    budget: int
    title: str | None = None  # a base model's page title, which is the story's
    page: str = ""  # a base model's page before the opening: the title and a blank line

    def prompt(self, prefix: str) -> Prompt:
        return Prompt(self.system, self.user, self.page + prefix) if self.title else Prompt(self.system, self.user,
                                                                                               prefix)


def _opening(request: StoryRequest, framing: _Framing, seed: int, nudge: bool = False) -> str:
    """The start of the draft, written for the model, with saved characters and a sequel's line
    recalling last time (story/continuity.py)."""
    return with_cast(_first_words(request, framing, seed, nudge), request)


def _first_words(request: StoryRequest, framing: _Framing, seed: int, nudge: bool = False) -> str:
    """The start of the draft. ``nudge``: an earlier draft wandered off subject, so this one
    starts by naming the subject."""
    if framing.title:
        return base_model_opening(request.prompt, name=request.name, theme=request.theme, seed=seed)[1]
    if nudge:
        # Name the subject, then start the next sentence with it: "…, Finn and the hedgehog".
        things = prompt_subjects(request.prompt)
        start = story_opening(None, seed % 4 + 1)
        hero = f"the {things[0]}" if things else ""
        who = " and ".join(w for w in (request.name, hero) if w)
        return f"{subject_sentence(request.prompt)} {start} {who}".rstrip()
    return story_opening(request.name, seed)


def _write_once(model: Backend, request: StoryRequest, framing: _Framing, seed: int,
                settings: Settings, status: TokenMeter, nudge: bool = False) -> tuple[str, Generation, bool]:
    """One draft: the story, then (if it ran out or never got sleepy) a closing passage.
    Returns (text, generation, ending_added)."""
    status.tokens = 0
    status.generation_started = None
    budget = framing.budget

    def counter(offset: int) -> Callable[[int], None]:
        def on_token(count: int) -> None:
            if status.generation_started is None:
                status.generation_started = time.perf_counter()
            status.tokens = offset + count
        return on_token

    opening = _opening(request, framing, seed, nudge)
    reserve = ending_reserve(budget)
    first = model.generate(framing.prompt(opening), max_tokens=budget - reserve, sampling=settings.sampling(),
                           seed=seed, on_token=counter(0))
    text = draft(opening + first.text)
    left = budget - first.generated_tokens
    if not (reserve and left >= reserve // 2 and text) or (first.finish_reason == "stop" and ends_sleepily(text)):
        return text, _combine(first, None, budget), False
    cue = closing_cue(request.name, seed)
    ending_prompt = framing.prompt(f"{text}\n\n{cue}")
    room = model.profile.n_ctx - model.count_tokens(ending_prompt)
    if room < MIN_STORY_TOKENS:  # a context cut very small: the story stands as it is
        return text, _combine(first, None, budget), False
    second = model.generate(ending_prompt, max_tokens=min(left, room), sampling=settings.sampling(),
                            seed=seed, on_token=counter(first.generated_tokens))
    ending = ending_from(cue + second.text)
    return f"{text}\n\n{ending}", _combine(first, second, budget), True


def _write_draft(model: Backend, request: StoryRequest, framing: _Framing, seed: int, settings: Settings,
                 status: TokenMeter, scaffold: Scaffold, nudge: bool) -> tuple[str, Generation, bool, tuple[str, ...]]:
    """One draft, beat by beat or in one go: (text, generation, ending_added, the words we wrote in it
    and the subject sentence, which the on-subject check leaves out)."""
    subject = subject_sentence(request.prompt)
    if scaffold.used:
        text, generation, openers = _write_beats(model, request, framing, seed, settings, status, scaffold)
        return text, generation, False, (*openers, subject)
    text, generation, ending_added = _write_once(model, request, framing, seed, settings, status, nudge=nudge)
    return text, generation, ending_added, (_opening(request, framing, seed, nudge), subject)


# --- the beat scaffold (issue 26) ------------------------------------------------------------------
# Tiny models keep a sentence together and lose the story; the arc (prompt.BEATS) comes from us. Each
# beat is one model call continuing the story so far plus the beat's opener: in process the opener
# is prefilled (Prompt.prefix; llama.cpp reuses the cached story so far), a server is asked in words
# to begin with it (server/chat_prefix.py). What the model writes after its first paragraph is cut.

SCAFFOLD_AUTO_BELOW = 1_000_000_000  # parameters: ``scaffold = auto`` is on for models under 1B
MIN_BEAT_TOKENS = 24  # a beat needs room for a sentence or two


@dataclass(frozen=True)
class Scaffold:
    setting: str  # auto, on, off
    used: bool
    reason: str
    beats: tuple[str, ...] = ()
    cast: Cast = Cast(None)

    def metadata(self, openers: Sequence[str]) -> dict[str, Any]:
        """story.json's "scaffold": the setting, whether it was used and why, the beats and the words
        that began them in the kept draft."""
        meta: dict[str, Any] = {"setting": self.setting, "used": self.used, "reason": self.reason}
        if self.used:
            meta.update(beats=list(self.beats), openers=list(openers))
        return meta


def scaffold_decision(setting: str, parameters: int | None) -> tuple[bool, str]:
    """Whether to write beat by beat: ``on``/``off`` as set; ``auto`` on for a model under
    SCAFFOLD_AUTO_BELOW parameters, off when the size is unknown (a model behind a server)."""
    if setting in ("on", "off"):
        return setting == "on", f"scaffold = {setting}"
    if parameters is None:
        return False, "auto: the model's size is unknown (a server), so off"
    size = f"{parameters / 1e6:,.0f}M" if parameters < 1e9 else f"{parameters / 1e9:,.1f}B"
    return parameters < SCAFFOLD_AUTO_BELOW, f"auto: {size} parameters, {'under' if parameters < 1e9 else 'not under'} 1B"


def model_parameters(model: Backend) -> int | None:
    """The model's parameter count: the backend's own, else its GGUF file's header; None for a server."""
    count = getattr(model, "parameter_count", None)
    if isinstance(count, int):
        return count
    path = getattr(model, "path", None)
    if isinstance(path, Path) and path.is_file():
        stat = path.stat()
        return _gguf_parameters(str(path), stat.st_size, stat.st_mtime_ns)
    return None


@functools.lru_cache(maxsize=8)
def _gguf_parameters(path: str, size: int, mtime: int) -> int | None:
    # Once per model file per process: a batch asks for every story. Size and mtime key the cache.
    from dreamflow_cli.errors import DreamflowError
    from dreamflow_cli.model.gguf import read_gguf_info

    try:
        return read_gguf_info(path).parameter_count or None
    except DreamflowError:
        return None


def plan_scaffold(model: Backend, request: StoryRequest, setting: str, budget: int) -> Scaffold:
    """The scaffold for this story: wanted (``setting``, the model's size), someone to name (the
    child, or a creature in the prompt), and room for at least three beats."""
    wanted, reason = scaffold_decision(setting, model_parameters(model) if setting == "auto" else None)
    if not wanted:
        return Scaffold(setting, False, reason)
    kinds = cast_kinds(request.prompt)
    things = prompt_subjects(request.prompt)
    cast = Cast(request.name, kinds, None if kinds or not things else things[0])
    if not cast.usable:
        return Scaffold(setting, False, f"{reason}; but no hero to name (no --name, no creature in the prompt)")
    beats = beat_plan(budget, min_tokens=MIN_BEAT_TOKENS)
    if not beats:
        return Scaffold(setting, False, f"{reason}; but {budget} tokens are too few for three beats")
    return Scaffold(setting, True, reason, beats, cast)


def _write_beats(model: Backend, request: StoryRequest, framing: _Framing, seed: int, settings: Settings,
                 status: TokenMeter, scaffold: Scaffold) -> tuple[str, Generation, tuple[str, ...]]:
    """One draft, a beat (a paragraph) per call, each begun with its opener. Returns the text, one
    Generation for all the calls, and the openers of the beats kept (a beat that came to no whole
    sentence is left out, its opener with it)."""
    status.tokens = 0
    status.generation_started = None
    per_beat = framing.budget // len(scaffold.beats)
    kept: list[str] = []
    openers: list[str] = []
    calls: list[Generation] = []
    for i, beat in enumerate(scaffold.beats):
        beat_seed = seed if i == 0 else derived_seed("dreamflow-beat", seed, i)
        # The first beat carries the saved characters and a sequel's recap, as a draft in one go does.
        opener = (with_cast(first_beat_opener(request.prompt, scaffold.cast, seed,
                                              request.theme if framing.title else None), request)
                  if i == 0 else beat_opener(beat, scaffold.cast, beat_seed))
        prompt = framing.prompt("\n\n".join([*kept, opener]))
        room = model.profile.n_ctx - model.count_tokens(prompt)
        if room < MIN_STORY_TOKENS and calls:
            break  # a context cut very small: the story stands as far as it got
        done = sum(c.generated_tokens for c in calls)
        calls.append(model.generate(prompt, max_tokens=min(per_beat, room), sampling=settings.sampling(),
                                    seed=beat_seed, on_token=_meter(status, done)))
        paragraph = beat_from(opener, calls[-1].text, last=beat == scaffold.beats[-1])
        if paragraph:
            kept.append(paragraph)
            openers.append(opener)
    return "\n\n".join(kept), _combine_all(calls, framing.budget), tuple(openers)


def _meter(status: TokenMeter, offset: int) -> Callable[[int], None]:
    def on_token(count: int) -> None:
        if status.generation_started is None:
            status.generation_started = time.perf_counter()
        status.tokens = offset + count
    return on_token


def _combine_all(calls: Sequence[Generation], budget: int) -> Generation:
    """One Generation for a draft's calls, against the budget they shared."""
    combined = calls[0]
    for call in calls[1:]:
        combined = _combine(combined, call, budget)
    return dataclasses.replace(combined, max_tokens=budget)


@dataclass(frozen=True)
class _Draft:
    given: tuple[str, ...]  # the words dreamflow wrote into it: the opening (or each beat's), the subject sentence
    number: int
    story: Story
    report: TextReport
    generation: Generation
    ending_added: bool
    verdict: Verdict


def compose(
    model: Backend,
    request: StoryRequest,
    settings: Settings,
    seed: int,
    status: TokenMeter,
    *,
    on_retry: RetryCallback | None = None,
) -> Composed:
    """Write up to ``candidates`` drafts and keep the best (see the module's docstring). A draft
    with a blocked word, no story or mostly instructions is thrown away and written again with the
    next derived seed, ``guard_retries`` times at most; when no usable draft is left,
    ContentBlockedError names the words (or ModelError says there was no story).
    ``on_retry(retry_number, words)`` fires before each such retry. Nothing here writes files,
    so a rejected text never reaches the disk."""
    guard = guard_from_settings(settings)
    retries = settings.guard_retries
    limit = candidates_from_settings(settings)
    framing = _framing(model, request)
    status.max_tokens = framing.budget
    scaffold = plan_scaffold(model, request, settings.scaffold, framing.budget)
    instructions = instruction_sentences(SYSTEM_PROMPT_TEXT, framing.user or _chat_user(request, framing.budget),
                                         *(band.style for band in AGE_BANDS.values()))

    own_words = request_words(*request.own_texts())
    fit = judge_inputs(request)  # reading level for the age, saved names, a sequel's previous part
    # A story the child asked about a fear may say "scared": the calm-tone check decides, not the list.
    about_a_fear = is_distressing(request.prompt) or names_a_feeling(request.prompt, request.theme, request.moral)
    off_subject = False  # a draft wandered: the next ones start by naming the subject
    history: list[Attempt] = []
    best: _Draft | None = None
    usable = thrown = 0
    tokens = 0
    while usable < limit and thrown <= retries:
        number = len(history) + 1
        attempt_seed = retry_seed(seed, number)
        nudged = off_subject
        text, generation, ending_added, given = _write_draft(model, request, framing, attempt_seed, settings, status,
                                                             scaffold, nudged)
        tokens += generation.generated_tokens
        story, report = assemble(text, request.prompt, request.scenes, title=framing.title)
        words = len(story.text.split())
        found = guard.find_in_story(story.all_text(), about_a_fear=about_a_fear) \
            if words >= MIN_STORY_WORDS else [TOO_SHORT]
        verdict = None
        if not found:
            # The words we wrote do not count for the subject: the model must keep to it itself.
            verdict = judge(story.scenes, prompt=request.prompt, name=request.name, instructions=instructions,
                            split=split_scenes, own_words=own_words, given=given, **fit)
            off_subject = off_subject or not verdict.checks[0].passed
            if verdict.disqualified:
                found = [MOSTLY_INSTRUCTIONS]
        if found:
            history.append(Attempt(attempt_seed, tuple(found)))
            thrown += 1
            if thrown <= retries and on_retry is not None and found[0] != MOSTLY_INSTRUCTIONS:
                on_retry(thrown, found)
            continue
        assert verdict is not None
        history.append(Attempt(attempt_seed, (), verdict.score, verdict.passed_all))
        usable += 1
        judged = Story(story.title, verdict.scenes, tuple(caption_for(p) for p in verdict.scenes))
        if best is None or verdict.score > best.verdict.score:
            best = _Draft(given, number, judged, report, generation, ending_added, verdict)
        if verdict.good_enough:
            break

    if best is not None:
        return Composed(best.story, best.generation, len(history), tuple(history), guard.level, best.report,
                        best.ending_added, best.verdict, best.number, limit, tokens, best.given[0],
                        scaffold.metadata(best.given[:-1]))
    raise _no_story(history)


def _no_story(history: list[Attempt]) -> ModelError | ContentBlockedError:
    """Why no draft was kept: every one had blocked words, or none was a story at all."""
    blocked = [w for a in history for w in a.rejected_for if w not in (TOO_SHORT, MOSTLY_INSTRUCTIONS)]
    tries = f"{len(history)} attempt{'s' if len(history) > 1 else ''}"
    if not blocked:
        return ModelError(f"the model wrote no usable story in {tries}",
                          "try another --seed, a larger --max-tokens, or a bigger model (dreamflow download-model --list)")
    return ContentBlockedError(
        f"every story the model wrote contained words blocked for bedtime ({describe(dict.fromkeys(blocked))}) "
        f"after {tries}; nothing was saved",
        "try another --seed or a gentler prompt, or raise guard_retries in the config",
    )


def _chat_user(request: StoryRequest, budget: int) -> str:
    return build_prompt(request.prompt, name=request.name, age=request.age, max_tokens=budget,
                        theme=request.theme, moral=request.moral, scenes=request.scenes,
                        extra=prompt_lines(request))[1]


def _framing(model: Backend, request: StoryRequest) -> _Framing:
    """How to ask, and the token budget: what the context really leaves after the prompt (the
    word target asked for follows the part of it the story may use)."""
    limit = story_budget(request.minutes, model.profile.max_tokens)  # --minutes, within the profile's
    budget = limit
    if not model.has_chat_template:
        title, opening = base_model_opening(request.prompt, name=request.name, theme=request.theme, seed=0)
        opening = with_cast(opening, request)
        page = f"{title}\n\n"
        prompt_tokens = model.count_tokens(Prompt("", "", page + opening)) + OPENING_TOKENS
        budget = fit_max_tokens(prompt_tokens, budget, model.profile.n_ctx)
        return _Framing("", "", budget, title, page)
    for _ in range(2):
        story_tokens = budget - ending_reserve(budget)
        system, user = build_prompt(request.prompt, name=request.name, age=request.age, max_tokens=story_tokens,
                                    theme=request.theme, moral=request.moral, scenes=request.scenes,
                                    extra=prompt_lines(request))
        prompt_tokens = model.count_tokens(Prompt(system, user)) + OPENING_TOKENS
        room = fit_max_tokens(prompt_tokens, limit, model.profile.n_ctx)
        if room >= budget:
            break
        budget = room
    return _Framing(system, user, budget)
