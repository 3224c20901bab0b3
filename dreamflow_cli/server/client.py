"""HTTP for OpenAI-compatible servers, with the standard library only.

Two requests are all dreamflow needs: ``GET /models`` and a streamed ``POST /chat/completions``.
http.client (not urllib) because it gives the streamed body line by line with one socket
timeout for connect and every read, and lets a caller close a connection from another thread
to stop a story at once. Every failure becomes one of three errors: ``ServerFault`` (try
another endpoint), ``AuthFault`` or ``RequestFault`` (trying again cannot help).

The API key travels only in the Authorization header; no message built here contains it.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Generator, Iterable, Iterator, Mapping

from dreamflow_cli.server.endpoints import Endpoint

USER_AGENT = "dreamflow"
# Where the API key comes from (the first set wins); never from the config file or a flag, so
# it cannot end up in a shared config, a shell history or `config show`.
API_KEY_ENV = ("DREAMFLOW_API_KEY", "OPENAI_API_KEY")
KEY_HINT = "set DREAMFLOW_API_KEY (or OPENAI_API_KEY) to the key the server expects"
# How long the first look at a server (its model list) may take before it counts as down.
PROBE_TIMEOUT = 10.0
# What a dead, slow or half-closed connection raises (timeouts and TLS errors are OSErrors).
NETWORK_ERRORS = (OSError, http.client.HTTPException)
# Bodies we read to explain an error are cut here (an HTML error page can be large).
ERROR_BODY_LIMIT = 2000


# The replies whose Retry-After header says when the server will take requests again.
RETRY_AFTER_STATUSES = (429, 503)


class ClientFault(Exception):
    """Base for what can go wrong talking to a server; ``message`` is safe to show."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class ServerFault(ClientFault):
    """Refused, timed out, 5xx, 429, a cut stream or malformed data: another endpoint (or the
    same one later) may well succeed. ``retry_after``: the seconds a 429 or 503 asked us to wait
    (its Retry-After header), None when it did not say."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class AuthFault(ClientFault):
    """401/403: the key is missing or wrong."""


class RequestFault(ClientFault):
    """The server understood and refused the request itself (400, 404, 422…)."""


class Cancelled(ClientFault):
    """The connection was closed from outside (the backend is closing)."""


@dataclass(frozen=True)
class Chunk:
    """One streamed event, reduced to what a story needs."""

    content: str = ""
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None
    model: str | None = None


def api_key_from_env(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    for name in API_KEY_ENV:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def serves(models: list[str], name: str) -> bool:
    """Whether a server listing ``models`` answers to ``name``. Ollama lists "llama3.2:latest"
    and answers to "llama3.2" as well."""
    return name in models or f"{name}:latest" in models


def auth_headers(endpoint: Endpoint, api_key: str | None) -> dict[str, str]:
    if api_key:
        return {"Authorization": f"Bearer {api_key}"}
    if endpoint.userinfo:
        token = base64.b64encode(endpoint.userinfo.encode("utf-8")).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    return {}


def iter_sse_data(lines: Iterable[bytes]) -> Iterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined by newlines); comments
    and other fields are skipped. Ends at ``[DONE]`` or when the lines run out."""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                payload = "\n".join(data)
                data = []
                if payload.strip() == "[DONE]":
                    return
                yield payload
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a last event without its blank line
        payload = "\n".join(data)
        if payload.strip() != "[DONE]":
            yield payload


def parse_chunk(payload: str) -> Chunk:
    """One ``chat.completion.chunk`` (or a whole non-streamed ``chat.completion``) → Chunk.
    Anything else is a ServerFault: a server that sends it is not working right."""
    try:
        obj = json.loads(payload)
    except ValueError:
        raise ServerFault(f"malformed JSON in the reply ({payload[:60]!r}…)") from None
    if not isinstance(obj, dict):
        raise ServerFault("the reply is not a JSON object")
    if "error" in obj and not obj.get("choices"):
        raise ServerFault(f"the server reported an error mid-reply: {error_text(obj)}")
    choices = obj.get("choices")
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else None
    model = obj.get("model") if isinstance(obj.get("model"), str) else None
    if not choices:
        if usage is not None or choices == []:  # the usage-only chunk of stream_options.include_usage
            return Chunk(usage=usage, model=model)
        raise ServerFault("the reply has no choices")
    first = choices[0]
    if not isinstance(first, dict):
        raise ServerFault("the reply's choice is not an object")
    part = first.get("delta") if isinstance(first.get("delta"), dict) else first.get("message")
    content = part.get("content") if isinstance(part, dict) else None
    if content is not None and not isinstance(content, str):
        raise ServerFault("the reply's content is not text")
    finish = first.get("finish_reason")
    return Chunk(content=content or "", finish_reason=finish if isinstance(finish, str) else None,
                 usage=usage, model=model)


def error_text(obj: Any) -> str:
    """The human part of an OpenAI-style error body."""
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:300]
        if isinstance(err, str):
            return err[:300]
        if "detail" in obj:
            return str(obj["detail"])[:300]
    return str(obj)[:300]


def _body_message(body: bytes) -> str:
    text = body[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace")
    try:
        return error_text(json.loads(text))
    except ValueError:
        return " ".join(text.split())[:200] or "no details"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds ("120") or an HTTP-date ("Fri, 27 Nov 2026
    18:00:00 GMT", against ``now``, epoch seconds); a date already past is 0. None when absent or
    unreadable: the header is advice, and a malformed one is no reason to fail."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(min(int(text), 10**9))  # far past any cap; and no float overflow
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_fault(status: int, body: bytes, what: str, retry_after: str | None = None) -> ClientFault:
    message = f"{what} answered HTTP {status}: {_body_message(body)}"
    if status in (401, 403):
        return AuthFault(message, status=status)
    if status == 429 or status >= 500 or status == 408:
        wait = parse_retry_after(retry_after) if status in RETRY_AFTER_STATUSES else None
        return ServerFault(message, status=status, retry_after=wait)
    return RequestFault(message, status=status)


class Connections:
    """The sockets open right now, so ``close_all`` can stop them from another thread. (The
    socket itself, not the HTTPConnection: once a response that closes the connection arrives,
    http.client hands the socket to the response and forgets it.)"""

    def __init__(self) -> None:
        self._open: dict[int, socket.socket] = {}
        self._lock = threading.Lock()
        self.closed = False

    def add(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if self.closed:
                raise Cancelled("the backend is closed")
            if conn.sock is not None:
                self._open[id(conn)] = conn.sock

    def discard(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._open.pop(id(conn), None)

    def close_all(self) -> None:
        with self._lock:
            self.closed = True
            socks = list(self._open.values())
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it
            except OSError:
                pass


class Client:
    """Requests to OpenAI-compatible servers. Thread-safe: a connection per request."""

    def __init__(self, *, api_key: str | None, timeout: float, connections: Connections | None = None):
        self._api_key = api_key
        self.timeout = timeout
        self.connections = connections or Connections()

    def __repr__(self) -> str:  # never show the key, even in a debug traceback
        return f"Client(timeout={self.timeout})"

    def _connect(self, endpoint: Endpoint, timeout: float) -> http.client.HTTPConnection:
        if endpoint.scheme == "https":
            return http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)

    def _send(self, endpoint: Endpoint, method: str, route: str, body: bytes | None,
              timeout: float) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        what = f"{endpoint.url}{route}"
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/event-stream",
                   **auth_headers(endpoint, self._api_key)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn = self._connect(endpoint, timeout)
        try:
            conn.connect()
            self.connections.add(conn)
            conn.request(method, endpoint.path + route, body=body, headers=headers)
            return conn, conn.getresponse()
        except NETWORK_ERRORS as exc:
            self._finish(conn)
            raise self._fault(exc, what) from None
        except BaseException:
            self._finish(conn)
            raise

    def _fault(self, exc: Exception, what: str) -> ClientFault:
        if self.connections.closed:
            return Cancelled("the backend is closed")
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return ServerFault(f"{what} did not answer within {self.timeout:g} s")
        if isinstance(exc, ConnectionRefusedError):
            return ServerFault(f"{what} refused the connection (is the server running?)")
        if isinstance(exc, ssl.SSLError):
            return ServerFault(f"{what}: TLS failed ({exc.reason or exc})")
        return ServerFault(f"{what}: connection failed ({type(exc).__name__}: {exc})")

    def _finish(self, conn: http.client.HTTPConnection) -> None:
        self.connections.discard(conn)
        conn.close()

    def list_models(self, endpoint: Endpoint, *, timeout: float | None = None) -> list[str]:
        """The model ids ``GET /models`` lists."""
        what = f"{endpoint.url}/models"
        conn, resp = self._send(endpoint, "GET", "/models", None, timeout or self.timeout)
        try:
            body = resp.read()
        except NETWORK_ERRORS as exc:
            raise self._fault(exc, what) from None
        finally:
            self._finish(conn)
        if resp.status != 200:
            raise status_fault(resp.status, body, what, resp.getheader("Retry-After"))
        try:
            data = json.loads(body)
            return [str(m["id"]) for m in data["data"] if isinstance(m, dict) and "id" in m]
        except (ValueError, KeyError, TypeError):
            raise ServerFault(f"{what} did not return a model list") from None

    def stream_chat(self, endpoint: Endpoint, payload: Mapping[str, Any]) -> Generator[Chunk, None, None]:
        """POST the chat request and yield its chunks as they arrive. The stream must end with a
        finish reason (or ``[DONE]`` after content); otherwise it was cut: ServerFault."""
        what = f"{endpoint.url}/chat/completions"
        body = json.dumps(payload).encode("utf-8")
        conn, resp = self._send(endpoint, "POST", "/chat/completions", body, self.timeout)
        try:
            if resp.status != 200:
                raise status_fault(resp.status, self._read(resp, what), what, resp.getheader("Retry-After"))
            kind = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if kind == "text/event-stream":
                yield from self._events(resp, what)
            elif kind == "application/json" or kind.endswith("+json"):
                # A server that ignores "stream" answers with one whole completion: use it.
                chunk = parse_chunk(self._read(resp, what).decode("utf-8", errors="replace"))
                if chunk.finish_reason is None:
                    raise ServerFault(f"{what} sent a reply without a finish reason")
                yield chunk
            else:
                raise ServerFault(f"{what} answered with {kind or 'no content type'}, "
                                  "not a stream of chat events (is this an OpenAI-compatible server?)")
        finally:
            self._finish(conn)

    def _read(self, resp: http.client.HTTPResponse, what: str) -> bytes:
        try:
            return resp.read()
        except NETWORK_ERRORS as exc:
            raise self._fault(exc, what) from None

    def _lines(self, resp: http.client.HTTPResponse, what: str) -> Iterator[bytes]:
        while True:
            try:
                line = resp.readline(1 << 20)
            except NETWORK_ERRORS as exc:
                raise self._fault(exc, what) from None
            if not line:
                return
            yield line

    def _events(self, resp: http.client.HTTPResponse, what: str) -> Iterator[Chunk]:
        finished = False
        for payload in iter_sse_data(self._lines(resp, what)):
            chunk = parse_chunk(payload)
            finished = finished or chunk.finish_reason is not None
            yield chunk
        if not finished:
            if self.connections.closed:
                raise Cancelled("the backend is closed")
            raise ServerFault(f"{what} cut the stream before the story was finished")
