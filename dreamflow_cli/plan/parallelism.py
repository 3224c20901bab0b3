"""How many stories a batch writes at once on this machine, and what that costs in memory.

Each story in flight gets its own slice of llama.cpp's KV cache (a full story context), so N
stories need N times the single-story KV cache; weights, compute buffers and the process stay
shared. Measured on 2 cores: N=4 gave ~1.6x the stories per minute of N=1, N=8 little more, so
``auto`` stops at 4 (2 in the low-memory profile, whose point is to stay small).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.plan.preflight import DEFAULT_HEADROOM_BYTES
from dreamflow_cli.settings.keys import AUTO
from dreamflow_cli.settings.profiles import PROFILES
from dreamflow_cli.units import human_bytes

# llama.cpp's own limit on sequences in one context (LLAMA_MAX_SEQ).
MAX_PARALLEL = 64


@dataclass(frozen=True)
class ParallelChoice:
    stories: int  # stories in flight at once
    requested: int | str | None
    reason: str
    lowered: bool = False  # memory allowed fewer than asked for: worth a warning, not a note

    def as_dict(self) -> dict[str, Any]:
        return {"parallel": self.stories, "requested": self.requested, "reason": self.reason}


def kv_multiplier(parallel: int) -> int:
    """How many single-story KV caches ``parallel`` stories in flight allocate."""
    return max(1, int(parallel))


def parallel_estimate(single: MemoryEstimate, parallel: int) -> MemoryEstimate:
    """The memory estimate with ``parallel`` stories in flight instead of one."""
    return dataclasses.replace(single, kv_cache=single.kv_cache * kv_multiplier(parallel))


def choose_parallel(requested: int | str | None, *, stories: int, profile: str, single: MemoryEstimate | None,
                    available: int, headroom: int = DEFAULT_HEADROOM_BYTES) -> ParallelChoice:
    """``requested``: a count, ``auto``, or None (one at a time, as before). ``single``: the
    single-story estimate of the chosen profile (None when it cannot be estimated). A count is
    only ever lowered: to the number of stories, and to what fits in memory (auto also keeps the
    usual headroom for the rest of the machine)."""
    if requested is None:
        return ParallelChoice(1, None, "one story at a time")
    auto = requested == AUTO
    spec = PROFILES.get(profile)
    limit = (spec.auto_parallel if spec else 1) if auto else int(requested)
    why = [f"auto, at most {limit} in the {profile} profile" if auto else f"{limit} requested"]
    want = min(limit, max(1, stories))
    if want < limit:
        why.append(f"{stories} stor{'y' if stories == 1 else 'ies'} to write")
    if single is None:
        n = 1 if auto else want
        why.append("memory cannot be estimated")
        return ParallelChoice(n, requested, _sentence(n, why))
    spare = headroom if auto else 0
    n = want
    while n > 1 and parallel_estimate(single, n).total + spare > available:
        n -= 1
    if n < want:
        why.append(f"{want} would need ~{human_bytes(parallel_estimate(single, want).total)}"
                   f"{' + headroom' if spare else ''}, {human_bytes(available)} available")
    why.append(f"each adds ~{human_bytes(single.kv_cache)} of KV cache, "
               f"~{human_bytes(parallel_estimate(single, n).total)} in all")
    return ParallelChoice(n, requested, _sentence(n, why), lowered=n < want and not auto)


def _sentence(n: int, why: list[str]) -> str:
    return f"{n} stor{'y' if n == 1 else 'ies'} at a time ({'; '.join(why)})"
