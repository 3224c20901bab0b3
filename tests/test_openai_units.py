"""Fast tests of the server client's pure parts: URLs, the endpoint pool's choices, SSE parsing,
prefix emulation."""

from __future__ import annotations

import email.utils
import math

import pytest

from dreamflow_cli.server.chat_prefix import (
    BEGIN_WITH,
    CHARS_PER_TOKEN,
    chat_messages,
    estimate,
    match_length,
    split_prefix,
    strip_echo,
)
from dreamflow_cli.server.capacity import Outcome, ServerState
from dreamflow_cli.server.endpoints import (
    EndpointPool,
    EndpointState,
    choose,
    down_seconds,
    parse_base_url,
    parse_base_urls,
)
from dreamflow_cli.settings.show import public_url
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.server.client import (
    AuthFault,
    RequestFault,
    ServerFault,
    api_key_from_env,
    auth_headers,
    iter_sse_data,
    parse_chunk,
    parse_retry_after,
    status_fault,
)

# --- URLs -------------------------------------------------------------------------------------

def test_base_url_gets_v1_and_port_and_loses_credentials():
    e = parse_base_url("http://user:s3cret@localhost:11434")
    assert (e.url, e.host, e.port, e.path) == ("http://localhost:11434/v1", "localhost", 11434, "/v1")
    assert e.userinfo == "user:s3cret"
    assert "s3cret" not in repr(e) and "s3cret" not in str(e)
    assert parse_base_url("https://example.org/api/v1/").url == "https://example.org:443/api/v1"


@pytest.mark.parametrize("bad", ["localhost:8080", "ftp://x/v1", "http:///v1", "http://h/v1?x=1", "http://h:99999/"])
def test_bad_base_urls_name_the_setting(bad):
    with pytest.raises(ConfigError) as info:
        parse_base_url(bad)
    assert "base URL" in info.value.message and "--base-url" in info.value.hint


def test_bad_base_url_message_hides_the_password():
    with pytest.raises(ConfigError) as info:
        parse_base_url("ftp://bob:hunter2@host/v1")
    assert "hunter2" not in info.value.message


def test_several_urls_comma_separated_deduplicated():
    urls = [e.url for e in parse_base_urls(["http://a:1/v1, http://b:2/v1", "http://a:1/v1/"])]
    assert urls == ["http://a:1/v1", "http://b:2/v1"]


def test_public_url_strips_userinfo():
    assert public_url("http://k:pw@h:5/v1") == "http://h:5/v1"


# --- the pool ---------------------------------------------------------------------------------

def _states(*specs):
    urls = parse_base_urls([",".join(f"http://h{i}:1/v1" for i in range(len(specs)))])
    return [EndpointState(u, ServerState.start(4), **spec) for u, spec in zip(urls, specs, strict=True)]


def test_least_busy_up_endpoint_first():
    states = _states({"in_flight": 2}, {"in_flight": 1}, {"in_flight": 0, "down_until": 50.0})
    assert choose(states, now=10.0) == (1, 0.0)


def test_untried_endpoints_before_tried_ones():
    states = _states({"in_flight": 0, "failures": 1}, {"in_flight": 3})
    assert choose(states, now=0.0, avoid={states[0].endpoint.url}) == (1, 0.0)


def test_a_tried_endpoint_that_answered_well_since_is_as_good_as_any():
    states = _states({"in_flight": 0}, {"in_flight": 3})  # failures reset by another story's success
    assert choose(states, now=0.0, avoid={states[0].endpoint.url}) == (1, 0.0)  # still second choice…
    states[1].in_flight = 4  # …but used rather than waiting for a full one
    assert choose(states, now=0.0, avoid={states[0].endpoint.url}) == (0, 0.0)


def test_equal_endpoints_take_turns():
    states = _states({"served": 5}, {"served": 4})
    assert choose(states, now=0.0)[0] == 1


def test_all_down_picks_the_one_back_soonest_and_says_how_long():
    states = _states({"down_until": 20.0}, {"down_until": 12.0})
    assert choose(states, now=10.0) == (1, 2.0)


def test_only_endpoints_with_room_are_chosen():
    states = _states({"in_flight": 4}, {"in_flight": 1, "down_until": 15.0})
    assert choose(states, now=10.0) == (None, 5.0)  # the full one frees up, or the other comes back
    states[1].down_until = 0.0
    assert choose(states, now=10.0) == (1, 0.0)
    states[1].in_flight = 4
    assert choose(states, now=10.0) == (None, math.inf)  # until a request ends


def test_down_time_doubles_and_is_capped():
    assert [down_seconds(n, 2, 30) for n in range(6)] == [0, 2, 4, 8, 16, 30]


def test_pool_marks_down_and_recovers_with_the_clock():
    now = [100.0]
    pool = EndpointPool(parse_base_urls(["http://a:1/v1,http://b:1/v1"]), asked=[2, 2], clock=lambda: now[0],
                        down_base=2)
    a, ta, wait = pool.acquire()
    assert (a.url, wait) == ("http://a:1/v1", 0.0)
    pool.release(a, ta, Outcome.FAULT, error="boom")
    b, tb, _ = pool.acquire()
    assert b.url == "http://b:1/v1"  # a is down
    assert pool.in_flight() == 1
    pool.release(b, tb, Outcome.CLEAN)
    now[0] += 2.5
    busy, _, _ = pool.acquire()
    assert busy.url == "http://b:1/v1"  # a is up again, but its recent failure puts it second
    back, _, wait = pool.acquire()
    assert (back.url, wait) == ("http://a:1/v1", 0.0)  # least busy now
    snap = {s["url"]: s for s in pool.snapshot()}
    assert snap["http://a:1/v1"]["failed"] == 1 and snap["http://b:1/v1"]["completed"] == 1


def test_a_retry_after_keeps_an_endpoint_down_as_long_as_it_asks():
    now = [100.0]
    pool = EndpointPool(parse_base_urls(["http://a:1/v1"]), asked=[4], clock=lambda: now[0], down_base=2)
    a, t, _ = pool.acquire()
    pool.release(a, t, Outcome.BUSY, error="busy", hold=12.0)
    _, t, wait = pool.acquire()
    assert wait == 12.0  # not the 2 s a failure alone earns
    now[0] += 12.0
    pool.release(a, t, Outcome.BUSY, error="busy", hold=1.0)
    _, t, wait = pool.acquire()
    assert wait == 4.0  # a short Retry-After never shortens the usual backoff
    pool.release(a, t, Outcome.CLEAN)
    pool.release(a, pool.acquire()[1], Outcome.BUSY, error="busy", hold=30.0)
    pool.release(a, pool.acquire()[1], Outcome.CLEAN)
    assert pool.acquire()[2] == 30.0  # a clean story elsewhere does not cancel what the server asked


def test_pool_needs_an_endpoint():
    with pytest.raises(ConfigError):
        EndpointPool([])


# --- the wire ---------------------------------------------------------------------------------

def test_sse_events_joined_comments_skipped_done_ends():
    lines = [": ping", 'data: {"a":', "data: 1}", "", "event: x", "data: [DONE]", "", "data: after", ""]
    assert list(iter_sse_data(lines)) == ['{"a":\n1}', "[DONE]"]


def test_sse_last_event_without_blank_line_counts():
    assert list(iter_sse_data(["data:x\r"])) == ["x"]


def test_parse_chunk_delta_finish_and_usage():
    c = parse_chunk('{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}')
    assert (c.content, c.finish_reason) == ("Hi", None)
    c = parse_chunk('{"choices":[],"usage":{"completion_tokens":7}}')
    assert c.usage == {"completion_tokens": 7} and c.content == ""
    c = parse_chunk('{"choices":[{"message":{"content":"Whole"},"finish_reason":"stop"}]}')
    assert (c.content, c.finish_reason) == ("Whole", "stop")


@pytest.mark.parametrize("payload", ['{"choices":[{"delta":', '[1,2]', '{"id":1}', '{"error":{"message":"x"}}',
                                     '{"choices":[{"delta":{"content":5}}]}'])
def test_parse_chunk_rejects_what_no_working_server_sends(payload):
    with pytest.raises(ServerFault):
        parse_chunk(payload)


@pytest.mark.parametrize("status, kind", [(401, AuthFault), (403, AuthFault), (404, RequestFault),
                                          (400, RequestFault), (429, ServerFault), (500, ServerFault),
                                          (503, ServerFault)])
def test_status_codes_sorted_into_retry_or_stop(status, kind):
    fault = status_fault(status, b'{"error":{"message":"why"}}', "http://h:1/v1/x")
    assert type(fault) is kind and "why" in fault.message and str(status) in fault.message


NOW = 1_795_000_000.0  # epoch seconds, for the HTTP-date form


@pytest.mark.parametrize("value, seconds", [
    ("120", 120.0), (" 7 ", 7.0), ("0", 0.0),
    (email.utils.formatdate(NOW + 20, usegmt=True), 20.0),  # "Fri, 17 Nov 2026 ... GMT"
    (email.utils.formatdate(NOW - 60, usegmt=True), 0.0),  # already past: go ahead
    ("99999999999999999999999999", 1e9),  # absurd, but no overflow: far past any cap
    (None, None), ("", None), ("soon", None), ("-5", None), ("1.5", None),
    ("Fri, 17 Nov 2026 18:00:00", None),  # no zone: not an HTTP-date
])
def test_retry_after_in_both_forms(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


def test_only_429_and_503_carry_their_retry_after():
    assert status_fault(429, b"", "u", "3").retry_after == 3.0
    assert status_fault(503, b"", "u", "3").retry_after == 3.0
    assert status_fault(500, b"", "u", "3").retry_after is None
    assert status_fault(429, b"", "u", None).retry_after is None


def test_api_key_from_the_environment_only():
    assert api_key_from_env({"OPENAI_API_KEY": "b"}) == "b"
    assert api_key_from_env({"DREAMFLOW_API_KEY": "a", "OPENAI_API_KEY": "b"}) == "a"
    assert api_key_from_env({"DREAMFLOW_API_KEY": " "}) is None


def test_key_goes_only_into_the_header():
    e = parse_base_url("http://u:p@h:1/v1")
    assert auth_headers(e, "sk-1") == {"Authorization": "Bearer sk-1"}
    assert auth_headers(e, None)["Authorization"].startswith("Basic ")
    assert auth_headers(parse_base_url("http://h:1/v1"), None) == {}


# --- prefix emulation ------------------------------------------------------------------------

def test_opening_is_asked_for_in_the_user_turn():
    msgs = chat_messages("sys", "Write a story.", "Once upon a time, Mia")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[1]["content"].endswith(f'{BEGIN_WITH}"Once upon a time, Mia"')


def test_story_so_far_becomes_an_assistant_turn():
    msgs = chat_messages("sys", "Write a story.", "Mia played.\n\nShe yawned.\n\nSoon, Mia's eyes grew heavy")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[2]["content"] == "Mia played.\n\nShe yawned."
    assert msgs[3]["content"].endswith('"Soon, Mia\'s eyes grew heavy"')
    assert split_prefix("Once upon a time,") == split_prefix("Once upon a time,\n")


@pytest.mark.parametrize("reply, expected", [
    ("One starry night, Mia was sleepy.", " was sleepy."),  # the whole opening echoed
    ("  one  starry night,\nMia was sleepy.", " was sleepy."),  # case and spacing differ
    ("\u201cOne starry night, Mia\u201d was sleepy.", " was sleepy."),  # quoted, curly
    ("Mia's cat purred.", "'s cat purred."),  # only the name echoed
    ("In the meadow, Mia lay down.", " lay down."),  # the name in the first sentence
    ("was already asleep.", " was already asleep."),  # a true continuation
])
def test_strip_echo_after_a_named_opening(reply, expected):
    assert strip_echo(reply, "One starry night, Mia")[0] == expected


def test_strip_echo_reports_what_it_dropped_and_skips_a_title():
    assert strip_echo("  One night, Mia ran.", "One night, Mia") == (" ran.", "  One night, Mia")
    reply = "**The Picnic**\n\nIn a meadow, Ava sat down."
    assert strip_echo(reply, "As the sun went down, Ava") == (" sat down.", "**The Picnic**\n\nIn a meadow, Ava")
    reply = "A Teddy Bear Picnic\n\nThe sun set."
    assert strip_echo(reply, "Once upon a time,") == (" the sun set.", "A Teddy Bear Picnic\n\n")
    # a first line that is story, not title, stays
    assert strip_echo("Mia smiled\nand slept.", "Once upon a time,")[0] == " Mia smiled\nand slept."


def test_strip_echo_joins_a_comma_opening_and_ends_a_cue():
    assert strip_echo("The moon rose.", "Once upon a time,")[0] == " the moon rose."
    assert strip_echo("Mia smiled.", "Once upon a time,")[0] == " Mia smiled."
    assert strip_echo("She slept.", "Story.\n\nSoon, Mia's eyes grew heavy")[0] == ". She slept."
    assert strip_echo("Story.\n\nSoon, Mia's eyes grew heavy, and she slept.",
                      "Story.\n\nSoon, Mia's eyes grew heavy")[0] == ", and she slept."
    assert strip_echo("anything", "") == ("anything", "")


def test_match_length_ignores_layout_only():
    assert match_length("A  b c!", "a b") == 4
    assert match_length("A x", "a b") is None


def test_estimate_rounds_up():
    assert estimate("") == 0 and estimate("abcd") == 2 and CHARS_PER_TOKEN == 3.5
