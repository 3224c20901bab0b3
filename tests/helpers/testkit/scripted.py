"""A scripted OpenAI-compatible server for what real servers do under load and what broken or
hostile ones send. Stdlib ``http.server`` in threads, loopback only, HTTP/1.1 with chunked
streams (as uvicorn and llama-server send them), optionally TLS.

Capacity (``slots``, ``when_busy``), modelled on the servers users have:

* ``slots=1, when_busy="interrupt"``: llama-cpp-python's server with its defaults: a request that
  arrives while one is generating makes the running stream stop at its next token, with
  ``data: [DONE]`` and no finish_reason (measured: docs/model-servers.md), then waits for the model.
* ``slots=1, when_busy="queue"``: llama-cpp-python with ``--interrupt_requests False``, LM Studio:
  the second request gets its 200 and headers at once, then nothing (or ``: ping`` comments, see
  ``ping_interval``) until the first is done.
* ``slots=N, when_busy="queue"``: llama-server ``--parallel N``.  ``slots=None``: vLLM-like.
* ``when_busy="reject"``: a gateway that answers 429/503 with Retry-After when full.

Replies (``reply``; ``fail_times`` limits it to the first N chat requests, later ones get "ok"):
ok, close-cut (connection dropped mid-story), done-cut ([DONE] mid-story, no finish reason),
endless, drip (one byte every ``drip_interval`` s), huge (a body of ``huge_bytes`` with
``huge_status`` / ``huge_type``), binary (random bytes as an event stream), bad-utf8 (invalid
UTF-8 inside an event), long-line (one event line of ``line_bytes``), redirect (``redirect_status``
to ``redirect_to`` + the same path), 429 / 503 / 500 (with ``retry_after``), hang.
Every request is recorded as a ``Seen`` (with its Authorization header), in arrival order.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers.testkit.base import QuietServer, Running, can_bind

STORY_WORDS = ("Mia walked through the quiet garden with her soft toy rabbit. The moon was round and "
               "bright, and the flowers closed their petals for the night. She waved goodnight to the owl "
               "in the old oak tree. Then she climbed into her warm bed, pulled up her blanket, and fell "
               "fast asleep.").split(" ")
# No scripted stream outlives this, whatever a broken test does (endless, drip).
STREAM_CAP_SECONDS = 60.0
MiB = 1 << 20


@dataclass
class Behaviour:
    slots: int | None = None  # requests generating at once; None: no limit
    when_busy: str = "queue"  # queue | interrupt | reject
    busy_status: int = 429  # when_busy="reject"
    retry_after: str | None = None  # Retry-After of busy/429/503 replies, as sent
    ping_interval: float | None = None  # ": ping" comment while waiting for a slot (sse-starlette: 15 s)
    reply: str = "ok"
    fail_times: int | None = None
    models: tuple[str, ...] = ("tiny-story",)
    models_reply: str = "ok"  # ok | 429 | 503 | redirect
    models_fail_times: int | None = None
    words: tuple[str, ...] = tuple(STORY_WORDS)
    token_delay: float = 0.0
    drip_interval: float = 2.0
    huge_bytes: int = 64 * MiB
    huge_status: int = 200
    huge_type: str = "application/json"
    line_bytes: int = 4 * MiB
    redirect_to: str | None = None  # a base like "http://127.0.0.2:PORT"; the request path is appended
    redirect_status: int = 307
    hang_seconds: float = 5.0
    echo_prefix: bool = True  # begin the answer with the words dreamflow asked it to begin with


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any
    arrived: float  # time.monotonic()
    open_at_arrival: int  # chat requests already open when this one arrived
    ended: float | None = None
    outcome: str = "open"  # finished | cut | interrupted | rejected | redirected | client-gone | error | endless

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


def _asked_opening(messages: list[dict[str, str]]) -> str:
    """The words dreamflow's chat request asks the answer to begin with (server/chat_prefix.py)."""
    last = messages[-1].get("content", "") if messages and isinstance(messages[-1], dict) else ""
    marker = "Begin your answer with exactly these words, then continue: \""
    if marker in last:
        return last.split(marker, 1)[1].rsplit("\"", 1)[0]
    return ""


class ClientGone(Exception):
    pass


@dataclass
class _Slots:
    """Generation slots, with a waiting count for the interrupt rule."""

    limit: int | None
    cond: threading.Condition = field(default_factory=threading.Condition)
    active: int = 0
    waiting: int = 0
    max_active: int = 0

    def free(self) -> bool:
        return self.limit is None or self.active < self.limit

    def take(self) -> None:  # under cond
        self.active += 1
        self.max_active = max(self.max_active, self.active)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: "ScriptedServer"

    def log_message(self, *args: Any) -> None:
        pass

    # --- plumbing ------------------------------------------------------------------------
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self, kind: str = "text/event-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError:
            raise ClientGone from None

    def _end_chunks(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            raise ClientGone from None

    def _event(self, obj: dict[str, Any] | str) -> None:
        if isinstance(obj, dict):
            obj.setdefault("object", "chat.completion.chunk")
            obj.setdefault("model", self.owner.behaviour.models[0] if self.owner.behaviour.models else "x")
            data = json.dumps(obj).encode()
        else:
            data = obj.encode()
        self._chunk(b"data: " + data + b"\r\n\r\n")

    def _record(self, body: Any) -> Seen:
        o = self.owner
        with o.lock:
            open_now = sum(1 for s in o.seen if s.method == "POST" and s.outcome == "open")
            seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                        time.monotonic(), open_now)
            o.seen.append(seen)
        return seen

    def _end(self, seen: Seen, outcome: str) -> None:
        with self.owner.lock:
            seen.ended, seen.outcome = time.monotonic(), outcome

    def _busy_headers(self) -> dict[str, str]:
        ra = self.owner.behaviour.retry_after
        return {"Retry-After": ra} if ra is not None else {}

    # --- routes ---------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        seen = self._record(None)
        b = self.owner.behaviour
        with self.owner.lock:
            self.owner.models_count += 1
            special = b.models_fail_times is None or self.owner.models_count <= b.models_fail_times
        mode = b.models_reply if special else "ok"
        if not self.path.rstrip("/").endswith("/models"):
            self._send_json(404, {"error": {"message": "not found"}})
        elif mode in ("429", "503"):
            self._send_json(int(mode), {"error": {"message": "busy"}}, self._busy_headers())
        elif mode == "redirect":
            self._redirect()
            return self._end(seen, "redirected")
        else:
            self._send_json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in b.models]})
        self._end(seen, "finished")

    def _redirect(self) -> None:
        b = self.owner.behaviour
        assert b.redirect_to, "redirect needs redirect_to"
        self.send_response(b.redirect_status)
        self.send_header("Location", b.redirect_to.rstrip("/") + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(length)
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = None
        seen = self._record(payload)
        o, b = self.owner, self.owner.behaviour
        with o.lock:
            o.chat_count += 1
            special = b.fail_times is None or o.chat_count <= b.fail_times
        mode = b.reply if special else "ok"
        try:
            outcome = self._chat(mode, payload if isinstance(payload, dict) else {})
        except ClientGone:
            outcome = "client-gone"
        except OSError:
            outcome = "client-gone"
        self._end(seen, outcome)

    def _chat(self, mode: str, payload: dict[str, Any]) -> str:
        b = self.owner.behaviour
        if mode == "redirect":
            self._redirect()
            return "redirected"
        if mode in ("429", "503", "500"):
            self._send_json(int(mode), {"error": {"message": "busy, come back later"}},
                            self._busy_headers() if mode != "500" else None)
            return "rejected"
        if mode == "hang":
            time.sleep(b.hang_seconds)
            self._send_json(503, {"error": {"message": "too late"}})
            return "rejected"
        if payload.get("model") not in b.models:
            self._send_json(404, {"error": {"message": f"The model `{payload.get('model')}` does not exist"}})
            return "rejected"
        if mode == "huge":
            return self._huge()
        slots = self.owner.slots
        if b.when_busy == "reject":
            with slots.cond:
                if not slots.free():
                    busy = True
                else:
                    busy = False
                    slots.take()
            if busy:
                self._send_json(b.busy_status, {"error": {"message": "server busy"}}, self._busy_headers())
                return "rejected"
            self._start_stream()
        else:
            self._start_stream()  # headers at once, as sse-starlette sends them, then wait for a slot
            self._wait_for_slot()
        self._holding_slot = True
        try:
            return self._generate(mode, payload)
        finally:
            self._free_slot()

    def _free_slot(self) -> None:
        """Give the generation slot back (once). A finished reply gives it back before its last
        events go out, as a server frees its slot when generation ends: a client that sends its
        next request on reading [DONE] must not find the slot still taken by a race."""
        if getattr(self, "_holding_slot", False):
            self._holding_slot = False
            slots = self.owner.slots
            with slots.cond:
                slots.active -= 1
                slots.cond.notify_all()

    def _wait_for_slot(self) -> None:
        slots, ping = self.owner.slots, self.owner.behaviour.ping_interval
        with slots.cond:
            slots.waiting += 1
            slots.cond.notify_all()  # wakes a running stream's interrupt check (none: it polls)
        try:
            while True:
                with slots.cond:
                    if slots.free():
                        slots.take()
                        return
                    slots.cond.wait(timeout=ping or 0.5)
                    if slots.free():
                        slots.take()
                        return
                if ping:
                    self._chunk(b": ping - " + time.strftime("%H:%M:%S").encode() + b"\r\n\r\n")
        finally:
            with slots.cond:
                slots.waiting -= 1

    def _interrupted(self) -> bool:
        slots = self.owner.slots
        if self.owner.behaviour.when_busy != "interrupt":
            return False
        with slots.cond:
            return slots.waiting > 0

    def _generate(self, mode: str, payload: dict[str, Any]) -> str:
        b = self.owner.behaviour
        opening = _asked_opening(payload.get("messages") or []) if b.echo_prefix else ""
        words = ([opening] if opening else []) + list(b.words)
        budget = int(payload.get("max_tokens") or 10**6)
        pieces = [words[0]] + [" " + w for w in words[1:]]
        started = time.monotonic()
        self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        if mode == "binary":
            for _ in range(max(1, b.huge_bytes // 65536)):
                self._chunk(os.urandom(65536))
            self._end_chunks()
            return "finished"
        if mode == "long-line":
            self._chunk(b'data: {"choices": [{"index": 0, "delta": {"content": "')
            for _ in range(max(1, b.line_bytes // 65536)):
                self._chunk(b"z" * 65536)
            self._chunk(b'"}, "finish_reason": null}]}\r\n\r\n')
        if mode == "drip":
            event = b'data: {"choices": [{"index": 0, "delta": {"content": "zzz"}, "finish_reason": null}]}\r\n\r\n'
            while time.monotonic() - started < STREAM_CAP_SECONDS:
                for byte in event:
                    self._chunk(bytes([byte]))
                    time.sleep(b.drip_interval)
            return "endless"
        i = 0
        sent = 0
        cut_at = min(len(pieces), budget) // 2  # the cut modes stop half-way through what would be sent
        while True:
            if mode == "endless":
                if time.monotonic() - started > STREAM_CAP_SECONDS:
                    return "endless"
            elif i >= min(len(pieces), budget):
                break
            if self._interrupted():
                # llama-cpp-python: "[DONE]" and the stream ends cleanly, no finish_reason
                self._event("[DONE]")
                self._end_chunks()
                return "interrupted"
            if mode == "close-cut" and i == cut_at:
                self.wfile.flush()
                self.connection.shutdown(2)  # no terminating chunk: the client sees a dropped connection
                return "cut"
            if mode == "done-cut" and i == cut_at:
                self._event("[DONE]")
                self._end_chunks()
                return "cut"
            piece = pieces[i % len(pieces)]
            if mode == "bad-utf8" and i == 2:
                self._chunk(b'data: {"choices": [{"index": 0, "delta": {"content": " \xff\xfe"}, '
                            b'"finish_reason": null}]}\r\n\r\n')
            else:
                self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            sent += 1
            i += 1
            if b.token_delay:
                time.sleep(b.token_delay)
        finish = "length" if sent >= budget else "stop"
        self._free_slot()
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (payload.get("stream_options") or {}).get("include_usage"):
            self._event({"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": sent,
                                                  "total_tokens": 50 + sent}})
        self._event("[DONE]")
        self._end_chunks()
        return "finished"

    def _huge(self) -> str:
        b = self.owner.behaviour
        self.send_response(b.huge_status)
        self.send_header("Content-Type", b.huge_type)
        self.send_header("Content-Length", str(b.huge_bytes))
        self.end_headers()
        head = b'{"error": {"message": "' if b.huge_status != 200 else b'{"choices": [{"message": {"content": "'
        left = b.huge_bytes
        self.wfile.write(head)
        left -= len(head)
        block = b"z" * 65536
        while left > 0:
            n = min(left, len(block))
            self.wfile.write(block[:n])
            left -= n
        return "finished"


class ScriptedServer(Running):
    """``with ScriptedServer(Behaviour(slots=1, when_busy="interrupt")) as s: s.url …``"""

    def __init__(self, behaviour: Behaviour | None = None, *, host: str = "127.0.0.1", tls: Any = None):
        self.behaviour = behaviour or Behaviour()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.chat_count = 0
        self.models_count = 0
        self.slots = _Slots(self.behaviour.slots)
        handler = type("BoundScriptedHandler", (_Handler,), {"owner": self})
        self.server = QuietServer((host, 0), handler, tls=tls)
        self.scheme = "https" if tls is not None else "http"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + "/v1"

    def chats(self) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == "POST"]

    def settled(self, timeout: float = 5.0) -> list[Seen]:
        """The chat requests, once none is still open (the server thread records an outcome just
        after the client has read the last byte, so a test asks for it this way)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chats = self.chats()
            if all(c.outcome != "open" for c in chats):
                return chats
            time.sleep(0.02)
        return self.chats()

    def max_active(self) -> int:
        return self.slots.max_active


def another_loopback_host() -> str | None:
    """A second loopback address for "another host" (redirect tests), or None where there is
    none (macOS without an lo0 alias): such tests skip rather than fake it."""
    return "127.0.0.2" if can_bind("127.0.0.2") else None
