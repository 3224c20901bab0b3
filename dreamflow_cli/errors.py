"""The one error family of dreamflow.

Every failure a user can cause or fix is a DreamflowError carrying the process exit code and a
hint that says what to do next; ``cli.main`` is the only place that turns them into output.
"""

from __future__ import annotations

from enum import IntEnum

class ExitStatus(IntEnum):
    """Every exit status dreamflow ends with: the one table README's "Exit codes" comes from.
    Scripts rely on these numbers, so never renumber."""

    OK = 0
    UNEXPECTED = 1  # a bug, or a doctor check that FAILed
    USAGE = 2  # a bad option, value, config file or input file
    MODEL = 3  # the model (or voice) is missing, damaged or unusable; a model server failed
    MEMORY = 4  # not enough memory, refused before loading (or the model ran out)
    DOWNLOAD = 5  # a download failed: the network, the server, or a file that failed verification
    CONTENT = 6  # the request or every draft had words not allowed in a bedtime story
    BATCH_PARTIAL = 7  # a batch finished, but some of its stories failed
    NO_SPACE = 8  # the disk (or quota) is full, or would not hold a story, download or conversion about to be
    # written (refused before it starts): nothing half-written is left behind
    # Stopped by a signal: 128 + its number (see signals.py); nothing unfinished is kept.
    HANGUP = 129  # SIGHUP, the terminal closed
    INTERRUPTED = 130  # SIGINT, Ctrl-C
    BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`)
    TERMINATED = 143  # SIGTERM


class DreamflowError(Exception):
    exit_code: ExitStatus = ExitStatus.UNEXPECTED

    def __init__(self, message: str, hint: str | None = None, *, exit_code: ExitStatus | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(DreamflowError):
    exit_code = ExitStatus.USAGE


class ConfigError(UsageError):
    """An invalid config file, environment variable or option value."""


class ModelError(DreamflowError):
    exit_code = ExitStatus.MODEL


class NotEnoughMemoryError(DreamflowError):
    exit_code = ExitStatus.MEMORY


class DownloadError(DreamflowError):
    exit_code = ExitStatus.DOWNLOAD


class ContentBlockedError(DreamflowError):
    exit_code = ExitStatus.CONTENT


class NoSpaceError(DreamflowError):
    """The disk or quota is full (ENOSPC/EDQUOT), before or while writing."""

    exit_code = ExitStatus.NO_SPACE
