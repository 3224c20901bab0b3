"""A small scripted OpenAI-compatible server (stdlib http.server in a thread, 127.0.0.1 only)
for the faults a real server rarely produces: 401, an unknown model, 500, a hang past the
client's timeout, a stream cut mid-story, malformed JSON, a reply that is not a stream, a 429 or
503 with a Retry-After header.

``mode`` decides how the next chat requests are answered; ``fail_times`` limits a fault to the
first N requests (then the server answers normally). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STORY_WORDS = ("Mia walked through the quiet garden with her soft toy rabbit. The moon was round and "
               "bright, and the flowers closed their petals for the night. She waved goodnight to the owl "
               "in the old oak tree. Then she climbed into her warm bed, pulled up her blanket, and fell "
               "fast asleep.").split(" ")


@dataclass
class Script:
    mode: str = "ok"  # ok | 401 | 404 | 429 | 500 | 503 | hang | cut | malformed | html | json | usage-refused
    retry_after: str | None = None  # the Retry-After header of a 429 or 503, as sent
    fail_times: int | None = None  # None: every request; N: only the first N chat requests
    models: tuple[str, ...] = ("tiny-story",)
    hang_seconds: float = 5.0
    token_delay: float = 0.0
    echo_prefix: bool = True  # begin the answer with the words it was asked to begin with
    requests: list[dict[str, Any]] = field(default_factory=list)
    chat_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _asked_opening(messages: list[dict[str, str]]) -> str:
    last = messages[-1]["content"] if messages else ""
    marker = "Begin your answer with exactly these words, then continue: \""
    if marker in last:
        return last.split(marker, 1)[1].rsplit("\"", 1)[0]
    return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self, body: Any) -> None:
        with self.script.lock:
            self.script.requests.append({"path": self.path, "method": self.command, "body": body,
                                         "authorization": self.headers.get("Authorization")})

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._record(None)
        if self.script.mode == "401":
            return self._json(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}})
        if self.path.rstrip("/").endswith("/models"):
            models = [{"id": m, "object": "model"} for m in self.script.models]
            return self._json(200, {"object": "list", "data": models})
        self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        payload = json.loads(self.rfile.read(length) or b"{}")
        self._record(payload)
        s = self.script
        with s.lock:
            s.chat_count += 1
            faulty = s.fail_times is None or s.chat_count <= s.fail_times
        mode = s.mode if faulty else "ok"
        if mode == "401":
            return self._json(401, {"error": {"message": "Invalid API key"}})
        if mode == "404" or payload.get("model") not in s.models:
            return self._json(404, {"error": {"message": f"The model `{payload.get('model')}` does not exist"}})
        if mode == "500":
            return self._json(500, {"error": {"message": "internal server error"}})
        if mode in ("429", "503"):
            headers = {"Retry-After": s.retry_after} if s.retry_after is not None else {}
            return self._json(int(mode), {"error": {"message": "busy, come back later"}}, headers)
        if mode == "usage-refused" and "stream_options" in payload:
            return self._json(400, {"error": {"message": "Unrecognized request argument: stream_options"}})
        if mode == "hang":
            time.sleep(s.hang_seconds)
            return self._json(503, {"error": {"message": "too late"}})
        if mode == "html":
            body = b"<html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        words = self._answer(payload)
        if mode == "json":
            message = {"role": "assistant", "content": "".join(words)}
            usage = {"prompt_tokens": 50, "completion_tokens": len(words), "total_tokens": 50 + len(words)}
            return self._json(200, {"object": "chat.completion", "model": payload["model"], "usage": usage,
                                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for i, word in enumerate(words):
            if mode == "cut" and i == len(words) // 2:
                return None  # the connection closes mid-story, with no finish reason
            if mode == "malformed" and i == 3:
                self.wfile.write(b"data: {\"choices\": [{\"delta\": {\"content\": \"oops\n\n")
                self.wfile.flush()
                continue
            self._event({"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
            if s.token_delay:
                time.sleep(s.token_delay)
        finish = "length" if len(words) >= payload.get("max_tokens", 10**6) else "stop"
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if payload.get("stream_options", {}).get("include_usage"):
            self._event({"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": len(words),
                                                  "total_tokens": 50 + len(words)}})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        return None

    def _event(self, obj: dict[str, Any]) -> None:
        obj.setdefault("object", "chat.completion.chunk")
        obj.setdefault("model", self.script.models[0] if self.script.models else "x")
        self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
        self.wfile.flush()

    def _answer(self, payload: dict[str, Any]) -> list[str]:
        opening = _asked_opening(payload.get("messages", [])) if self.script.echo_prefix else ""
        words = ([opening] if opening else []) + STORY_WORDS
        pieces = [words[0]] + [" " + w for w in words[1:]]
        return pieces[: payload.get("max_tokens", len(pieces))]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-stream is what several tests do on purpose


class ScriptedServer:
    def __init__(self, script: Script | None = None):
        self.script = script or Script()
        handler = type("BoundHandler", (Handler,), {"script": self.script})
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                       daemon=True)  # shutdown() waits up to one poll

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def chat_requests(self) -> list[dict[str, Any]]:
        with self.script.lock:
            return [r for r in self.script.requests if r["method"] == "POST"]

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
