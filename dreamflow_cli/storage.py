"""Writing files so that nothing is ever half-written or overwritten.

Single files: temp file in the same directory, fsync, rename. A story folder: every file is
written into a hidden staging folder, which gets its final name in one rename at the end; an
interrupted story leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dreamflow_cli.errors import UsageError

STAGING_PREFIX = ".dreamflow-tmp-"


def atomic_write(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically. With ``overwrite=False`` an existing file is never
    replaced (FileExistsError), even if it appears while we write."""
    path = Path(path)
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


def ensure_writable_dir(path: Path, what: str, option: str = "--out") -> Path:
    """Create ``path`` if needed; refuse, naming ``option`` as the way out, if it cannot hold files."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{what} {path} exists and is not a directory",
                         f"choose another folder with {option}") from None
    except OSError as exc:
        raise UsageError(f"cannot create {what} {path}: {exc.strerror}",
                         f"choose a folder you can write to with {option}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path} is not writable", f"choose a folder you can write to with {option}")
    return path


class StoryFolder:
    """A staging folder that becomes ``<out_dir>/<name>`` (or ``<name>-2``, …) on ``commit``."""

    def __init__(self, out_dir: Path):
        self.out_dir = ensure_writable_dir(out_dir, "output folder").absolute()
        self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out_dir))
        self.final: Path | None = None

    def write(self, name: str, data: bytes) -> Path:
        target = self.staging / name
        target.write_bytes(data)  # the folder is private until commit, so plain writes suffice
        return target

    def commit(self, name: str) -> Path:
        for attempt in range(1, 1000):
            candidate = self.out_dir / (name if attempt == 1 else f"{name}-{attempt}")
            try:
                # Reserving the name with mkdir is atomic, so two runs in the same second never
                # pick the same folder; the rename then replaces our own empty placeholder.
                candidate.mkdir()
            except FileExistsError:
                continue
            try:
                os.replace(self.staging, candidate)
            except OSError:  # Windows will not rename onto an existing directory
                candidate.rmdir()
                os.rename(self.staging, candidate)
            self.final = candidate
            return candidate
        raise UsageError(f"too many stories named {name} in {self.out_dir}", "use another --out folder")

    def discard(self) -> None:
        if self.final is None:
            shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> "StoryFolder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
