"""Never freeze a parent's laptop: the automatic profile, the preflight refusal, out-of-memory
endings, and the guide's warning signs."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from dreamflow_cli.errors import NotEnoughMemoryError
from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.run.monitor import Thresholds, due_warnings, memory_warning_bytes
from dreamflow_cli.plan.preflight import decide
from dreamflow_cli.settings.profiles import MemoryMode
from tests.helpers.cli import invoke
from tests.helpers.cli import assert_refused
from tests.helpers.processes import dreamflow_script

MB = 1_000_000
GB = 1_000_000_000


def est(profile: str, total_mb: int) -> MemoryEstimate:
    return MemoryEstimate(profile, weights=total_mb * MB, repack_copy=0, kv_cache=0, compute=0, overhead=0)


ESTIMATES = {"standard": est("standard", 1400), "low-memory": est("low-memory", 800)}


@pytest.mark.parametrize("available, expected", [(8 * GB, "standard"), (3.1 * GB, "low-memory"),
                                                 (1 * GB, "low-memory")])
def test_auto_prefers_standard_only_with_headroom(available, expected):
    decision = decide(MemoryMode.AUTO, ESTIMATES, int(available))
    assert decision.profile == expected and decision.mode == "auto" and decision.fits
    assert ("recommended" in decision.reason) == (expected == "low-memory")


def test_auto_refuses_when_even_low_memory_does_not_fit():
    with pytest.raises(NotEnoughMemoryError) as err:
        decide(MemoryMode.AUTO, ESTIMATES, 500 * MB)
    assert err.value.exit_code == 4
    assert "500 MB available" in err.value.message and "800 MB" in err.value.message
    # low-memory is what did not fit: suggesting it again would send the user in a circle
    assert "--low-memory" not in err.value.hint
    assert "smaller model" in err.value.hint and "--no-memory-check" in err.value.hint
    with pytest.raises(NotEnoughMemoryError) as standard:
        decide(MemoryMode.STANDARD, ESTIMATES, 500 * MB)
    assert "--low-memory" in standard.value.hint  # from standard, low-memory is a way out


def test_an_explicit_profile_is_checked_without_headroom():
    assert decide(MemoryMode.STANDARD, ESTIMATES, 1500 * MB).profile == "standard"
    with pytest.raises(NotEnoughMemoryError, match="standard profile needs ~1.4 GB"):
        decide(MemoryMode.STANDARD, ESTIMATES, 1300 * MB)
    assert decide(MemoryMode.LOW_MEMORY, ESTIMATES, 900 * MB).profile == "low-memory"


def test_no_memory_check_loads_anyway_and_says_so():
    decision = decide(MemoryMode.LOW_MEMORY, ESTIMATES, 500 * MB, check=False)
    assert decision.profile == "low-memory" and not decision.fits and "loading anyway" in decision.reason


def test_warning_signs_fire_once_each():
    limits = Thresholds(load_seconds=60, generation_seconds=600, memory_used_bytes=7 * GB)
    assert due_warnings("loading model", 30, 2 * GB, limits, set()) == []
    (key, text), = due_warnings("loading model", 61, 2 * GB, limits, set())
    assert key == "load" and "over 60 s" in text
    assert due_warnings("loading model", 61, 2 * GB, limits, {"load"}) == []
    assert [k for k, _ in due_warnings("writing story", 601, 7.5 * GB, limits, set())] == ["generation", "memory"]
    assert memory_warning_bytes(None, 8 * GB) == 7 * GB  # the guide's 7 GB of 8
    assert memory_warning_bytes(5.5, 8 * GB) == 5.5 * GB


def test_auto_choice_and_reason_are_on_stderr_and_in_story_json(runner, models_dir, isolated):
    result = invoke(runner, "generate", "a sleepy fox", "--models-dir", str(models_dir), "--no-images",
                    "--max-tokens", "40", "--json")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(Path(json.loads(result.stdout)["metadata_path"]).read_text())
    assert meta["memory"]["mode"] == "auto" and meta["memory"]["profile"] == meta["profile"]["name"]
    assert meta["memory"]["reason"] in result.stderr
    assert meta["memory"]["estimated_bytes"] > 100 * MB


def test_llama_cpp_allocation_failure_is_exit_4_with_nothing_written(runner, models_dir, isolated, monkeypatch):
    # A fake for the one thing the real model cannot be made to do on demand: fail to allocate.
    import llama_cpp

    def cannot_allocate(*args, **kwargs):
        raise ValueError("Failed to create llama_context")

    monkeypatch.setattr(llama_cpp, "Llama", cannot_allocate)
    result = invoke(runner, "generate", "a sleepy fox", "--models-dir", str(models_dir))
    assert_refused(result, 4, "not enough memory", "--low-memory")
    assert not (isolated / "stories").exists() or not any((isolated / "stories").iterdir())


def _memory_cgroup(limit: int) -> tuple[Path, Path] | None:
    """A fresh memory cgroup (v1 or v2) with ``limit`` bytes: (its folder, its procs file)."""
    name = f"dreamflow-test-{uuid.uuid4().hex[:8]}"
    v1 = Path("/sys/fs/cgroup/memory")
    try:
        if (v1 / "memory.limit_in_bytes").exists():
            group = v1 / name
            group.mkdir()
            (group / "memory.limit_in_bytes").write_text(str(limit))
        elif Path("/sys/fs/cgroup/cgroup.controllers").exists():
            group = Path("/sys/fs/cgroup") / name
            group.mkdir()
            (group / "memory.max").write_text(str(limit))
        else:
            return None
    except OSError:
        return None
    return group, group / "cgroup.procs"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="creating a memory cgroup needs root on Linux")
def test_inside_a_small_cgroup_the_preflight_refuses_instead_of_crashing(isolated, models_dir):
    made = _memory_cgroup(150 * MB)
    if made is None:
        pytest.skip("no writable memory cgroup hierarchy on this machine")
    group, procs = made
    try:
        # The shell joins the cgroup, then becomes dreamflow: only dreamflow is limited.
        proc = subprocess.run(
            ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "sh", dreamflow_script(), "generate",
             "a sleepy fox", "--models-dir", str(models_dir), "--no-images"],
            capture_output=True, text=True, timeout=120, cwd=isolated)
    finally:
        group.rmdir()
    assert proc.returncode == 4, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    assert "not enough memory" in proc.stderr and "MB available" in proc.stderr
    assert not (isolated / "stories").exists() or not any((isolated / "stories").iterdir())


def test_download_warns_before_fetching_a_model_that_cannot_run_here():
    from dreamflow_cli.plan.preflight import download_warning

    assert download_warning("tinyllama", 900 * MB, 8 * GB) is None
    text = download_warning("tinyllama", 900 * MB, 512 * MB)
    assert "tinyllama needs ~900 MB" in text and "512 MB" in text and "--list" in text
    assert download_warning("custom", None, 512 * MB) is None  # unknown need: nothing to say
