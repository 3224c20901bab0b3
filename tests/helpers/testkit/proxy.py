"""A small HTTP proxy on 127.0.0.1 for tests: absolute-URI forwarding (``GET http://host/…``,
what clients send to a proxy for plain-HTTP targets) and CONNECT tunnelling (for HTTPS targets),
recording what it saw. Optionally demands Proxy-Authorization (407 otherwise), the way a company
proxy does.

Deliberately simple: one upstream connection per client request, ``Connection: close`` both
ways, the response relayed byte for byte as it arrives (so a streamed reply streams through).
"""

from __future__ import annotations

import base64
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.helpers.testkit.base import Running

HEADER_LIMIT = 65536
UPSTREAM_CONNECT_SECONDS = 5.0
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "upgrade"}


@dataclass(frozen=True)
class ProxySeen:
    method: str
    target: str  # "http://127.0.0.1:5000/v1/models", or "127.0.0.1:5000" for CONNECT
    headers: dict[str, str]  # lower-case names, as the client sent them to the proxy
    status: int  # what the proxy answered: the upstream status, 200 for a tunnel, 407, 502


def _read_head(rfile: Any) -> tuple[str, list[tuple[str, str]]] | None:
    line = rfile.readline(HEADER_LIMIT)
    if not line:
        return None
    headers: list[tuple[str, str]] = []
    while True:
        raw = rfile.readline(HEADER_LIMIT)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return line.decode("latin-1").strip(), headers


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(socketserver.StreamRequestHandler):
    rbufsize = 0  # unbuffered: nothing past the request head is swallowed before a tunnel starts
    proxy: "ForwardingProxy"

    def handle(self) -> None:
        head = _read_head(self.rfile)
        if head is None:
            return
        request_line, headers = head
        method, target, _version = (request_line.split(" ", 2) + ["", ""])[:3]
        lower = {k.lower(): v for k, v in headers}
        if self.proxy.credentials is not None:
            expected = "Basic " + base64.b64encode(self.proxy.credentials.encode()).decode()
            if lower.get("proxy-authorization") != expected:
                self._record(method, target, lower, 407)
                self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic "
                                 b"realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
        if method == "CONNECT":
            self._tunnel(target, lower)
        else:
            self._forward(method, target, headers, lower)

    def _record(self, method: str, target: str, headers: dict[str, str], status: int) -> None:
        with self.proxy.lock:
            self.proxy.seen.append(ProxySeen(method, target, headers, status))

    def _upstream(self, host: str, port: int) -> socket.socket | None:
        try:
            address = self.proxy.hosts.get(host.lower(), host)
            return socket.create_connection((address, port), timeout=UPSTREAM_CONNECT_SECONDS)
        except OSError:
            return None

    def _tunnel(self, target: str, headers: dict[str, str]) -> None:
        host, _, port = target.rpartition(":")
        upstream = self._upstream(host.strip("[]"), int(port or 443))
        if upstream is None or self.proxy.refuse_connect:
            self._record("CONNECT", target, headers, 502)
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        self._record("CONNECT", target, headers, 200)
        upstream.settimeout(None)
        self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        back = threading.Thread(target=_pipe, args=(upstream, self.connection), daemon=True)
        back.start()
        _pipe(self.connection, upstream)
        back.join(5)
        upstream.close()

    def _forward(self, method: str, target: str, headers: list[tuple[str, str]], lower: dict[str, str]) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            self._record(method, target, lower, 400)
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        upstream = self._upstream(parts.hostname, parts.port or 80)
        if upstream is None:
            self._record(method, target, lower, 502)
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        upstream.settimeout(None)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        out = [f"{method} {path} HTTP/1.1"]
        out += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
        out.append("Connection: close")
        upstream.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        length = int(lower.get("content-length", "0") or 0)
        while length > 0:
            data = self.rfile.read(min(length, 65536))
            if not data:
                break
            upstream.sendall(data)
            length -= len(data)
        first = upstream.recv(65536)
        status = int(first.split(b" ", 2)[1]) if first.startswith(b"HTTP/") else 502
        self._record(method, target, lower, status)
        try:
            self.connection.sendall(first)
        except OSError:
            upstream.close()
            return
        _pipe(upstream, self.connection)
        upstream.close()


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@dataclass
class _State:
    seen: list[ProxySeen] = field(default_factory=list)


class ForwardingProxy(Running):
    """``with ForwardingProxy() as proxy: env HTTP_PROXY=proxy.url …; proxy.seen``. dreamflow
    never sends a loopback server's requests to a proxy, so tests name the server by a made-up
    host (``hosts``) that only the proxy resolves."""

    def __init__(self, *, credentials: str | None = None, refuse_connect: bool = False, host: str = "127.0.0.1",
                 hosts: dict[str, str] | None = None):
        self.credentials = credentials  # "user:pass": demanded as Proxy-Authorization Basic
        self.refuse_connect = refuse_connect
        # Names only this proxy can resolve ("story-server.test" -> "127.0.0.1"): a client can
        # reach such a server through the proxy or not at all, which proves the proxy was used.
        self.hosts = {k.lower(): v for k, v in (hosts or {}).items()}
        self.seen: list[ProxySeen] = []
        self.lock = threading.Lock()
        handler = type("BoundProxyHandler", (_Handler,), {"proxy": self})
        self.server = _ProxyServer((host, 0), handler)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def targets(self) -> list[str]:
        with self.lock:
            return [s.target for s in self.seen]
