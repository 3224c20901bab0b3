"""HTTP for OpenAI-compatible servers, with the standard library only.

Two requests are all dreamflow needs: ``GET /models`` and a streamed ``POST /chat/completions``.
http.client (not urllib) because it lets dreamflow read the streamed body with its own bounds
(bounded.py: line size, silence, a whole-request deadline), decide redirects itself (urllib
re-sends the key to whatever host a redirect names), and close a connection from another thread
to stop a story at once. Proxies from the environment, a CA bundle and redirects: netconf.py.
Every failure becomes one of: ``ServerFault`` (try another endpoint; its ``outcome`` tells the
capacity bookkeeping whether the server turned the request away, cut it or dropped it),
``AuthFault``, ``RequestFault`` or ``RedirectFault`` (trying again cannot help).

The API key travels only in the Authorization header, and only to the host of the base URL; no
message built here contains it.
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
from urllib.parse import urlsplit

from dreamflow_cli.server.bounded import BODY_BYTES, Bounds, Overtime, ReplyError, read_body, sse_lines
from dreamflow_cli.server.capacity import Outcome
from dreamflow_cli.server.endpoints import Endpoint
from dreamflow_cli.server.netconf import (
    MAX_REDIRECTS,
    PROXY_HINT,
    TLS_HINT,
    NetConfigError,
    Proxy,
    connection,
    proxy_for,
    redirect_verdict,
    tls_context,
)

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
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


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

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 outcome: Outcome = Outcome.FAULT):
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.outcome = outcome  # BUSY (429/503), CUT, DROPPED, or FAULT: anything else


class AuthFault(ClientFault):
    """401/403: the key is missing or wrong."""


class RequestFault(ClientFault):
    """The server understood and refused the request itself (400, 404, 422…)."""


class SetupFault(ClientFault):
    """The base URL or the network settings need fixing (an unusable proxy variable); trying
    again cannot help. ``hint`` says what to fix."""

    def __init__(self, message: str, *, status: int | None = None, hint: str = ""):
        super().__init__(message, status=status)
        self.hint = hint


class RedirectFault(SetupFault):
    """A redirect dreamflow will not follow: another host, https to http, a POST that would be
    turned into a GET, too many hops."""


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


DONE = "[DONE]"


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined by newlines); comments
    and other fields are skipped. ``[DONE]`` is yielded as the last payload (a caller needs to
    know whether it came); the lines running out end it too."""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                payload = "\n".join(data)
                data = []
                yield payload
                if payload.strip() == DONE:
                    return
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a last event without its blank line
        yield "\n".join(data)


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
    if status in RETRY_AFTER_STATUSES:
        return ServerFault(message, status=status, retry_after=parse_retry_after(retry_after), outcome=Outcome.BUSY)
    if status >= 500 or status == 408:
        return ServerFault(message, status=status)
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


@dataclass
class Reply:
    """An answered request: its connection, the response, and the socket it reads from (kept
    apart: once a response says it closes the connection, http.client forgets the socket)."""

    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    sock: socket.socket | None
    proxy: Proxy | None = None  # the proxy it went through (plain HTTP: the proxy may answer itself)

    def set_timeout(self, seconds: float) -> None:
        if self.sock is not None:
            self.sock.settimeout(seconds)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str  # with any query

    @classmethod
    def of(cls, url: str) -> "_Target":
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname or "", port, path)


class Client:
    """Requests to OpenAI-compatible servers. Thread-safe: a connection per request.

    ``env``: where proxy variables are read (os.environ by default); ``ca_bundle``: the only
    certificates an https server is checked against (None: the system's, or SSL_CERT_FILE)."""

    def __init__(self, *, api_key: str | None, timeout: float, connections: Connections | None = None,
                 ca_bundle: str | None = None, env: Mapping[str, str] | None = None):
        self._api_key = api_key
        self.timeout = timeout
        self.connections = connections or Connections()
        self._env = os.environ if env is None else env
        self._ca_bundle = ca_bundle
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()
        if ca_bundle:
            self._tls_context()  # an unreadable bundle is an error now, not at the first story

    def __repr__(self) -> str:  # never show the key, even in a debug traceback
        return f"Client(timeout={self.timeout})"

    def _tls_context(self) -> ssl.SSLContext:
        """Made once, on first use: loading the trust store takes a moment."""
        with self._tls_lock:
            if self._tls is None:
                self._tls = tls_context(self._ca_bundle)
            return self._tls

    def _send(self, endpoint: Endpoint, method: str, route: str, body: bytes | None, timeout: float) -> Reply:
        """The request, following redirects that stay on the server's host (netconf)."""
        what = f"{endpoint.url}{route}"
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/event-stream",
                   **auth_headers(endpoint, self._api_key)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = what
        for _hop in range(MAX_REDIRECTS + 1):
            reply = self._send_once(_Target.of(url), method, body, headers, timeout, what)
            if reply.resp.status not in REDIRECT_STATUSES:
                return reply
            verdict = redirect_verdict(url, reply.resp.getheader("Location"), reply.resp.status, method)
            self._finish(reply.conn)
            if not verdict.follow:
                raise RedirectFault(f"{what} {verdict.reason}", status=reply.resp.status, hint=verdict.hint)
            url = verdict.target
        raise RedirectFault(f"{what} redirected more than {MAX_REDIRECTS} times", hint="check --base-url")

    def _send_once(self, target: _Target, method: str, body: bytes | None, headers: dict[str, str],
                   timeout: float, what: str) -> Reply:
        try:
            proxy = proxy_for(target.scheme, target.host, target.port, self._env)
        except NetConfigError as exc:
            raise SetupFault(f"{what}: {exc}", hint=PROXY_HINT) from None
        tls = self._tls_context() if target.scheme == "https" else None
        conn, prefix, extra = connection(target.scheme, target.host, target.port, proxy=proxy, tls=tls,
                                         timeout=timeout)
        try:
            conn.connect()
            self.connections.add(conn)
            sock = conn.sock
            conn.request(method, prefix + target.path, body=body, headers={**headers, **extra})
            return Reply(conn, conn.getresponse(), sock, proxy)
        except NETWORK_ERRORS as exc:
            self._finish(conn)
            raise self._fault(exc, what, proxy) from None
        except BaseException:
            self._finish(conn)
            raise

    def _fault(self, exc: BaseException, what: str, proxy: Proxy | None = None, *, mid_reply: bool = False
               ) -> ClientFault:
        """One line for a network error. ``mid_reply``: after a 200 began, so a broken
        connection is a dropped story (a capacity signal when several were in flight)."""
        if self.connections.closed:
            return Cancelled("the backend is closed")
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return ServerFault(f"{what} did not answer within {self.timeout:g} s")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ServerFault(f"{what}: the TLS certificate check failed ({exc.verify_message or exc.reason or exc}); "
                               f"{TLS_HINT}")
        if isinstance(exc, ssl.SSLError):
            return ServerFault(f"{what}: TLS failed ({exc.reason or exc})")
        if proxy is not None and not mid_reply and "Tunnel connection failed: 407" in str(exc):
            return SetupFault(f"{what}: the proxy {proxy.url} wants credentials (HTTP 407)", status=407,
                              hint=f"give them in the proxy URL (http://user:password@host:port), or {PROXY_HINT}")
        if proxy is not None and not mid_reply:
            return ServerFault(f"{what}: connection through the proxy {proxy.url} failed "
                               f"({type(exc).__name__}: {exc}); {PROXY_HINT}")
        if isinstance(exc, ConnectionRefusedError):
            return ServerFault(f"{what} refused the connection (is the server running?)")
        if mid_reply:
            return ServerFault(f"{what}: the connection broke mid-story ({type(exc).__name__})",
                               outcome=Outcome.DROPPED)
        return ServerFault(f"{what}: connection failed ({type(exc).__name__}: {exc})")

    def _finish(self, conn: http.client.HTTPConnection) -> None:
        self.connections.discard(conn)
        conn.close()

    def _body(self, reply: Reply, what: str, *, limit: int = BODY_BYTES, truncate: bool = False) -> bytes:
        try:
            return read_body(reply.resp.read1, limit=limit, seconds=self.timeout, set_timeout=reply.set_timeout,
                             truncate=truncate)
        except ReplyError as exc:
            raise ServerFault(f"{what} {exc.message}") from None
        except NETWORK_ERRORS as exc:
            raise self._fault(exc, what) from None

    def _refusal(self, reply: Reply, what: str) -> ClientFault:
        """The fault for a reply that is not 200, explained by the start of its body."""
        if reply.resp.status == 407 and reply.proxy is not None:
            return SetupFault(f"{what}: the proxy {reply.proxy.url} wants credentials (HTTP 407)",
                              status=407, hint=f"give them in the proxy URL (http://user:password@host:port), or "
                                               f"{PROXY_HINT}")
        try:
            body = self._body(reply, what, limit=ERROR_BODY_LIMIT, truncate=True)
        except ClientFault:
            body = b""
        return status_fault(reply.resp.status, body, what, reply.resp.getheader("Retry-After"))

    def list_models(self, endpoint: Endpoint, *, timeout: float | None = None) -> list[str]:
        """The model ids ``GET /models`` lists."""
        what = f"{endpoint.url}/models"
        reply = self._send(endpoint, "GET", "/models", None, timeout or self.timeout)
        try:
            if reply.resp.status != 200:
                raise self._refusal(reply, what)
            body = self._body(reply, what)
        finally:
            self._finish(reply.conn)
        try:
            data = json.loads(body)
            return [str(m["id"]) for m in data["data"] if isinstance(m, dict) and "id" in m]
        except (ValueError, KeyError, TypeError):
            raise ServerFault(f"{what} did not return a model list") from None

    def stream_chat(self, endpoint: Endpoint, payload: Mapping[str, Any], *, deadline: float | None = None
                    ) -> Generator[Chunk, None, None]:
        """POST the chat request and yield its chunks as they arrive. The stream must end with a
        finish reason; otherwise it was cut (ServerFault, outcome CUT for a clean ``[DONE]``,
        DROPPED for a body that ended or broke). ``deadline``: seconds the reply may take from
        its first token on (None: only the silence clock, ``timeout`` per line)."""
        what = f"{endpoint.url}/chat/completions"
        body = json.dumps(payload).encode("utf-8")
        reply = self._send(endpoint, "POST", "/chat/completions", body, self.timeout)
        try:
            if reply.resp.status != 200:
                raise self._refusal(reply, what)
            kind = (reply.resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if kind == "text/event-stream":
                yield from self._events(reply, what, deadline)
            elif kind == "application/json" or kind.endswith("+json"):
                # A server that ignores "stream" answers with one whole completion: use it.
                yield self._whole(reply, what)
            else:
                raise ServerFault(f"{what} answered with {kind or 'no content type'}, "
                                  "not a stream of chat events (is this an OpenAI-compatible server?)")
        finally:
            self._finish(reply.conn)

    def _whole(self, reply: Reply, what: str) -> Chunk:
        raw = self._body(reply, what)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ServerFault(f"{what} sent bytes that are not UTF-8 text") from None
        chunk = parse_chunk(text)
        if chunk.finish_reason is None:
            raise ServerFault(f"{what} sent a reply without a finish reason")
        return chunk

    def _lines(self, reply: Reply, bounds: Bounds, what: str) -> Iterator[str]:
        try:
            yield from sse_lines(reply.resp.read1, bounds, set_timeout=reply.set_timeout)
        except Overtime as exc:
            if self.connections.closed:
                raise Cancelled("the backend is closed") from None
            if exc.whole:
                raise ServerFault(f"{what} did not finish the story in time: a reply may take "
                                  f"{self.timeout:g} s or 1 s a token, whichever is longer "
                                  "(raise server_timeout for a slower server)") from None
            raise ServerFault(f"{what} sent no complete line for {self.timeout:g} s (server_timeout)") from None
        except ReplyError as exc:
            raise ServerFault(f"{what} {exc.message}") from None
        except NETWORK_ERRORS as exc:
            raise self._fault(exc, what, mid_reply=True) from None

    def _events(self, reply: Reply, what: str, deadline: float | None) -> Iterator[Chunk]:
        bounds = Bounds(line_seconds=self.timeout)
        finished = done = False
        for payload in iter_sse_data(self._lines(reply, bounds, what)):
            if payload.strip() == DONE:
                done = True
                break
            chunk = parse_chunk(payload)
            if chunk.content and deadline is not None and bounds.deadline is None:
                bounds.deadline = time.monotonic() + deadline  # the clock starts at the first token
            finished = finished or chunk.finish_reason is not None
            yield chunk
        if finished:
            return
        if self.connections.closed:
            raise Cancelled("the backend is closed")
        if done:
            # llama-cpp-python's interrupt: a clean end, [DONE], no finish reason.
            raise ServerFault(f"{what} cut the stream before the story was finished ([DONE] without a finish "
                              "reason: it may write one story at a time)", outcome=Outcome.CUT)
        raise ServerFault(f"{what} cut the stream before the story was finished", outcome=Outcome.DROPPED)
