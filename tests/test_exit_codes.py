"""Every way `generate` can be refused: the documented exit code, one line on stderr, nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import assert_refused, invoke, nothing_written
from tests.helpers.processes import Child, dreamflow_script


def test_no_model_anywhere_gives_the_download_command(runner, isolated):
    result = invoke(runner, "generate", "a sleepy dragon")
    assert_refused(result, 3, "no model found", "dreamflow download-model smollm2-135m")
    assert nothing_written(isolated)


def test_catalog_name_not_downloaded(runner, isolated):
    result = invoke(runner, "generate", "a sleepy dragon", "--model", "tinyllama")
    assert_refused(result, 3, "not downloaded", "dreamflow download-model tinyllama")


def test_missing_file(runner, isolated):
    result = invoke(runner, "generate", "a sleepy dragon", "--model", "nowhere.gguf")
    assert_refused(result, 3, "does not exist")


def test_directory_as_model(runner, isolated):
    (isolated / "adir").mkdir()
    result = invoke(runner, "generate", "a sleepy dragon", "--model", "adir")
    assert_refused(result, 3, "is a directory")


def test_not_a_gguf_file(runner, isolated):
    (isolated / "notes.gguf").write_text("<html>404 Not Found</html>")
    result = invoke(runner, "generate", "a sleepy dragon", "--model", "notes.gguf")
    assert_refused(result, 3, "not a GGUF model file")
    assert nothing_written(isolated)


def test_truncated_catalog_model(runner, isolated, test_model):
    models = isolated / "models"
    models.mkdir()
    with open(test_model, "rb") as src:
        (models / test_model.name).write_bytes(src.read(1_000_000))
    result = invoke(runner, "generate", "a sleepy dragon", env={"DREAMFLOW_MODELS_DIR": str(models)})
    assert_refused(result, 3, "truncated", "1,000,000", "download-model smollm2-135m --force")


def test_gguf_header_with_garbage_body_is_a_model_error_not_a_crash(runner, isolated):
    (isolated / "broken.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + os.urandom(4096))
    result = invoke(runner, "generate", "a sleepy dragon", "--model", "broken.gguf")
    assert_refused(result, 3, "not a usable GGUF model")
    assert nothing_written(isolated)


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_a_valid_gguf_that_llama_cpp_cannot_run_is_a_model_error(runner, isolated):
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(isolated / "odd.gguf"), "no-such-architecture")
    writer.add_tensor("weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    result = invoke(runner, "generate", "a sleepy dragon", "--model", "odd.gguf")
    assert_refused(result, 3, "llama.cpp could not load", "odd.gguf")
    assert nothing_written(isolated)


def test_invalid_option_value_is_a_usage_error(runner, isolated):
    result = invoke(runner, "generate", "a fox", "--scenes", "12")
    assert result.exit_code == 2
    assert result.stdout == "" and "--scenes" in result.stderr


def test_prompt_over_the_cap_is_refused_not_cut(runner, isolated, models_dir):
    result = invoke(runner, "generate", "dragon " * 100, "--models-dir", str(models_dir))
    assert_refused(result, 2, "699 characters", "limit is 300")


def test_prompt_that_leaves_no_room_in_the_context(runner, isolated, models_dir):
    result = invoke(runner, "generate", "a very sleepy dragon", "--models-dir", str(models_dir), "--ctx", "128")
    assert_refused(result, 2, "no room for a story", "--ctx")
    assert nothing_written(isolated)


def test_output_folder_that_is_a_file(runner, isolated, models_dir):
    (isolated / "taken").write_text("not a folder")
    result = invoke(runner, "generate", "a fox", "--models-dir", str(models_dir), "--out", "taken")
    assert_refused(result, 2, "not a directory", "--out")
    assert (isolated / "taken").read_text() == "not a folder"


def test_debug_shows_a_traceback(runner, isolated):
    result = invoke(runner, "generate", "a fox", env={"DREAMFLOW_DEBUG": "1"})
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and "ModelError" in result.stderr


def test_installed_console_script_writes_a_story(isolated, models_dir):
    proc = subprocess.run(
        [dreamflow_script(), "generate", "a calm turtle", "--models-dir", str(models_dir), "--low-memory",
         "--seed", "11", "--max-tokens", "48", "--json"],
        capture_output=True, text=True, timeout=300, cwd=isolated,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    summary = json.loads(proc.stdout)
    assert Path(summary["story_path"]).is_file()
    # stderr is not a terminal: no progress and no llama.cpp logs, only the note of where it went
    assert proc.stderr.startswith("Saved to ") and len(proc.stderr.splitlines()) == 1, proc.stderr


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child process is POSIX-only")
@pytest.mark.parametrize("phase", ["loading model", "writing story"])
def test_ctrl_c_leaves_no_files_and_exits_130(isolated, models_dir, phase):
    out = isolated / "stories"
    # The test hook blocks at the start of the phase and says so: no sleep has to land in it.
    child = Child(["generate", "a long walk under the moon", "--models-dir", str(models_dir), "--max-tokens", "256",
                   "--seed", "5", "--out", str(out)], isolated, {"DREAMFLOW_TEST_PAUSE_AT": phase})
    child.wait_for(f"paused at {phase}")
    child.proc.send_signal(signal.SIGINT)
    code, stdout, stderr = child.finish()
    assert code == 130, stderr
    assert stdout == ""
    assert f"Interrupted (SIGINT while {phase})" in stderr and "Traceback" not in stderr
    assert list(out.iterdir()) == []
