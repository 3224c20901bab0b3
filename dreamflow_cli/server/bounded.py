"""Reading a server's reply with dreamflow's memory and time bounded, whatever the server sends.

``sse_lines`` reads the event stream with ``HTTPResponse.read1`` and splits lines itself, because:

* ``readline(limit)`` on a chunked body can return MORE than ``limit`` (CPython's
  IOBase.readline compares each peek() with the whole limit: 1,048,630 bytes for a 1 MiB limit),
  and it turns a connection dropped mid-body into a quiet end of stream (peek() swallows
  IncompleteRead), so a crash would look like a clean end. ``read1`` raises IncompleteRead;
* a slow-drip server (one byte every few seconds) keeps every single ``recv`` under the socket
  timeout forever: only a check between reads against the clock can stop it.

Two clocks, both checked between reads: ``line_seconds``, the longest wait for the next
*complete line* (so a drip that never completes an event line is silence, while the ``: ping``
comment llama-cpp-python sends every 15 s to a queued request is progress), and ``deadline``, the
whole reply (the reader may set it late: the client starts it at the first token, so a request
waiting its turn in a server's queue is bounded by the silence clock alone). Lines must be UTF-8
(a JSON event is; invalid bytes mean a broken or non-SSE server) and at most ``line_bytes`` long;
``read_body`` bounds whole (non-streamed) bodies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

LINE_BYTES = 1 << 20  # one SSE line; a story's event is ~200 bytes
BODY_BYTES = 8 << 20  # a whole non-streamed reply (a model list, a whole completion)
READ_SIZE = 65536


class ReplyError(Exception):
    """The reply broke a bound; ``message`` is one line, safe to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Overtime(ReplyError):
    """A clock ran out: ``whole`` for the whole-reply deadline, else the silence clock."""

    def __init__(self, message: str, *, whole: bool):
        super().__init__(message)
        self.whole = whole


@dataclass
class Bounds:
    line_seconds: float  # longest wait for the next complete line
    deadline: float | None = None  # clock() time the whole reply must be done by (None: not yet)
    line_bytes: int = LINE_BYTES


def sse_lines(read1: Callable[[int], bytes], bounds: Bounds, *, clock: Callable[[], float] = time.monotonic,
              set_timeout: Callable[[float], None] | None = None) -> Iterator[str]:
    """Decoded lines (without the line break) of an event stream. ``read1``: the response's
    ``read1``; ``set_timeout``: the socket's ``settimeout``, so no single read outlasts what is
    left of either clock. Raises ReplyError / Overtime; network errors pass through."""
    buf = bytearray()
    last_line = clock()
    while True:
        _arm(bounds, last_line, clock(), set_timeout)
        try:
            data = read1(READ_SIZE)
        except TimeoutError:
            # The read was given only what was left of the nearer clock: that one ran out.
            raise _overtime(bounds, last_line, clock()) from None
        if not data:
            if buf:
                yield _decode(bytes(buf))  # a last line without its line break
            return
        buf += data
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            yield _decode(bytes(buf[start:end]))
            start = end + 1
            last_line = clock()
        del buf[:start]
        if len(buf) > bounds.line_bytes:
            raise ReplyError(f"sent a line longer than {bounds.line_bytes // 1024} KiB (not an event stream?)")


def _left(bounds: Bounds, last_line: float, now: float) -> tuple[float, bool]:
    """(seconds left, whether the whole-reply deadline is the nearer clock)."""
    silence = bounds.line_seconds - (now - last_line)
    if bounds.deadline is not None and bounds.deadline - now <= silence:
        return bounds.deadline - now, True
    return silence, False


def _overtime(bounds: Bounds, last_line: float, now: float) -> Overtime:
    whole = _left(bounds, last_line, now)[1]
    if whole:
        return Overtime("did not finish the reply in time", whole=True)
    return Overtime(f"sent no complete line for {bounds.line_seconds:g} s", whole=False)


def _arm(bounds: Bounds, last_line: float, now: float, set_timeout: Callable[[float], None] | None) -> None:
    """Raise Overtime if a clock ran out, else give the next read only what is left of both."""
    left, _ = _left(bounds, last_line, now)
    if left <= 0:
        raise _overtime(bounds, last_line, now)
    if set_timeout is not None:
        set_timeout(max(0.05, left))


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise ReplyError("sent bytes that are not UTF-8 text (not an event stream?)") from None


def read_body(read1: Callable[[int], bytes], *, limit: int = BODY_BYTES, seconds: float,
              clock: Callable[[], float] = time.monotonic, set_timeout: Callable[[float], None] | None = None,
              truncate: bool = False) -> bytes:
    """A whole body within ``seconds``: ReplyError past ``limit`` bytes (one more is read to
    know), or with ``truncate`` just the first ``limit`` bytes (enough to explain an error, from
    an HTML page of any size)."""
    bounds = Bounds(line_seconds=seconds, deadline=clock() + seconds)
    body = bytearray()
    while len(body) <= limit:
        _arm(bounds, clock(), clock(), set_timeout)
        try:
            data = read1(min(READ_SIZE, limit + 1 - len(body)))
        except TimeoutError:
            raise Overtime("did not finish the reply in time", whole=True) from None
        if not data:
            break
        body += data
    if len(body) > limit:
        if truncate:
            return bytes(body[:limit])
        raise ReplyError(f"sent a reply larger than {limit // (1 << 20)} MiB")
    return bytes(body)
