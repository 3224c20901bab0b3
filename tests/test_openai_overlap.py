"""The doctor's two-request probe (server/overlap.py): its decision rule, from hand-made
readings, and measured against the scripted servers that model each kind of real server."""

from __future__ import annotations

import pytest

from dreamflow_cli.server.client import Client
from dreamflow_cli.server.endpoints import parse_base_url
from dreamflow_cli.server.overlap import Reading, classify, measure
from tests.helpers.testkit import Behaviour, ScriptedServer


def reading(first: float, n: int, step: float = 0.1, *, finish: str | None = "stop", status: int = 200,
            sent: float = 0.0, done: bool = True) -> Reading:
    return Reading(sent=sent, status=status, content_times=[first + i * step for i in range(n)],
                   finish_reason=finish, done=done)


def test_interleaved_tokens_mean_overlap():
    v = classify(reading(1.0, 10), reading(1.05, 10))
    assert (v.kind, v.parallel) == ("overlaps", 2)


def test_the_second_starting_after_the_first_ends_means_waiting():
    v = classify(reading(1.0, 10), reading(1.95, 10))  # first's last token at 1.9
    assert (v.kind, v.parallel) == ("waits", 1) and "waited" in v.detail


def test_one_token_of_overlap_at_the_boundary_is_still_waiting():
    v = classify(reading(1.0, 10), reading(1.85, 10))  # one event before 1.9: TCP clumping, not overlap
    assert v.kind == "waits"


def test_absolute_speed_does_not_matter():
    """Ten times slower (a busy machine): the same verdicts."""
    assert classify(reading(10, 10, 1.0), reading(10.5, 10, 1.0)).kind == "overlaps"
    assert classify(reading(10, 10, 1.0), reading(19.5, 10, 1.0)).kind == "waits"


def test_a_stream_without_finish_reason_next_to_a_finished_one_is_a_cut():
    v = classify(reading(1.0, 3, finish=None), reading(1.4, 10))
    assert (v.kind, v.parallel) == ("cuts", 1) and "[DONE]" in v.detail
    v = classify(reading(1.0, 10), reading(1.4, 0, finish=None, done=False))
    assert v.kind == "cuts" and "end of body" in v.detail


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_answer_means_turning_away(status):
    assert classify(reading(1.0, 10), reading(0, 0, status=status, finish=None)).kind == "turns-away"


def test_failures_and_short_replies_are_unknown():
    broken = reading(1.0, 2)
    broken.error = "ConnectionResetError: reset"
    assert classify(reading(1.0, 10), broken).kind == "unknown"
    assert classify(reading(1.0, 2), reading(1.1, 10)).kind == "unknown"
    assert classify(reading(1.0, 3, finish=None), reading(1.1, 3, finish=None)).kind == "unknown"


@pytest.mark.parametrize("behaviour, kind", [
    (Behaviour(slots=None, token_delay=0.01), "overlaps"),
    (Behaviour(slots=2, when_busy="queue", token_delay=0.01), "overlaps"),
    (Behaviour(slots=1, when_busy="queue", token_delay=0.01), "waits"),
    (Behaviour(slots=1, when_busy="interrupt", token_delay=0.01), "cuts"),
    (Behaviour(slots=1, when_busy="reject", retry_after="1", token_delay=0.01), "turns-away"),
])
def test_measured_against_each_kind_of_server(behaviour, kind):
    with ScriptedServer(behaviour) as s:
        a, b = measure(Client(api_key=None, timeout=10, env={}), parse_base_url(s.url), "tiny-story")
        assert classify(a, b).kind == kind, (a, b)
