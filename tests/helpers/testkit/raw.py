"""A raw streaming client for the tests: http.client, one SSE line at a time, with arrival times,
so each test sees exactly what a server sent."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stream:
    status: int
    headers: dict[str, str]
    lines: list[bytes] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def events(self) -> list[str]:
        return [ln.decode("utf-8", "replace").strip() for ln in self.lines if ln.startswith(b"data:")]

    @property
    def contents(self) -> list[str]:
        out = []
        for e in self.events:
            if e.startswith("data: {"):
                obj = json.loads(e[6:])
                for c in obj.get("choices") or []:
                    if (c.get("delta") or {}).get("content"):
                        out.append(c["delta"]["content"])
        return out

    @property
    def finish_reasons(self) -> list[str]:
        out = []
        for e in self.events:
            if e.startswith("data: {"):
                for c in json.loads(e[6:]).get("choices") or []:
                    if c.get("finish_reason"):
                        out.append(c["finish_reason"])
        return out

    @property
    def done(self) -> bool:
        return "data: [DONE]" in self.events

    @property
    def comments(self) -> list[bytes]:
        return [ln for ln in self.lines if ln.startswith(b":")]


def connect(host: str, port: int, *, tls: ssl.SSLContext | None = None, timeout: float = 10.0
            ) -> http.client.HTTPConnection:
    if tls is not None:
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def chat(host: str, port: int, *, model: str = "tiny-story", max_tokens: int | None = None, path: str = "/v1",
         tls: ssl.SSLContext | None = None, timeout: float = 10.0, max_lines: int | None = None,
         headers: dict[str, str] | None = None, started: Any = None) -> Stream:
    """POST a streamed chat request and read it to the end (or ``max_lines``)."""
    payload: dict[str, Any] = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    conn = connect(host, port, tls=tls, timeout=timeout)
    try:
        conn.request("POST", path + "/chat/completions", json.dumps(payload).encode(),
                     {"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        if started is not None:
            started.set()
        stream = Stream(resp.status, {k.lower(): v for k, v in resp.getheaders()})
        try:
            while max_lines is None or len(stream.lines) < max_lines:
                line = resp.readline(1 << 20)
                if not line:
                    break
                stream.lines.append(line)
                stream.times.append(time.monotonic())
        except (OSError, http.client.HTTPException) as exc:
            stream.error = f"{type(exc).__name__}: {exc}"
        return stream
    finally:
        conn.close()
