"""The doctor's checks: each a pure decision over readings passed in as arguments (so tests can
hand it a 2 GB machine or a cgroup limit), returning a ``Check`` with a status and a fix.

Which checks run, and in what order, is run/doctor.py's; the checks only a backend can make live
with it (engine/doctor.py for the local model, server/doctor.py for model servers).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from dreamflow_cli.model.catalog import Recommendation as ModelChoice
from dreamflow_cli.model.file import Expected, Problem, checksum_problem, size_problem
from dreamflow_cli.plan import preflight
from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.plan.memory import MemoryReadings
from dreamflow_cli.plan.preflight import Recommendation
from dreamflow_cli.settings.profiles import Profile
from dreamflow_cli.settings.show import shown_setting
from dreamflow_cli.units import human_bytes

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"


# An "8 GB" laptop reports 7.2-7.8 GiB once firmware and integrated graphics take their share;
# below this it is a smaller machine, where low-memory is the safe default.
SMALL_MACHINE_BYTES = 7 * 2**30


# A story folder with pictures is well under 1 MB; this leaves room for many.
OUTPUT_MIN_FREE = 50_000_000


ENV_PREFIXES = ("DREAMFLOW_",)


ENV_LEGACY = ("LOW_MEMORY_MODE", "LOCAL_MODEL_PATH")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "hint": self.hint}


def versions_check(dreamflow: str, python: str, os_name: str) -> Check:
    return Check("versions", PASS, f"dreamflow {dreamflow}, Python {python}, {os_name}")


def model_choice_check(choice: ModelChoice) -> Check:
    """Which catalog model writes the best stories this machine can hold, and why."""
    if choice.entry is None:
        return Check("best model here", SKIP, choice.why)
    return Check("best model here", PASS, f"{choice.entry.name}: {choice.why}",
                 f"dreamflow download-model {choice.entry.name}")


def ram_check(readings: MemoryReadings, smallest_need: int | None) -> Check:
    cg = readings.cgroup
    detail = f"total {human_bytes(readings.total)}, available {human_bytes(readings.available)}"
    if cg is not None:
        detail += f"; cgroup limit {human_bytes(cg.limit)}, {human_bytes(cg.available)} of it free"
    if readings.swap_total:
        detail += f"; swap {human_bytes(readings.swap_total)} ({human_bytes(readings.swap_free)} free)"
    else:
        detail += "; no swap"
    if smallest_need is not None and readings.usable < smallest_need:
        return Check("RAM", FAIL, detail + f"; even the smallest profile needs ~{human_bytes(smallest_need)}",
                     "close other programs, raise the container's memory limit, or use a smaller model")
    if readings.usable_total < SMALL_MACHINE_BYTES:
        where = "this container" if cg is not None and cg.limit < readings.total else "this machine"
        return Check("RAM", WARN, detail + f"; {where} has less than 8 GB",
                     preflight.how_to_use(preflight.smallest()))
    return Check("RAM", PASS, detail)


def models_disk_check(directory: Path, free: int | None, missing: Sequence[tuple[str, int]]) -> Check:
    """``missing``: catalog models not downloaded yet, with their sizes."""
    if free is None:
        return Check("disk (models)", SKIP, f"cannot read free space at {directory}")
    detail = f"{human_bytes(free)} free at {directory}"
    too_big = [(name, size) for name, size in missing if size > free]
    if too_big:
        names = ", ".join(f"{name} ({human_bytes(size)})" for name, size in too_big)
        return Check("disk (models)", WARN, detail + f"; no room for {names}",
                     "free some space, or choose another folder with --models-dir")
    return Check("disk (models)", PASS, detail)


def output_disk_check(directory: Path, free: int | None) -> Check:
    if free is None:
        return Check("disk (output)", SKIP, f"cannot read free space at {directory}")
    detail = f"{human_bytes(free)} free at {directory}"
    if free < OUTPUT_MIN_FREE:
        return Check("disk (output)", WARN, detail, "free some space, or choose another folder with --out")
    return Check("disk (output)", PASS, detail)


def output_dir_check(directory: Path, state: str) -> Check:
    """``state``: "writable", "creatable", "not a directory" or "not writable"."""
    if state == "writable":
        return Check("output folder", PASS, f"{directory} is writable")
    if state == "creatable":
        return Check("output folder", PASS, f"{directory} will be created on the first story")
    return Check("output folder", FAIL, f"{directory} is {state}", "choose a folder you can write to with --out")


def failed_check(problem: Problem) -> Check:
    return Check(problem.check, FAIL, problem.message, problem.hint)


def size_check(path: Path, size: int, expected: Expected) -> Check:
    detail = f"{size:,} bytes"
    if expected.size is None:
        return Check("model size", SKIP, detail + "; no catalog size or manifest to compare with")
    problem = size_problem(path, size, expected)
    if problem is not None:
        return failed_check(problem)
    return Check("model size", PASS, f"{detail}, as the {expected.size_from} says")


def header_check(info: Any, profiles: Sequence[Profile]) -> Check:
    params = f"{info.parameter_count / 1e6:,.1f}M params" if info.parameter_count else "? params"
    detail = (f"GGUF v{info.version}, {info.architecture or 'unknown architecture'}, {params}, "
              f"{info.quantization or 'unknown quantization'}, trained context {info.context_length or '?'}")
    short = [p for p in profiles if info.context_length and p.n_ctx > info.context_length]
    if short:
        return Check("model header", WARN, detail + f"; the {short[0].name} profile asks for {short[0].n_ctx}",
                     f"set n_ctx to at most {info.context_length} in the config, or pass --ctx")
    return Check("model header", PASS, detail)


def chat_template_check(present: bool) -> Check:
    if present:
        return Check("chat template", PASS, "present: prompts use the model's own chat format")
    return Check("chat template", WARN, "missing: prompts fall back to plain text, stories may ramble",
                 "use a chat/instruct model, e.g. `dreamflow download-model smollm2-135m`")


def checksum_check(path: Path, expected: Expected, actual: str | None, verify: bool) -> Check:
    if expected.sha256 is None:
        return Check("model checksum", SKIP, "no sha256 known for this file (not a catalog model, no manifest)")
    if not verify or actual is None:
        return Check("model checksum", SKIP, "not recomputed", "run `dreamflow doctor --verify` to check the sha256")
    problem = checksum_problem(path, actual, expected)
    if problem is not None:
        return failed_check(problem)
    return Check("model checksum", PASS, f"sha256 {actual[:16]}… matches")


def memory_check(estimates: Mapping[str, MemoryEstimate], rec: Recommendation, configured: str) -> Check:
    needs = ", ".join(f"{name} ~{human_bytes(est.total)}" for name, est in estimates.items())
    detail = f"{needs}; {rec.reason}"
    if rec.profile is None:
        return Check("memory estimate", WARN, detail, "see the RAM check")
    if rec.profile == configured or _fits_with_headroom(estimates, configured, rec):
        return Check("memory estimate", PASS, detail)
    return Check("memory estimate", WARN, detail, preflight.how_to_use(rec.profile))


def _fits_with_headroom(estimates: Mapping[str, MemoryEstimate], configured: str, rec: Recommendation) -> bool:
    # A user who chose low-memory where standard would fit has made a safe choice, not a mistake.
    order = list(estimates)
    return configured in order and rec.profile in order and order.index(configured) > order.index(rec.profile)


def free_bytes(path: Path) -> tuple[Path, int | None]:
    """Free space where ``path`` is (or will be): its nearest existing ancestor."""
    probe = Path(path).absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return probe, shutil.disk_usage(probe).free
    except OSError:
        return probe, None


def dir_state(path: Path) -> str:
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            return "not a directory"
        return "writable" if os.access(path, os.W_OK | os.X_OK) else "not writable"
    parent, _ = free_bytes(path)
    return "creatable" if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK) else "not writable"


def dreamflow_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: str(shown_setting(k, v)) for k, v in sorted(env.items())
            if (k.startswith(ENV_PREFIXES) or k in ENV_LEGACY) and v.strip() != ""}
