"""Live status of a story run, shared between the worker and whoever displays it.

A background thread samples RSS and available memory four times a second (llama.cpp holds the
GIL only between tokens, so the sampler keeps ticking through loading and generation).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import psutil

from dreamflow_cli.settings.table import DEFAULTS, Settings
from dreamflow_cli.plan.memory import available_bytes, peak_rss_bytes

SAMPLE_SECONDS = 0.25


@dataclass(frozen=True)
class Thresholds:
    """The memory guide's warning signs (config: warn_load_seconds, warn_generation_seconds,
    warn_memory_used_gb)."""

    load_seconds: float = DEFAULTS.warn_load_seconds
    generation_seconds: float = DEFAULTS.warn_generation_seconds
    memory_used_bytes: int = 7 * 10**9  # memory_warning_bytes(None, 8 GB): the guide's laptop

    @classmethod
    def from_settings(cls, settings: Settings) -> "Thresholds":
        return cls(settings.warn_load_seconds, settings.warn_generation_seconds,
                   memory_warning_bytes(settings.warn_memory_used_gb, psutil.virtual_memory().total))


def memory_warning_bytes(configured_gb: float | None, total: int) -> int:
    """The guide warns at 7 GB in use on an 8 GB laptop; unconfigured, keep that proportion."""
    return int(configured_gb * 1e9) if configured_gb is not None else total * 7 // 8


def due_warnings(phase: str, phase_elapsed: float, memory_used: int, limits: Thresholds,
                 already: set[str]) -> list[tuple[str, str]]:
    """Warnings to give now, each at most once per run: (key, message)."""
    due = []
    if phase == "loading model" and phase_elapsed > limits.load_seconds:
        due.append(("load", f"loading the model has taken over {limits.load_seconds:.0f} s; the disk may be "
                            "slow or memory short: close other applications, or try --low-memory"))
    if phase == "writing story" and phase_elapsed > limits.generation_seconds:
        due.append(("generation", f"writing has taken over {limits.generation_seconds / 60:.0f} minutes: try "
                                  "--low-memory, or a smaller model (dreamflow download-model --list)"))
    if memory_used > limits.memory_used_bytes:
        due.append(("memory", f"the system has {memory_used / 1e9:.1f} GB of memory in use (warning level "
                              f"{limits.memory_used_bytes / 1e9:.1f} GB): close other applications, "
                              "or use --low-memory"))
    return [(key, text) for key, text in due if key not in already]


@dataclass(eq=False)  # compared by identity: a batch tracks each story's own status
class Status:
    phase: str = "starting"
    phase_started: float = 0.0
    phase_done: float | None = None  # share of the phase done (0..1), when the phase can tell
    tokens: int = 0
    max_tokens: int = 0
    generation_started: float | None = None
    rss: int = 0
    peak_rss: int = 0
    available: int = 0
    # Set by a batch: stories finished so far, how many in all, and when it began.
    batch_done: int = 0
    batch_total: int = 0
    batch_started: float | None = None
    # Set by a batch writing several stories at once: how many are in flight, and each one's status.
    in_flight: int = 0
    server: str = ""  # with model servers: which, shown instead of this process's memory
    stories: list["Status"] = field(default_factory=list)

    def set_phase(self, name: str) -> None:
        self.phase = name
        self.phase_started = time.perf_counter()
        self.phase_done = None

    def tokens_per_second(self) -> float:
        if self.stories:
            return sum(story.tokens_per_second() for story in list(self.stories))
        if self.generation_started is None or self.tokens == 0:
            return 0.0
        elapsed = time.perf_counter() - self.generation_started
        return self.tokens / elapsed if elapsed > 0 else 0.0


    def batch_eta_seconds(self) -> float | None:
        if not self.batch_total or not self.batch_done or self.batch_started is None:
            return None
        per_story = (time.perf_counter() - self.batch_started) / self.batch_done
        return per_story * (self.batch_total - self.batch_done)


class MemorySampler:
    """Keeps ``status.rss``/``available``/``peak_rss`` current while a run is in progress: this
    process and its child processes (narrator, video encoder) together."""

    def __init__(self, status: Status, interval: float = SAMPLE_SECONDS, *, watch: "Watch | None" = None):
        self.status = status
        self.interval = interval
        self.watch = watch
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dreamflow-memory", daemon=True)

    def sample(self) -> None:
        # With its children: the narrator and the video encoder are dreamflow's own memory too.
        rss = self._process.memory_info().rss + self._children_rss()
        self.status.rss = rss
        self.status.peak_rss = max(self.status.peak_rss, rss)
        self.status.available = available_bytes()
        if self.watch is not None and self.watch.on_warning is not None:
            used = psutil.virtual_memory()
            elapsed = time.perf_counter() - self.status.phase_started
            for key, message in due_warnings(self.status.phase, elapsed, used.total - used.available,
                                             self.watch.thresholds, self.watch.warned):
                self.watch.warned.add(key)
                self.watch.on_warning(message)

    def _children_rss(self) -> int:
        total = 0
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except (psutil.Error, OSError):
                continue  # it ended between listing and reading: nothing to add
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except (psutil.Error, OSError):
                pass  # a missed reading is not worth failing a story for

    def peak(self) -> int:
        self.sample()
        return max(self.status.peak_rss, peak_rss_bytes() or 0)

    def __enter__(self) -> "MemorySampler":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


@dataclass
class Watch:
    """Who is watching a run: the shared status, a callback per phase change, and one for warnings."""

    status: Status = field(default_factory=Status)
    on_update: Callable[[Status], None] | None = None
    on_warning: Callable[[str], None] | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    warned: set[str] = field(default_factory=set)

    def phase(self, name: str) -> None:
        self.status.set_phase(name)
        if self.on_update is not None:
            self.on_update(self.status)

    def progress(self, fraction: float) -> None:
        """How far the current phase is (narrating, encoding…): shown as a bar where progress shows."""
        self.status.phase_done = min(1.0, max(0.0, fraction))

    def sampler(self) -> MemorySampler:
        return MemorySampler(self.status, watch=self)

    def child(self) -> "Watch":
        """A watch for one of several stories written at once: its own status (listed in this
        one's ``stories``), the same warnings, each given once per run."""
        status = Status()
        self.status.stories.append(status)
        return Watch(status, on_warning=self.on_warning, thresholds=self.thresholds, warned=self.warned)

    def release(self, child: "Watch") -> None:
        if child is not self and child.status in self.status.stories:
            self.status.stories.remove(child.status)
