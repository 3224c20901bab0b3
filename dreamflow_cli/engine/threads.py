"""How many threads llama.cpp should use when the machine may be busy with other work.

Measured on a 2-core machine with one CPU-bound neighbour process, llama.cpp at 2 threads fell
to less than half the speed of 1 thread (its threads wait for each other at every step, and one
of them keeps losing its core). Two decisions, both pure over readings passed in:

* before generating: from a short sample of the CPU time *other* processes used (the load
  average did not tell a quiet machine from a busy one there; this sample did), keep a core
  for each busy one;
* while generating: watch the time per decode step, and when it degrades sharply (a neighbour
  started), drop a thread; after a long while at fewer threads, try one more again.

``Governor`` keeps the second decision's state; plan/cpu.py's ``CpuSample`` takes the first
reading. A fixed ``--threads`` bypasses both.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dreamflow_cli.settings.profiles import cap_threads

# A core counts as free for llama.cpp when at least this share of it is idle: a thread that loses
# its core a third of the time slows every other thread waiting for it at the step's barrier.
FREE_CORE_SHARE = 0.75
# Steps per comparison window, steps ignored after a change (caches warm up), and what "sharply" is.
WINDOW = 8
SETTLE_STEPS = 4
SLOWDOWN = 1.8
# After this many steps at fewer threads than the start, try one more thread again.
PROBE_AFTER_STEPS = 400
# A probe keeps its extra thread only if it is at least this much faster.
PROBE_GAIN = 0.9


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    policy: str  # "auto" or "fixed"
    reason: str
    others_busy_cores: float | None = None
    sample_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"threads": self.threads, "policy": self.policy, "reason": self.reason,
                "others_busy_cores": None if self.others_busy_cores is None else round(self.others_busy_cores, 2),
                "sample_seconds": None if self.sample_seconds is None else round(self.sample_seconds, 3)}


def choose_threads(cores: int, cap: int, others_busy: float | None, *, forced: int | None = None) -> ThreadChoice:
    """``cap``: the profile's thread count (already at most ``cores``); ``forced``: --threads."""
    if forced is not None:
        forced = cap_threads(forced, cores)
        return ThreadChoice(forced, "fixed", f"{forced} thread{'s' if forced != 1 else ''} as configured")
    cap = max(1, min(cap, cores))
    if others_busy is None:
        return ThreadChoice(cap, "auto", f"{cap} threads: CPU use of other programs could not be read")
    free = cores - others_busy
    threads = max(1, min(cap, math.floor(free + 1 - FREE_CORE_SHARE)))
    if threads == cap:
        reason = f"{threads} thread{'s' if threads != 1 else ''}: other programs use {others_busy:.1f} of {cores} cores"
    else:
        reason = (f"{threads} thread{'s' if threads != 1 else ''} instead of {cap}: other programs use "
                  f"{others_busy:.1f} of {cores} cores")
    return ThreadChoice(threads, "auto", reason, others_busy)


@dataclass
class Governor:
    """Watches seconds per decode step and says when to change the thread count.

    ``observe(seconds, key)`` takes one generation step (``key``: how many sequences it carried,
    since a step of four costs more than a step of one) and returns a new thread count or None.
    Prompt steps are not observed: their cost depends on the prompt, not on the machine."""

    threads: int
    start_threads: int = 0
    min_threads: int = 1
    window: int = WINDOW
    settle: int = SETTLE_STEPS
    slowdown: float = SLOWDOWN
    probe_after: int = PROBE_AFTER_STEPS
    changes: list[dict[str, Any]] = field(default_factory=list)
    _baseline: dict[int, float] = field(default_factory=dict)
    _recent: dict[int, deque] = field(default_factory=dict)
    _skip: int = 0
    _steps: int = 0
    _since_change: int = 0
    _probe_from: dict[int, float] | None = None
    _probe_interval: int = 0

    def __post_init__(self) -> None:
        self.start_threads = self.start_threads or self.threads
        self._skip = self.settle
        self._probe_interval = self.probe_after

    def observe(self, seconds: float, key: int = 1) -> int | None:
        self._steps += 1
        self._since_change += 1
        if self._skip > 0:
            self._skip -= 1
            return None
        recent = self._recent.setdefault(key, deque(maxlen=self.window))
        recent.append(seconds)
        if len(recent) < self.window:
            return None
        median = statistics.median(recent)
        if self._probe_from is not None:
            return self._judge_probe(key, median)
        base = self._baseline.get(key)
        if base is None:
            self._baseline[key] = median
            return None
        if median > base * self.slowdown and self.threads > self.min_threads:
            return self._change(self.threads - 1, f"{median * 1000:.0f} ms per step, was {base * 1000:.0f} ms")
        if self.threads < self.start_threads and self._since_change >= self._probe_interval:
            self._probe_from = {key: median}
            return self._change(self.threads + 1, "trying one more thread")
        return None

    def _judge_probe(self, key: int, median: float) -> int | None:
        before = (self._probe_from or {}).get(key)
        if before is None:  # the batch changed shape during the probe: judge at the next window
            return None
        self._probe_from = None
        if median <= before * PROBE_GAIN:
            self._baseline = {key: median}
            self._probe_interval = self.probe_after
            return None
        # Still busy: wait twice as long before the next try, so probing stays a small cost.
        self._probe_interval *= 2
        return self._change(self.threads - 1, f"one more thread did not help ({median * 1000:.0f} ms per step, "
                                              f"{before * 1000:.0f} ms before)")

    def _change(self, threads: int, reason: str) -> int:
        self.changes.append({"step": self._steps, "from": self.threads, "to": threads, "reason": reason,
                             "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self.threads = threads
        self._recent.clear()
        self._baseline.clear()
        self._skip = self.settle
        self._since_change = 0
        return threads


def thread_record(choice: ThreadChoice, governor: Governor | None) -> dict[str, Any]:
    """story.json's record of the threads: the first choice, why, and every change since."""
    record = choice.as_dict()
    if governor is not None:
        record.update(now=governor.threads, changes=list(governor.changes))
    return record
