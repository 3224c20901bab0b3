"""A threaded stdlib server on loopback, optionally TLS, stopped by its context manager."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from http.server import ThreadingHTTPServer
from typing import Any

HANDSHAKE_SECONDS = 5.0


class QuietServer(ThreadingHTTPServer):
    """Handler errors are expected (clients hang up on purpose, TLS handshakes are refused on
    purpose), so they are not printed. With ``tls``, the TLS handshake runs in the request's own
    thread (``do_handshake_on_connect=False``), so a client that never finishes it cannot stall
    the accept loop."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: Any, tls: ssl.SSLContext | None = None):
        super().__init__(address, handler)
        self.tls = tls
        self.open_sockets: set[Any] = set()  # for kill(): what a crash would cut off
        self.sockets_lock = threading.Lock()
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(HANDSHAKE_SECONDS)
            try:
                request.do_handshake()
            except (OSError, ssl.SSLError):
                return  # e.g. the client did not trust our certificate: what a test wants to see
            request.settimeout(None)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class Running:
    """Start/stop for a ``socketserver`` in a daemon thread."""

    server: socketserver.BaseServer

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        address = self.server.server_address
        assert isinstance(address, tuple)
        return str(address[0])

    @property
    def port(self) -> int:
        address = self.server.server_address
        assert isinstance(address, tuple)
        return int(address[1])

    def start(self) -> "Running":
        self._start_thread()
        return self

    def stop(self) -> None:
        if self._stopped():
            return
        self._down = True
        self.server.shutdown()
        self.server.server_close()

    def kill(self) -> None:
        """Like a crashed server: stop listening and cut every open connection mid-reply."""
        self.stop()
        server = self.server
        if isinstance(server, QuietServer):
            with server.sockets_lock:
                open_now = list(server.open_sockets)
            for sock in open_now:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _stopped(self) -> bool:
        return getattr(self, "_down", False)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if not self._stopped():
            self.stop()


def can_bind(host: str) -> bool:
    """Whether this machine answers on ``host`` (127.0.0.2 is loopback on Linux, not on macOS)."""
    try:
        with socket.socket() as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False
