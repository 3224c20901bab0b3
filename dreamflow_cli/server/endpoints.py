"""Model-server endpoints: parsing base URLs, and a pool that spreads requests over them.

The pool hands out the least-busy endpoint that is up; an endpoint that failed is marked down
for a while (longer after each consecutive failure) so the others take its work, and comes back
by itself. The clock is injected, so every decision is unit-tested without sleeping.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Collection, Sequence
from urllib.parse import urlsplit, urlunsplit

from dreamflow_cli.errors import ConfigError
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


@dataclass
class EndpointState:
    endpoint: Endpoint
    in_flight: int = 0
    failures: int = 0  # consecutive; a success resets it
    down_until: float = 0.0
    served: int = 0  # requests handed out, for even spreading among equals
    completed: int = 0
    failed: int = 0
    last_error: str | None = None

    def is_up(self, now: float) -> bool:
        return now >= self.down_until


def down_seconds(failures: int, base: float = DOWN_SECONDS, cap: float = DOWN_MAX_SECONDS) -> float:
    """How long an endpoint stays out after its ``failures``-th consecutive failure."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** (failures - 1))


def choose(states: Sequence[EndpointState], now: float, avoid: Collection[str] = ()) -> tuple[int, float]:
    """(index, seconds to wait before using it). Up endpoints first, those not in ``avoid``
    (already tried for this request) before those in it, then least busy, fewest recent
    failures, fewest served. With every endpoint down: the one that comes back soonest."""
    if not states:
        raise ValueError("no endpoints")
    up = [i for i, s in enumerate(states) if s.is_up(now)]
    if up:
        best = min(up, key=lambda i: (states[i].endpoint.url in avoid, states[i].in_flight,
                                      states[i].failures, states[i].served, i))
        return best, 0.0
    soonest = min(range(len(states)), key=lambda i: (states[i].endpoint.url in avoid, states[i].down_until, i))
    return soonest, states[soonest].down_until - now


class EndpointPool:
    """Thread-safe bookkeeping of which endpoint is busy, up or down."""

    def __init__(self, endpoints: Sequence[Endpoint], *, clock: Callable[[], float] = time.monotonic,
                 down_base: float = DOWN_SECONDS, down_cap: float = DOWN_MAX_SECONDS):
        if not endpoints:
            raise ConfigError("no model-server URL given", BASE_URL_HINT)
        self._states = [EndpointState(e) for e in endpoints]
        self._clock = clock
        self._lock = threading.Lock()
        self._down_base = down_base
        self._down_cap = down_cap

    @property
    def endpoints(self) -> list[Endpoint]:
        return [s.endpoint for s in self._states]

    def acquire(self, avoid: Collection[str] = ()) -> tuple[Endpoint, float]:
        """Reserve an endpoint: (endpoint, seconds the caller should wait before using it)."""
        with self._lock:
            index, wait = choose(self._states, self._clock(), avoid)
            state = self._states[index]
            state.in_flight += 1
            state.served += 1
            return state.endpoint, wait

    def release(self, endpoint: Endpoint, *, ok: bool | None, error: str | None = None,
                hold: float | None = None) -> None:
        """Give an endpoint back. ``ok`` True: it answered; False: it failed and goes down for a
        while (at least ``hold`` seconds when the server said how long: its Retry-After); None:
        the request ended for a reason that says nothing about the endpoint."""
        with self._lock:
            state = self._state(endpoint)
            state.in_flight = max(0, state.in_flight - 1)
            if ok:
                state.failures = 0
                state.down_until = 0.0
                state.completed += 1
            elif ok is False:
                self._mark_down(state, error, hold)

    def mark_down(self, endpoint: Endpoint, error: str | None = None) -> None:
        with self._lock:
            self._mark_down(self._state(endpoint), error)

    def _mark_down(self, state: EndpointState, error: str | None, hold: float | None = None) -> None:
        state.failures += 1
        state.failed += 1
        state.last_error = error
        down = down_seconds(state.failures, self._down_base, self._down_cap)
        state.down_until = self._clock() + max(down, hold or 0.0)

    def _state(self, endpoint: Endpoint) -> EndpointState:
        for state in self._states:
            if state.endpoint.url == endpoint.url:
                return state
        raise KeyError(endpoint.url)

    def in_flight(self) -> int:
        with self._lock:
            return sum(s.in_flight for s in self._states)

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            now = self._clock()
            return [{"url": s.endpoint.url, "in_flight": s.in_flight, "up": s.is_up(now), "completed": s.completed,
                     "failed": s.failed, "last_error": s.last_error} for s in self._states]
