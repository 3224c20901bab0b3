"""One download of a file at a time: an OS file lock on ``<file>.lock`` (flock, or msvcrt on Windows)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

from dreamflow_cli.errors import DownloadError, UsageError

LOCK_POLL = 0.1


def _os_lock(fd: int, *, lock: bool) -> bool:
    """Take (without waiting) or release the OS lock on ``fd``; False when that failed."""
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks a byte range from the current position
            msvcrt.locking(fd, msvcrt.LK_NBLCK if lock else msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, (fcntl.LOCK_EX | fcntl.LOCK_NB) if lock else fcntl.LOCK_UN)
    except OSError:
        return False
    return True


class FileLock:
    """An OS file lock (flock / msvcrt) on ``<file>.lock``. The OS drops it when the holder dies,
    so a crashed download never leaves a stale lock behind. The file carries the holder's pid
    only so the message can name it."""

    def __init__(self, path: Path, *, wait: float, what: str, sleep: Callable[[float], None] = time.sleep):
        self.path = path
        self.wait = wait
        self.what = what
        self.sleep = sleep
        self.fd: int | None = None

    def __enter__(self) -> "FileLock":
        deadline = time.monotonic() + self.wait
        while not self._acquire():
            if time.monotonic() >= deadline:
                holder = self._holder()
                raise DownloadError(
                    f"another download of {self.what} is running{f' (process {holder})' if holder else ''}",
                    "wait for it to finish, then run the command again")
            self.sleep(LOCK_POLL)
        return self

    def _acquire(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot write in {self.path.parent}: {exc.strerror}",
                             "choose a folder you can write to with --dir") from None
        # The previous holder unlinks the file on release: a lock on that old, unlinked file
        # would exclude nobody, so only a lock on the file still at our path counts.
        if _os_lock(fd, lock=True) and self._still_at_path(fd):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return True
        _os_lock(fd, lock=False)
        os.close(fd)
        return False

    def _still_at_path(self, fd: int) -> bool:
        try:
            here, there = os.fstat(fd), os.stat(self.path)
        except OSError:
            return False
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="ascii").strip()
        except (OSError, ValueError):  # Windows refuses to read a locked byte range
            return ""

    def __exit__(self, *exc: object) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()  # while still locked, so nobody locks the file we remove
        except OSError:  # Windows: open files cannot be removed; the next holder reuses it
            pass
        _os_lock(self.fd, lock=False)
        os.close(self.fd)
        self.fd = None
