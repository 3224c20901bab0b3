"""Before loading: will the model fit, and which profile should it run with?

Pure decisions over readings passed in (the estimates and the available memory), so every
branch is testable without a machine that is actually short of memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from dreamflow_cli import profiles
from dreamflow_cli.errors import NotEnoughMemoryError
from dreamflow_cli.estimate import MemoryEstimate
from dreamflow_cli.profiles import DEFAULT_HEADROOM_BYTES, MemoryMode
from dreamflow_cli.units import human_bytes


def memory_advice(profile: str) -> str:
    """profiles.memory_advice, plus the way past the check."""
    return profiles.memory_advice(profile) + "; --no-memory-check loads anyway"


@dataclass(frozen=True)
class MemoryDecision:
    mode: str  # "auto", "standard" or "low-memory": what was asked for
    profile: str  # what will run
    reason: str
    available: int
    needed: int  # the estimate for the chosen profile
    checked: bool
    fits: bool

    @property
    def low_memory(self) -> bool:
        return self.profile == profiles.ProfileName.LOW_MEMORY

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "profile": self.profile, "reason": self.reason,
                "available_bytes": self.available, "estimated_bytes": self.needed,
                "checked": self.checked, "fits": self.fits}


def decide(low_memory: bool | str | MemoryMode, estimates: Mapping[str, MemoryEstimate], available: int, *,
           check: bool = True, headroom: int = DEFAULT_HEADROOM_BYTES) -> MemoryDecision:
    """``estimates`` holds every profile, in order of preference. Auto takes profiles.recommend's
    choice (the smallest profile when none fits); any choice that does not fit at all is refused
    (NotEnoughMemoryError, exit 4) unless ``check`` is off."""
    mode = MemoryMode.of(low_memory)
    if mode.profile is None:
        rec = profiles.recommend({name: estimates[name] for name in profiles.names()}, available, headroom)
        profile, reason = rec.profile or profiles.smallest(), rec.reason
    else:
        profile = mode.profile
        reason = f"{profile} profile chosen; it needs ~{human_bytes(estimates[profile].total)}, " \
                 f"{human_bytes(available)} available"
    needed = estimates[profile].total
    fits = needed <= available
    if not fits and check:
        raise NotEnoughMemoryError(
            f"not enough memory: {human_bytes(available)} available, the {profile} profile needs "
            f"~{human_bytes(needed)}", memory_advice(profile))
    if not fits:
        reason = f"{profile} profile needs ~{human_bytes(needed)} but only {human_bytes(available)} is " \
                 f"available; loading anyway (--no-memory-check)"
    return MemoryDecision(mode.value, profile, reason, available, needed, check, fits)


def unestimated(low_memory: bool | str | MemoryMode, available: int) -> MemoryDecision:
    """A model whose header lacks the numbers the estimate needs: no check, the asked profile
    (the most generous for auto)."""
    mode = MemoryMode.of(low_memory)
    profile = mode.profile or profiles.names()[0]
    return MemoryDecision(mode.value, profile,
                          "this model's memory need cannot be estimated; memory not checked",
                          available, 0, checked=False, fits=True)


def download_warning(name: str, low_memory_need: int | None, total: int) -> str | None:
    """Before fetching a model, say so if it cannot run here even in the low-memory profile."""
    if low_memory_need is None or low_memory_need <= total:
        return None
    return (f"{name} needs ~{human_bytes(low_memory_need)} of memory even in the low-memory profile, "
            f"and this machine has {human_bytes(total)}: it will not run here; "
            "consider a smaller model from `dreamflow download-model --list`")
