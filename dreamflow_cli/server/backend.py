"""The ``openai`` backend: stories written by OpenAI-compatible servers (llama-server, vLLM,
Ollama, LM Studio, llama-cpp-python's server), spread over one or more endpoints.

A request that fails for a reason another endpoint might not share (refused, timed out, 5xx, a
cut stream, malformed data) is retried on the least-busy other endpoint, after a short backoff,
``server_retries`` times at most; the endpoint that failed is left alone for a while. A 429 or 503
with a Retry-After header keeps that endpoint out for as long as it asks, up to
RETRY_AFTER_MAX_SECONDS; one that asks for longer is not tried again for that story (another
endpoint is, else the story fails as when the retries run out). A wrong key, an unknown model or
a redirect to another host ends the run at once with a message that says what to fix.

How many stories each endpoint is given at once is learned (capacity.py): it starts at the
endpoint's share of --parallel, and a story lost because dreamflow asked too much of a server at
once (it cut the stream, answered 429/503 or dropped the connection with several in flight) is
retried without counting against ``server_retries`` while that server's limit goes down; what
was learned is said once through ``on_notice`` and recorded by ``describe``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from dreamflow_cli.backend.seam import Generation, Prompt
from dreamflow_cli.server.chat_prefix import chat_messages, count_message_tokens, estimate, split_prefix, strip_echo
from dreamflow_cli.server.capacity import Outcome, Ticket, Verdict
from dreamflow_cli.server.netconf import NetConfigError
from dreamflow_cli.server.endpoints import DOWN_MAX_SECONDS, Endpoint, EndpointPool, PoolClosed, parse_base_urls, shares
from dreamflow_cli.settings.profiles import MIN_CTX, Profile, defaults_by_table
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.errors import ConfigError, DreamflowError, ModelError, UsageError
from dreamflow_cli.server.client import (
    KEY_HINT,
    PROBE_TIMEOUT,
    AuthFault,
    Cancelled,
    Client,
    RequestFault,
    ServerFault,
    SetupFault,
    api_key_from_env,
    serves,
)

# The context we assume a server gives each request when --ctx / the config says nothing: the
# smallest that llama-server, llama-cpp-python's server and Ollama start with.
SERVER_N_CTX = 2048
# Stories in flight per endpoint by default: one being written while the next one's request is
# already queued, so a server never idles between stories.
PARALLEL_PER_ENDPOINT = 2
# Free retries (capacity events dreamflow caused) per story and server: enough for a server to
# be learned as one-at-a-time, never an endless loop.
FREE_RETRIES_PER_ENDPOINT = 2
BACKOFF_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
# The longest a server's Retry-After is waited: as long as a failing endpoint is ever kept out.
RETRY_AFTER_MAX_SECONDS = DOWN_MAX_SECONDS
# The whole-reply deadline allows at least this long per token of the budget.
SECONDS_PER_TOKEN = 1.0

Notice = Callable[[str], None]


def default_parallel(endpoints: int) -> int:
    return max(1, PARALLEL_PER_ENDPOINT * endpoints)


def server_profile(configured: Mapping[str, Mapping[str, int | bool]] | None,
                   flags: Mapping[str, int | bool] | None) -> Profile:
    """n_ctx and the story budget for a server: --ctx/--max-tokens < [profile.standard] in the
    config < defaults (SERVER_N_CTX, the standard profile's budget). Batch size, threads and
    memory belong to the server, so they are recorded as 0."""
    values: dict[str, int] = {"n_ctx": SERVER_N_CTX, "max_tokens": int(defaults_by_table()["standard"]["max_tokens"])}
    for source in ((configured or {}).get("standard", {}), flags or {}):
        for key in ("n_ctx", "max_tokens"):
            if key in source:
                values[key] = int(source[key])
    if values["n_ctx"] < MIN_CTX:
        raise ConfigError(f"n_ctx {values['n_ctx']} is too small", f"use at least {MIN_CTX}")
    return Profile(name="server", n_ctx=values["n_ctx"], n_batch=0, n_threads=0, max_tokens=values["max_tokens"],
                   repack=False, use_mmap=False)


def backoff_seconds(attempt: int) -> float:
    """The pause before retry number ``attempt`` (1-based) when no fresh endpoint is up."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_SECONDS * 2 ** max(0, attempt - 1))


def pick_model(requested: str | None, offered: Mapping[str, list[str] | None]) -> str:
    """The server model to ask for, given what each reachable endpoint lists (None: it has no
    model list). A named model must be served by every endpoint that lists models; without a
    name, the one model all of them serve is used."""
    lists = {url: models for url, models in offered.items() if models is not None}
    if requested:
        for url, models in lists.items():
            if not serves(models, requested):
                raise ModelError(f"the server at {url} does not serve a model called {requested!r}; "
                                 f"it offers: {', '.join(models) or 'nothing'}",
                                 "pass one of those with --model (the server's name, not a file)")
        return requested
    common = None
    for models in lists.values():
        common = [m for m in models if common is None or m in common]
    if common and len(common) == 1:
        return common[0]
    everything = sorted({m for models in lists.values() for m in models})
    raise UsageError("say which of the server's models to use" if everything else
                     "the server lists no models, so dreamflow cannot tell which to ask for",
                     f"pass --model NAME{' (offered: ' + ', '.join(everything) + ')' if everything else ''}")


class OpenAIBackend:
    kind = "openai"
    has_chat_template = True

    def __init__(self, pool: EndpointPool, client: Client, model: str, profile: Profile, *,
                 retries: int = 3, parallel: int | None = None, load_seconds: float = 0.0,
                 on_notice: Notice | None = None, sleep: Callable[[float], bool] | None = None,
                 retry_after_cap: float = RETRY_AFTER_MAX_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.pool = pool
        self.client = client
        self.model = model
        self.profile = profile
        self.retries = retries
        self.max_parallel = parallel or default_parallel(len(pool.endpoints))
        self.load_seconds = load_seconds
        self.on_notice = on_notice
        self._closed = threading.Event()
        self._sleep = sleep or self._closed.wait  # True when woken by close()
        self.retry_after_cap = retry_after_cap
        self._clock = clock
        self._usage_option = True  # stream_options.include_usage, until a server refuses it

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, endpoints={[e.url for e in self.pool.endpoints]})"

    def count_tokens(self, prompt: Prompt) -> int:
        """An estimate (chars / CHARS_PER_TOKEN): the server's tokenizer is not ours to use."""
        return count_message_tokens(chat_messages(prompt.system, prompt.user, prompt.prefix))

    def describe(self) -> dict[str, Any]:
        """story.json's backend block. ``servers``: per URL, the stories asked of it at once,
        the limit used now, and (once lowered) the lowest and why: what was learned."""
        return {"kind": self.kind, "endpoints": [e.url for e in self.pool.endpoints], "server_model": self.model,
                "max_parallel": self.max_parallel, "servers": self.pool.capacity(),
                "token_counts": "server usage when reported, else estimated"}

    def in_flight(self) -> int:
        return self.pool.in_flight()

    def interrupt(self) -> None:
        """Stop every call in flight at once: a story waiting in a busy server's queue would see
        no token (and so no cancel check) for a long time. The backend is done after this."""
        self.close()

    def close(self) -> None:
        self._closed.set()
        self.pool.close()
        self.client.connections.close_all()

    def _payload(self, messages: list[dict[str, str]], max_tokens: int, sampling: Mapping[str, float],
                 seed: int) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model, "messages": messages, "stream": True, "max_tokens": max_tokens,
            "temperature": sampling.get("temperature", 0.6), "top_p": sampling.get("top_p", 0.9), "seed": seed,
        }
        if self._usage_option:
            payload["stream_options"] = {"include_usage": True}
        return payload

    def generate(self, prompt: Prompt, *, max_tokens: int, sampling: Mapping[str, float], seed: int,
                 on_token: Callable[[int], None] | None = None) -> Generation:
        messages = chat_messages(prompt.system, prompt.user, prompt.prefix)
        # The echoed opening costs tokens the story should not lose.
        echo_room = estimate(split_prefix(prompt.prefix).tail) + 2 if prompt.prefix else 0
        tries = _Tries(free_cap=FREE_RETRIES_PER_ENDPOINT * len(self.pool.endpoints))
        while True:
            endpoint, ticket, wait = self._acquire(tries.tried)
            if endpoint.url in tries.too_long:
                # The best one left asked for no requests for longer than we wait: fail now, as
                # when the retries run out, rather than ask it again.
                self.pool.release(endpoint, ticket, Outcome.ABANDONED)
                break
            try:
                self._pause(endpoint, wait, tries)
                generation = self._once(endpoint, messages, prompt, max_tokens, echo_room, sampling, seed, on_token)
            except ServerFault as fault:
                verdict = self.pool.release(endpoint, ticket, fault.outcome, error=fault.message,
                                            hold=fault.retry_after, status=fault.status)
                if verdict.note is not None and self.on_notice is not None:
                    self.on_notice(verdict.note)
                if self._again(endpoint, fault, verdict, tries):
                    continue
                break
            except BaseException as exc:
                self.pool.release(endpoint, ticket, Outcome.ABANDONED)
                stop = _stop_error(exc)
                if stop is None:
                    raise
                raise stop from None
            self.pool.release(endpoint, ticket, Outcome.CLEAN)
            return generation
        assert tries.last is not None
        raise ModelError(f"no model server could write the story after {tries.counted} "
                         f"attempt{'s' if tries.counted != 1 else ''}; last: {tries.last}",
                         "check that the servers are running (dreamflow doctor --backend openai), or raise "
                         "server_retries / server_timeout")

    def _acquire(self, tried: set[str]) -> tuple[Endpoint, Ticket, float]:
        """Room on a server (waiting while every one is full)."""
        try:
            return self.pool.acquire(avoid=tried)
        except PoolClosed:
            raise DreamflowError("the run was stopped before the story was finished") from None

    def _pause(self, endpoint: Endpoint, wait: float, tries: "_Tries") -> None:
        """A fresh endpoint that is up is tried at once; one that failed already (or is down)
        only after a backoff, so a restarting server gets a moment, and never before its
        Retry-After."""
        if endpoint.url in tries.tried:
            pause = backoff_seconds(tries.counted)
        else:
            pause = min(max(wait, 0.0), backoff_seconds(max(tries.counted, 1)))
        pause = max(pause, tries.not_before.get(endpoint.url, 0.0) - self._clock())
        if pause > 0 and self._sleep(pause):
            raise Cancelled("the backend is closed")

    def _again(self, endpoint: Endpoint, fault: ServerFault, verdict: Verdict, tries: "_Tries") -> bool:
        """Settle a failed attempt; whether to try again. A story lost to a capacity event
        dreamflow caused (several in flight to a server that cut, turned away or dropped one) is
        retried for free, up to ``free_cap`` times per story, and only when the server's
        Retry-After (if any) is one we wait; anything else counts against server_retries."""
        hold = fault.retry_after
        if verdict.free_retry and tries.free < tries.free_cap and (hold or 0.0) <= self.retry_after_cap:
            tries.free += 1
            if hold is not None:
                tries.not_before[endpoint.url] = self._clock() + hold
            return True
        tries.counted += 1
        tries.tried.add(endpoint.url)
        tries.last = fault.message
        if hold is not None and hold > self.retry_after_cap:
            tries.too_long.add(endpoint.url)
            tries.last += f" (it asks for no requests for {hold:.0f} s; dreamflow waits {self.retry_after_cap:g} s at most)"
        elif hold is not None:
            tries.not_before[endpoint.url] = self._clock() + hold
            tries.last += f" (it asks to wait {hold:g} s)"
        again = tries.counted <= self.retries
        others = len(self.pool.endpoints) > len(tries.too_long)
        if self.on_notice is not None and again and others:
            self.on_notice(f"{tries.last}; trying again{' on another server' if len(self.pool.endpoints) > 1 else ''}")
        return again

    def _once(self, endpoint: Endpoint, messages: list[dict[str, str]], prompt: Prompt, max_tokens: int,
              echo_room: int, sampling: Mapping[str, float], seed: int,
              on_token: Callable[[int], None] | None) -> Generation:
        payload = self._payload(messages, max_tokens + echo_room, sampling, seed)
        try:
            return self._stream(endpoint, payload, prompt, max_tokens, on_token)
        except RequestFault as fault:
            # Older servers reject the stream_options field; ask once more without it.
            if self._usage_option and "stream_options" in fault.message:
                self._usage_option = False
                payload.pop("stream_options", None)
                return self._stream(endpoint, payload, prompt, max_tokens, on_token)
            raise

    def _stream(self, endpoint: Endpoint, payload: dict[str, Any], prompt: Prompt, max_tokens: int,
                on_token: Callable[[int], None] | None) -> Generation:
        started = time.perf_counter()
        first = 0.0
        parts: list[str] = []
        pieces = 0
        finish: str | None = None
        usage: Mapping[str, Any] | None = None
        budget = int(payload["max_tokens"])
        # A reply may take server_timeout, or a second a token if that is longer, from its first
        # token on: a server dripping a byte at a time cannot hold a story forever.
        deadline = max(self.client.timeout, budget * SECONDS_PER_TOKEN)
        with contextlib.closing(self.client.stream_chat(endpoint, payload, deadline=deadline)) as chunks:
            for chunk in chunks:
                usage = chunk.usage or usage
                finish = finish or chunk.finish_reason
                if chunk.content:
                    if pieces >= budget:
                        # A server that ignores max_tokens (or streams without end) stops at
                        # the budget, as a model does; closing() hangs up on it.
                        finish = "length"
                        break
                    if not parts:
                        first = time.perf_counter() - started
                    parts.append(chunk.content)
                    pieces += 1  # servers stream about one token per chunk
                    if on_token is not None:
                        on_token(pieces)  # may raise: closing() above hangs up on the server
        seconds = time.perf_counter() - started
        raw = "".join(parts)
        text, dropped = strip_echo(raw, prompt.prefix)
        kept, count, cut = continuation_budget(parts, len(dropped), max_tokens)
        if cut:
            text = text[:len(text) - (len(raw) - kept)]
            finish = "length"
        used = _usage_int(usage, "completion_tokens", pieces)
        generated = min(count, max(0, used - (pieces - count)))  # the server's count, less the echo
        prompt_tokens = _usage_int(usage, "prompt_tokens", count_message_tokens(payload["messages"]))
        return Generation(text=text, prompt_tokens=prompt_tokens, generated_tokens=generated,
                          max_tokens=max_tokens, seconds=seconds, first_token_seconds=first,
                          finish_reason="length" if finish == "length" else "stop",
                          usage=dict(usage) if usage else None, endpoint=endpoint.url)


@dataclass
class _Tries:
    """One story's attempts: those that count against server_retries, the free ones (capacity
    events dreamflow caused), and what each server said."""

    free_cap: int
    counted: int = 0
    free: int = 0
    last: str | None = None
    tried: set[str] = field(default_factory=set)  # failed for this story (counted)
    too_long: set[str] = field(default_factory=set)  # asked (Retry-After) to wait past the cap
    not_before: dict[str, float] = field(default_factory=dict)  # when each one's Retry-After allows it again


def _stop_error(exc: BaseException) -> DreamflowError | None:
    """What a failure that no retry can help becomes (None: it passes through as it is)."""
    if isinstance(exc, AuthFault):
        return ConfigError(f"the server refused the API key ({exc.message})", KEY_HINT)
    if isinstance(exc, SetupFault):
        return ConfigError(exc.message, exc.hint or "check --base-url")
    if isinstance(exc, Cancelled):
        return DreamflowError("the run was stopped before the story was finished")
    if isinstance(exc, RequestFault):
        return ModelError(f"the server refused the request: {exc.message}",
                          "check --model and --ctx against the server's settings")
    return None


def continuation_budget(parts: Sequence[str], echo_chars: int, max_tokens: int) -> tuple[int, int, bool]:
    """The request allowed room for the echoed opening; a model that did not echo it could
    overrun the story's budget by that much. Counting a streamed piece as a token (servers send
    about one per chunk), returns (characters of the reply to keep, pieces kept after the echo,
    whether the budget cut the reply)."""
    position = count = 0
    for part in parts:
        position += len(part)
        if position > echo_chars:
            if count == max_tokens:
                return position - len(part), count, True
            count += 1
    return position, count, False


def _usage_int(usage: Mapping[str, Any] | None, key: str, fallback: int) -> int:
    value = (usage or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else fallback


def probe(client: Client, endpoints: Sequence[Endpoint], timeout: float = PROBE_TIMEOUT, *,
          sleep: Callable[[float], Any] = time.sleep) -> tuple[dict[str, list[str] | None], dict[str, str]]:
    """Ask each endpoint for its models, all at once. Returns (models by URL for those that
    answered — None when an endpoint has no model list —, error by URL for those that did not).
    A 429/503 whose Retry-After is one dreamflow waits is waited once and asked again. A refused
    key or a redirect elsewhere raises ConfigError: every later request would fare the same."""
    offered: dict[str, list[str] | None] = {}
    errors: dict[str, str] = {}
    fatal: list[DreamflowError] = []

    def ask(endpoint: Endpoint) -> list[str]:
        try:
            return client.list_models(endpoint, timeout=min(timeout, client.timeout))
        except ServerFault as fault:
            wait = fault.retry_after
            if fault.outcome is not Outcome.BUSY or wait is None or wait > RETRY_AFTER_MAX_SECONDS:
                raise
            sleep(wait)
            return client.list_models(endpoint, timeout=min(timeout, client.timeout))

    def one(endpoint: Endpoint) -> None:
        try:
            offered[endpoint.url] = ask(endpoint)
        except (AuthFault, SetupFault) as fault:
            error = _stop_error(fault)
            assert error is not None
            fatal.append(error)
        except RequestFault as fault:
            if fault.status == 404:
                offered[endpoint.url] = None  # no /models route: the chat request will tell
            else:
                errors[endpoint.url] = fault.message
        except (ServerFault, Cancelled) as fault:
            errors[endpoint.url] = fault.message

    threads = [threading.Thread(target=one, args=(e,), daemon=True) for e in endpoints]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if fatal:
        raise fatal[0]
    return offered, errors


@dataclass(frozen=True)
class ServerPlan:
    """What a run against model servers settles before any story: the servers, the model they
    serve, the context assumed, and which servers did not answer."""

    endpoints: tuple[Endpoint, ...]
    model: str
    profile: Profile
    unreachable: Mapping[str, str]  # URL -> why
    probe_seconds: float

    def label(self) -> str:
        """For the live display: which server(s) write the stories."""
        if len(self.endpoints) == 1:
            return f"server {self.endpoints[0].host}:{self.endpoints[0].port}"
        return f"{len(self.endpoints)} servers"


def prepare_server(settings: Settings, env: Mapping[str, str] | None = None) -> ServerPlan:
    """Check the endpoints and settle the model. A refused key, an unknown model or no server
    answering at all ends the run here, before any story is started."""
    started = time.perf_counter()
    endpoints = parse_base_urls(settings.base_url)
    if not endpoints:
        raise ConfigError("the openai backend needs the address of a model server",
                          "pass --base-url http://127.0.0.1:8080/v1 (or set DREAMFLOW_BASE_URL, or base_url "
                          "in the config)")
    client = _client(settings, env)
    offered, errors = probe(client, endpoints)
    if not offered:
        detail = "; ".join(errors.values())
        raise ModelError(f"no model server answered: {detail}",
                         "start the server (README: \"Running against a model server\") or fix --base-url")
    model = pick_model(settings.model, offered)
    profile = server_profile(settings.profile_config, settings.profile_flags)
    return ServerPlan(tuple(endpoints), model, profile, errors, time.perf_counter() - started)


def _client(settings: Settings, env: Mapping[str, str] | None) -> Client:
    """``env``: where the API key and the proxy variables are read (None: the environment)."""
    return make_client(settings, env, timeout=settings.server_timeout)


def make_client(settings: Settings, env: Mapping[str, str] | None, *, timeout: float) -> Client:
    bundle = str(settings.ca_bundle) if settings.ca_bundle else None
    try:
        return Client(api_key=api_key_from_env(env), timeout=timeout, ca_bundle=bundle, env=env)
    except NetConfigError as exc:
        raise ConfigError(str(exc), "give the path of a PEM file with the server's certificate or its CA "
                                    "(--ca-bundle, DREAMFLOW_CA_BUNDLE or ca_bundle in the config)") from None


def open_openai_backend(settings: Settings, *, plan: ServerPlan | None = None, parallel: int | None = None,
                        env: Mapping[str, str] | None = None, on_notice: Notice | None = None,
                        sleep: Callable[[float], bool] | None = None,
                        clock: Callable[[], float] = time.monotonic) -> OpenAIBackend:
    """A backend ready to write stories (``plan`` from ``prepare_server``, else settled here).
    ``sleep`` and ``clock`` are the backend's pauses between attempts, for tests."""
    plan = plan or prepare_server(settings, env)
    stories = parallel if isinstance(parallel, int) else default_parallel(len(plan.endpoints))
    pool = EndpointPool(plan.endpoints, asked=shares(stories, len(plan.endpoints)))
    for endpoint in plan.endpoints:
        if endpoint.url in plan.unreachable:
            pool.mark_down(endpoint, plan.unreachable[endpoint.url])
            if on_notice is not None:
                on_notice(f"{plan.unreachable[endpoint.url]}; using the other servers for now")
    return OpenAIBackend(pool, _client(settings, env), plan.model, plan.profile,
                         retries=settings.server_retries,
                         parallel=parallel if isinstance(parallel, int) else None, on_notice=on_notice,
                         load_seconds=plan.probe_seconds, sleep=sleep, clock=clock)
