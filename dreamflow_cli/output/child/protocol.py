"""The child side of dreamflow's media child processes (narrator, video encoder).

Why children: piper-tts and PyAV's bundled FFmpeg/libx264 are GPL, so dreamflow (Apache-2.0)
only ever *runs* them as separate programs (``python -m ...``); a child also keeps their memory
out of the parent and can be killed cleanly on Ctrl-C.

Protocol (stdlib only; ``child_runner`` is the parent side):
- stdin: one JSON request object.
- stdout: JSON lines. ``{"done": k, "total": n}`` for progress, then exactly one of
  ``{"result": {...}, "peak_rss": bytes|null}`` or ``{"error": "one line", "kind": "..."}``.
- stderr: free text for humans (tracebacks on a crash).
- exit code: see the EXIT_* constants; 128+N when stopped by signal N (SIGTERM: 143, SIGINT: 130).
- files: every output is written under a temporary name beside its final path (``temp_path``) and
  renamed into place only after all outputs are complete, so a final path never holds half a file.
  A stopped or failing child deletes its temporary files; after a SIGKILL the parent does.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_CRASH = 1  # an unexpected exception (Python's own code for an uncaught one); traceback on stderr
EXIT_BAD_REQUEST = 10  # the request JSON is malformed: a bug in the parent
EXIT_BAD_INPUT = 11  # an input file (voice model/config, picture, audio) is missing or unreadable
EXIT_MISSING_PACKAGE = 12  # piper-tts / av / numpy not installed in this environment
EXIT_NO_SPACE = 13  # the disk or quota filled up while writing
EXIT_OUT_OF_MEMORY = 14  # MemoryError (a cgroup OOM kill shows as signal 9 instead)
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM

_STOP_SIGNALS = {getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n)}

KIND_BY_EXIT = {
    EXIT_CRASH: "crash",
    EXIT_BAD_REQUEST: "request",
    EXIT_BAD_INPUT: "input",
    EXIT_MISSING_PACKAGE: "package",
    EXIT_NO_SPACE: "disk",
    EXIT_OUT_OF_MEMORY: "memory",
    EXIT_SIGINT: "interrupted",
    EXIT_SIGTERM: "terminated",
}


class ChildFailure(Exception):
    """A failure the child reports as one line and a distinct exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class Stopped(BaseException):
    """Raised inside the child by SIGTERM, or when its parent has gone away."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(exit_code)
        self.exit_code = exit_code


def temp_path(final: Path, pid: int | None = None) -> Path:
    """Where a child writes ``final`` until it is complete: hidden, same folder (same filesystem,
    so the rename is atomic), and tagged with the child's pid so the parent can clean up after a
    SIGKILL."""
    return final.with_name(f".{final.name}.part-{os.getpid() if pid is None else pid}")


class Outputs:
    """Temporary output files that become final together, or not at all."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def add(self, final: Path) -> Path:
        tmp = temp_path(final)
        self._pending.append((tmp, final))
        return tmp

    def commit(self) -> None:
        # Signals wait until every rename is done: all outputs appear, or (before this) none.
        # (POSIX only; on Windows the renames are simply done one after the other.)
        mask = getattr(signal, "pthread_sigmask", None)
        old = mask(signal.SIG_BLOCK, _STOP_SIGNALS) if mask else None
        try:
            for tmp, final in self._pending:
                os.replace(tmp, final)
            self._pending.clear()
        finally:
            if mask and old is not None:
                mask(signal.SIG_SETMASK, old)

    def discard(self) -> None:
        for tmp, _ in self._pending:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        self._pending.clear()


class Reporter:
    """Writes protocol lines; notices when the parent is gone (then the child stops itself)."""

    def __init__(self) -> None:
        self._parent = os.getppid()

    def check_parent(self) -> None:
        # If the parent was SIGKILLed we are re-parented (to init or a subreaper): stop working
        # for nobody. Cheap enough to call once per sentence or frame.
        if os.getppid() != self._parent:
            raise Stopped(EXIT_SIGTERM)

    def send(self, message: dict[str, Any]) -> None:
        self.check_parent()
        try:
            sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # The parent closed our stdout: nobody will read the result.
            raise Stopped(EXIT_SIGTERM) from None

    def progress(self, done: int, total: int, **extra: Any) -> None:
        self.send({"done": done, "total": total, **extra})


def read_request() -> dict[str, Any]:
    try:
        request = json.loads(sys.stdin.read())
    except json.JSONDecodeError as exc:
        raise ChildFailure(f"request is not JSON: {exc}", EXIT_BAD_REQUEST) from None
    if not isinstance(request, dict):
        raise ChildFailure("request must be a JSON object", EXIT_BAD_REQUEST)
    return request


def field(request: dict[str, Any], key: str, kind: type, default: Any = ...) -> Any:
    """One typed request field, or a bad-request failure naming it."""
    if key not in request or request[key] is None:
        if default is ...:
            raise ChildFailure(f"request is missing {key!r}", EXIT_BAD_REQUEST)
        return default
    value = request[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        raise ChildFailure(f"request field {key!r} must be {kind.__name__}", EXIT_BAD_REQUEST)
    return value


def own_peak_rss() -> int | None:
    """This process's peak resident memory since its exec, in bytes (None where unknown).

    Why not ru_maxrss on Linux: the kernel carries the parent's high-water mark across fork and
    exec, so a narrator started by a dreamflow holding a 900 MB model would report 900 MB. The
    address space's own mark (VmHWM) starts fresh at exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    if sys.platform == "darwin":
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS
    return None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Stopped(128 + signum)


def run(main: Callable[[dict[str, Any], Reporter, Outputs], dict[str, Any]]) -> NoReturn:
    """Entry point wrapper: request in, result or error out, temporary files never left behind."""
    for stop in _STOP_SIGNALS - {signal.SIGINT}:  # SIGINT stays KeyboardInterrupt
        signal.signal(stop, _on_sigterm)
    reporter = Reporter()
    outputs = Outputs()
    code = EXIT_OK
    message: dict[str, Any] | None = None
    try:
        result = main(read_request(), reporter, outputs)
        outputs.commit()
        message = {"result": result, "peak_rss": own_peak_rss()}
    except ChildFailure as exc:
        code, message = exc.exit_code, {"error": exc.message, "kind": KIND_BY_EXIT[exc.exit_code]}
    except Stopped as exc:
        code = exc.exit_code
    except KeyboardInterrupt:
        code = EXIT_SIGINT
    except MemoryError:
        code, message = EXIT_OUT_OF_MEMORY, {"error": "ran out of memory", "kind": "memory"}
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            code, message = EXIT_NO_SPACE, {"error": f"disk full: {exc}", "kind": "disk"}
        else:
            traceback.print_exc()
            code, message = EXIT_CRASH, {"error": f"{type(exc).__name__}: {exc}", "kind": "crash"}
    except Exception as exc:  # noqa: BLE001 - a crash is reported as one line plus a traceback
        traceback.print_exc()
        code, message = EXIT_CRASH, {"error": f"{type(exc).__name__}: {exc}", "kind": "crash"}
    finally:
        outputs.discard()
    if message is not None:
        try:
            reporter.send(message)
        except (Stopped, OSError):
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: skip interpreter teardown, where onnxruntime/FFmpeg threads have been seen to
    # hang or crash on exit; everything worth keeping is already renamed and flushed.
    os._exit(code)
