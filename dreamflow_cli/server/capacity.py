"""How many stories each model server is given at once: learned from what the server does,
never assumed.

Servers differ: llama-cpp-python's server (with its defaults) and LM Studio write one story at a
time, and llama-cpp-python *interrupts* the running story when a second request arrives;
llama-server has N slots and queues the rest; vLLM and Ollama batch; a gateway answers 429/503
when full. So each server starts at the user's share of ``--parallel`` (its ceiling: never more
than asked) and its limit moves with outcomes:

* a story the server **ended early on purpose** (the stream closed cleanly with ``[DONE]`` but
  without a finish reason) while dreamflow had more than one request in flight to it: this
  server interrupts; it writes one story at a time. Limit and ceiling become 1 for the run, with
  no re-probing, since every probe would cost a cut story;
* **429 or 503** while more than one was in flight: the server turned one away at that load; the
  limit drops to one fewer than the load it refused (at least 1), and may rise again later;
* a **dropped connection** (reset, incomplete body) while more than one was in flight: a server
  that hangs up when overloaded, or one that crashed: limit one lower, may rise again, and
  nothing is said (a crash is not a fact about capacity worth a notice);
* ``raise_after`` clean completions in a row, and ``cooldown`` seconds since the last drop (or the
  server's Retry-After, if longer): the limit goes up by one, never above the ceiling.

A story lost to a capacity event dreamflow caused (it had more than one in flight) is retried
without counting against ``server_retries``: ``Verdict.free_retry``. That is bounded: once the
limit is 1 nothing overlaps, so nothing more is free until the limit rises again, which takes
``raise_after`` clean stories. The same event with one request in flight says nothing about
capacity (a crash, a rate limit shared with other users) and is an ordinary failed attempt.

``next_state`` is the whole decision, a pure function with the clock passed in; the endpoint
pool (endpoints.py) keeps one ``ServerState`` per server and one ``Ticket`` per request.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

RAISE_AFTER = 4  # clean completions in a row before one more slot is tried
COOLDOWN_SECONDS = 30.0  # and at least this long after the last drop


class Outcome(enum.Enum):
    CLEAN = "clean"  # the stream ended with a finish reason (or dreamflow's own budget stopped it)
    CUT = "cut"  # the server ended the stream cleanly, early, without a finish reason
    DROPPED = "dropped"  # the connection broke mid-reply (reset, incomplete chunked body)
    BUSY = "busy"  # HTTP 429 or 503
    FAULT = "fault"  # any other server failure (5xx, refused, timeout, malformed): not about capacity
    ABANDONED = "abandoned"  # dreamflow stopped the request itself: says nothing about the server


@dataclass(frozen=True)
class Rules:
    raise_after: int = RAISE_AFTER
    cooldown: float = COOLDOWN_SECONDS


@dataclass(frozen=True)
class ServerState:
    """What is known about one server's capacity. ``asked``: the user's share, the first limit."""

    asked: int
    limit: int
    ceiling: int
    clean_streak: int = 0
    quiet_until: float = 0.0  # no raise before this (clock seconds)
    lowest: int = 0  # the lowest limit used so far (0: never lowered)
    reason: str | None = None  # why it was lowered last, for story.json / --json
    noted: bool = False  # the one-line notice was given

    @classmethod
    def start(cls, asked: int) -> "ServerState":
        asked = max(1, int(asked))
        return cls(asked=asked, limit=asked, ceiling=asked)

    def describe(self) -> dict[str, object]:
        """For story.json / --json: what was asked, what is used, and why."""
        entry: dict[str, object] = {"asked": self.asked, "limit": self.limit}
        if self.lowest:
            entry["lowest"] = self.lowest
        if self.reason:
            entry["reason"] = self.reason
        return entry


@dataclass(frozen=True)
class Verdict:
    free_retry: bool  # retry the story without counting it against server_retries
    note: str | None  # say this once on stderr (the first time a limit is learned)
    limit: int  # the server's limit now


def slots_phrase(limit: int) -> str:
    if limit == 1:
        return "writes one story at a time; using 1 slot"
    return f"writes {limit} stories at a time; using {limit} slots"


def next_state(state: ServerState, outcome: Outcome, peak: int, now: float, *, server: str,
               rules: Rules = Rules(), status: int | None = None, retry_after: float | None = None
               ) -> tuple[ServerState, Verdict]:
    """The server's capacity after one request ended with ``outcome``. ``peak``: the most
    requests dreamflow had in flight to this server at any moment of that request's life
    (itself included). ``server``: how to name it in the notice."""
    if outcome is Outcome.CLEAN:
        streak = state.clean_streak + 1
        if streak >= rules.raise_after and state.limit < state.ceiling and now >= state.quiet_until:
            new = replace(state, limit=state.limit + 1, clean_streak=0)
        else:
            new = replace(state, clean_streak=streak)
        return new, Verdict(False, None, new.limit)
    if outcome is Outcome.ABANDONED:
        return state, Verdict(False, None, state.limit)
    if outcome is Outcome.FAULT or peak <= 1:
        # Not about capacity (or not caused by our overlap): an ordinary failed attempt.
        new = replace(state, clean_streak=0)
        return new, Verdict(False, None, new.limit)
    if outcome is Outcome.CUT:
        limit, ceiling = 1, 1
        reason = f"ended a story early when {peak} were in flight"
    elif outcome is Outcome.BUSY:
        limit, ceiling = max(1, min(state.limit, peak - 1)), state.ceiling
        reason = f"answered HTTP {status or 429} when {peak} were in flight"
    else:  # DROPPED
        limit, ceiling = max(1, min(state.limit, peak - 1)), state.ceiling
        reason = f"dropped a connection when {peak} were in flight"
    lowered = limit < state.limit
    quiet = max(rules.cooldown, retry_after or 0.0)
    new = replace(state, limit=limit, ceiling=ceiling, clean_streak=0,
                  quiet_until=max(state.quiet_until, now + quiet),
                  lowest=min(state.lowest or limit, limit), reason=reason if lowered else state.reason)
    note = None
    # Said once, and only for a deliberate signal: a dropped connection may be a crash.
    if lowered and not state.noted and outcome is not Outcome.DROPPED:
        note = f"server {server} {slots_phrase(limit)}"
        new = replace(new, noted=True)
    return new, Verdict(True, note, new.limit)


@dataclass
class Ticket:
    """One request in flight to ``server`` (a URL). ``peak`` grows while others join it there."""

    server: str
    peak: int
    open: bool = True


def stream_outcome(*, status: int | None, finish_reason: str | None, done: bool, broke: bool,
                   cancelled: bool = False) -> Outcome:
    """How a chat request ended. ``done``: "data: [DONE]" arrived; ``broke``: the connection
    failed mid-reply (reset, incomplete body). llama-cpp-python's interrupt is a 200 whose stream
    ends cleanly with [DONE] and no finish reason; a body that simply ends without [DONE] is
    treated as dropped, since a crash behind a proxy can look like that too."""
    if cancelled:
        return Outcome.ABANDONED
    if status in (429, 503):
        return Outcome.BUSY
    if status != 200:
        return Outcome.FAULT
    if finish_reason is not None:
        return Outcome.CLEAN
    if done and not broke:
        return Outcome.CUT
    return Outcome.DROPPED
