"""A real HTTP server on 127.0.0.1 for the download tests, with scriptable misbehaviour.

Each GET of a file takes the next action from ``plan`` (then "ok" forever):
  "ok"          serve the file (206 for a Range request when ranges are supported)
  "<code>"      answer with that HTTP status and an empty body, e.g. "500", "404"
  "cut:N"       promise the whole file, send N bytes, then drop the connection
  "stall:N"     send N bytes, then go silent until the test ends
  "hold:N"      send N bytes, then wait for ``release`` before sending the rest
Paths: ``/files/NAME`` serves the file; ``/ORG/REPO/resolve/main/NAME`` answers like Hugging
Face: a 302 to ``/cdn/NAME`` carrying X-Linked-Etag (the sha256) and X-Linked-Size.
"""

from __future__ import annotations

import hashlib
import random
import re
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from dreamflow_cli.download.target import DownloadOptions


def gguf_bytes(size: int = 3 * 1024 * 1024 + 123, seed: int = 1) -> bytes:
    """A GGUF-headed file (magic, version 3) of random bytes: the tests never load it."""
    return b"GGUF" + struct.pack("<I", 3) + random.Random(seed).randbytes(size - 8)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileServer:
    def __init__(self, content: bytes, *, ranges: bool = True, etag: str | None = '"v1"',
                 last_modified: str | None = "Tue, 01 Oct 2024 10:00:00 GMT", linked_etag: str | None = None):
        self.content = content
        self.ranges = ranges
        self.etag = etag
        self.last_modified = last_modified
        self.linked_etag = linked_etag  # None: the real sha256 of ``content``
        self.plan: list[str] = []
        self.requests: list[dict[str, str]] = []  # every request: method, path and lower-cased headers
        self.release = threading.Event()
        self.holding = threading.Event()  # set when a "hold" action has sent its first bytes
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str = "model.gguf") -> str:
        return f"{self.base}/files/{name}"

    def file_requests(self) -> list[dict[str, str]]:
        return [r for r in self.requests if r["path"].startswith(("/files/", "/cdn/"))]

    def next_action(self) -> str:
        with self._lock:
            return self.plan.pop(0) if self.plan else "ok"

    def start(self) -> "FileServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait_stopped(self, seconds: float) -> None:
        self._stop.wait(seconds)


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            server.requests.append({"method": "GET", "path": path,
                                    **{k.lower(): v for k, v in self.headers.items()}})
            if path.startswith(("/files/", "/cdn/")):
                self._serve(server.next_action())
            elif match := re.fullmatch(r"/[^/]+/[^/]+/resolve/main/([^/]+)", path):
                self.send_response(302)
                self.send_header("Location", f"/cdn/{match.group(1)}")
                self.send_header("X-Linked-Etag", f'"{server.linked_etag or sha256(server.content)}"')
                self.send_header("X-Linked-Size", str(len(server.content)))
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._status(404)

        def _status(self, code: int) -> None:
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _serve(self, action: str) -> None:
            if action.isdigit():
                self._status(int(action))
                return
            data, start = server.content, 0
            wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if wanted and server.ranges:
                start = int(wanted.group(1))
                if start >= len(data):
                    self._status(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            if server.ranges:
                self.send_header("Accept-Ranges", "bytes")
            for name, value in (("ETag", server.etag), ("Last-Modified", server.last_modified)):
                if value:
                    self.send_header(name, value)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self._body(action, data[start:])

        def _body(self, action: str, body: bytes) -> None:
            kind, _, count = action.partition(":")
            if kind == "ok":
                self.wfile.write(body)
                return
            first = int(count)
            self.wfile.write(body[:first])
            self.wfile.flush()
            if kind == "cut":
                self.connection.shutdown(socket.SHUT_RDWR)
            elif kind == "stall":
                server.wait_stopped(30)
            elif kind == "hold":
                server.holding.set()
                server.release.wait(30)
                try:
                    self.wfile.write(body[first:])
                except OSError:  # the client gave up meanwhile (Ctrl-C tests): nothing to tell
                    pass
            self.close_connection = True

    return Handler


# Shared by the download tests: one served file, a fresh server per test, a models dir per test.
CONTENT = gguf_bytes()


@pytest.fixture
def server():
    srv = FileServer(CONTENT).start()
    yield srv
    srv.close()


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def download_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """For downloads the CLI starts: the waits between attempts are recorded instead of slept,
    and a second download of a file that is being downloaded gives up after 0.2 s, not 2 s."""
    waits: list[float] = []
    real = DownloadOptions.from_env.__func__  # type: ignore[attr-defined]

    def from_env(cls: type[DownloadOptions], env: object = None, **overrides: object) -> DownloadOptions:
        return real(cls, env, **{"sleep": waits.append, "lock_wait": 0.2, **overrides})

    monkeypatch.setattr(DownloadOptions, "from_env", classmethod(from_env))
    return waits
