"""The parent side of the media child processes: start one, feed it, follow it, stop it.

Stdlib only, so it can live in dreamflow's Apache-2.0 core. The child speaks the protocol in
``child_protocol``. On Ctrl-C, SIGTERM (once the CLI turns it into an exception) or any other
exception in the parent while a child runs, the child is sent SIGTERM, given a few seconds to
delete its temporary files, then killed; the parent removes any temporary file a killed child left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamflow_cli.output.child.protocol import KIND_BY_EXIT, temp_path

STOP_GRACE_SECONDS = 5.0
# Children running now, from any thread: a batch's media lane runs them off the main thread,
# where no KeyboardInterrupt reaches, so a stopping batch stops them through ``stop_all``.
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Ask every running child to stop (SIGTERM: each cleans up its temporary files and exits);
    the thread that started it then sees it fail and removes what is left."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        if proc.poll() is None:
            proc.terminate()


@dataclass(frozen=True)
class ChildOutcome:
    result: dict[str, Any]
    wall_seconds: float
    peak_rss_bytes: int | None  # the child's own peak since its exec, None where unknown
    cpu_seconds: float | None  # user + system CPU time of the child


class ChildFailed(Exception):
    """The child ended without a result; ``kind`` is from child_protocol.KIND_BY_EXIT or "signal"."""

    def __init__(self, message: str, kind: str, exit_code: int, stderr_tail: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


def _wait(proc: subprocess.Popen[bytes]) -> tuple[int | None, float | None]:
    """Reap the child, setting ``returncode``; return its peak RSS in bytes and CPU seconds
    (from wait4's rusage on Linux/macOS; None elsewhere)."""
    wait4 = getattr(os, "wait4", None)
    if wait4 is None or proc.returncode is not None:
        proc.wait()
        return None, None
    try:
        _, status, usage = wait4(proc.pid, 0)
    except ChildProcessError:  # already reaped elsewhere
        proc.wait()
        return None, None
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return peak, usage.ru_utime + usage.ru_stime


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
    _wait(proc)


def run_child(
    module: str,
    request: dict[str, Any],
    *,
    on_progress: Callable[[int, int], None] | None = None,
    outputs: Iterable[Path] = (),
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    grace: float = STOP_GRACE_SECONDS,
) -> ChildOutcome:
    """Run ``python -m module`` with ``request``; return its result or raise ChildFailed.

    ``outputs`` are the final paths the child writes: if it fails or is stopped, any temporary
    file it left for them is removed (the final paths themselves are never half-written).
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        [python, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    with _LIVE_LOCK:
        _LIVE.add(proc)
    stderr_tail: deque[str] = deque(maxlen=40)

    def drain_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            stderr_tail.append(raw.decode("utf-8", "replace").rstrip())

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    result: dict[str, Any] | None = None
    reported: int | None = None  # the child's own reading; wait4's includes the parent's (see own_peak_rss)
    error: dict[str, Any] | None = None
    peak: int | None = None
    cpu: float | None = None
    try:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died at once; its exit code says why
        for raw in proc.stdout:
            try:
                message = json.loads(raw)
            except json.JSONDecodeError:
                stderr_tail.append(raw.decode("utf-8", "replace").rstrip())  # a library printed to stdout
                continue
            if "result" in message:
                result = message["result"]
                reported = message.get("peak_rss")
            elif "error" in message:
                error = message
            elif "done" in message and on_progress is not None:
                on_progress(int(message["done"]), int(message["total"]))
        peak, cpu = _wait(proc)
    except BaseException:
        _stop(proc, grace)
        _clean(outputs, proc.pid)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    reader.join(timeout=2.0)
    code = proc.returncode
    tail = "\n".join(stderr_tail)
    if code == 0 and result is not None:
        return ChildOutcome(result, time.monotonic() - started, reported if reported else peak, cpu)
    _clean(outputs, proc.pid)
    if error is not None:
        raise ChildFailed(str(error["error"]), str(error.get("kind", "crash")), code, tail)
    if code is not None and code < 0:
        raise ChildFailed(f"stopped by signal {-code}", "signal", code, tail)
    kind = KIND_BY_EXIT.get(code or 1, "crash")
    last = stderr_tail[-1] if stderr_tail else "no message"
    raise ChildFailed(f"exited with code {code}: {last}", kind, code if code is not None else 1, tail)


def _clean(outputs: Iterable[Path], pid: int) -> None:
    for final in outputs:
        try:
            temp_path(Path(final), pid).unlink()
        except FileNotFoundError:
            pass
