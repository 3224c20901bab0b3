"""Model-server endpoints: parsing base URLs, and a pool that spreads requests over them.

The pool hands out the least-busy endpoint that is up and has room: each endpoint takes at most
its learned limit of requests at once (capacity.py; it starts at the endpoint's share of
``--parallel``), and a request waits while every endpoint is full. An endpoint that failed is
marked down for a while (longer after each consecutive failure) so the others take its work, and
comes back by itself. The clock is injected, so every decision is unit-tested without sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Collection, Sequence
from urllib.parse import urlsplit, urlunsplit

from dreamflow_cli.errors import ConfigError
from dreamflow_cli.server.capacity import Outcome, Rules, ServerState, Ticket, Verdict, next_state
from dreamflow_cli.settings.show import public_url

# A first failure keeps an endpoint out of rotation this long; each further one doubles it.
DOWN_SECONDS = 2.0
DOWN_MAX_SECONDS = 30.0
BASE_URL_HINT = "give a URL like http://127.0.0.1:8080/v1 (--base-url, DREAMFLOW_BASE_URL or base_url in the config)"


@dataclass(frozen=True)
class Endpoint:
    """One server. ``url`` never holds credentials: it is what we print and record."""

    url: str  # scheme://host[:port]/path, no userinfo, no trailing slash
    scheme: str
    host: str
    port: int
    path: str  # e.g. "/v1"
    userinfo: str | None = field(default=None, repr=False, compare=False)  # "user:pass" from the URL

    def __str__(self) -> str:
        return self.url

    @property
    def address(self) -> str:
        """host:port, how a notice names the server."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_base_url(text: str) -> Endpoint:
    """A base URL as users write it. A bare host (no path) gets ``/v1``, the path every
    OpenAI-compatible server serves; any other path is kept as given."""
    raw = text.strip()
    shown = public_url(raw)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(f"base URL {shown!r} is not a valid URL", BASE_URL_HINT) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {shown!r} must start with http:// or https:// and name a host", BASE_URL_HINT)
    if parts.query or parts.fragment:
        raise ConfigError(f"base URL {shown!r} must not have a query or fragment", BASE_URL_HINT)
    path = parts.path.rstrip("/") or "/v1"
    port = port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname
    shown_host = f"[{host}]" if ":" in host else host
    userinfo = parts.netloc.rpartition("@")[0] or None
    url = urlunsplit((parts.scheme, f"{shown_host}:{port}", path, "", ""))
    return Endpoint(url=url, scheme=parts.scheme, host=host, port=port, path=path, userinfo=userinfo)


def parse_base_urls(values: Sequence[str]) -> list[Endpoint]:
    """Each value may hold several comma-separated URLs; duplicates count once."""
    endpoints: dict[str, Endpoint] = {}
    for value in values:
        for piece in value.split(","):
            if piece.strip():
                endpoint = parse_base_url(piece)
                endpoints.setdefault(endpoint.url, endpoint)
    return list(endpoints.values())


def shares(parallel: int, count: int) -> list[int]:
    """Each endpoint's share of ``parallel`` stories in flight (its first limit and its ceiling):
    an even split, the remainder to the first ones, at least 1 each."""
    if count <= 0:
        return []
    base, extra = divmod(max(1, parallel), count)
    return [max(1, base + (1 if i < extra else 0)) for i in range(count)]


@dataclass
class EndpointState:
    endpoint: Endpoint
    capacity: ServerState = field(default_factory=lambda: ServerState.start(1))
    in_flight: int = 0
    failures: int = 0  # consecutive; a success resets it
    down_until: float = 0.0  # out after failures; a clean story ends it
    held_until: float = 0.0  # out because the server said so (Retry-After); only time ends it
    served: int = 0  # requests handed out, for even spreading among equals
    completed: int = 0
    failed: int = 0
    last_error: str | None = None
    tickets: list[Ticket] = field(default_factory=list)  # the requests in flight to it

    @property
    def back_at(self) -> float:
        return max(self.down_until, self.held_until)

    def is_up(self, now: float) -> bool:
        return now >= self.back_at

    def has_room(self) -> bool:
        return self.in_flight < self.capacity.limit


def down_seconds(failures: int, base: float = DOWN_SECONDS, cap: float = DOWN_MAX_SECONDS) -> float:
    """How long an endpoint stays out after its ``failures``-th consecutive failure."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** (failures - 1))


def choose(states: Sequence[EndpointState], now: float, avoid: Collection[str] = ()) -> tuple[int | None, float]:
    """Where a request goes: (index, seconds to wait before using it), or (None, seconds to wait
    for a change before asking again; inf: until a request in flight ends).

    Only endpoints with room (fewer in flight than their learned limit) are given work. Among
    those that are up: the ones not in ``avoid`` (already tried for this request) first, unless a
    tried one has answered well since (its failures were reset), then least busy, fewest recent
    failures, fewest served. A request that already failed on a server is not sent back to it
    while another server is merely full (a killed server would otherwise eat every retry of the
    stories waiting for the live one): it waits for room there. With no endpoint full and none
    ready: the one that comes back soonest, and how long until then."""
    if not states:
        raise ValueError("no endpoints")

    def fresh(s: EndpointState) -> bool:
        return s.endpoint.url not in avoid or s.failures == 0

    room = [i for i, s in enumerate(states) if s.has_room()]
    ready = [i for i in room if states[i].is_up(now) and fresh(states[i])]
    if ready:
        best = min(ready, key=lambda i: (states[i].endpoint.url in avoid, states[i].in_flight,
                                         states[i].failures, states[i].served, i))
        return best, 0.0
    if len(room) < len(states):
        # A request in flight will end and make room; meanwhile a server may come back up.
        back = [states[i].back_at - now for i in room if fresh(states[i])]
        return None, max(0.0, min(back, default=math.inf))
    soonest = min(room, key=lambda i: (states[i].endpoint.url in avoid, states[i].back_at, i))
    return soonest, max(0.0, states[soonest].back_at - now)


class PoolClosed(Exception):
    """The pool was closed while a request waited for room."""


class EndpointPool:
    """Thread-safe bookkeeping of which endpoint is busy, up or down, and how many requests
    each takes at once (its learned capacity). ``acquire`` waits while every endpoint is full."""

    def __init__(self, endpoints: Sequence[Endpoint], *, asked: Sequence[int] | None = None,
                 clock: Callable[[], float] = time.monotonic, down_base: float = DOWN_SECONDS,
                 down_cap: float = DOWN_MAX_SECONDS, rules: Rules = Rules()):
        if not endpoints:
            raise ConfigError("no model-server URL given", BASE_URL_HINT)
        asked = list(asked) if asked is not None else [1] * len(endpoints)
        self._states = [EndpointState(e, ServerState.start(n)) for e, n in zip(endpoints, asked, strict=True)]
        self._clock = clock
        self._cond = threading.Condition()
        self._down_base = down_base
        self._down_cap = down_cap
        self._rules = rules
        self._closed = False

    @property
    def endpoints(self) -> list[Endpoint]:
        return [s.endpoint for s in self._states]

    def acquire(self, avoid: Collection[str] = ()) -> tuple[Endpoint, Ticket, float]:
        """Reserve room on an endpoint: (endpoint, the request's ticket, seconds the caller
        should wait before using it). Blocks while no endpoint has room; PoolClosed on close()."""
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed()
                index, wait = choose(self._states, self._clock(), avoid)
                if index is not None:
                    return self._states[index].endpoint, self._take(self._states[index]), wait
                self._cond.wait(None if math.isinf(wait) else max(wait, 0.01))

    def _take(self, state: EndpointState) -> Ticket:
        state.in_flight += 1
        state.served += 1
        ticket = Ticket(state.endpoint.url, state.in_flight)
        for other in state.tickets:
            other.peak = max(other.peak, state.in_flight)
        state.tickets.append(ticket)
        return ticket

    def release(self, endpoint: Endpoint, ticket: Ticket, outcome: Outcome, *, error: str | None = None,
                hold: float | None = None, status: int | None = None) -> Verdict:
        """Give a ticket back with how its request ended, and learn from it (capacity.py). CLEAN:
        the endpoint works; a failure that is not a capacity event dreamflow caused puts it down
        for a while (at least ``hold`` seconds when the server said how long: its Retry-After);
        a capacity event (``Verdict.free_retry``) never does, though its Retry-After is obeyed;
        ABANDONED says nothing about the endpoint."""
        with self._cond:
            state = self._state(endpoint)
            if not ticket.open:
                raise ValueError("ticket already released")
            ticket.open = False
            state.tickets.remove(ticket)
            state.in_flight -= 1
            now = self._clock()
            state.capacity, verdict = next_state(state.capacity, outcome, ticket.peak, now,
                                                 server=endpoint.address, rules=self._rules, status=status,
                                                 retry_after=hold)
            if outcome is Outcome.CLEAN:
                state.failures = 0
                state.down_until = 0.0
                state.completed += 1
            elif verdict.free_retry:
                pass  # the server is fine: dreamflow asked too much of it at once
            elif outcome is not Outcome.ABANDONED:
                self._mark_down(state, error)
            if hold:
                state.held_until = max(state.held_until, now + hold)
            self._cond.notify_all()
            return verdict

    def mark_down(self, endpoint: Endpoint, error: str | None = None) -> None:
        with self._cond:
            self._mark_down(self._state(endpoint), error)

    def _mark_down(self, state: EndpointState, error: str | None) -> None:
        state.failures += 1
        state.failed += 1
        state.last_error = error
        state.down_until = self._clock() + down_seconds(state.failures, self._down_base, self._down_cap)

    def close(self) -> None:
        """Wake every request waiting for room: they raise PoolClosed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _state(self, endpoint: Endpoint) -> EndpointState:
        for state in self._states:
            if state.endpoint.url == endpoint.url:
                return state
        raise KeyError(endpoint.url)

    def in_flight(self) -> int:
        with self._cond:
            return sum(s.in_flight for s in self._states)

    def limit(self, endpoint: Endpoint) -> int:
        with self._cond:
            return self._state(endpoint).capacity.limit

    def capacity(self) -> dict[str, dict[str, object]]:
        """Per server URL: what was asked, the limit used now, the lowest and why (capacity.py)."""
        with self._cond:
            return {s.endpoint.url: s.capacity.describe() for s in self._states}

    def snapshot(self) -> list[dict[str, object]]:
        with self._cond:
            now = self._clock()
            return [{"url": s.endpoint.url, "in_flight": s.in_flight, "up": s.is_up(now), "completed": s.completed,
                     "failed": s.failed, "last_error": s.last_error, "limit": s.capacity.limit,
                     "asked": s.capacity.asked} for s in self._states]
