"""`dreamflow doctor`: pure decisions with injected readings, then the command end to end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dreamflow_cli.doctor import report as doctor_report
from dreamflow_cli.run import doctor as doctor_run
from dreamflow_cli.doctor.checks import (FAIL, PASS, SKIP, WARN, Check, memory_check, models_disk_check, output_dir_check, ram_check, size_check)
from dreamflow_cli.doctor.report import Machine, seconds_per_story, verdict
from dreamflow_cli.engine.doctor import LlamaReading, cpu_check, llama_check, parse_features
from dreamflow_cli.run.doctor import run_doctor
from dreamflow_cli.engine.load_test import load_test_check, parse_probe, run_load_test
from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.plan.preflight import recommend as recommend_profile
from dreamflow_cli.plan.memory import CgroupMemory, MemoryReadings
from dreamflow_cli.model.file import Expected
from dreamflow_cli.plan.cpu import CpuReading
from tests.helpers.cli import invoke

GB = 1_000_000_000
GIB = 2**30
BIG = MemoryReadings(total=32 * GB, available=24 * GB, swap_total=2 * GB, swap_free=2 * GB)
HEALTHY_LLAMA = LlamaReading(version="0.3.36", features=("AVX", "AVX2"), machine="x86_64")


def est(name: str, n: int) -> MemoryEstimate:
    return MemoryEstimate(profile=name, weights=n, repack_copy=0, kv_cache=0, compute=0, overhead=0)


def by_name(checks) -> dict[str, dict]:
    return {c["name"]: c for c in checks}


def machine(readings: MemoryReadings, env: dict[str, str] | None = None,
            others_busy: float | None = None) -> Machine:
    return Machine(memory=readings, physical_cores=2, logical_cores=2, env=env or {}, others_busy=others_busy)


# ---------------------------------------------------------------- pure decisions


def test_ram_warns_under_8_gb_and_fails_below_the_smallest_profile():
    small = MemoryReadings(total=4 * GIB, available=3 * GB)
    assert ram_check(BIG, 300_000_000).status == PASS
    warn = ram_check(small, 300_000_000)
    assert warn.status == WARN and "--low-memory" in warn.hint and "this machine" in warn.detail
    fail = ram_check(MemoryReadings(total=4 * GIB, available=100_000_000), 211_000_000)
    assert fail.status == FAIL and "~211 MB" in fail.detail
    assert fail.hint


def test_an_8_gb_laptop_is_not_a_small_machine():
    laptop = MemoryReadings(total=int(7.6 * GIB), available=5 * GB)  # what an "8 GB" laptop reports
    assert ram_check(laptop, None).status == PASS


def test_a_cgroup_limit_counts_as_a_small_machine():
    limited = MemoryReadings(total=32 * GB, available=24 * GB,
                             cgroup=CgroupMemory(limit=1 * GB, usage=400_000_000, path="/sys/fs/cgroup/job"))
    check = ram_check(limited, 211_000_000)
    assert check.status == WARN
    assert "cgroup limit 1.0 GB, 600 MB of it free" in check.detail and "this container" in check.detail
    assert ram_check(limited, 700_000_000).status == FAIL  # the cgroup's room, not MemAvailable


def test_memory_check_suggests_the_recommended_profile():
    estimates = {"standard": est("standard", 1_400_000_000), "low-memory": est("low-memory", 800_000_000)}
    rec = recommend_profile(estimates, 3_100_000_000)
    check = memory_check(estimates, rec, configured="standard")
    assert check.status == WARN and "--low-memory" in check.hint
    assert "low-memory recommended: 3.1 GB available, standard needs ~1.4 GB + 2.0 GB headroom" in check.detail
    assert memory_check(estimates, rec, configured="low-memory").status == PASS
    # Choosing low-memory where standard fits is a safe choice, not a problem.
    roomy = recommend_profile(estimates, 16 * GB)
    assert memory_check(estimates, roomy, configured="low-memory").status == PASS
    none = recommend_profile(estimates, 100_000_000)
    assert memory_check(estimates, none, configured="standard").status == WARN


def test_cpu_oversubscription_warns():
    assert cpu_check(4, 8, {"standard": 4, "low-memory": 2}).status == PASS
    check = cpu_check(2, 4, {"standard": 4, "low-memory": 2})
    assert check.status == WARN and "n_threads = 2" in check.hint
    assert cpu_check(None, None, {"standard": 1}).status == PASS


def test_cpu_says_what_generate_will_do_on_a_quiet_machine():
    quiet = cpu_check(2, 2, {"standard": 2, "low-memory": 2}, others_busy=0.03)
    assert quiet.status == PASS and quiet.hint is None
    assert quiet.detail.endswith("; quiet now: generate will use 2 threads")
    # Busy, but the profile leaves enough cores free: generate keeps its threads.
    roomy = cpu_check(8, 16, {"standard": 4, "low-memory": 2}, others_busy=3.0)
    assert roomy.status == PASS
    assert ("other programs are using ~3.0 of 16 cores, enough stay free: generate will use "
            "4 threads (standard), 2 threads (low-memory)") in roomy.detail
    one = cpu_check(2, 2, {"standard": 1, "low-memory": 1}, others_busy=1.0)
    assert one.status == PASS and "generate will use 1 thread" in one.detail  # a core stays free


def test_cpu_warns_when_other_programs_would_cost_generate_threads():
    busy = cpu_check(2, 2, {"standard": 2, "low-memory": 2}, others_busy=1.0)
    assert busy.status == WARN
    assert busy.detail.endswith("; other programs are using ~1.0 of 2 cores now: generate will use fewer "
                                "threads (1) and stories will be slower")
    assert busy.hint == "close busy programs for full speed"
    # Only the profiles that lose a thread are named.
    some = cpu_check(8, 8, {"standard": 4, "low-memory": 2}, others_busy=6.0)
    assert some.status == WARN and "fewer threads (standard 2 instead of 4)" in some.detail


@pytest.mark.parametrize("busy", [0.0, 0.2, 0.3, 0.9, 1.0, 1.8, 2.0])
def test_cpu_check_makes_generates_decision(busy):
    from dreamflow_cli.engine.threads import choose_threads

    check = cpu_check(2, 2, {"standard": 2}, others_busy=busy)
    threads = choose_threads(2, 2, busy).threads
    assert check.status == (PASS if threads == 2 else WARN)
    assert (f"({threads})" if threads < 2 else "generate will use 2 threads") in check.detail


def test_cpu_without_a_reading_skips_the_busy_verdict():
    unknown = cpu_check(2, 2, {"standard": 2, "low-memory": 2}, others_busy=None)
    assert unknown.status == PASS and unknown.hint is None
    assert unknown.detail.endswith("; the CPU load could not be read, so no busy check: generate will use 2 threads")
    assert "quiet" not in unknown.detail and "fewer" not in unknown.detail


def test_cpu_oversubscribed_and_busy_gives_both_fixes():
    both = cpu_check(2, 4, {"standard": 4, "low-memory": 2}, others_busy=3.0)
    assert both.status == WARN
    assert "n_threads = 2" in both.hint and "close busy programs for full speed" in both.hint
    assert "fewer threads (1)" in both.detail


def test_disk_warns_when_a_catalog_model_would_not_fit(tmp_path):
    check = models_disk_check(tmp_path, 500_000_000, [("tinyllama", 668_788_096), ("smollm2-135m", 98_362_432)])
    assert check.status == WARN and "tinyllama (669 MB)" in check.detail and "smollm2" not in check.detail
    assert models_disk_check(tmp_path, 10 * GB, [("tinyllama", 668_788_096)]).status == PASS
    assert models_disk_check(tmp_path, None, []).status == SKIP


def test_output_folder_states(tmp_path):
    assert output_dir_check(tmp_path, "writable").status == PASS
    assert output_dir_check(tmp_path, "creatable").status == PASS
    fail = output_dir_check(tmp_path, "not a directory")
    assert fail.status == FAIL and "--out" in fail.hint


def test_size_against_catalog_or_manifest():
    model = Path("m.gguf")
    truncated = size_check(model, 1_000_000, Expected(98_362_432, None, "catalog", "smollm2-135m"))
    assert truncated.status == FAIL and "truncated" in truncated.detail and "1,000,000" in truncated.detail
    assert truncated.hint == "run `dreamflow download-model smollm2-135m --force`"
    matching = size_check(model, 98_362_432, Expected(98_362_432, None, "manifest"))
    assert matching.status == PASS and "as the manifest says" in matching.detail
    assert size_check(model, 5, Expected()).status == SKIP
    larger = size_check(model, 99, Expected(98))
    assert larger.status == FAIL and "the catalog expects 98" in larger.detail
    assert larger.hint == "download the file again, or pass another .gguf file with --model"


def test_llama_reading_decisions():
    assert llama_check(HEALTHY_LLAMA).status == PASS
    missing = llama_check(LlamaReading(error="ModuleNotFoundError: No module named 'llama_cpp'"))
    assert missing.status == FAIL and "pip install llama-cpp-python" in missing.hint
    assert llama_check(LlamaReading(version="x", features=("AVX",), machine="x86_64")).status == WARN
    assert llama_check(LlamaReading(version="x", features=("NEON",), machine="arm64")).status == PASS


def test_parse_features():
    text = "CPU : SSE3 = 1 | AVX = 1 | AVX512 = 0 | AMX_INT8 = 1 | \nMetal : EMBED_LIBRARY = 1 |"
    assert parse_features(text) == ("SSE3", "AVX", "AMX_INT8", "EMBED_LIBRARY")


def test_verdicts():
    ok = [Check("a", PASS, ""), Check("b", SKIP, "")]
    assert verdict(ok, "standard", 12.4) == "Ready: standard profile, ~12 s per story"
    assert verdict(ok + [Check("c", WARN, "")], "low-memory", None) == "Ready: low-memory profile (1 warning)"
    bad = ok + [Check("model", FAIL, ""), Check("RAM", FAIL, "")]
    assert verdict(bad, "standard", 3) == "2 problems: model, RAM"


def test_story_time_model_reproduces_the_measured_speeds():
    # NOTES: SmolLM2 (98 MB) ~104 tok/s, a 660 MB model ~23 tok/s; 256 tokens each, load excluded.
    assert 2.2 < seconds_per_story(98_362_432, 256, startup_seconds=0) < 2.8
    assert 10 < seconds_per_story(660_000_000, 256, startup_seconds=0) < 12
    assert seconds_per_story(1, 100, tokens_per_second=50, startup_seconds=1) == 3


def test_load_probe_results():
    good = parse_probe("standard", 0, 'noise\n{"load_seconds": 0.2, "tokens": 16, "tokens_per_second": 90.0, '
                                      '"peak_rss_bytes": 200000000}\n', "")
    assert good["ok"] and good["tokens"] == 16
    assert load_test_check(good, est("standard", 230_000_000)).status == PASS
    assert load_test_check(good, est("standard", 150_000_000)).status == WARN  # the estimate was too low
    sigill = parse_probe("standard", -4, "", "")
    assert sigill == {"profile": "standard", "ok": False,
                      "error": "the loader was killed by SIGILL (an instruction this CPU lacks)"}
    assert "--no-repack" in load_test_check(sigill, None).hint
    oom = parse_probe("low-memory", 137, "", "")
    assert "SIGKILL (out of memory?)" in oom["error"] and load_test_check(oom, None).status == FAIL
    broken = parse_probe("low-memory", 1, "", "Traceback...\nValueError: bad model\n")
    assert broken["error"] == "ValueError: bad model"


# ---------------------------------------------------------------- run_doctor with injected readings


def test_low_ram_fails_with_the_real_model(models_dir):
    tiny = MemoryReadings(total=2 * GIB, available=150_000_000)
    report = run_doctor({"models_dir": models_dir}, machine=machine(tiny), llama=lambda: HEALTHY_LLAMA)
    checks = by_name(c.as_dict() for c in report.checks)
    assert checks["RAM"]["status"] == FAIL
    assert report.failed and report.recommendation.profile is None
    assert report.verdict == "1 problem: RAM"


def test_cgroup_limit_recommends_low_memory(models_dir):
    limited = MemoryReadings(total=32 * GB, available=24 * GB,
                             cgroup=CgroupMemory(limit=512_000_000, usage=200_000_000, path="/job"))
    report = run_doctor({"models_dir": models_dir}, machine=machine(limited), llama=lambda: HEALTHY_LLAMA)
    checks = by_name(c.as_dict() for c in report.checks)
    assert not report.failed
    assert report.recommendation.profile == "low-memory"
    assert "312 MB available" in report.recommendation.reason
    # The default (auto) follows the recommendation; a forced standard profile is warned about.
    assert checks["RAM"]["status"] == WARN and checks["memory estimate"]["status"] == PASS
    assert report.verdict.startswith("Ready: low-memory profile, ~")
    forced = run_doctor({"models_dir": models_dir, "low_memory": False}, machine=machine(limited),
                        llama=lambda: HEALTHY_LLAMA)
    assert by_name(c.as_dict() for c in forced.checks)["memory estimate"]["status"] == WARN


def test_a_busy_machine_is_a_warning_not_a_failure(models_dir):
    busy = run_doctor({"models_dir": models_dir}, machine=machine(BIG, others_busy=1.0), llama=lambda: HEALTHY_LLAMA)
    cpu = by_name(c.as_dict() for c in busy.checks)["CPU"]
    assert cpu["status"] == WARN and "fewer threads (1)" in cpu["detail"]
    assert not busy.failed and busy.verdict.endswith("(1 warning)")
    quiet = run_doctor({"models_dir": models_dir}, machine=machine(BIG, others_busy=0.0), llama=lambda: HEALTHY_LLAMA)
    assert "quiet now: generate will use 2 threads" in by_name(c.as_dict() for c in quiet.checks)["CPU"]["detail"]


def test_broken_llama_cpp_is_a_failure_not_a_crash(models_dir):
    broken = LlamaReading(error="OSError: libllama.so: cannot open shared object file")
    report = run_doctor({"models_dir": models_dir}, machine=machine(BIG), llama=lambda: broken)
    assert [c.name for c in report.checks if c.status == FAIL] == ["llama-cpp-python"]


def test_load_test_runs_each_profile_in_a_child(models_dir):
    report = run_doctor({"models_dir": models_dir}, machine=machine(BIG), llama=lambda: HEALTHY_LLAMA)
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(json.loads(cmd[-1]))
        if calls[-1]["profile"]["name"] == "standard":
            return subprocess.CompletedProcess(cmd, -4, "", "")
        return subprocess.CompletedProcess(cmd, 0, json.dumps({"load_seconds": 0.1, "prompt_seconds": 0.5,
                                                              "tokens": 16, "tokens_per_second": 64.0,
                                                              "peak_rss_bytes": 190_000_000}), "")

    run_load_test(report, run=fake_run)
    assert [c["profile"]["name"] for c in calls] == ["standard", "low-memory"]
    assert calls[0]["profile"]["repack"] is True and calls[1]["profile"]["repack"] is False
    rows = by_name(c.as_dict() for c in report.checks)
    assert rows["load test (standard)"]["status"] == FAIL
    assert rows["load test (low-memory)"]["status"] == PASS
    assert report.verdict == "1 problem: load test (standard)"


# ---------------------------------------------------------------- the command


@pytest.fixture
def roomy(monkeypatch):
    """The command on a machine with 24 GB free, whatever the test machine has free right now:
    the recommended profile depends on it."""
    monkeypatch.setattr(doctor_report, "memory_readings", lambda: BIG)
    return BIG


def doctor_json(runner, *args, env=None):
    result = invoke(runner, "doctor", "--json", *args, env=env)
    data = json.loads(result.stdout)  # exactly one JSON object on stdout
    return result, data, by_name(data["checks"])


def test_healthy_setup_table(runner, models_dir, roomy):
    result = invoke(runner, "doctor", "--models-dir", str(models_dir))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert "Ready: standard profile, ~" in result.stdout
    assert "total 32.0 GB, available 24.0 GB" in result.stdout  # the injected reading, not this machine's
    for name in ("llama-cpp-python", "RAM", "memory estimate", "model header", "chat template", "CPU",
                 "disk (models)", "output folder"):
        assert name in result.stdout
    assert "FAIL" not in result.stdout


def test_json_shape(runner, models_dir, roomy):
    result, data, checks = doctor_json(runner, "--models-dir", str(models_dir))
    assert result.exit_code == 0
    assert {"checks", "memory", "recommended_profile", "verdict"} <= set(data)
    for check in data["checks"]:
        assert set(check) == {"name", "status", "detail", "hint"}
        assert check["status"] in (PASS, WARN, FAIL, SKIP)
    assert set(data["memory"]) == {"standard", "low-memory"}
    for estimate in data["memory"].values():
        assert estimate["total"] == sum(estimate[k] for k in ("weights", "repack_copy", "kv_cache",
                                                              "compute", "overhead"))
    assert data["memory"]["standard"]["repack_copy"] == 144_811_072  # standard repacks by default (the Q8_0 file)
    assert data["memory"]["low-memory"]["kv_cache"] == 30 * 512 * 384 * 2
    assert data["recommended_profile"] == "standard"
    assert data["verdict"].startswith("Ready: standard profile")
    assert data["model"]["architecture"] == "llama" and data["model"]["quantization"] == "Q8_0"  # as installed
    assert checks["model size"]["status"] == PASS
    assert checks["model checksum"]["status"] == SKIP and "--verify" in checks["model checksum"]["hint"]
    assert "found in models directory" in checks["model"]["detail"]


def fake_cpu(monkeypatch, others: float | None):
    """doctor's CPU counters: ``others`` cores' worth used by other programs, or unreadable (None)."""
    readings = iter([CpuReading(wall=0.0, busy=0.0, own=0.0), CpuReading(wall=0.25, busy=0.25 * (others or 0) + 0.1,
                                                                            own=0.1)])
    monkeypatch.setattr(doctor_run, "read_cpu", lambda: None if others is None else next(readings))


def test_doctor_samples_other_programs_like_generate(runner, models_dir, roomy, monkeypatch):
    cores = os.cpu_count() or 1
    fake_cpu(monkeypatch, float(cores))  # every core busy: generate drops to one thread
    result, data, checks = doctor_json(runner, "--models-dir", str(models_dir))
    assert result.exit_code == 0 and result.stderr == ""
    if cores > 1:
        assert checks["CPU"]["status"] == WARN
        assert f"other programs are using ~{cores:.1f} of {cores} cores now" in checks["CPU"]["detail"]
        assert "fewer threads (1)" in checks["CPU"]["detail"]
        assert checks["CPU"]["hint"] == "close busy programs for full speed"
        assert data["verdict"].endswith("(1 warning)")
    fake_cpu(monkeypatch, 0.0)
    result = invoke(runner, "doctor", "--models-dir", str(models_dir))
    assert result.exit_code == 0 and result.stderr == ""
    assert "quiet now" in result.stdout and "WARN" not in result.stdout


def test_doctor_without_cpu_counters_skips_the_busy_verdict(runner, models_dir, roomy, monkeypatch):
    fake_cpu(monkeypatch, None)
    result, _, checks = doctor_json(runner, "--models-dir", str(models_dir))
    assert result.exit_code == 0 and result.stderr == ""
    assert checks["CPU"]["status"] == PASS
    assert "the CPU load could not be read, so no busy check" in checks["CPU"]["detail"]


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_missing_model_fails_but_the_other_checks_run(runner, tmp_path):
    empty = tmp_path / "nothing-here"
    result = invoke(runner, "doctor", "--models-dir", str(empty))
    assert result.exit_code == 1
    assert "dreamflow download-model smollm2-135m" in result.stdout
    assert "1 problem: model" in result.stdout
    _, data, checks = doctor_json(runner, "--models-dir", str(empty))
    assert checks["model"]["status"] == FAIL
    assert checks["RAM"]["status"] in (PASS, WARN) and checks["CPU"]["status"] in (PASS, WARN)
    assert checks["memory estimate"]["status"] == SKIP
    assert data["memory"] == {} and data["recommended_profile"] is None


def test_truncated_catalog_model(runner, models_dir, test_model, tmp_path):
    cut = tmp_path / "cut-models"
    cut.mkdir()
    with open(test_model, "rb") as fh:
        (cut / test_model.name).write_bytes(fh.read(1 << 20))
    result, data, checks = doctor_json(runner, "--models-dir", str(cut))
    assert result.exit_code == 1
    assert checks["model size"]["status"] == FAIL and "truncated" in checks["model size"]["detail"]
    assert checks["model size"]["hint"] == "run `dreamflow download-model smollm2-135m --force`"
    assert checks["model header"]["status"] == SKIP
    assert data["verdict"] == "1 problem: model size"


def test_truncated_file_outside_the_catalog(runner, test_model, tmp_path):
    cut = tmp_path / "my-model.gguf"
    with open(test_model, "rb") as fh:
        cut.write_bytes(fh.read(1 << 20))
    result, _, checks = doctor_json(runner, "--model", str(cut))
    assert result.exit_code == 1
    assert checks["model size"]["status"] == SKIP
    assert checks["model header"]["status"] == FAIL and "truncated" in checks["model header"]["detail"]


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_non_gguf_file(runner, tmp_path):
    page = tmp_path / "model.gguf"
    page.write_text("<!doctype html><title>Rate limited</title>")
    result, _, checks = doctor_json(runner, "--model", str(page))
    assert result.exit_code == 1
    assert checks["model header"]["status"] == FAIL and "not a GGUF model file" in checks["model header"]["detail"]


def test_directory_as_model(runner, models_dir):
    result, _, checks = doctor_json(runner, "--model", str(models_dir))
    assert result.exit_code == 1
    assert checks["model"]["status"] == FAIL and "is a directory" in checks["model"]["detail"]


@pytest.mark.parametrize("content, words", [
    ('scenes = "many"\n', "scenes has invalid value"),
    ("this is [not toml\n", "not valid TOML"),
])
def test_invalid_config_is_a_failed_check(runner, models_dir, tmp_path, content, words):
    config = tmp_path / "bad.toml"
    config.write_text(content)
    result, data, checks = doctor_json(runner, "--config", str(config), "--models-dir", str(models_dir))
    assert result.exit_code == 1
    assert checks["config"]["status"] == FAIL and words in checks["config"]["detail"]
    assert checks["config"]["hint"]
    assert checks["model"]["status"] == PASS  # the flags still apply to the other checks
    assert data["verdict"] == "1 problem: config"


def test_missing_config_file_and_bad_environment(runner, models_dir, tmp_path):
    result, _, checks = doctor_json(runner, "--config", str(tmp_path / "nope.toml"), "--models-dir", str(models_dir))
    assert result.exit_code == 1 and "does not exist" in checks["config"]["detail"]
    result, _, checks = doctor_json(runner, "--models-dir", str(models_dir), env={"DREAMFLOW_SCENES": "lots"})
    assert result.exit_code == 1 and "DREAMFLOW_SCENES" in checks["config"]["detail"]


def test_environment_in_effect_is_shown(runner, models_dir):
    result, data, checks = doctor_json(runner, "--models-dir", str(models_dir), env={"LOW_MEMORY_MODE": "1"})
    assert result.exit_code == 0
    assert checks["environment"]["detail"] == "LOW_MEMORY_MODE=1"
    assert "profile low-memory (env LOW_MEMORY_MODE)" in checks["settings"]["detail"]


def test_config_file_is_reported(runner, models_dir, isolated):
    (isolated / "dreamflow.toml").write_text(f'models_dir = "{models_dir.as_posix()}"\n')
    result, _, checks = doctor_json(runner)
    assert result.exit_code == 0
    assert checks["config"]["detail"].endswith("dreamflow.toml")
    assert checks["model"]["status"] == PASS


def test_verify_against_catalog_and_manifest(runner, models_dir, converted_model):
    result, _, checks = doctor_json(runner, "--models-dir", str(models_dir), "--verify")
    assert result.exit_code == 0 and checks["model checksum"]["status"] == PASS
    manifest = models_dir / (converted_model.name + ".manifest.json")
    manifest.write_text(json.dumps({"size": 144_811_072, "sha256": "0" * 64}))
    result, _, checks = doctor_json(runner, "--models-dir", str(models_dir), "--verify")
    assert result.exit_code == 1
    assert checks["model checksum"]["status"] == FAIL and "--force" in checks["model checksum"]["hint"]


def test_output_folder_that_is_a_file(runner, models_dir, tmp_path):
    blocker = tmp_path / "stories-file"
    blocker.write_text("x")
    result, _, checks = doctor_json(runner, "--models-dir", str(models_dir), "--out", str(blocker))
    assert result.exit_code == 1
    assert checks["output folder"]["status"] == FAIL


def test_load_test_with_the_real_model(runner, models_dir):
    result, data, checks = doctor_json(runner, "--models-dir", str(models_dir), "--load-test", "--no-repack")
    assert result.exit_code == 0, data["checks"]
    assert [r["profile"] for r in data["load_test"]] == ["standard", "low-memory"]
    for row in data["load_test"]:
        assert row["ok"] and row["tokens"] > 0 and row["load_seconds"] > 0
        assert row["peak_rss_bytes"] > 50_000_000
    for name in ("load test (standard)", "load test (low-memory)"):
        assert checks[name]["status"] in (PASS, WARN) and "estimate ~" in checks[name]["detail"]


def test_doctor_does_not_write_anything(runner, models_dir, isolated):
    before = sorted(p.name for p in isolated.iterdir())
    assert invoke(runner, "doctor", "--models-dir", str(models_dir)).exit_code == 0
    assert sorted(p.name for p in isolated.iterdir()) == before
