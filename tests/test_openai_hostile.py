"""Servers that stream without end, drip a byte at a time, or send huge, binary or broken
replies: each story ends within its bounds (the budget, server_timeout, the whole-reply
deadline) with dreamflow's memory bounded, and every failure is one line."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from dreamflow_cli.backend.seam import Prompt
from dreamflow_cli.errors import ModelError
from dreamflow_cli.server import backend as server_backend
from dreamflow_cli.server.backend import open_openai_backend
from dreamflow_cli.settings.load import load_settings
from tests.helpers.cli import invoke
from tests.helpers.testkit import Behaviour, ScriptedServer

SAMPLING = {"temperature": 0.6, "top_p": 0.9}
PROMPT = Prompt("You tell stories.", "Write a story about a moon.", "One starry night, Mia")
MiB = 1 << 20


def _backend(server: ScriptedServer, timeout: float = 5.0):
    settings = load_settings({"backend": "openai", "base_url": server.url, "server_timeout": timeout,
                              "server_retries": 0})
    return open_openai_backend(settings, env={})


def _fails(backend, max_tokens: int = 40) -> str:
    with pytest.raises(ModelError) as info:
        backend.generate(PROMPT, max_tokens=max_tokens, sampling=SAMPLING, seed=1)
    message = info.value.message
    assert "\n" not in message and len(message) < 600
    return message


def test_an_endless_stream_stops_at_the_story_budget():
    with ScriptedServer(Behaviour(reply="endless", token_delay=0.001)) as server:
        started = time.monotonic()
        gen = _backend(server).generate(PROMPT, max_tokens=40, sampling=SAMPLING, seed=1)
        outcome = server.settled()[0].outcome
    assert gen.finish_reason == "length" and gen.generated_tokens <= 40 and len(gen.text.split()) >= 20
    assert outcome == "client-gone" and time.monotonic() - started < 5  # dreamflow hung up


def test_a_slow_drip_hits_the_silence_clock():
    """A byte every 20 ms: the socket never times out, but no line completes within 0.4 s."""
    with ScriptedServer(Behaviour(reply="drip", drip_interval=0.02)) as server:
        started = time.monotonic()
        message = _fails(_backend(server, timeout=0.4))
    assert "sent no complete line for 0.4 s" in message and time.monotonic() - started < 4


def test_a_drip_fast_enough_for_every_line_hits_the_whole_reply_deadline(monkeypatch):
    """Lines complete every ~0.2 s (each under the 0.6 s silence clock), yet the story would never
    end: the deadline counted from the first token stops it (here 0.6 s: max(server_timeout,
    tokens x SECONDS_PER_TOKEN) with the per-token allowance made tiny for the test)."""
    monkeypatch.setattr(server_backend, "SECONDS_PER_TOKEN", 0.001)
    with ScriptedServer(Behaviour(reply="drip", drip_interval=0.002)) as server:
        started = time.monotonic()
        message = _fails(_backend(server, timeout=0.6))
    assert "did not finish the story in time" in message and "server_timeout" in message
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("behaviour, words", [
    (Behaviour(reply="long-line", line_bytes=64 * MiB), "line longer than 1024 KiB"),
    (Behaviour(reply="binary", huge_bytes=64 * MiB), "not UTF-8"),
    (Behaviour(reply="bad-utf8"), "not UTF-8"),
    (Behaviour(reply="huge", huge_bytes=64 * MiB), "larger than 8 MiB"),
])
def test_hostile_replies_are_one_line_with_memory_bounded(behaviour, words):
    with ScriptedServer(behaviour) as server:
        backend = _backend(server)
        tracemalloc.start()
        try:
            message = _fails(backend)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert words in message
    assert peak < 24 * MiB  # a 64 MiB reply is refused after at most 8 MiB (a whole body) or 1 MiB (a line)


def test_a_huge_error_page_is_read_only_as_far_as_it_explains_itself():
    behaviour = Behaviour(reply="huge", huge_bytes=300 * MiB, huge_status=500, huge_type="text/html")
    with ScriptedServer(behaviour) as server:
        backend = _backend(server)
        tracemalloc.start()
        started = time.monotonic()
        try:
            message = _fails(backend)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert "HTTP 500" in message and peak < 4 * MiB and time.monotonic() - started < 5


def test_the_cli_says_a_drip_in_one_line(runner, isolated):
    with ScriptedServer(Behaviour(reply="drip", drip_interval=0.02)) as server:
        result = invoke(runner, "generate", "a calm sea", "--backend", "openai", "--base-url", server.url,
                        "--no-images", "--scenes", "1", "--out", "out",
                        env={"DREAMFLOW_SERVER_TIMEOUT": "0.4", "DREAMFLOW_SERVER_RETRIES": "0"})
    assert result.exit_code == 3 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "sent no complete line for 0.4 s" in errors[0]
    assert not list((isolated / "out").glob("*"))
