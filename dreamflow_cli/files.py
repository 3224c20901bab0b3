"""Writing files so that nothing is ever half-written or overwritten.

Single files: temp file in the same directory, fsync, rename (``atomic_write``). Every folder
dreamflow writes into is checked first (``ensure_writable_dir``: creatable, writable, some free
space), and a disk that fills up while we write ends with NoSpaceError (exit 8), never an
"unexpected error" or a half-written file. A whole story folder: output/folder.py.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from dreamflow_cli.errors import NoSpaceError, UsageError

# Refuse up front below this much free space: a story (text, metadata, a few PNGs) is far smaller,
# and a file system this full fails everyone's writes, not only ours.
MIN_FREE_BYTES = 4 * 1024 * 1024
_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


# Tests replace this to simulate a full disk without one.
free_space: Callable[[Path], int] = free_bytes


def no_space(directory: Path, option: str = "--out", detail: str = "") -> NoSpaceError:
    return NoSpaceError(f"no space left in {directory}{detail}",
                        f"free some space, or choose a folder on another disk with {option}")


@contextlib.contextmanager
def disk_errors(directory: Path, option: str = "--out") -> Iterator[None]:
    """Turn a write failing on a full or read-only disk into a one-line error naming the folder."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise no_space(directory, option) from None
        if exc.errno in _DENIED:
            raise UsageError(f"cannot write in {directory}: {exc.strerror}",
                             f"choose a folder you can write to with {option}") from None
        raise


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, in words for a message ("does not exist", "is a
    directory", "is a symbolic link loop"…), or None when it is a file."""
    path = Path(path)
    try:
        if path.is_file():
            return None
        if path.is_dir():
            return "is a directory, not a file"
        if path.exists():
            return "is not a regular file"
        os.stat(path)  # exists() hides why: a loop and a dangling link both read as "absent"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop"
        if exc.errno == errno.EACCES:
            return "cannot be reached (permission denied on a folder above it)"
        if exc.errno == errno.ENOTDIR:
            return "does not exist (a part of the path is a file, not a folder)"
    if path.is_symlink():
        return f"is a symbolic link to {os.readlink(path)}, which does not exist"
    return "does not exist"


def atomic_write(path: Path, data: bytes, *, overwrite: bool = True, option: str = "--out") -> None:
    """Write ``data`` to ``path`` atomically. With ``overwrite=False`` an existing file is never
    replaced (FileExistsError), even if it appears while we write. A full or read-only disk is a
    NoSpaceError / UsageError naming ``option`` as the way out; the target is left untouched."""
    path = Path(path)
    with disk_errors(path.parent, option):
        _atomic_write(path, data, overwrite)


def _atomic_write(path: Path, data: bytes, overwrite: bool) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path exists: no check-then-write race
            except OSError as exc:
                if isinstance(exc, FileExistsError):
                    raise
                if path.exists():  # file systems without hard links
                    raise FileExistsError(str(path)) from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_writable_dir(path: Path, what: str, option: str = "--out", *, need: int = MIN_FREE_BYTES) -> Path:
    """The one check before dreamflow writes into a folder: create ``path`` if needed, and refuse,
    naming ``option`` as the way out, if it cannot hold files or has less than ``need`` bytes free."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{what} {path} exists and is not a directory",
                         f"choose another folder with {option}") from None
    except OSError as exc:
        if exc.errno in _FULL:
            raise no_space(path, option) from None
        problem = file_problem(path) if exc.errno == errno.ELOOP else exc.strerror
        raise UsageError(f"cannot create {what} {path}: {problem}",
                         f"choose a folder you can write to with {option}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path} is not writable", f"choose a folder you can write to with {option}")
    check_free_space(path, need, option)
    return path


def check_free_space(directory: Path, need: int, option: str = "--out") -> None:
    try:
        free = free_space(directory)
    except OSError:
        return  # no reading (an odd file system): the writes themselves still report a full disk
    if free < need:
        raise no_space(directory, option, f" ({free / 1e6:,.1f} MB free, at least {need / 1e6:,.1f} MB needed)")
