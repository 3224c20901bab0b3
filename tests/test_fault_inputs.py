"""Hostile inputs and streams (issue 13): closed or non-text stdin, empty or odd prompts files,
closed stdout, paths that are loops or folders, someone else's file where a download would go.
Each ends with a documented exit code and one line; no traceback, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dreamflow_cli.run.batch import parse_prompts
from dreamflow_cli.story.request import StoryRequest
from tests.helpers.cli import invoke
from tests.helpers.processes import dreamflow_script
from tests.helpers.cli import assert_refused, nothing_written

posix_only = pytest.mark.skipif(os.name == "nt", reason="closing a child's standard streams is POSIX-only")


def run(args: list[str], cwd: Path, *, close: int | None = None, stdin: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([dreamflow_script(), *args], cwd=cwd, input=stdin,
                          stderr=subprocess.DEVNULL if close == 2 else subprocess.PIPE,
                          stdout=subprocess.DEVNULL if close == 1 else subprocess.PIPE,
                          preexec_fn=(lambda: os.close(close)) if close is not None else None,
                          timeout=300, env={**os.environ, "NO_COLOR": "1", **(env or {})})


def one_error_line(stderr: bytes | str) -> str:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = [line for line in text.strip().splitlines() if not line.startswith(("Memory: ", "Parallel: "))]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in text, text
    return lines[0]


# --- standard input ---------------------------------------------------------------------------------

@posix_only
def test_prompts_from_a_closed_stdin(isolated, models_dir):
    proc = run(["generate", "--prompts-file", "-", "--models-dir", str(models_dir)], isolated, close=0)
    assert proc.returncode == 2, proc.stderr
    assert "standard input" in one_error_line(proc.stderr) and "closed" in one_error_line(proc.stderr)
    assert proc.stdout == b""
    assert nothing_written(isolated)


def test_prompts_from_stdin_that_is_not_text(isolated, models_dir):
    # A real process: Python's own stdin may escape bad bytes instead of failing on them.
    proc = run(["generate", "--prompts-file", "-", "--models-dir", str(models_dir)], isolated,
               stdin=b"\xff\xfe a fox\n")
    assert proc.returncode == 2, proc.stderr
    assert "standard input is not UTF-8" in one_error_line(proc.stderr)
    assert nothing_written(isolated)


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n\n   # another\n"])
def test_a_prompts_file_with_no_prompts_is_refused(runner, isolated, models_dir, content):
    (isolated / "prompts.txt").write_text(content)
    result = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--models-dir", str(models_dir))
    assert_refused(result, 2, "no prompts in prompts.txt")
    assert nothing_written(isolated)


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.symlink_to(p), "symbolic link loop"),
    (lambda p: None, "does not exist"),
])
def test_a_prompts_path_that_is_not_a_file(runner, isolated, models_dir, make, fragment):
    make(isolated / "prompts.txt")
    result = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--models-dir", str(models_dir))
    assert_refused(result, 2, "prompts file prompts.txt", fragment)


# --- lines of a prompts file ----------------------------------------------------------------------

def test_a_json_array_line_is_an_error_not_a_prompt():
    items = parse_prompts('[1, 2]\n[draft] a bear\n"just a string"\n', StoryRequest(prompt=""), None)
    assert items[0].request is None and "must be an object" in items[0].error
    assert items[1].request is not None and items[1].request.prompt == "[draft] a bear"
    assert items[2].request is not None  # a plain line that happens to be quoted


def test_a_bad_value_on_a_line_keeps_the_accepted_range():
    items = parse_prompts('{"prompt": "a fox", "age": 200}\n{"prompt": "an owl", "scenes": "nan"}\n',
                          StoryRequest(prompt=""), None)
    assert "age has invalid value 200" in items[0].error and "from 1 to 12" in items[0].error
    assert "scenes" in items[1].error and "from 1 to 8" in items[1].error


def test_bad_lines_are_reported_with_their_reason_and_exit_7(runner, isolated, models_dir):
    (isolated / "prompts.txt").write_text('[1, 2]\n{"prompt": "a fox", "age": 200}\n')
    result = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--models-dir", str(models_dir))
    assert result.exit_code == 7, result.stderr
    assert "Failed (line 1): a JSON line must be an object" in result.stderr
    assert "Failed (line 2): age has invalid value 200 (age accepts an integer from 1 to 12)" in result.stderr
    assert "Traceback" not in result.stderr
    assert nothing_written(isolated)


# --- standard output --------------------------------------------------------------------------------

@posix_only
def test_json_with_a_closed_stdout_is_refused_before_any_work(isolated, models_dir):
    proc = run(["generate", "a calm bear", "--models-dir", str(models_dir), "--json"], isolated, close=1)
    assert proc.returncode == 2
    assert "standard output is closed" in one_error_line(proc.stderr)
    assert nothing_written(isolated)


@posix_only
def test_a_story_with_a_closed_stdout_is_saved_and_said_on_stderr(isolated, models_dir):
    proc = run(["generate", "a calm bear", "--models-dir", str(models_dir), "--threads", "1", "--max-tokens", "40",
                "--no-images"], isolated, close=1)
    assert proc.returncode == 0, proc.stderr
    saved = [p for p in (isolated / "stories").iterdir() if p.is_dir()]  # beside index.html, the library page
    assert len(saved) == 1 and (saved[0] / "story.json").is_file()
    assert f"Saved to {saved[0]}" in proc.stderr.decode()


# --- someone else's file where a download would go -----------------------------------------------

def test_download_model_refuses_to_overwrite_an_unrelated_file(runner, isolated):
    models = isolated / "models"
    models.mkdir()
    (models / "small.gguf").write_bytes(b"GGUF my own fine-tune")
    result = invoke(runner, "download-model", "--url", "http://127.0.0.1:9/small.gguf", "--dir", str(models))
    assert_refused(result, 2, "small.gguf already exists", "--force", "--filename")
    assert (models / "small.gguf").read_bytes() == b"GGUF my own fine-tune"
    assert sorted(p.name for p in models.iterdir()) == ["small.gguf"]  # no lock, no .part left


def test_debug_traceback_is_only_for_unexpected_errors(runner, isolated):
    result = invoke(runner, "generate", "a fox", "--ctx", "0", env={"DREAMFLOW_DEBUG": "1"})
    assert result.exit_code == 2 and "Error: --ctx" in result.stderr
    assert json.dumps(result.stdout) == '""'


@posix_only
def test_a_reader_that_went_away_is_exit_141_and_quiet(isolated):
    read_end, write_end = os.pipe()
    os.close(read_end)  # no reader at all: the first write fails with EPIPE
    try:
        proc = subprocess.run([dreamflow_script(), "config", "show", "--json"], cwd=isolated, stdout=write_end,
                              stderr=subprocess.PIPE, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == b""  # nobody is reading: no error, no "Exception ignored"


@posix_only
def test_a_closed_stderr_never_mixes_errors_or_notes_into_stdout(isolated, models_dir):
    refused = run(["generate", "a fox", "--ctx", "0"], isolated, close=2)
    assert refused.returncode == 2 and refused.stdout == b""
    story = run(["generate", "a calm bear", "--models-dir", str(models_dir), "--threads", "1", "--max-tokens", "40",
                 "--no-images", "--json"], isolated, close=2)
    assert story.returncode == 0
    assert Path(json.loads(story.stdout)["story_path"]).is_file()  # stdout is the result alone


@posix_only
def test_any_json_command_with_a_closed_stdout_is_refused(isolated):
    proc = run(["config", "show", "--json"], isolated, close=1)
    assert proc.returncode == 2
    assert "standard output is closed" in one_error_line(proc.stderr)
