"""The one way dreamflow stops on SIGINT (Ctrl-C), SIGTERM and SIGHUP.

Each of them raises ``Interrupted`` (a KeyboardInterrupt, so every ``except KeyboardInterrupt``
cleanup applies) in the main thread; the process then ends with 128 + the signal number (130 for
Ctrl-C, 143 for SIGTERM, 129 for SIGHUP) and whatever was unfinished is removed.

Why a pending flag as well as the raise: while llama.cpp loads a model it calls back into Python
(its log callback) many times, and an exception raised inside a ctypes callback is printed and
dropped by ctypes, so the load simply carries on. The handler therefore also records the signal,
and ``checkpoint()`` — called at every phase boundary — raises it again, so an interrupt that
landed in a callback takes effect as soon as the native call returns. A second signal does not
wait for that: it removes what registered for cleanup and exits at once.

Core module: no UI. The CLI installs the handlers and reports the phase that was interrupted.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator

# The signals that mean "stop now, keep nothing half-done". SIGHUP does not exist on Windows.
HANDLED = tuple(s for s in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP"))
                if s is not None)
# Test hook: block at the start of this phase until a signal arrives, so a test can interrupt a
# known phase without guessing with sleeps: DREAMFLOW_TEST_PAUSE_AT="writing story", or
# "writing story#2" for its second time (the second story of a batch).
PAUSE_ENV = "DREAMFLOW_TEST_PAUSE_AT"


def exit_code(signum: int) -> int:
    """The shell convention: 128 + the signal number (SIGINT 130, SIGTERM 143, SIGHUP 129)."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when SIGINT, SIGTERM or SIGHUP arrives."""

    def __init__(self, signum: int, phase: str | None):
        super().__init__(signal_name(signum))
        self.signum = signum
        self.phase = phase  # the phase the run was in when the signal arrived

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


class _State:
    pending: int | None = None  # the first signal received, until the process ends
    phase_at_signal: str | None = None
    phase: str | None = None
    visits: dict[str, int] = {}
    installed = False
    cleanups: dict[int, Callable[[], None]] = {}
    counter = itertools.count()
    lock = threading.Lock()


def pending() -> int | None:
    return _State.pending


def phase() -> str | None:
    return _State.phase


def _handler(signum: int, frame: Any) -> None:
    if _State.pending is not None:
        _exit_now(signum)  # the second signal: the user (or the system) will not wait
    _State.pending = signum
    _State.phase_at_signal = _State.phase
    raise Interrupted(signum, _State.phase)


def _exit_now(signum: int) -> None:
    run_cleanups()
    try:
        sys.stderr.write(f"Interrupted again ({signal_name(signum)}): stopped at once; "
                         "the unfinished story was removed.\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    os._exit(exit_code(_State.pending or signum))


def checkpoint() -> None:
    """Raise the pending interrupt, if any: one that landed inside a native callback was lost."""
    if _State.pending is not None:
        raise Interrupted(_State.pending, _State.phase_at_signal)


def reached(name: str) -> None:
    """A run enters phase ``name``: honour a lost interrupt first, then (tests only) pause."""
    checkpoint()
    _State.phase = name
    _State.visits[name] = _State.visits.get(name, 0) + 1
    wanted = os.environ.get(PAUSE_ENV)
    if wanted in (name, f"{name}#{_State.visits[name]}"):
        _pause(name)


def _pause(name: str) -> None:
    try:
        sys.stderr.write(f"dreamflow: paused at {name} ({PAUSE_ENV})\n")
        sys.stderr.flush()
    except (OSError, AttributeError):
        pass
    deadline = time.monotonic() + 120  # a forgotten test must not hang forever
    while time.monotonic() < deadline and _State.pending is None:
        time.sleep(0.05)  # in the main thread the handler raises out of this sleep
    checkpoint()  # a worker thread (a batch) stops here once the main thread has the signal


def add_cleanup(action: Callable[[], None]) -> int:
    """Run ``action`` if the process is stopped at once by a second signal. Returns a token."""
    with _State.lock:
        token = next(_State.counter)
        _State.cleanups[token] = action
    return token


def remove_cleanup(token: int) -> None:
    with _State.lock:
        _State.cleanups.pop(token, None)


def run_cleanups() -> None:
    with _State.lock:
        actions = list(_State.cleanups.values())
        _State.cleanups.clear()
    for action in actions:
        try:
            action()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass


def _quiet_unraisable(original: Callable[[Any], None]) -> Callable[[Any], None]:
    """ctypes reports an exception dropped in a callback through sys.unraisablehook ("Exception
    ignored on calling ctypes callback function…"). Ours is not lost (checkpoint re-raises it),
    so it is not worth a frightening message."""
    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, Interrupted):
            return
        original(unraisable)
    return hook


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the handlers for the duration of a command (main thread only; else a no-op)."""
    if _State.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in HANDLED:
        try:
            previous[signum] = signal.signal(signum, _handler)
        except (OSError, ValueError):  # e.g. a signal the platform will not let us catch
            pass
    old_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable(old_hook)
    _State.installed = True
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = old_hook
        reset()


def reset() -> None:
    """Forget a finished command's state (tests run many commands in one process)."""
    _State.installed = False
    _State.pending = None
    _State.phase_at_signal = None
    _State.phase = None
    _State.visits = {}
    with _State.lock:
        _State.cleanups.clear()
