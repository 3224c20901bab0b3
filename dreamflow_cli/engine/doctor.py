"""What doctor checks for the local backend: llama-cpp-python and its CPU features, the profiles,
the model file (place, size, GGUF header, chat template, checksum), the memory estimate and the
recommended profile, the GPU offload and the thread policy's decision right now.

Registered as the local backend's doctor hook (engine/entry.py); nothing here loads the model
(``--load-test`` does, in child processes: engine/load_test.py).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from dreamflow_cli.doctor.checks import (FAIL, PASS, SKIP, WARN, Check, chat_template_check, checksum_check,
                                         header_check, memory_check, model_choice_check, ram_check, size_check)
from dreamflow_cli.doctor.report import Machine, Report
from dreamflow_cli.engine.gpu import GpuCapabilities, decide_gpu_layers, read_capabilities, split_memory
from dreamflow_cli.engine.threads import FREE_CORE_SHARE, choose_threads
from dreamflow_cli.errors import ConfigError, ModelError
from dreamflow_cli.model.catalog import EMBEDDED_MODEL, CatalogEntry, recommend_model
from dreamflow_cli.model.derived import findings
from dreamflow_cli.model.file import expected_for, place_problem, read_manifest, sha256_file
from dreamflow_cli.model.quantize import part_path
from dreamflow_cli.model.resolve import resolve_model
from dreamflow_cli.plan import preflight
from dreamflow_cli.plan.estimate import MemoryEstimate, ModelShape, estimate_profiles
from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.units import human_bytes

@dataclass(frozen=True)
class LlamaReading:
    version: str | None = None
    features: tuple[str, ...] = ()
    gpu_offload: bool = False
    machine: str = ""
    error: str | None = None  # why importing failed


def llama_check(reading: LlamaReading) -> Check:
    if reading.error is not None:
        return Check("llama-cpp-python", FAIL, f"cannot import llama_cpp: {reading.error}",
                     "install it with `pip install llama-cpp-python` (in dreamflow's environment)")
    features = " ".join(reading.features) or "none reported"
    detail = (f"{reading.version or 'unknown version'}; CPU features: {features}; GPU offload: "
              f"{'compiled in' if reading.gpu_offload else 'not compiled in (CPU only)'}")
    x86 = reading.machine.lower() in ("x86_64", "amd64", "i386", "i686", "x86")
    if x86 and "AVX2" not in reading.features:
        return Check("llama-cpp-python", WARN, detail,
                     "this build uses no AVX2: stories will be several times slower; rebuild "
                     "llama-cpp-python on this machine (`pip install --force-reinstall --no-binary "
                     ":all: llama-cpp-python`)")
    return Check("llama-cpp-python", PASS, detail)


def cpu_check(physical: int | None, logical: int | None, threads: Mapping[str, int],
              others_busy: float | None = None) -> Check:
    """Cores, threads per profile, and what generate's thread policy would do right now.

    ``others_busy``: cores' worth of CPU that other programs used during a short sample
    (threads.CpuSample, the reading generate takes while its model loads); None when it could not
    be read. The decision is generate's own (threads.choose_threads over the logical cores)."""
    per_profile = ", ".join(f"{name} {_threads(n)}" for name, n in threads.items())
    detail = f"{physical or '?'} physical / {logical or '?'} logical cores; {per_profile}"
    hints = []
    cores = physical or logical
    if any(cores and n > cores for n in threads.values()):
        hints.append(f"more threads than {cores} cores slows llama.cpp down: set n_threads = {cores} "
                     "in the config's profile tables, or pass --threads")
    policy_cores = logical or physical or 1  # generate counts os.cpu_count()
    chosen = {name: choose_threads(policy_cores, n, others_busy).threads for name, n in threads.items()}
    if others_busy is None:
        detail += f"; the CPU load could not be read, so no busy check: generate will use {_uses(chosen)}"
    else:
        fewer = {name: n for name, n in chosen.items() if n < min(threads[name], policy_cores)}
        if fewer:
            detail += (f"; other programs are using ~{others_busy:.1f} of {policy_cores} cores now: generate "
                       f"will use fewer threads ({_fewer(fewer, threads, policy_cores)}) and stories will "
                       "be slower")
            hints.append("close busy programs for full speed")
        elif others_busy < 1 - FREE_CORE_SHARE:
            detail += f"; quiet now: generate will use {_uses(chosen)}"
        else:
            detail += (f"; other programs are using ~{others_busy:.1f} of {policy_cores} cores, enough stay "
                       f"free: generate will use {_uses(chosen)}")
    if hints:
        return Check("CPU", WARN, detail, "; ".join(hints))
    return Check("CPU", PASS, detail)


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def _uses(chosen: Mapping[str, int]) -> str:
    counts = set(chosen.values())
    if len(counts) == 1:
        return _threads(counts.pop())
    return ", ".join(f"{_threads(n)} ({name})" for name, n in chosen.items())


def _fewer(fewer: Mapping[str, int], threads: Mapping[str, int], cores: int) -> str:
    if len(set(fewer.values())) == 1 and len(fewer) == len(threads):
        return str(next(iter(fewer.values())))
    return ", ".join(f"{name} {n} instead of {min(threads[name], cores)}" for name, n in fewer.items())


def gpu_check(caps: GpuCapabilities, requested: int | str, n_layer: int | None,
              est: MemoryEstimate | None) -> Check:
    """Whether llama.cpp can offload to a GPU here, what generate would put there, and how the
    memory need splits between RAM and VRAM."""
    if not caps.offload:
        return Check("GPU", PASS, "none used: this llama-cpp-python build runs on the CPU only "
                                  "(a Metal, CUDA or Vulkan build would offload layers)")
    decision = decide_gpu_layers(requested, caps, n_layer or 0, est)
    parts = [", ".join(caps.devices) or "a GPU"]
    if caps.vram_free is not None:
        total = f" of {human_bytes(caps.vram_total)}" if caps.vram_total else ""
        parts.append(f"{human_bytes(caps.vram_free)}{total} VRAM free")
    parts.append(decision.reason)
    if est is not None:
        split = split_memory(est, decision.share)
        parts.append(f"needs ~{human_bytes(split.vram)} VRAM + ~{human_bytes(split.ram)} RAM")
    detail = "; ".join(parts)
    if n_layer and 0 < decision.layers_on_gpu < n_layer:
        return Check("GPU", WARN, detail, "the rest runs on the CPU; a smaller model or a smaller --ctx fits entirely")
    return Check("GPU", PASS, detail)


def read_llama() -> LlamaReading:
    machine = platform.machine()
    try:
        import llama_cpp
    except Exception as exc:  # noqa: BLE001 - a broken native build fails in many ways (OSError, …)
        return LlamaReading(machine=machine, error=f"{type(exc).__name__}: {exc}")
    info = llama_cpp.llama_print_system_info()
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    return LlamaReading(version=getattr(llama_cpp, "__version__", None), features=parse_features(text),
                        gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()), machine=machine)


def parse_features(system_info: str) -> tuple[str, ...]:
    """``"CPU : SSE3 = 1 | AVX = 1 | AVX512 = 0 |"`` → ("SSE3", "AVX")."""
    found = []
    for part in system_info.replace("\n", "|").split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            found.append(name)
    return tuple(found)


def _profiles(report: Report, settings: Settings, machine: Machine) -> None:
    cores = machine.logical_cores or 1
    try:
        report.profiles = profiles.build_all(cores, settings.profile_config, settings.profile_flags)
    except ConfigError as exc:
        report.checks.append(Check("profiles", FAIL, exc.message + "; using the built-in profiles", exc.hint))
        report.profiles = profiles.build_all(cores)


def _model_checks(report: Report, settings: Settings, verify: bool) -> None:
    try:
        model = resolve_model(settings)
    except ModelError as exc:
        report.checks.append(Check("model", FAIL, exc.message, _missing_hint(exc.hint)))
        return
    report.model = model
    path, name = model.path, model.entry.name if model.entry else None
    absent = place_problem(path, name)
    if absent is not None:
        report.checks.append(Check("model", FAIL, f"{path} ({model.source}) {absent.reason}", absent.hint))
        return
    report.checks.append(Check("model", PASS, f"{path} ({model.source})"))
    if model.entry is not None:
        report.checks.extend(form_checks(model.entry, path))
    expected = expected_for(path, model.entry)
    size_ok = _add(report, size_check(path, path.stat().st_size, expected)).status != FAIL
    if not size_ok:
        report.checks.append(Check("model header", SKIP, "not read: the file has the wrong size"))
        report.checks.append(Check("model checksum", SKIP, "not recomputed: the file has the wrong size"))
        return
    _header_checks(report, path, name)
    actual = sha256_file(path) if verify and expected.sha256 else None
    report.checks.append(checksum_check(path, expected, actual, verify))


def form_checks(entry: CatalogEntry, used: Path) -> list[Check]:
    """Whether a model dreamflow converts after downloading it (SmolLM2: Q4_1 → Q8_0) is in its
    converted form, and what an interrupted conversion left (model/derived.findings decides)."""
    if entry.derived is None:
        return []
    converted = used.with_name(entry.derived.filename)
    found = findings(entry, used, derived_present=converted.is_file(), part_present=part_path(converted).exists(),
                     manifest=read_manifest(converted))
    return [Check("model form", PASS if f.level == "ok" else WARN, f.message, f.hint) for f in found]


def _missing_hint(hint: str | None) -> str:
    return hint or f"run `dreamflow download-model {EMBEDDED_MODEL}`"


def _add(report: Report, check: Check) -> Check:
    report.checks.append(check)
    return check


def _header_checks(report: Report, path: Path, name: str | None) -> None:
    from dreamflow_cli.model.gguf import read_gguf_info

    try:
        info = read_gguf_info(path, name)
    except ModelError as exc:
        report.checks.append(Check("model header", FAIL, exc.message, exc.hint))
        return
    report.info = info
    report.checks.append(header_check(info, report.profiles))
    report.checks.append(chat_template_check(info.has_chat_template))


def _memory_checks(report: Report, settings: Settings, headroom: int) -> None:
    readings = report.readings
    assert readings is not None
    shape = ModelShape.from_info(report.info) if report.info is not None else None
    if shape is not None:
        report.memory = estimate_profiles(shape, report.info.file_size, report.profiles)
    smallest = min((e.total for e in report.memory.values()), default=None)
    report.checks.append(ram_check(readings, smallest))
    report.checks.append(model_choice_check(recommend_model(readings.usable)))
    if not report.memory:
        why = "no readable model" if report.info is None else "the model header lacks its shape"
        report.checks.append(Check("memory estimate", SKIP, f"{why} to estimate from"))
        return
    report.recommendation = preflight.recommend(report.memory, readings.usable, headroom)
    # Auto: generate follows the recommendation (the smallest profile when none fits).
    configured = (settings.low_memory.profile or report.recommendation.profile
                  or preflight.smallest())
    report.checks.append(memory_check(report.memory, report.recommendation, configured))


def local_doctor(report: Report, settings: Settings, machine: Callable[[], Machine], *, verify: bool = False,
                 load_test: bool = False, llama: Callable[[], LlamaReading] = read_llama,
                 gpu: Callable[[], GpuCapabilities] = read_capabilities,
                 headroom: int = preflight.DEFAULT_HEADROOM_BYTES) -> None:
    """The local backend's checks, appended to ``report``. llama.cpp is imported before the
    machine is read: that import is the window of the CPU sample behind ``machine()``."""
    llama_reading = llama()
    readings = machine()
    report.readings = readings.memory
    report.checks.append(llama_check(llama_reading))
    _profiles(report, settings, readings)
    _model_checks(report, settings, verify)
    _memory_checks(report, settings, headroom)
    chosen = report.recommendation.profile if report.recommendation else None
    report.checks.append(gpu_check(gpu(), settings.gpu_layers,
                                   report.info.block_count if report.info is not None else None,
                                   report.memory.get(chosen or profiles.names()[0])))
    report.checks.append(cpu_check(readings.physical_cores, readings.logical_cores,
                                   {p.name: p.n_threads for p in report.profiles}, readings.others_busy))
    if load_test:
        from dreamflow_cli.engine.load_test import run_load_test

        run_load_test(report)
