"""Signals (issue 13): SIGINT, SIGTERM and SIGHUP stop a run the same way, in any phase, even when
they land inside a native (ctypes) callback: exit 128 + the signal number, nothing unfinished kept.

No test guesses a phase with a sleep: each waits for the phase itself (the test hook
DREAMFLOW_TEST_PAUSE_AT blocks at the start of a phase and says so on stderr) and asserts which
phase the message names."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dreamflow_cli import signals
from dreamflow_cli.output.folder import STAGING_PREFIX, is_stale, remove_stale_staging, staging_owner
from tests.helpers.cli import folder_entries, invoke
from tests.helpers.processes import Child

posix_only = pytest.mark.skipif(os.name == "nt", reason="SIGTERM/SIGHUP to a child process are POSIX-only")


def story_args(models_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "a long walk under the moon", "--models-dir", str(models_dir), "--threads", "1",
            "--max-tokens", "48", "--seed", "5", "--out", str(out), *extra]


def assert_clean_stop(code: int, stdout: str, stderr: str, signum: int, phase: str, out: Path) -> None:
    assert code == 128 + signum, stderr
    assert stdout == ""
    assert f"Interrupted ({signal.Signals(signum).name} while {phase})" in stderr, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert not out.exists() or list(out.iterdir()) == []  # no story, no hidden staging folder


# --- the lost interrupt: a signal inside a ctypes callback ----------------------------------------

@pytest.mark.skipif(os.name == "nt", reason="calls the C library's qsort")
def test_an_interrupt_raised_inside_a_ctypes_callback_is_not_lost(capfd):
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    compare_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
    calls = []

    def compare(a, b) -> int:
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # the handler runs here, inside the callback
        return a[0] - b[0]

    numbers = (ctypes.c_int * 8)(5, 3, 8, 1, 9, 2, 7, 4)
    with signals.handling():
        libc.qsort(numbers, len(numbers), ctypes.sizeof(ctypes.c_int), compare_type(compare))
        # ctypes dropped the exception and qsort carried on: only the pending flag remembers it
        assert list(numbers) == [1, 2, 3, 4, 5, 7, 8, 9]
        assert signals.pending() == signal.SIGINT
        with pytest.raises(signals.Interrupted) as stopped:
            signals.reached("writing story")
        assert stopped.value.exit_code == 130
    assert "Exception ignored" not in capfd.readouterr().err
    assert signals.pending() is None  # the next command starts clean


def test_ctrl_c_inside_llama_cpp_log_callback_during_the_real_load_ends_the_run(runner, isolated, models_dir,
                                                                                 monkeypatch):
    """The reported bug, in-process with the real model: the interrupt arrives inside llama.cpp's
    log callback while the model loads (where ctypes swallows it). Before the fix the story was
    saved and the exit code was 0."""
    from dreamflow_cli.engine import single as engine
    class SignalOnFirstLogLine:
        fired = False

        def __bool__(self) -> bool:  # the gate asks `if verbose:` for every llama.cpp log line
            if not SignalOnFirstLogLine.fired:
                SignalOnFirstLogLine.fired = True
                signal.raise_signal(signal.SIGINT)
            return False

    original = engine._LogGate.install.__func__

    def install(cls, llama_cpp, verbose):
        original(cls, llama_cpp, verbose)
        cls.verbose = SignalOnFirstLogLine()

    monkeypatch.setattr(engine._LogGate, "install", classmethod(install))
    out = isolated / "stories"
    result = invoke(runner, *story_args(models_dir, out))
    assert SignalOnFirstLogLine.fired
    assert result.exit_code == 130, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Interrupted (SIGINT while loading model)" in result.stderr
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr
    assert list(out.iterdir()) == []


# --- every signal, every phase: a real process, synchronised on the phase -------------------------

@posix_only
@pytest.mark.parametrize("signum, phase", [
    (signal.SIGINT, "loading model"),
    (signal.SIGTERM, "writing story"),
    (signal.SIGHUP, "writing story"),
    (signal.SIGTERM, "drawing pictures"),
])
def test_a_signal_in_a_known_phase_removes_the_unfinished_story(isolated, models_dir, signum, phase):
    out = isolated / "stories"
    child = Child(story_args(models_dir, out), isolated, {"DREAMFLOW_TEST_PAUSE_AT": phase})
    child.wait_for(f"paused at {phase}")
    assert [p.name for p in out.iterdir()][0].startswith(STAGING_PREFIX)  # the story was under way
    child.proc.send_signal(signum)
    assert_clean_stop(*child.finish(), signum, phase, out)


@posix_only
def test_sigterm_in_a_batch_keeps_finished_stories_and_removes_the_unfinished_one(isolated, models_dir):
    out = isolated / "stories"
    prompts = isolated / "prompts.txt"
    prompts.write_text("a sleepy fox\na quiet owl\n")
    child = Child(["generate", "--prompts-file", str(prompts), "--models-dir", str(models_dir), "--threads", "1",
                   "--max-tokens", "40", "--seed", "2", "--no-images", "--out", str(out), "--json", "--parallel", "1"],
                  isolated, {"DREAMFLOW_TEST_PAUSE_AT": "writing story#2"})
    child.wait_for_stdout_lines(1)  # the first story is reported…
    child.wait_for("paused at writing story")  # …and the second is being written
    child.proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = child.finish()
    assert code == 143, stderr
    assert "Interrupted (SIGTERM while writing story)" in stderr and "Traceback" not in stderr
    first = json.loads(stdout.splitlines()[0])
    assert first["status"] == "ok" and len(stdout.splitlines()) == 1
    assert folder_entries(out) == [Path(first["story_dir"]).name]  # no staging folder left


@posix_only
def test_sigterm_while_parallel_stories_are_written_leaves_only_whole_stories(isolated, models_dir):
    out = isolated / "stories"
    prompts = isolated / "prompts.txt"
    prompts.write_text("a sleepy fox\na quiet owl\na calm bear\n")
    child = Child(["generate", "--prompts-file", str(prompts), "--models-dir", str(models_dir), "--threads", "1",
                   "--max-tokens", "200", "--seed", "2", "--no-images", "--out", str(out), "--parallel", "2"],
                  isolated)
    deadline = time.monotonic() + 120
    while sum(p.name.startswith(STAGING_PREFIX) for p in (out.iterdir() if out.exists() else [])) < 2:
        assert child.proc.poll() is None and time.monotonic() < deadline, child.finish()
        time.sleep(0.02)  # synchronised on the two staging folders: both stories are in flight
    child.proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = child.finish()
    assert code == 143, stderr
    assert "Interrupted (SIGTERM" in stderr and "Traceback" not in stderr
    for folder in (out / name for name in folder_entries(out)):  # whatever had finished is whole; nothing else is left
        assert not folder.name.startswith(STAGING_PREFIX)
        assert (folder / "story.json").is_file() and str(folder) in stdout


@posix_only
def test_a_second_signal_exits_at_once_and_still_cleans_up(tmp_path):
    """The first interrupt was lost in a native callback and the process is still busy in native
    code: a second one must not wait. (A subprocess: os._exit would end pytest itself.)"""
    staging = tmp_path / ".dreamflow-tmp-1-x"
    staging.mkdir()
    script = f"""
import ctypes, ctypes.util, os, shutil, signal, time
from dreamflow_cli import signals
libc = ctypes.CDLL(ctypes.util.find_library("c"))
cmp = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
def compare(a, b):
    signal.raise_signal(signal.SIGINT)  # first: dropped by ctypes; second: exits at once
    return 0
nums = (ctypes.c_int * 4)(4, 3, 2, 1)
with signals.handling():
    signals.add_cleanup(lambda: shutil.rmtree({str(staging)!r}))
    libc.qsort(nums, 4, ctypes.sizeof(ctypes.c_int), cmp(compare))
    print("not reached")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.returncode == 130, proc.stderr
    assert "not reached" not in proc.stdout
    assert "Interrupted again (SIGINT)" in proc.stderr
    assert not staging.exists()


def test_signal_exit_codes_follow_the_shell_convention():
    assert signals.exit_code(signal.SIGINT) == 130
    assert signals.exit_code(signal.SIGTERM) == 143
    if hasattr(signal, "SIGHUP"):
        assert signals.exit_code(signal.SIGHUP) == 129


# --- staging folders left by a killed process ------------------------------------------------------

def test_stale_means_old_and_owned_by_no_live_process():
    day = 24 * 3600
    alive = {4242}.__contains__
    assert staging_owner(".dreamflow-tmp-4242-abc") == 4242
    assert staging_owner(".dreamflow-tmp-abc_12") is None  # the older, pid-less name
    assert is_stale(".dreamflow-tmp-999-abc", day, alive)
    assert is_stale(".dreamflow-tmp-abc_12", day, alive)
    assert not is_stale(".dreamflow-tmp-4242-abc", day, alive)  # its process is still running
    assert not is_stale(".dreamflow-tmp-999-abc", 60, alive)  # young: maybe another machine's run
    assert not is_stale("20261127-story", day, alive)


def test_a_run_removes_staging_folders_left_by_killed_runs(runner, isolated, models_dir):
    out = isolated / "stories"
    out.mkdir()
    old = time.time() - 2 * 24 * 3600
    dead = out / ".dreamflow-tmp-999999999-left"  # no such pid
    legacy = out / ".dreamflow-tmp-k2j4_x9q"
    live = out / f".dreamflow-tmp-{os.getpid()}-mine"
    young = out / ".dreamflow-tmp-999999998-fresh"
    for folder in (dead, legacy, live, young):
        folder.mkdir()
        (folder / "scene-1.png").write_bytes(b"half")
    for folder in (dead, legacy, live):
        os.utime(folder, (old, old))
    result = invoke(runner, *story_args(models_dir, out, "--no-images", "--json"))
    assert result.exit_code == 0, result.stderr
    assert not dead.exists() and not legacy.exists()
    assert live.exists() and young.exists()
    assert Path(json.loads(result.stdout)["story_dir"]).is_dir()


def test_remove_stale_staging_leaves_stories_and_other_files_alone(tmp_path):
    old = time.time() - 2 * 24 * 3600
    story = tmp_path / "20261127-a-fox"
    story.mkdir()
    note = tmp_path / ".dreamflow-tmp-1-note"  # a file, not a folder of ours
    note.write_text("x")
    os.utime(story, (old, old))
    os.utime(note, (old, old))
    assert remove_stale_staging(tmp_path, now=time.time(), alive=lambda pid: False) == []
    assert story.exists() and note.exists()
