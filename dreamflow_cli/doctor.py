"""`dreamflow doctor`: can this machine write stories, and with which profile?

Each check is a pure decision over readings passed in as arguments (so tests can hand it a
2 GB machine or a cgroup limit); ``run_doctor`` takes the readings and calls the decisions.
Nothing here loads the model; ``--load-test`` does, in child processes (doctor_load_test.py).
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from dreamflow_cli import __version__
from dreamflow_cli.catalog import CATALOG, EMBEDDED_MODEL, CatalogEntry, recommend_model
from dreamflow_cli.catalog import Recommendation as ModelChoice
from dreamflow_cli.config import KEYS, PROFILE_KEYS, Settings, load_settings
from dreamflow_cli.endpoints import shown_setting
from dreamflow_cli import profiles
from dreamflow_cli.profiles import DEFAULT_HEADROOM_BYTES, MemoryMode, Profile, Recommendation
from dreamflow_cli.errors import ConfigError, ModelError
from dreamflow_cli.gpu import GpuCapabilities, decide_gpu_layers, read_capabilities, split_memory
from dreamflow_cli.estimate import (
    MemoryEstimate, ModelShape, estimate_entry, estimate_profiles,
)
from dreamflow_cli.memory import MemoryReadings, memory_readings
from dreamflow_cli.modelfile import (
    Expected, Problem, checksum_problem, expected_for, place_problem, sha256_file, size_problem,
)
from dreamflow_cli.models import ResolvedModel, resolve_model
from dreamflow_cli.threads import FREE_CORE_SHARE, CpuSample, choose_threads, read_cpu
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


# ---------------------------------------------------------------- pure decisions


def versions_check(dreamflow: str, python: str, os_name: str) -> Check:
    return Check("versions", PASS, f"dreamflow {dreamflow}, Python {python}, {os_name}")


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
                     profiles.how_to_use(profiles.smallest()))
    return Check("RAM", PASS, detail)


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
    return Check("memory estimate", WARN, detail, profiles.how_to_use(rec.profile))


def _fits_with_headroom(estimates: Mapping[str, MemoryEstimate], configured: str, rec: Recommendation) -> bool:
    # A user who chose low-memory where standard would fit has made a safe choice, not a mistake.
    order = list(estimates)
    return configured in order and rec.profile in order and order.index(configured) > order.index(rec.profile)


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


# ---------------------------------------------------------------- readings


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


# ---------------------------------------------------------------- the run


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


def run_doctor(
    flags: Mapping[str, Any],
    *,
    config_path: Path | None = None,
    verify: bool = False,
    machine: Machine | None = None,
    llama: Callable[[], LlamaReading] = read_llama,
    headroom: int = DEFAULT_HEADROOM_BYTES,
    gpu: Callable[[], GpuCapabilities] = read_capabilities,
) -> Report:
    # Other programs' CPU use is sampled while llama.cpp imports, as generate samples it while the
    # model loads: the window costs nothing beyond topping it up to MIN_SAMPLE_SECONDS, and it ends
    # before --verify's hashing could stretch it to seconds.
    sample = CpuSample(reader=read_cpu) if machine is None else None
    llama_reading = llama()
    machine = machine or read_machine(sample)
    report = Report(readings=machine.memory)
    report.checks.append(versions_check(__version__, platform.python_version(),
                                        f"{platform.system()} {platform.release()} ({platform.machine()})"))
    report.checks.append(llama_check(llama_reading))
    settings = _settings_checks(report, flags, config_path, machine)
    if settings.backend == "openai":  # the servers' checks replace the local model's
        from dreamflow_cli.doctor_endpoints import endpoint_checks

        report.checks.extend(endpoint_checks(settings, env=machine.env))
        _disk_checks(report, settings)
        report.verdict = report_verdict(report)
        return report
    _profiles(report, settings, machine)
    _model_checks(report, settings, verify)
    _memory_checks(report, settings, headroom)
    chosen = report.recommendation.profile if report.recommendation else None
    report.checks.append(gpu_check(gpu(), settings.gpu_layers,
                                   report.info.block_count if report.info is not None else None,
                                   report.memory.get(chosen or "standard")))
    report.checks.append(cpu_check(machine.physical_cores, machine.logical_cores,
                                   {p.name: p.n_threads for p in report.profiles}, machine.others_busy))
    _disk_checks(report, settings)
    report.verdict = report_verdict(report)
    return report


def _settings_checks(report: Report, flags: Mapping[str, Any], config_path: Path | None,
                     machine: Machine) -> Settings:
    env = dreamflow_env(machine.env)
    try:
        settings = load_settings(flags, config_path=config_path, env=dict(machine.env))
    except ConfigError as exc:
        report.checks.append(Check("config", FAIL, exc.message + "; the other checks use the defaults",
                                   exc.hint))
        settings = _fallback_settings(flags)
    else:
        where = str(settings.config_path) if settings.config_path else "none found; using the defaults"
        report.checks.append(Check("config", PASS, f"config file: {where}"))
    shown = ", ".join(f"{k}={v}" for k, v in env.items())
    report.checks.append(Check("environment", PASS,
                               shown or "no DREAMFLOW_*, LOW_MEMORY_MODE or LOCAL_MODEL_PATH set"))
    report.checks.append(Check("settings", PASS, _settings_text(settings)))
    report.settings = settings
    return settings


def _fallback_settings(flags: Mapping[str, Any]) -> Settings:
    given = {k: v for k, v in flags.items() if v is not None}
    plain: dict[str, Any] = {k: given[k] for k in ("model", "models_dir", "out_dir") if k in given}
    if "low_memory" in given:
        plain["low_memory"] = MemoryMode.of(given["low_memory"])
    profile_flags = {k: v for k, v in given.items() if k in PROFILE_KEYS}
    return Settings(**plain, profile_flags=MappingProxyType(profile_flags))


def _settings_text(settings: Settings) -> str:
    mode = MemoryMode.of(settings.low_memory).value
    shown = [f"profile {mode} "
             f"({settings.sources.get('low_memory', 'default')})",
             f"models_dir {settings.models_dir}", f"out_dir {settings.out_dir}"]
    for key in KEYS:
        source = settings.sources.get(key.name, "default")
        if key.name not in ("low_memory", "models_dir", "out_dir") and source != "default":
            shown.append(f"{key.name} {shown_setting(key.name, getattr(settings, key.name))} ({source})")
    return "; ".join(shown)


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
    expected = expected_for(path, model.entry)
    size_ok = _add(report, size_check(path, path.stat().st_size, expected)).status != FAIL
    if not size_ok:
        report.checks.append(Check("model header", SKIP, "not read: the file has the wrong size"))
        report.checks.append(Check("model checksum", SKIP, "not recomputed: the file has the wrong size"))
        return
    _header_checks(report, path, name)
    actual = sha256_file(path) if verify and expected.sha256 else None
    report.checks.append(checksum_check(path, expected, actual, verify))


def _missing_hint(hint: str | None) -> str:
    return hint or f"run `dreamflow download-model {EMBEDDED_MODEL}`"


def _add(report: Report, check: Check) -> Check:
    report.checks.append(check)
    return check


def _header_checks(report: Report, path: Path, name: str | None) -> None:
    from dreamflow_cli.gguf_info import read_gguf_info

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
    report.recommendation = profiles.recommend(report.memory, readings.usable, headroom)
    # Auto: generate follows the recommendation (the smallest profile when none fits).
    configured = (MemoryMode.of(settings.low_memory).profile or report.recommendation.profile
                  or profiles.smallest())
    report.checks.append(memory_check(report.memory, report.recommendation, configured))


def _disk_checks(report: Report, settings: Settings) -> None:
    settings_dir = settings.models_dir
    where, free = free_bytes(settings_dir)
    missing = [(e.name, _entry_size(e)) for e in CATALOG if not (settings_dir / e.filename).is_file()]
    report.checks.append(models_disk_check(where, free, [(n, s) for n, s in missing if s]))
    out_where, out_free = free_bytes(settings.out_dir)
    report.checks.append(output_disk_check(out_where, out_free))
    report.checks.append(output_dir_check(settings.out_dir, dir_state(settings.out_dir)))


def _entry_size(entry: CatalogEntry) -> int | None:
    if entry.size:
        return entry.size
    est = estimate_entry(entry)
    return est.weights if est else None


def report_verdict(report: Report) -> str:
    rec = report.recommendation
    profile = rec.profile if rec and rec.profile else None
    if profile is None and report.settings is not None:
        profile = MemoryMode.of(report.settings.low_memory).profile or profiles.names()[0]
    chosen = next((p for p in report.profiles if p.name == profile), None)
    seconds = None
    if report.info is not None and chosen is not None:
        measured = next((r for r in report.load_test if r.get("profile") == profile and r.get("ok")), None)
        seconds = seconds_per_story(
            report.info.file_size, chosen.max_tokens,
            measured["tokens_per_second"] if measured else None,
            measured["load_seconds"] + measured.get("prompt_seconds", 0) if measured else None)
    return verdict(report.checks, profile, seconds)
