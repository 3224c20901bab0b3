"""What `dreamflow doctor` found: the checks in order, the memory estimates and the recommended
profile, and the one-line verdict; and the machine readings the checks were decided on."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from dreamflow_cli.doctor.checks import FAIL, WARN, Check
from dreamflow_cli.model.resolve import ResolvedModel
from dreamflow_cli.plan.cpu import CpuSample, read_cpu
from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.plan.memory import MemoryReadings, memory_readings
from dreamflow_cli.plan.preflight import Recommendation
from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.profiles import Profile
from dreamflow_cli.settings.table import Settings

def seconds_per_story(weights_bytes: int, max_tokens: int, tokens_per_second: float | None = None,
                      startup_seconds: float | None = None) -> float:
    """A rough story time. Without a measurement, token speed is modelled as memory-bound:
    each token reads all weights at ~16 GB/s plus ~3.3 ms of fixed work, which reproduces the
    NOTES figures (SmolLM2 ~104 tok/s, a 660 MB model ~23 tok/s, 2 threads)."""
    if not tokens_per_second:
        tokens_per_second = 1 / (weights_bytes / 16e9 + 0.0033)
    if startup_seconds is None:
        startup_seconds = weights_bytes / 1e9  # loading from a warm page cache, ~1 GB/s
    return startup_seconds + max_tokens / tokens_per_second


def verdict(checks: Sequence[Check], profile: str | None, story_seconds: float | None) -> str:
    failed = [c.name for c in checks if c.status == FAIL]
    if failed:
        return f"{len(failed)} problem{'s' if len(failed) != 1 else ''}: {', '.join(failed)}"
    warned = sum(c.status == WARN for c in checks)
    ready = f"Ready: {profile} profile" if profile else "Ready"
    if story_seconds is not None:
        ready += f", ~{story_seconds:.0f} s per story"
    if warned:
        ready += f" ({warned} warning{'s' if warned != 1 else ''})"
    return ready


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    memory: dict[str, MemoryEstimate] = field(default_factory=dict)
    recommendation: Recommendation | None = None
    verdict: str = ""
    settings: Settings | None = None
    profiles: list[Profile] = field(default_factory=list)
    model: ResolvedModel | None = None
    info: Any = None  # gguf_info.GgufInfo when the header was read
    readings: MemoryReadings | None = None
    load_test: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        usable = self.readings.usable if self.readings else None
        memory = {name: {**est.as_dict(), "fits": usable is not None and est.total <= usable}
                  for name, est in self.memory.items()}
        out: dict[str, Any] = {
            "checks": [c.as_dict() for c in self.checks],
            "memory": memory,
            "recommended_profile": self.recommendation.profile if self.recommendation else None,
            "recommendation": self.recommendation.reason if self.recommendation else None,
            "verdict": self.verdict,
            "model": self.info.as_dict() if self.info is not None else None,
        }
        if self.load_test:
            out["load_test"] = self.load_test
        return out


@dataclass(frozen=True)
class Machine:
    """Everything doctor reads from the machine, injectable as a whole."""

    memory: MemoryReadings
    physical_cores: int | None
    logical_cores: int | None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Cores' worth of CPU other programs used during a short sample (threads.CpuSample); None when
    # unreadable (no psutil counters). The 1-minute load average did not tell quiet from busy.
    others_busy: float | None = None


def read_machine(sample: CpuSample | None = None) -> Machine:
    """``sample``: started earlier, so that work done since is its window; None samples now."""
    import psutil

    sample = sample or CpuSample(reader=read_cpu)
    others_busy, _ = sample.finish()
    return Machine(memory=memory_readings(), physical_cores=psutil.cpu_count(logical=False),
                   logical_cores=os.cpu_count(), env=MappingProxyType(dict(os.environ)),
                   others_busy=others_busy)


def report_verdict(report: Report) -> str:
    rec = report.recommendation
    profile = rec.profile if rec and rec.profile else None
    if profile is None and report.settings is not None:
        profile = report.settings.low_memory.profile or profiles.names()[0]
    chosen = next((p for p in report.profiles if p.name == profile), None)
    seconds = None
    if report.info is not None and chosen is not None:
        measured = next((r for r in report.load_test if r.get("profile") == profile and r.get("ok")), None)
        seconds = seconds_per_story(
            report.info.file_size, chosen.max_tokens,
            measured["tokens_per_second"] if measured else None,
            measured["load_seconds"] + measured.get("prompt_seconds", 0) if measured else None)
    return verdict(report.checks, profile, seconds)
