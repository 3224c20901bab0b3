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


def cgroup_memory(proc_cgroup: str | None = None, root: Path = CGROUP_ROOT) -> CgroupMemory | None:
    """The memory limit of this process's cgroup, or None when there is none (or not Linux)."""
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
            base = root / rel
            limit, usage = _read_int(base / "memory.max"), _read_int(base / "memory.current")
        elif "memory" in controllers.split(","):  # cgroup v1
            base = root / "memory" / rel
            limit, usage = _read_int(base / "memory.limit_in_bytes"), _read_int(base / "memory.usage_in_bytes")
        else:
            continue
        if limit is not None:
            return CgroupMemory(limit=limit, usage=usage or 0, path=str(base))
    return None


def available_bytes() -> int:
    """Memory this process can still use: MemAvailable, or the cgroup's room when smaller."""
    available = psutil.virtual_memory().available
    cgroup = cgroup_memory()
    return min(available, cgroup.available) if cgroup else available


def rss_bytes(process: psutil.Process | None = None) -> int:
    return (process or psutil.Process()).memory_info().rss


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
