"""The child protocol with a stand-in child (stdlib only): results, failures, and stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dreamflow_cli.output.child.protocol import EXIT_BAD_INPUT, EXIT_CRASH, EXIT_SIGTERM, temp_path
from dreamflow_cli.output.child.runner import ChildFailed, run_child

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the stand-in child is tests/helpers/fake_child.py
FAKE_CHILD = "tests.helpers.fake_child"



@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of the test's own: tmp_path also holds the isolated home and working directory."""
    path = tmp_path / "files"
    path.mkdir()
    return path

def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_result_progress_and_rss(folder: Path) -> None:
    seen: list[tuple[int, int]] = []
    out = folder / "out.bin"
    outcome = run_child(
        FAKE_CHILD, {"out": str(out), "steps": 4}, on_progress=lambda d, t: seen.append((d, t)), env=ENV
    )
    assert outcome.result["bytes"] == 4000 and out.stat().st_size == 4000
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert outcome.peak_rss_bytes is not None and 5 * 2**20 < outcome.peak_rss_bytes < 500 * 2**20
    assert leftovers(folder) == ["out.bin"]


def test_the_peak_is_the_childs_own_not_its_parents(folder: Path) -> None:
    """Linux hands a parent's high-water mark to its children across fork and exec: a narrator
    started beside a loaded model must not be charged for the model."""
    ballast = b"\x01" * (384 * 2**20)  # written, so resident
    outcome = run_child(FAKE_CHILD, {"out": str(folder / "out.bin"), "steps": 1}, env=ENV)
    assert len(ballast) and outcome.peak_rss_bytes is not None
    assert 5 * 2**20 < outcome.peak_rss_bytes < 200 * 2**20


@pytest.mark.parametrize(
    ("mode", "kind", "code"),
    [("bad-input", "input", EXIT_BAD_INPUT), ("crash", "crash", EXIT_CRASH), ("segfault", "signal", -11)],
)
def test_failures_are_one_line_with_a_kind_and_leave_nothing(folder: Path, mode: str, kind: str, code: int) -> None:
    out = folder / "out.bin"
    with pytest.raises(ChildFailed) as failed:
        run_child(FAKE_CHILD, {"out": str(out), "mode": mode}, outputs=[out], env=ENV)
    assert failed.value.kind == kind and failed.value.exit_code == code
    assert "\n" not in failed.value.message
    if mode == "crash":
        assert "RuntimeError: boom" in failed.value.message and "Traceback" in failed.value.stderr_tail
    assert leftovers(folder) == []  # the segfaulted child's temp file was removed by the parent


def test_bad_request_is_reported(folder: Path) -> None:
    with pytest.raises(ChildFailed) as failed:
        run_child(FAKE_CHILD, {"steps": 2}, env=ENV)
    assert failed.value.kind == "request" and "'out'" in failed.value.message


def _interrupt_after_first_progress(folder: Path, exc: type[BaseException]) -> None:
    out = folder / "out.bin"

    def progress(done: int, total: int) -> None:
        assert not out.exists()
        raise exc()

    with pytest.raises(exc):
        run_child(
            FAKE_CHILD, {"out": str(out), "steps": 50, "delay": 0.1}, on_progress=progress, outputs=[out], env=ENV
        )


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_parent_interrupted_mid_run_stops_the_child_and_leaves_nothing(
    folder: Path, exc: type[BaseException]
) -> None:
    started = time.monotonic()
    _interrupt_after_first_progress(folder, exc)
    assert time.monotonic() - started < 3  # stopped, not waited for (50 x 0.1 s)
    assert leftovers(folder) == []


def test_sigterm_to_the_child_removes_its_temporary_file(folder: Path) -> None:
    out = folder / "out.bin"
    proc = subprocess.Popen(
        [sys.executable, "-m", FAKE_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(f'{{"out": "{out}", "steps": 50, "delay": 0.1}}'.encode())
    proc.stdin.close()
    proc.stdout.readline()  # first progress line: the temp file exists now
    assert temp_path(out, proc.pid).exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == EXIT_SIGTERM
    assert leftovers(folder) == []


def test_child_stops_when_its_parent_dies(folder: Path) -> None:
    """A parent killed with SIGKILL cannot clean up; the orphaned child notices and quits."""
    out = folder / "out.bin"
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'tests.helpers.fake_child'], stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
        f'p.stdin.write(b\'{{"out": "{out}", "steps": 100, "delay": 0.05}}\'); p.stdin.close()\n'
        "p.stdout.readline(); print(p.pid, flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=ENV)
    assert parent.stdout
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child_pid):
        time.sleep(0.05)
    assert not _alive(child_pid)
    assert leftovers(folder) == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_ctrl_c_reaches_parent_and_child_and_nothing_is_left(folder: Path) -> None:
    """Like a terminal's Ctrl-C: SIGINT to the whole process group of parent and child."""
    out = folder / "out.bin"
    script = (
        "import sys\nfrom pathlib import Path\nfrom dreamflow_cli.output.child.runner import run_child\n"
        "def progress(d, t):\n    print('progress', flush=True)\n"
        "try:\n"
        f"    run_child('tests.helpers.fake_child', {{'out': '{out}', 'steps': 100, 'delay': 0.05}}, on_progress=progress, outputs=[Path('{out}')])\n"
        "except KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=ENV, start_new_session=True)
    assert parent.stdout
    parent.stdout.readline()
    os.killpg(parent.pid, signal.SIGINT)
    assert parent.wait(10) == 130
    assert leftovers(folder) == []
