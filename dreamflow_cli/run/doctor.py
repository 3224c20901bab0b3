"""`dreamflow doctor`, in order: the machine's readings, versions and settings, then the checks of
the backend the settings name (the backend registry's doctor hook), then the disks and the verdict.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from dreamflow_cli import __version__
from dreamflow_cli.backend import registry
from dreamflow_cli.doctor.checks import (FAIL, PASS, Check, dreamflow_env, dir_state, free_bytes, models_disk_check,
                                         output_dir_check, output_disk_check, versions_check)
from dreamflow_cli.doctor.report import Machine, Report, read_machine, report_verdict
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.model.catalog import CATALOG, CatalogEntry
from dreamflow_cli.output import artifacts
from dreamflow_cli.plan.cpu import CpuSample, read_cpu
from dreamflow_cli.plan.estimate import estimate_entry
from dreamflow_cli.settings.load import load_settings
from dreamflow_cli.settings.profiles import MemoryMode
from dreamflow_cli.settings.show import shown_setting
from dreamflow_cli.settings.table import KEYS, PROFILE_KEYS, Settings

def run_doctor(flags: Mapping[str, Any], *, config_path: Path | None = None, verify: bool = False,
               load_test: bool = False, machine: Machine | None = None, **probes: Any) -> Report:
    """Every check, in order. ``verify``: recompute the model's checksum; ``load_test``: load the
    model and write a few tokens (in child processes). ``machine``: the readings, injected by
    tests (else read here); ``probes``: the backend's own readers, for tests (the local backend's
    ``llama`` and ``gpu``)."""
    # Other programs' CPU use is sampled from here until the backend's checks first need the
    # machine: the local backend imports llama.cpp before that, as generate loads its model
    # inside the same window, so the sample usually costs no time of its own.
    sample = CpuSample(reader=read_cpu) if machine is None else None
    readings = functools.cache(lambda: machine or read_machine(sample))
    env = machine.env if machine is not None else MappingProxyType(dict(os.environ))
    report = Report()
    report.checks.append(versions_check(__version__, platform.python_version(),
                                        f"{platform.system()} {platform.release()} ({platform.machine()})"))
    settings = _settings_checks(report, flags, config_path, env)
    try:
        entry = registry.get(settings.backend)
    except ConfigError as exc:
        report.checks.append(Check("backend", FAIL, exc.message, exc.hint))
    else:
        entry.doctor(report, settings, readings, verify=verify, load_test=load_test, **probes)
    if report.readings is None:
        report.readings = readings().memory
    for artifact in artifacts.every():  # narration, video…: can they run here
        report.checks.extend(artifact.doctor(settings))
    _disk_checks(report, settings)
    report.verdict = report_verdict(report)
    return report


def _settings_checks(report: Report, flags: Mapping[str, Any], config_path: Path | None,
                     environ: Mapping[str, str]) -> Settings:
    env = dreamflow_env(environ)
    try:
        settings = load_settings(flags, config_path=config_path, env=dict(environ))
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
    mode = settings.low_memory.value
    shown = [f"profile {mode} "
             f"({settings.sources.get('low_memory', 'default')})",
             f"models_dir {settings.models_dir}", f"out_dir {settings.out_dir}"]
    for key in KEYS:
        source = settings.sources.get(key.name, "default")
        if key.name not in ("low_memory", "models_dir", "out_dir") and source != "default":
            shown.append(f"{key.name} {shown_setting(key.name, getattr(settings, key.name))} ({source})")
    return "; ".join(shown)


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
