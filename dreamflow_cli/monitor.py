"""Live status of a story run, shared between the worker and whoever displays it.

A background thread samples RSS and available memory four times a second (llama.cpp holds the
GIL only between tokens, so the sampler keeps ticking through loading and generation).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil

from dreamflow_cli.memory import available_bytes, peak_rss_bytes

SAMPLE_SECONDS = 0.25


@dataclass
class Status:
    phase: str = "starting"
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

    def tokens_per_second(self) -> float:
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
    """Keeps ``status.rss``/``available``/``peak_rss`` current while a run is in progress."""

    def __init__(self, status: Status, interval: float = SAMPLE_SECONDS):
        self.status = status
        self.interval = interval
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dreamflow-memory", daemon=True)

    def sample(self) -> None:
        rss = self._process.memory_info().rss
        self.status.rss = rss
        self.status.peak_rss = max(self.status.peak_rss, rss)
        self.status.available = available_bytes()

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
