"""--parallel, the thread policy and GPU offload as a person meets them: through `dreamflow generate`."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from dreamflow_cli.run.batch import parse_prompts, run_batch
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.settings.keys import AUTO
from dreamflow_cli.settings.load import load_settings
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.run.monitor import Watch
from dreamflow_cli.run.setup import prepare
from tests.helpers.cli import invoke

FAST = ("--max-tokens", "40", "--no-images", "--standard", "--threads", "1")
PROMPTS = "a sleepy owl\na tiny boat\na lost mitten\n"


def stories_by_line(out: Path) -> dict[int, dict]:
    found = {}
    for meta_path in out.glob("*/story.json"):
        meta = json.loads(meta_path.read_text())
        found[meta["batch_line"]] = {"meta": meta, "text": (meta_path.parent / "story.md").read_text()}
    return found


def test_auto_writes_the_batch_several_at_a_time_and_says_how_many(runner, models_dir, isolated):
    (isolated / "prompts.txt").write_text(PROMPTS)
    result = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--models-dir", str(models_dir),
                    "--seed", "9", "--parallel", "auto", "--json", "--out", "auto", *FAST)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["line"] for r in records) == [1, 2, 3] and {r["status"] for r in records} == {"ok"}
    notes = [line for line in result.stderr.splitlines() if line.startswith("Parallel: ")]
    assert notes == [notes[0]] and notes[0].startswith(
        "Parallel: 3 stories at a time (auto, at most 4 in the standard profile; 3 stories to write; "
        "each adds ~")
    written = stories_by_line(isolated / "auto")
    assert sorted(written) == [1, 2, 3]
    for story in written.values():
        backend = story["meta"]["backend"]
        assert backend["kind"] == "local" and backend["parallel"] == 3
        assert backend["threads"]["policy"] == "fixed" and backend["threads"]["threads"] == 1
        assert story["meta"]["finish_reason"] in ("stop", "length") and story["meta"]["generated_tokens"] > 0

    # The same batch one story at a time: the same seeds, and stories written the same way. (The
    # text is not compared here: which stories share a decode step depends on thread timing; the
    # decoder's own tests compare texts on a fixed schedule.)
    single = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--models-dir", str(models_dir),
                    "--seed", "9", "--parallel", "1", "--json", "--out", "one", *FAST)
    assert single.exit_code == 0, single.stderr
    alone = stories_by_line(isolated / "one")
    assert {n: s["meta"]["seed"] for n, s in alone.items()} == {n: s["meta"]["seed"] for n, s in written.items()}
    assert all(s["meta"]["backend"].get("parallel") is None for s in alone.values())
    assert not [p for p in (isolated / "auto").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("value", ["many", "0", "65"])
def test_a_bad_parallel_value_names_what_is_accepted(runner, isolated, value):
    result = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--parallel", value)
    assert result.exit_code == ConfigError("x").exit_code
    assert result.stdout == ""
    assert f"--parallel has invalid value {value!r}" in result.stderr
    assert "an integer from 1 to 64 or auto" in result.stderr


def test_parallel_and_gpu_layers_come_from_config_and_environment(isolated):
    (isolated / "dreamflow.toml").write_text('parallel = "auto"\ngpu_layers = 0\n')
    settings = load_settings({}, env={}, cwd=isolated)
    assert (settings.parallel, settings.gpu_layers) == (AUTO, 0)
    env = load_settings({}, env={"DREAMFLOW_PARALLEL": "3", "DREAMFLOW_GPU_LAYERS": "auto"}, cwd=isolated)
    assert (env.parallel, env.gpu_layers) == (3, AUTO)
    with pytest.raises(ConfigError, match="DREAMFLOW_GPU_LAYERS has invalid value 'all'") as bad:
        load_settings({}, env={"DREAMFLOW_GPU_LAYERS": "all"}, cwd=isolated)
    assert "gpu_layers accepts an integer from 0 to 999 or auto" in bad.value.hint


def test_one_story_records_the_thread_policy_and_the_cpu_only_build(runner, models_dir, isolated):
    args = ("generate", "a sleepy owl", "--models-dir", str(models_dir), "--seed", "3", "--json",
            "--max-tokens", "32", "--no-images", "--standard")
    (isolated / "dreamflow.toml").write_text("[profile.standard]\nn_threads = 2\n")  # as `config init` writes
    auto = invoke(runner, *args)
    assert auto.exit_code == 0, auto.stderr
    meta = json.loads(Path(json.loads(auto.stdout)["metadata_path"]).read_text())
    threads = meta["backend"]["threads"]
    assert threads["policy"] == "auto" and 1 <= threads["threads"] <= meta["profile"]["n_threads"]
    assert threads["others_busy_cores"] >= 0 and threads["sample_seconds"] >= 0.25
    assert isinstance(threads["changes"], list) and threads["now"] >= 1
    assert meta["backend"]["gpu"]["n_gpu_layers"] == 0 and "no GPU support" in meta["backend"]["gpu"]["reason"]
    # A fixed count is the profile's, capped at the cores: never thousands of llama.cpp threads.
    fixed = invoke(runner, *args, "--threads", "5000", "--gpu-layers", "0")
    assert fixed.exit_code == 0, fixed.stderr
    meta = json.loads(Path(json.loads(fixed.stdout)["metadata_path"]).read_text())
    cores = os.cpu_count() or 1
    assert meta["profile"]["n_threads"] == cores
    assert meta["backend"]["threads"] == {"threads": cores, "policy": "fixed",
                                          "reason": f"{cores} thread{'s' if cores > 1 else ''} as configured",
                                          "others_busy_cores": None, "sample_seconds": None}
    assert meta["backend"]["gpu"]["reason"] == "CPU only (--gpu-layers 0)"


def test_stopping_a_parallel_batch_on_the_real_model(models_dir, isolated):
    settings = load_settings({"models_dir": models_dir, "images": False, "low_memory": False, "n_threads": 1,
                              "max_tokens": 40, "parallel": 2})
    run = prepare(settings, stories=4)
    items = parse_prompts("a sleepy owl\na tiny boat\na lost mitten\na calm bear\n",
                          StoryRequest(prompt="", images=False), 5)
    outcomes = run_batch(items, run, skip_existing=False, watch=Watch())
    first = next(outcomes)
    assert first.status == "ok"
    outcomes.close()  # Ctrl-C: the stories in flight are abandoned, the finished ones stay
    assert not [p for p in settings.out_dir.iterdir() if p.name.startswith(".")]
    saved = {p.parent.name.split("-", 2)[2] for p in settings.out_dir.glob("*/story.json")}
    # The first two share every decoding step, so the other may have been saved as this one was
    # reported; the last two were never finished.
    assert first.story_dir.name.split("-", 2)[2] in saved and saved <= {"a-sleepy-owl", "a-tiny-boat"}
    assert "dreamflow-decoder" not in {t.name for t in threading.enumerate()}  # the decode loop ended


def test_only_the_threads_flag_fixes_the_count():
    from dreamflow_cli.engine.entry import threads_fixed

    assert threads_fixed({"n_threads": 2})
    # `config init` writes n_threads into the profile tables: that is the policy's ceiling, not a
    # fixed count, or every configured machine would lose the policy.
    assert not threads_fixed({})
    settings = load_settings({}, env={}, cwd=None)
    assert not threads_fixed(settings.profile_flags)
