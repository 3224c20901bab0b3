"""A story folder that is never half-written: every file of a story (text, pictures, narration,
video, book) goes into a hidden staging folder, which gets its final name in one rename at the
end; an interrupted story leaves nothing behind.

Staging folders are named ``.dreamflow-tmp-<pid>-<random>``: one left behind by a killed process
(SIGKILL, power loss) is removed by a later run once it is old and its process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from dreamflow_cli import signals
from dreamflow_cli.errors import UsageError
from dreamflow_cli.files import disk_errors, ensure_writable_dir

STAGING_PREFIX = ".dreamflow-tmp-"
_STAGING_PID = re.compile(re.escape(STAGING_PREFIX) + r"(\d+)-")
# A staging folder lives for one story; one older than this whose process is gone is litter.
STALE_SECONDS = 6 * 3600


class StoryFolder:
    """A staging folder that becomes ``<out_dir>/<name>`` (or ``<name>-2``, …) on ``commit``."""

    def __init__(self, out_dir: Path):
        self.out_dir = ensure_writable_dir(out_dir, "output folder").absolute()
        remove_stale_staging(self.out_dir)
        with disk_errors(self.out_dir):
            self.staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=self.out_dir))
        # A second Ctrl-C exits at once, past every finally: it must still take this folder away.
        self._cleanup = signals.add_cleanup(lambda: shutil.rmtree(self.staging, ignore_errors=True))
        self.final: Path | None = None

    def write(self, name: str, data: bytes) -> Path:
        target = self.staging / name
        with disk_errors(self.out_dir):
            target.write_bytes(data)  # the folder is private until commit, so plain writes suffice
        return target

    def commit(self, name: str) -> Path:
        with disk_errors(self.out_dir):
            final = self._commit(name)
        signals.remove_cleanup(self._cleanup)
        return final

    def _commit(self, name: str) -> Path:
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
        signals.remove_cleanup(self._cleanup)

    def __enter__(self) -> "StoryFolder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def staging_owner(name: str) -> int | None:
    """The process id recorded in a staging folder's name (None for an older, pid-less name)."""
    match = _STAGING_PID.match(name)
    return int(match.group(1)) if match else None


def is_stale(name: str, age_seconds: float, alive: Callable[[int], bool]) -> bool:
    """A staging folder is litter when it is older than any story takes to write and no live
    process owns it. Both, because a pid may be reused and a folder may be shared with another
    machine whose processes we cannot see."""
    if not name.startswith(STAGING_PREFIX) or age_seconds < STALE_SECONDS:
        return False
    owner = staging_owner(name)
    return owner is None or not alive(owner)


def _pid_alive(pid: int) -> bool:
    import psutil

    return pid == os.getpid() or psutil.pid_exists(pid)


_swept: set[Path] = set()


def remove_stale_staging(out_dir: Path, *, now: float | None = None,
                         alive: Callable[[int], bool] = _pid_alive) -> list[Path]:
    """Remove staging folders left by killed runs (once per folder per process). Returns them."""
    if now is None and out_dir in _swept:
        return []
    _swept.add(out_dir)
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(out_dir) if e.name.startswith(STAGING_PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) and is_stale(entry.name, now - entry.stat().st_mtime, alive):
                shutil.rmtree(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # someone else's, or already gone: not ours to fight over
    return removed
