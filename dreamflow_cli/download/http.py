"""One file over HTTP(S): resumed from ``.part`` while the remote file is unchanged, retried with
backoff, the GGUF magic checked on the first bytes, a Hugging Face token only for the hub itself."""

from __future__ import annotations

import datetime
import errno
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from dreamflow_cli import __version__
from dreamflow_cli.download.target import (
    CHUNK, HEX64, RETRY_HINT, DownloadOptions, Reporter, Target, check_free_space, discard_partial, part_path,
    sidecar_path, unlink_quietly,
)
from dreamflow_cli.download.verify import verify_and_install
from dreamflow_cli.errors import DownloadError, DreamflowError, NoSpaceError
from dreamflow_cli.model.file import GGUF_MAGIC, magic_problem
from dreamflow_cli.files import atomic_write

MAX_BACKOFF = 30.0


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
            if value and HEX64.fullmatch(value):
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


class HttpDownload:
    """One file over HTTP: resume from ``.part`` when the remote is unchanged, retry with backoff."""

    def __init__(self, target: Target, final: Path, options: DownloadOptions, report: Reporter):
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
        sha_from = verify_and_install(self.part, self.final, self.target, size=self.offset,
                                      digest=self.hasher.hexdigest(),
                                      advertised_sha=self.remote.advertised_sha256() if self.remote else None,
                                      on_bad=lambda: discard_partial(self.final))
        unlink_quietly(self.sidecar)
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
            discard_partial(self.final)
            return
        remote, offset = saved, self.part.stat().st_size
        if remote.size is not None and offset > remote.size:
            self.report.notice(f"{self.part.name} is larger than the file it belongs to; starting again")
            discard_partial(self.final)
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
            raise self._unreachable(exc.reason) or _Transient(_describe(exc)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._unreachable(exc) or _Transient(_describe(exc)) from None

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

    def _unreachable(self, exc: object) -> DownloadError | None:
        """Nothing listening at the address, or a host name that does not resolve: said at once.
        Retrying with backoff (1 + 2 + 4 + 8 s) only made the user wait 15 s for the same answer."""
        parts = urllib.parse.urlsplit(self.target.url or "")
        kept = f"; {self._kept()}" if self.offset else ""
        proxy = urllib.request.getproxies().get(parts.scheme)
        if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
            proxy = None
        if isinstance(exc, ConnectionRefusedError):
            where = f"the proxy {proxy}" if proxy else \
                f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
            return DownloadError(f"nothing is listening at {where} (connection refused){kept}",
                                 "check the address (--url, HF_ENDPOINT, HTTPS_PROXY) and that the server is "
                                 "running, then run the command again")
        if isinstance(exc, socket.gaierror):
            host = f"the proxy {proxy}" if proxy else f"the server {parts.hostname}"
            return DownloadError(f"cannot find {host} (the name lookup failed: {exc.strerror or exc}){kept}",
                                 "check your connection and the address (--url, HF_ENDPOINT), then run the "
                                 "command again")
        return None

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
        discard_partial(self.final)
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
        unlink_quietly(self.part)
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
            raise self._write_error(exc) from None
        self.hasher.update(chunk)
        self.offset += len(chunk)
        if start < len(GGUF_MAGIC) <= self.offset:
            self._check_magic(fh)

    def _check_magic(self, fh: BinaryIO) -> None:
        # Checked as soon as the first bytes arrive, so an HTML error page is not downloaded in full.
        fh.flush()
        problem = magic_problem(self.part, final_name=self.target.filename)
        if problem is not None:
            fh.close()
            discard_partial(self.final)
            raise DownloadError(
                f"{self.target.url} {problem.reason}; nothing was kept",
                "check that the URL points at the .gguf file itself (on Hugging Face: /resolve/, not /blob/)")

    def _sync(self, fh: BinaryIO) -> None:
        try:
            fh.flush()
            os.fsync(fh.fileno())
        except OSError as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: OSError) -> DreamflowError:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):  # exit 8, as for a story
            return NoSpaceError(f"no space left in {self.part.parent} while downloading {self.target.filename}; "
                                f"{self._kept()}", f"free some space, then {RETRY_HINT}")
        return DownloadError(f"cannot write {self.part}: {exc.strerror}",
                             f"fix the folder's permissions, then {RETRY_HINT}")
