"""Many stories from one prompts file, one model load, resumable.

Input: plain text (a prompt a line; blank lines and `#` comments skipped) or JSON Lines (objects
with `prompt` and optional story options). Each story gets a deterministic id from its prompt,
options, seed, model and profile, recorded in story.json, so `--skip-existing` can tell which
stories a rerun still owes.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.settings.table import KEY_BY_NAME
from dreamflow_cli.backend.seam import Backend, Cancellable, Cancelled
from dreamflow_cli.errors import DreamflowError, ExitStatus
from dreamflow_cli.run.monitor import Watch
from dreamflow_cli.output import artifacts
from dreamflow_cli.output.child.runner import stop_all
from dreamflow_cli.run.pipeline import Drafted, StoryResult, draft_story, finish_story, open_backend, write_story
from dreamflow_cli.run.setup import RunPlan, StoryPlan, plan_story, story_id
from dreamflow_cli.seeds import line_seed

# Options a JSON line may set, with the config key that validates each value.
LINE_OPTIONS = ("name", "age", "scenes", "seed", "images", "theme", "moral", "minutes", "with", "continue")
_VALIDATED = {"name", "age", "scenes", "seed", "images", "minutes"}
# Line keys that are not StoryRequest fields of the same name: saved characters, a story to continue.
_CAST_KEYS = {"with": "with_names", "continue": "continue_from"}


@dataclass(frozen=True)
class BatchItem:
    line: int  # 1-based line number in the input, for messages a person can find
    request: StoryRequest | None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    item: BatchItem
    index: int  # 1-based position among the stories of the batch
    status: str  # "ok", "skipped" or "failed"
    story_id: str | None = None
    result: StoryResult | None = None
    story_dir: Path | None = None
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """The object `generate --prompts-file --json` prints for this story: the keys of
        `generate --json` (for a written story) plus index, line, status and error."""
        record = self.result.summary() if self.result else {}
        record.update(index=self.index, line=self.item.line, status=self.status)
        if self.story_dir and "story_dir" not in record:
            record["story_dir"] = str(self.story_dir)
        if self.error:
            record["error"] = self.error
        return record


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def per_minute(self) -> float:
        return self.done * 60 / self.seconds if self.seconds > 0 else 0.0

    def count(self, outcome: Outcome) -> None:
        if outcome.status == "failed":
            self.failed += 1
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.done += 1

    def text(self) -> str:
        return (f"Batch: {self.done} done, {self.skipped} skipped, {self.failed} failed "
                f"in {self.seconds:.1f} s ({self.per_minute:.1f} stories/min)")


def _request_from_json(obj: Any, defaults: StoryRequest) -> StoryRequest:
    if not isinstance(obj, dict):
        raise ValueError(f"a JSON line must be an object with a \"prompt\", not {type(obj).__name__} "
                         "(e.g. {\"prompt\": \"a sleepy fox\"})")
    unknown = sorted(set(obj) - {"prompt", *LINE_OPTIONS})
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; accepted: prompt, {', '.join(LINE_OPTIONS)}")
    if not isinstance(obj.get("prompt", ""), str) or not (obj.get("prompt", "").strip() or "continue" in obj):
        raise ValueError("missing \"prompt\" (a non-empty string)")
    values: dict[str, Any] = {"prompt": obj.get("prompt", "")}
    for key in LINE_OPTIONS:
        if key in obj:
            value = obj[key]
            if key in _VALIDATED:
                value = KEY_BY_NAME[key].coerce(value, key)
            elif key == "with":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError('"with" must be a list of saved characters\' names, e.g. ["Pip"]')
                value = tuple(value)
            elif not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            values[_CAST_KEYS.get(key, key)] = value
    fields = {k: v for k, v in values.items() if k in StoryRequest.__dataclass_fields__}
    return replace(defaults, **fields)


def _json_line(line: str) -> Any:
    """The JSON value of a line meant as JSON, or None for a plain-text prompt. ``{`` always
    starts JSON; ``[`` does when the line parses (``[1, 2]`` is a mistake, not a story about
    numbers; ``[draft] a bear`` is a prompt)."""
    if not line.startswith(("{", "[")):
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        if line.startswith("{"):
            raise ValueError(f"invalid JSON ({exc.msg})") from None
        return None


def parse_prompts(text: str, defaults: StoryRequest, base_seed: int | None) -> list[BatchItem]:
    """Turn a prompts file into items; a bad line becomes an item with an error, not an exception."""
    items: list[BatchItem] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            obj = _json_line(line)
            request = replace(defaults, prompt=line) if obj is None else _request_from_json(obj, defaults)
        except DreamflowError as exc:  # a bad option value: keep what is accepted in the message
            items.append(BatchItem(number, None, f"{exc.message} ({exc.hint})" if exc.hint else exc.message))
            continue
        except ValueError as exc:
            items.append(BatchItem(number, None, str(exc)))
            continue
        if request.seed is None and base_seed is not None:
            request = replace(request, seed=line_seed(base_seed, number))
        items.append(BatchItem(number, request))
    return items


def finished_stories(out_dir: Path) -> dict[str, Path]:
    """story_id → folder, for every complete story already in ``out_dir``."""
    found: dict[str, Path] = {}
    if not out_dir.is_dir():
        return found
    for meta_path in out_dir.glob("*/story.json"):
        try:
            sid = json.loads(meta_path.read_text(encoding="utf-8")).get("story_id")
        except (OSError, ValueError):
            continue  # not ours, or damaged: it does not count as done
        if sid:
            found[sid] = meta_path.parent
    return found


@dataclass(frozen=True)
class _Job:
    index: int
    item: BatchItem
    plan: StoryPlan
    story_id: str


@dataclass
class _Queue:
    """A batch sorted before any model loads: the stories owed, the repeats of a story already
    owed (settled at the end), and the lines that need no model (unreadable, refused, already
    written), reported in input order among the stories as soon as every story before them is."""

    jobs: list[_Job] = field(default_factory=list)
    repeats: list[_Job] = field(default_factory=list)
    early: list[Outcome] = field(default_factory=list)


def _queue(items: list[BatchItem], run: RunPlan, done: dict[str, Path]) -> _Queue:
    queue, queued = _Queue(), set()
    for index, item in enumerate(items, 1):
        if item.request is None:
            queue.early.append(Outcome(item, index, "failed", error=item.error))
            continue
        try:
            plan = plan_story(item.request, run)
        except DreamflowError as exc:
            queue.early.append(Outcome(item, index, "failed", error=exc.message))
            continue
        sid = story_id(plan.request, run)
        if sid in done:
            queue.early.append(Outcome(item, index, "skipped", story_id=sid, story_dir=done[sid]))
            continue
        (queue.repeats if sid in queued else queue.jobs).append(_Job(index, item, plan, sid))
        queued.add(sid)
    return queue


def run_batch(items: list[BatchItem], run: RunPlan, *, skip_existing: bool, watch: Watch,
              verbose: bool = False) -> Iterator[Outcome]:
    """Yield one Outcome per item as it finishes. The backend opens once, on the first story owed,
    and writes up to the plan's stories at once (None: as many as the backend does well), each
    in its own worker thread with its own staging folder. If the consumer stops early (Ctrl-C,
    an error), stories in flight are abandoned and their staging folders removed; finished
    stories stay."""
    done = finished_stories(run.settings.out_dir) if skip_existing else {}
    status = watch.status
    status.batch_total, status.batch_done, status.batch_started = len(items), 0, time.perf_counter()
    queue = _queue(items, run, done)
    if not queue.jobs:
        yield from _settled_before(queue, status, float("inf"))
        return
    status.server = run.prepared.label
    watch.phase("loading model")
    with watch.sampler():
        backend = open_backend(run, verbose=verbose, parallel=run.stories_at_once, on_warning=watch.on_warning)
    writer = _Writer(run, backend, watch, verbose, len(queue.jobs))
    try:
        with watch.sampler():
            yield from _settled_before(queue, status, queue.jobs[0].index)
            yield from writer.all(queue, done)
            for job in queue.repeats:
                status.batch_done += 1
                if job.story_id in done:
                    yield Outcome(job.item, job.index, "skipped", story_id=job.story_id, story_dir=done[job.story_id])
                else:
                    yield writer.one(job)
            status.batch_done = len(items)
    finally:
        writer.stop()


def _settled_before(queue: _Queue, status: Any, index: float) -> Iterator[Outcome]:
    while queue.early and queue.early[0].index < index:
        status.batch_done += 1
        yield queue.early.pop(0)


@dataclass(frozen=True)
class _Handoff:
    """A story whose text is written, waiting for the media lane."""

    job: _Job
    drafted: Drafted


class _Writer:
    """The batch's worker threads around one backend, wrapped so that a stop reaches every story
    in flight at its next token; and the media lane, one thread that makes the artifacts a child
    process makes (narration, video) one story at a time. In the profiles that make media beside
    the model the lane runs while stories are still being written; in the others (low-memory) it
    opens only once every story is written and the model is closed, so the two never share RAM."""

    def __init__(self, run: RunPlan, backend: Backend, watch: Watch, verbose: bool, jobs: int):
        self.run, self.backend, self.watch, self.verbose = run, backend, watch, verbose
        self.cancel = threading.Event()
        self.shared = Cancellable(backend, self.cancel)
        self.workers = max(1, min(run.stories_at_once or backend.max_parallel, jobs))
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="dreamflow-story")
        self.lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dreamflow-media")
        self.lane_open = run.media_beside_model
        self.waiting: list[_Handoff] = []
        self.model_closed = False
        watch.status.in_flight = 0
        if self.workers > 1:
            watch.phase("writing stories")

    def write(self, job: _Job) -> Outcome | _Handoff:
        # One story on one worker: a batch of one reports straight to the run's own display;
        # parallel stories each keep a private status, summed for the display.
        story_watch = self.watch if self.workers == 1 else self.watch.child()
        status = self.watch.status
        with self.lock:
            status.in_flight += 1
        try:
            if artifacts.needs_lane(job.plan.request, self.run.settings):
                return _Handoff(job, draft_story(job.plan, backend=self.shared, watch=story_watch,
                                                 verbose=self.verbose))
            result = write_story(job.plan, backend=self.shared, watch=story_watch, verbose=self.verbose,
                                 extra_metadata={"batch_line": job.item.line}, before_commit=self._still_wanted)
        except DreamflowError as exc:
            return _failed(job, exc)
        finally:
            with self.lock:
                status.in_flight -= 1
            self.watch.release(story_watch)
        return Outcome(job.item, job.index, "ok", story_id=job.story_id, result=result, story_dir=result.story_dir)

    def finish(self, handoff: _Handoff) -> Outcome:
        """In the media lane: the story's artifacts, story.json, the folder committed."""
        job = handoff.job
        story_watch = self.watch if self.workers == 1 and self.lane_open else self.watch.child()
        try:
            result = finish_story(handoff.drafted, watch=story_watch, extra_metadata={"batch_line": job.item.line},
                                  before_commit=self._still_wanted)
        except DreamflowError as exc:
            return _failed(job, exc)
        finally:
            self.watch.release(story_watch)
        return Outcome(job.item, job.index, "ok", story_id=job.story_id, result=result, story_dir=result.story_dir)

    def _still_wanted(self) -> None:
        # A story that finishes after the stop would be on disk but in nobody's record.
        if self.cancel.is_set():
            raise Cancelled()

    def one(self, job: _Job) -> Outcome:
        """A story on this thread, start to end (a repeat settled after the rest of the batch)."""
        if self.model_closed:
            self._reopen()
        outcome = self.write(job)
        return self.finish(outcome) if isinstance(outcome, _Handoff) else outcome

    def all(self, queue: _Queue, done: dict[str, Path]) -> Iterator[Outcome]:
        """Every job owed, reported as it finishes, with the early lines in their places."""
        status = self.watch.status
        pending = {self.pool.submit(self.write, job): job.index for job in queue.jobs}
        writing = set(pending)
        while pending:
            try:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                # Stories that finished while the signal arrived are on disk: report them
                # before the run ends, so a script's record matches the folder.
                self.cancel.set()
                self.backend.interrupt()
                for future in sorted(pending, key=pending.__getitem__):
                    if future.done() and not future.cancelled() and future.exception() is None:
                        outcome = future.result()
                        if isinstance(outcome, Outcome):  # a handoff's story is not on disk yet
                            yield outcome
                raise
            for future in sorted(finished, key=pending.__getitem__):
                index = pending.pop(future)
                writing.discard(future)
                outcome = future.result()  # re-raises out-of-memory and interrupts
                if isinstance(outcome, _Handoff):
                    self._to_lane(outcome, pending, index)
                    continue
                status.batch_done += 1
                if outcome.story_id and outcome.story_dir:
                    done[outcome.story_id] = outcome.story_dir
                yield outcome
            if not writing and self.waiting:
                self._open_lane(pending)
            yield from _settled_before(queue, status, min(pending.values(), default=float("inf")))

    def _to_lane(self, handoff: _Handoff, pending: dict[Any, int], index: int) -> None:
        if self.lane_open:
            pending[self.lane.submit(self.finish, handoff)] = index
        else:
            self.waiting.append(handoff)

    def _open_lane(self, pending: dict[Any, int]) -> None:
        """Every story is written: close the model, then make the media, in the stories' order."""
        self.backend.close()
        self.model_closed = True
        self.lane_open = True
        self.watch.phase("making media")
        for handoff in sorted(self.waiting, key=lambda h: h.job.index):
            pending[self.lane.submit(self.finish, handoff)] = handoff.job.index
        self.waiting.clear()

    def _reopen(self) -> None:
        self.backend = open_backend(self.run, verbose=self.verbose, parallel=1, on_warning=self.watch.on_warning)
        self.shared = Cancellable(self.backend, self.cancel)
        self.model_closed = False

    def stop(self) -> None:
        # A no-op after a full batch; otherwise stories in flight stop at their next token, or
        # sooner where a call can be waiting on something else (a server's reply); a narrator or
        # an encoder at work in the lane is asked to stop and cleans up after itself.
        self.cancel.set()
        self.backend.interrupt()
        stop_all()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.lane.shutdown(wait=True, cancel_futures=True)
        if not self.model_closed:
            self.backend.close()


def _failed(job: _Job, exc: DreamflowError) -> Outcome:
    if exc.exit_code == ExitStatus.MEMORY:  # out of memory: the next story would fare no better
        raise exc
    return Outcome(job.item, job.index, "failed", story_id=job.story_id, error=exc.message)
