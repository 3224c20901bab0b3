"""The one error family of dreamflow.

Every failure a user can cause or fix is a DreamflowError carrying the process exit code and a
hint that says what to do next; ``cli.main`` is the only place that turns them into output.
"""

from __future__ import annotations

# Documented in README ("Exit codes"); scripts rely on these numbers, so never renumber.
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_MEMORY = 4
EXIT_DOWNLOAD = 5
EXIT_CONTENT = 6
EXIT_BATCH_PARTIAL = 7  # a batch finished, but some of its stories failed
EXIT_NO_SPACE = 8  # the disk (or quota) is full: nothing half-written is left behind
# Stopped by a signal: 128 + its number (see signals.py); nothing unfinished is kept.
EXIT_INTERRUPTED = 130  # SIGINT, Ctrl-C
EXIT_HANGUP = 129  # SIGHUP, the terminal closed
EXIT_TERMINATED = 143  # SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`)


class DreamflowError(Exception):
    exit_code = EXIT_UNEXPECTED

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(DreamflowError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """An invalid config file, environment variable or option value."""


class ModelError(DreamflowError):
    exit_code = EXIT_MODEL


class NotEnoughMemoryError(DreamflowError):
    exit_code = EXIT_MEMORY


class DownloadError(DreamflowError):
    exit_code = EXIT_DOWNLOAD


class ContentBlockedError(DreamflowError):
    exit_code = EXIT_CONTENT


class NoSpaceError(DreamflowError):
    """The disk or quota is full (ENOSPC/EDQUOT), before or while writing."""

    exit_code = EXIT_NO_SPACE
