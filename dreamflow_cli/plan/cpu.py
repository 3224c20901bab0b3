"""What other programs are doing with the CPU right now: a short sample of the CPU time *other*
processes used. The 1-minute load average did not tell a quiet machine from a busy one on these
machines; this sample did. The thread policy (engine/threads.py) and doctor decide with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

# The sample overlaps the import of llama.cpp and the model load, so it usually costs nothing;
# when those finish sooner it is stretched to this long (the kernel counts CPU time in 10 ms ticks).
MIN_SAMPLE_SECONDS = 0.25

@dataclass(frozen=True)
class CpuReading:
    """System-wide busy CPU seconds and this process's own CPU seconds, at ``wall`` seconds."""

    wall: float
    busy: float
    own: float


def others_busy_cores(before: CpuReading, after: CpuReading) -> float:
    """Cores' worth of CPU that other processes used between two readings."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    others = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, others / wall)


def read_cpu(process: Any = None) -> CpuReading | None:
    """A reading through psutil (Linux, macOS, Windows); None when the counters are unreadable."""
    try:
        import psutil

        total = psutil.cpu_times()
        idle = total.idle + getattr(total, "iowait", 0.0)
        busy = sum(total) - idle - getattr(total, "guest", 0.0) - getattr(total, "guest_nice", 0.0)
        own = (process or psutil.Process()).cpu_times()
        return CpuReading(time.monotonic(), busy, own.user + own.system)
    except Exception:  # noqa: BLE001 - a missing counter only means "unknown", never a failure
        return None


class CpuSample:
    """Start before the model loads, ``finish`` after: the load is the sampling window."""

    def __init__(self, reader: Callable[[], CpuReading | None] = read_cpu,
                 sleep: Callable[[float], None] = time.sleep, min_seconds: float = MIN_SAMPLE_SECONDS):
        self._reader, self._sleep, self._min = reader, sleep, min_seconds
        self._before = reader()

    def finish(self) -> tuple[float | None, float]:
        """(other processes' busy cores or None, seconds the window lasted)."""
        if self._before is None:
            return None, 0.0
        short = self._min - (time.monotonic() - self._before.wall)
        if short > 0:
            self._sleep(short)
        after = self._reader()
        if after is None:
            return None, 0.0
        return others_busy_cores(self._before, after), after.wall - self._before.wall
