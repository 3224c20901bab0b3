"""server/bounded.py against the scripted server's hostile replies: memory and time stay bounded, and
each failure is one line."""

from __future__ import annotations

import http.client
import io
import json
import time
import tracemalloc

import pytest

from dreamflow_cli.server.bounded import Bounds, Overtime, ReplyError, read_body, sse_lines
from tests.helpers.testkit import Behaviour, ScriptedServer


def _open(s: ScriptedServer, timeout: float = 5.0, **payload: object
          ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection(s.host, s.port, timeout=timeout)
    conn.request("POST", "/v1/chat/completions", json.dumps({"model": "tiny-story", "stream": True, **payload}),
                 {"Content-Type": "application/json"})
    return conn, conn.getresponse()


def _lines(s: ScriptedServer, bounds: Bounds, limit: int | None = None, **payload: object) -> list[str]:
    conn, resp = _open(s, **payload)
    out: list[str] = []
    try:
        for line in sse_lines(resp.read1, bounds, set_timeout=conn.sock.settimeout if conn.sock else None):
            out.append(line)
            if limit is not None and len(out) >= limit:
                break
        return out
    finally:
        conn.close()


def test_a_good_stream_reads_whole_events():
    with ScriptedServer() as s:
        lines = _lines(s, Bounds(line_seconds=5))
        data = [ln for ln in lines if ln.startswith("data:")]
        assert data[-1] == "data: [DONE]" and '"finish_reason": "stop"' in data[-2]
        assert all(not ln.endswith(("\r", "\n")) for ln in lines)


def test_a_dropped_connection_raises_instead_of_looking_like_the_end():
    with ScriptedServer(Behaviour(reply="close-cut")) as s:
        with pytest.raises(http.client.IncompleteRead):
            _lines(s, Bounds(line_seconds=5))


def test_a_clean_early_done_is_a_normal_end():
    with ScriptedServer(Behaviour(reply="done-cut")) as s:
        assert _lines(s, Bounds(line_seconds=5))[-2] == "data: [DONE]"


def test_slow_drip_hits_the_line_clock_though_bytes_keep_coming():
    # A byte every 30 ms, well inside each read's socket timeout: only the clock between reads stops it.
    with ScriptedServer(Behaviour(reply="drip", drip_interval=0.03)) as s:
        started = time.monotonic()
        with pytest.raises(Overtime) as info:
            _lines(s, Bounds(line_seconds=0.4))
        assert 0.36 < time.monotonic() - started < 2.5
        assert info.value.message == "sent no complete line for 0.4 s"


def test_the_whole_request_deadline():
    with ScriptedServer(Behaviour(reply="endless", token_delay=0.01)) as s:
        started = time.monotonic()
        with pytest.raises(Overtime, match="did not finish"):
            _lines(s, Bounds(line_seconds=5, deadline=time.monotonic() + 0.3))
        assert 0.27 < time.monotonic() - started < 2.0


def test_pings_of_a_queued_request_are_progress():
    """llama-cpp-python --interrupt_requests False: a queued request sees ': ping' lines."""
    with ScriptedServer(Behaviour(slots=1, when_busy="queue", token_delay=0.02, ping_interval=0.05)) as s:
        conn_a, resp_a = _open(s, max_tokens=30)  # 30 tokens, 20 ms apart: A holds the one slot ~0.6 s
        deadline = time.monotonic() + 5
        while s.max_active() < 1 and time.monotonic() < deadline:  # A has the slot: B will queue
            time.sleep(0.005)
        started = time.monotonic()
        # B (a short reply, so the test does not wait for a whole second story) waits for A with
        # no content line for longer than its 0.3 s line clock: only the pings keep it alive.
        lines = _lines(s, Bounds(line_seconds=0.3), max_tokens=3)
        waited = time.monotonic() - started  # B's silence, and its own 3 tokens (~0.06 s)
        assert any(ln.startswith(": ping") for ln in lines) and lines[-2] == "data: [DONE]"
        assert waited > 0.45  # it really was queued past the line clock
        conn_a.close()


@pytest.mark.parametrize("reply, words", [("long-line", "longer than 1024 KiB"), ("binary", "not UTF-8"),
                                          ("bad-utf8", "not UTF-8")])
def test_hostile_bodies_fail_in_one_line_with_memory_bounded(reply, words):
    with ScriptedServer(Behaviour(reply=reply, line_bytes=64 << 20, huge_bytes=64 << 20)) as s:
        tracemalloc.start()
        try:
            with pytest.raises(ReplyError) as info:
                _lines(s, Bounds(line_seconds=5))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert words in info.value.message and "\n" not in info.value.message
        assert peak < 8 << 20  # a 64 MiB line is refused after ~1 MiB


def test_a_huge_whole_body_is_refused_past_the_limit():
    with ScriptedServer(Behaviour(reply="huge", huge_bytes=100 << 20)) as s:
        conn, resp = _open(s)
        tracemalloc.start()
        try:
            with pytest.raises(ReplyError, match="larger than 8 MiB"):
                read_body(resp.read1, seconds=5)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        conn.close()
    assert peak < 24 << 20  # 8 MiB kept (and a copy), not 100
    assert read_body(io.BytesIO(b"x" * 10).read1, limit=10, seconds=1) == b"x" * 10
    with pytest.raises(ReplyError):
        read_body(io.BytesIO(b"x" * 11).read1, limit=10, seconds=1)


def test_an_error_page_of_any_size_is_cut_to_what_explains_it():
    with ScriptedServer(Behaviour(reply="huge", huge_bytes=300 << 20, huge_status=500, huge_type="text/html")) as s:
        conn, resp = _open(s)
        started = time.monotonic()
        body = read_body(resp.read1, limit=2000, seconds=5, truncate=True)
        conn.close()
    assert len(body) == 2000 and body.startswith(b'{"error"') and time.monotonic() - started < 2


def test_a_whole_body_dripped_slowly_hits_its_deadline():
    with ScriptedServer(Behaviour(reply="drip", drip_interval=0.03)) as s:
        conn, resp = _open(s)
        started = time.monotonic()
        with pytest.raises(Overtime) as info:
            read_body(resp.read1, seconds=0.4, set_timeout=conn.sock.settimeout if conn.sock else None)
        conn.close()
    assert info.value.whole and 0.36 < time.monotonic() - started < 2.5


def test_the_deadline_can_start_late_and_a_silent_read_times_out_by_the_socket():
    """The client starts the whole-reply clock at the first token; a read that waits longer
    than what is left is cut by the socket timeout and reported as the clock that ran out."""
    with ScriptedServer(Behaviour(reply="endless", token_delay=0.01)) as s:
        conn, resp = _open(s)
        bounds = Bounds(line_seconds=5)
        started = time.monotonic()
        with pytest.raises(Overtime) as info:
            for line in sse_lines(resp.read1, bounds, set_timeout=conn.sock.settimeout if conn.sock else None):
                if "content" in line and bounds.deadline is None:
                    bounds.deadline = time.monotonic() + 0.2
        conn.close()
    assert info.value.whole and time.monotonic() - started < 2.0
    with ScriptedServer(Behaviour(reply="hang", hang_seconds=3)) as s:  # a daemon thread: nobody waits it out
        conn = http.client.HTTPConnection(s.host, s.port, timeout=5)
        conn.request("POST", "/v1/chat/completions", "{}")
        # a server that has not even answered: the reads below never see a byte
        conn.sock.settimeout(5)
        raw = conn.sock.makefile("rb")
        started = time.monotonic()
        with pytest.raises(Overtime) as info:
            list(sse_lines(raw.read1, Bounds(line_seconds=0.2), set_timeout=conn.sock.settimeout))
        conn.close()
    assert not info.value.whole and "0.2 s" in info.value.message and 0.18 < time.monotonic() - started < 1.5
