"""server/capacity.py and the endpoint pool: the learned per-server limit, as a pure rule and
as the pool's thread-safe bookkeeping."""

from __future__ import annotations

import math
import threading

import pytest

from dreamflow_cli.server.capacity import Outcome, Rules, ServerState, next_state
from dreamflow_cli.server.endpoints import EndpointPool, PoolClosed, choose, parse_base_urls, shares

URL = "http://127.0.0.1:8080/v1"
RULES = Rules(raise_after=3, cooldown=30.0)


def step(state: ServerState, outcome: Outcome, peak: int, now: float = 100.0, **kw):
    return next_state(state, outcome, peak, now, server="127.0.0.1:8080", rules=RULES, **kw)


# --- the pure rule -------------------------------------------------------------------------

def test_a_cut_while_two_were_in_flight_means_one_at_a_time_for_good():
    state, verdict = step(ServerState.start(2), Outcome.CUT, peak=2)
    assert (state.limit, state.ceiling, state.lowest) == (1, 1, 1)
    assert verdict.free_retry and verdict.limit == 1
    assert verdict.note == "server 127.0.0.1:8080 writes one story at a time; using 1 slot"
    assert state.reason == "ended a story early when 2 were in flight"
    # clean stories never raise it again: each probe would cost a cut story
    for i in range(20):
        state, verdict = step(state, Outcome.CLEAN, peak=1, now=1000.0 + i)
    assert state.limit == 1 and verdict.note is None


def test_the_note_is_given_once_per_server():
    state, first = step(ServerState.start(4), Outcome.CUT, peak=4)
    state, second = step(state, Outcome.CUT, peak=3)  # a story sent before the limit dropped
    assert first.note is not None and second.note is None
    assert second.free_retry  # the overlap was ours: not the story's fault


def test_a_cut_with_one_in_flight_is_an_ordinary_failure():
    state, verdict = step(ServerState.start(2), Outcome.CUT, peak=1)
    assert state.limit == 2 and not verdict.free_retry and verdict.note is None


@pytest.mark.parametrize("status", [429, 503])
def test_busy_lowers_to_one_below_the_refused_load_and_may_rise_again(status):
    state, verdict = step(ServerState.start(4), Outcome.BUSY, peak=4, status=status)
    assert (state.limit, state.ceiling) == (3, 4) and verdict.free_retry
    assert verdict.note == "server 127.0.0.1:8080 writes 3 stories at a time; using 3 slots"
    assert state.reason == f"answered HTTP {status} when 4 were in flight"
    # three clean stories inside the cooldown: no raise yet
    for t in (101.0, 102.0, 103.0):
        state, _ = step(state, Outcome.CLEAN, peak=3, now=t)
    assert state.limit == 3
    # after the cooldown, the next full streak raises by one, up to what was asked and no further
    for t in (140.0, 141.0, 142.0):
        state, _ = step(state, Outcome.CLEAN, peak=3, now=t)
    assert state.limit == 4
    for t in range(150, 170):
        state, _ = step(state, Outcome.CLEAN, peak=4, now=float(t))
    assert state.limit == 4


def test_busy_with_one_in_flight_counts_as_a_retry_and_changes_nothing():
    state, verdict = step(ServerState.start(2), Outcome.BUSY, peak=1, status=429)
    assert state.limit == 2 and not verdict.free_retry


def test_a_long_retry_after_delays_the_raise():
    state, _ = step(ServerState.start(2), Outcome.BUSY, peak=2, status=503, retry_after=120.0)
    for t in (110.0, 140.0, 200.0):  # cooldown (30 s) passed, Retry-After (120 s) not yet
        state, _ = step(state, Outcome.CLEAN, peak=1, now=t)
    assert state.limit == 1
    for t in (221.0, 222.0, 223.0):
        state, _ = step(state, Outcome.CLEAN, peak=1, now=t)
    assert state.limit == 2


def test_a_dropped_connection_lowers_by_one_without_a_notice():
    # a crash looks the same: no claim about the server is printed, but the story is not charged
    state, verdict = step(ServerState.start(3), Outcome.DROPPED, peak=3)
    assert (state.limit, state.ceiling) == (2, 3) and verdict.free_retry and verdict.note is None


def test_faults_and_abandoned_requests_say_nothing_about_capacity():
    start = ServerState.start(2)
    state, verdict = step(start, Outcome.FAULT, peak=2)
    assert state.limit == 2 and not verdict.free_retry
    state, verdict = step(start, Outcome.ABANDONED, peak=2)
    assert state == start and not verdict.free_retry


def test_a_fault_breaks_the_clean_streak():
    state, _ = step(ServerState.start(2), Outcome.BUSY, peak=2, status=429, now=0.0)
    state, _ = step(state, Outcome.CLEAN, peak=1, now=50.0)
    state, _ = step(state, Outcome.CLEAN, peak=1, now=51.0)
    state, _ = step(state, Outcome.FAULT, peak=1, now=52.0)
    state, _ = step(state, Outcome.CLEAN, peak=1, now=53.0)
    assert state.limit == 1 and state.clean_streak == 1


def test_the_limit_never_goes_below_one_nor_above_the_ceiling():
    state = ServerState.start(1)
    for outcome in (Outcome.CUT, Outcome.BUSY, Outcome.DROPPED):
        state, _ = step(state, outcome, peak=5)
        assert state.limit == 1
    assert ServerState.start(0).limit == 1


# --- the bookkeeping: the endpoint pool --------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pool(*asked: int, clock=None, rules=RULES) -> EndpointPool:
    urls = ",".join(f"http://127.0.0.{i + 1}:8080/v1" for i in range(len(asked)))
    return EndpointPool(parse_base_urls([urls]), asked=asked, clock=clock or Clock(), rules=rules)


def test_tickets_remember_the_peak_of_their_lifetime():
    pool = _pool(2)
    e, a, _ = pool.acquire()
    assert a.peak == 1
    _, b, _ = pool.acquire()  # joins a: llama-cpp-python would now cut a
    assert (a.peak, b.peak) == (2, 2)
    verdict = pool.release(e, a, Outcome.CUT)
    assert verdict.free_retry and verdict.limit == 1 and verdict.note is not None
    assert pool.snapshot()[0]["up"]  # a capacity event never puts the server down
    pool.release(e, b, Outcome.CLEAN)
    _, c, _ = pool.acquire()
    assert c.peak == 1 and pool.snapshot()[0]["in_flight"] == 1
    pool.release(e, c, Outcome.CLEAN)
    assert pool.capacity() == {URL: {"asked": 2, "limit": 1, "lowest": 1,
                                     "reason": "ended a story early when 2 were in flight"}}
    assert pool.snapshot()[0]["limit"] == 1 and pool.snapshot()[0]["asked"] == 2


def test_a_ticket_released_twice_is_a_bug():
    pool = _pool(1)
    e, t, _ = pool.acquire()
    pool.release(e, t, Outcome.CLEAN)
    with pytest.raises(ValueError):
        pool.release(e, t, Outcome.CLEAN)


def test_servers_are_independent_and_named_in_the_note():
    pool = _pool(2, 2)
    a_end, a, _ = pool.acquire()
    b_end, b, _ = pool.acquire()
    c_end, c, _ = pool.acquire()
    d_end, d, _ = pool.acquire()
    assert a_end == c_end != b_end == d_end  # spread: least busy first
    assert pool.release(a_end, a, Outcome.CUT).note == "server 127.0.0.1:8080 writes one story at a time; using 1 slot"
    assert pool.limit(b_end) == 2 and pool.limit(a_end) == 1
    for end, t in ((b_end, b), (c_end, c), (d_end, d)):
        pool.release(end, t, Outcome.CLEAN)


def test_a_busy_answer_obeys_its_retry_after_without_counting_a_failure():
    clock = Clock()
    pool = _pool(2, clock=clock)
    e, a, _ = pool.acquire()
    _, b, _ = pool.acquire()
    verdict = pool.release(e, a, Outcome.BUSY, status=429, hold=5.0)
    assert verdict.free_retry and verdict.limit == 1
    pool.release(e, b, Outcome.CLEAN)
    _, c, wait = pool.acquire()
    assert wait == 5.0  # its Retry-After, exactly: no failure-doubled backoff on top
    pool.release(e, c, Outcome.ABANDONED)
    assert pool.snapshot()[0]["failed"] == 0


def test_acquire_waits_for_room_and_wakes_on_release():
    pool = _pool(1)
    e, t, _ = pool.acquire()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire()))
    waiter.start()
    waiter.join(0.1)  # an acquire that did not wait would be back in microseconds
    assert waiter.is_alive() and got == []  # no room: it waits
    pool.release(e, t, Outcome.CLEAN)
    waiter.join(5)
    assert len(got) == 1 and pool.in_flight() == 1


def test_close_wakes_a_waiting_acquire():
    pool = _pool(1)
    pool.acquire()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            pool.acquire()
        except PoolClosed as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiter.join(0.1)
    pool.close()
    waiter.join(5)
    assert not waiter.is_alive() and len(errors) == 1


def test_a_story_that_failed_on_a_server_waits_for_a_full_one_rather_than_go_back():
    """A killed server must not eat every retry of the stories waiting for the live one."""
    clock = Clock()
    pool = _pool(1, 1, clock=clock)
    dead_end, dead, _ = pool.acquire()
    live_end, live, _ = pool.acquire()
    pool.release(dead_end, dead, Outcome.FAULT, error="refused")
    clock.now = 100.0  # the dead one is up again as far as the pool knows
    assert choose(_states_of(pool), clock.now, avoid={dead_end.url}) == (None, math.inf)  # wait for the live one
    assert choose(_states_of(pool), clock.now)[0] == 0  # a story that has not tried it goes there
    pool.release(live_end, live, Outcome.CLEAN)
    assert choose(_states_of(pool), clock.now, avoid={dead_end.url}) == (1, 0.0)


def test_waiting_for_room_until_a_down_server_comes_back():
    clock = Clock()
    pool = _pool(1, 1, clock=clock)
    a_end, a, _ = pool.acquire()
    b_end, b, _ = pool.acquire()
    pool.release(a_end, a, Outcome.FAULT, error="500")  # down for 2 s, failed for another story
    assert choose(_states_of(pool), clock.now) == (None, 2.0)


def _states_of(pool: EndpointPool):
    return pool._states  # the pure choice is tested on the pool's real bookkeeping


def test_many_threads_never_exceed_the_limit():
    """Eight workers hammer one server whose limit is 3 while it is lowered to 1 half-way:
    the number in flight never passes the limit of the moment."""
    pool = _pool(3, rules=Rules(raise_after=10**6))
    lock = threading.Lock()
    state = {"in_flight": 0, "worst_over": 0, "done": 0, "cut": False}

    def worker(n: int) -> None:
        for i in range(100):
            endpoint, ticket, _ = pool.acquire()
            with lock:
                state["in_flight"] += 1
                state["worst_over"] = max(state["worst_over"], state["in_flight"] - pool._states[0].capacity.limit)
            cut = n == 0 and i >= 50 and ticket.peak > 1 and not state["cut"]
            with lock:
                state["cut"] = state["cut"] or cut
                state["in_flight"] -= 1
                state["done"] += 1
            pool.release(endpoint, ticket, Outcome.CUT if cut else Outcome.CLEAN)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert state["worst_over"] <= 0 and state["done"] == 800
    assert pool.limit(pool.endpoints[0]) == (1 if state["cut"] else 3)
    assert pool.in_flight() == 0  # every ticket returned


# --- how a stream ended ----------------------------------------------------------------------

def test_stream_outcomes():
    from dreamflow_cli.server.capacity import stream_outcome as so

    assert so(status=200, finish_reason="stop", done=True, broke=False) is Outcome.CLEAN
    assert so(status=200, finish_reason="length", done=False, broke=False) is Outcome.CLEAN  # no [DONE] needed
    assert so(status=200, finish_reason=None, done=True, broke=False) is Outcome.CUT  # llama-cpp-python's interrupt
    assert so(status=200, finish_reason=None, done=False, broke=False) is Outcome.DROPPED
    assert so(status=200, finish_reason=None, done=False, broke=True) is Outcome.DROPPED
    assert so(status=429, finish_reason=None, done=False, broke=False) is Outcome.BUSY
    assert so(status=503, finish_reason=None, done=False, broke=False) is Outcome.BUSY
    assert so(status=500, finish_reason=None, done=False, broke=False) is Outcome.FAULT
    assert so(status=None, finish_reason=None, done=False, broke=True) is Outcome.FAULT  # refused, no answer
    assert so(status=200, finish_reason=None, done=True, broke=False, cancelled=True) is Outcome.ABANDONED


def test_shares_of_parallel():
    assert shares(4, 2) == [2, 2] and shares(5, 2) == [3, 2] and shares(1, 3) == [1, 1, 1]
    assert shares(7, 3) == [3, 2, 2] and shares(2, 1) == [2] and shares(3, 0) == []
