"""Memory readings: what this process uses and what the system (or its cgroup) has left.

psutil does not see cgroup limits, so on Linux we also read the process's cgroup (v2
``memory.max`` or v1 ``memory.limit_in_bytes``) and use whichever is smaller. On macOS and
Windows there is no cgroup and the psutil reading stands.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNLIMITED = 1 << 60  # v1 reports "no limit" as a huge page-rounded number


@dataclass(frozen=True)
class CgroupMemory:
    limit: int
    usage: int
    path: str

    @property
    def available(self) -> int:
        return max(0, self.limit - self.usage)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value < _UNLIMITED else None


def _cgroup_dirs(base: Path, top: Path) -> list[Path]:
    """``base`` and its ancestors up to ``top``: a parent's limit binds its children too.
    Inside a container the host's path from /proc/self/cgroup is not mounted; the container's
    own cgroup is then the mount point itself."""
    if not base.is_dir():
        base = top
    dirs = [base]
    while dirs[-1] != top and top in dirs[-1].parents:
        dirs.append(dirs[-1].parent)
    return dirs


def _tightest(dirs: list[Path], limit_file: str, usage_file: str) -> CgroupMemory | None:
    found: CgroupMemory | None = None
    for base in dirs:
        limit = _read_int(base / limit_file)
        if limit is None:
            continue
        here = CgroupMemory(limit=limit, usage=_read_int(base / usage_file) or 0, path=str(base))
        if found is None or here.available < found.available:
            found = here
    return found


def cgroup_memory(proc_cgroup: str | None = None, root: Path = CGROUP_ROOT) -> CgroupMemory | None:
    """The memory limit of this process's cgroup, or None when there is none (or not Linux).
    When several cgroups up the tree set limits, the one with the least room left is returned."""
    if proc_cgroup is None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            return None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "" and (root / "unified").is_dir() is False:  # cgroup v2
            found = _tightest(_cgroup_dirs(root / rel, root), "memory.max", "memory.current")
        elif "memory" in controllers.split(","):  # cgroup v1
            top = root / "memory"
            found = _tightest(_cgroup_dirs(top / rel, top), "memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        if found is not None:
            return found
    return None


def usable_bytes(available: int, cgroup: CgroupMemory | None) -> int:
    """What a new model can count on: the system's available memory (MemAvailable on Linux), or
    the cgroup's room when that is smaller."""
    return min(available, cgroup.available) if cgroup else available


def available_bytes() -> int:
    """``usable_bytes`` read now, without the rest of a MemoryReadings (the live display samples it)."""
    return usable_bytes(psutil.virtual_memory().available, cgroup_memory())


@dataclass(frozen=True)
class MemoryReadings:
    """One snapshot of the machine's memory, as doctor and the preflight check see it."""

    total: int
    available: int  # the kernel's own figure (MemAvailable on Linux)
    swap_total: int = 0
    swap_free: int = 0
    cgroup: CgroupMemory | None = None

    @property
    def usable(self) -> int:
        return usable_bytes(self.available, self.cgroup)

    @property
    def usable_total(self) -> int:
        return min(self.total, self.cgroup.limit) if self.cgroup else self.total


def memory_readings() -> MemoryReadings:
    vm = psutil.virtual_memory()
    try:
        swap = psutil.swap_memory()
        swap_total, swap_free = swap.total, swap.free
    except (OSError, RuntimeError):  # some containers and sandboxes hide swap accounting
        swap_total = swap_free = 0
    return MemoryReadings(total=vm.total, available=vm.available, swap_total=swap_total,
                          swap_free=swap_free, cgroup=cgroup_memory())


def peak_rss_bytes() -> int | None:
    """The OS's own high-water mark for this process, which catches spikes between samples."""
    if sys.platform.startswith("win"):
        return getattr(psutil.Process().memory_info(), "peak_wset", None)
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes
