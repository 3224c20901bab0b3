"""`dreamflow doctor` with the openai backend: is each model server reachable, does it serve the
model, how fast does it answer a tiny request, and does it write two stories at once? One check
per question per endpoint.

The decisions (``*_check``) are pure functions of what the server said, so each verdict is
tested without a server; ``endpoint_checks`` asks the servers (all at once) and calls them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from dreamflow_cli.doctor.checks import FAIL, PASS, SKIP, WARN, Check
from dreamflow_cli.doctor.report import Machine, Report
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.server.backend import make_client
from dreamflow_cli.server.endpoints import Endpoint, parse_base_urls
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.server.client import (
    KEY_HINT,
    AuthFault,
    Client,
    ClientFault,
    RequestFault,
    SetupFault,
    serves,
)
from dreamflow_cli.server.overlap import OverlapVerdict, classify, measure

# A tiny request slower than this means stories will crawl (or the server is swamped).
SLOW_FIRST_TOKEN_SECONDS = 10.0
TINY_MAX_TOKENS = 8
START_HINT = "start the server (README: \"Running against a model server\"), or fix --base-url"
CUTS_HINT = ("llama-cpp-python: start it with --interrupt_requests False to queue instead; dreamflow learns "
             "this during a batch too, and sends that server one story at a time")


@dataclass(frozen=True)
class EndpointReading:
    url: str
    models: list[str] | None = None  # None: no model list (the server has no /models)
    error: str | None = None  # why /models failed
    auth_failed: bool = False
    first_token_seconds: float | None = None
    total_seconds: float | None = None
    tokens: int = 0
    completion_error: str | None = None
    setup_hint: str | None = None  # the base URL or network settings need fixing (a redirect elsewhere)
    overlap: OverlapVerdict | None = None  # the two-request probe; None: not run


def reach_check(r: EndpointReading) -> Check:
    name = f"server {r.url}"
    if r.auth_failed:
        return Check(name, FAIL, f"refused the API key: {r.error}", KEY_HINT)
    if r.error is not None:
        return Check(name, FAIL, r.error, r.setup_hint or START_HINT)
    listed = "no model list" if r.models is None else f"{len(r.models)} model(s)"
    return Check(name, PASS, f"reachable, {listed}")


def model_check(r: EndpointReading, model: str | None) -> Check:
    name = f"server model {r.url}"
    if r.error is not None:
        return Check(name, SKIP, "server not reachable")
    if r.models is None:
        return Check(name, WARN, "the server does not list its models; the tiny request below tells whether "
                                 f"{model or 'the default model'} works")
    offered = ", ".join(r.models) or "nothing"
    if model is None:
        if len(r.models) == 1:
            return Check(name, PASS, f"serves {r.models[0]} (used, as no --model was given)")
        return Check(name, FAIL, f"offers {offered}; which one?", "pass --model NAME (or model in the config)")
    if serves(r.models, model):
        return Check(name, PASS, f"serves {model}")
    return Check(name, FAIL, f"does not serve {model!r}; it offers {offered}", "pass one of those with --model")


def latency_check(r: EndpointReading) -> Check:
    name = f"server latency {r.url}"
    if r.error is not None:
        return Check(name, SKIP, "server not reachable")
    if r.completion_error is not None:
        return Check(name, FAIL, f"a tiny request failed: {r.completion_error}",
                     "check the server's log; the model may not be loaded")
    first, total = r.first_token_seconds or 0.0, r.total_seconds or 0.0
    detail = f"first token after {first:.2f} s; {r.tokens} token(s) in {total:.2f} s"
    if first > SLOW_FIRST_TOKEN_SECONDS:
        return Check(name, WARN, detail + " (slow)", "the server may be busy or swapping; stories will be slow")
    return Check(name, PASS, detail)


def parallel_check(r: EndpointReading) -> Check:
    """What the two-request probe found: how many stories this server usefully takes at once."""
    name = f"server parallelism {r.url}"
    v = r.overlap
    if v is None:
        return Check(name, SKIP, "the tiny request above did not succeed")
    said = f"sent two tiny requests at once: it {v.detail}"
    if v.kind == "overlaps":
        return Check(name, PASS, said + "; give it --parallel 2 or more")
    if v.kind == "waits":
        return Check(name, PASS, said + "; one story at a time, the next one queued there")
    if v.kind == "cuts":
        return Check(name, WARN, said + "; one story at a time", CUTS_HINT)
    if v.kind == "turns-away":
        return Check(name, WARN, said + "; one story at a time at this load",
                     "dreamflow sends fewer stories at once to a server that turns them away")
    return Check(name, SKIP, f"sent two tiny requests at once, and could not tell: {v.detail}")


def _model_to_ask(models: list[str] | None, model: str | None) -> str | None:
    return model or (models[0] if models and len(models) == 1 else None)


def read_endpoint(client: Client, endpoint: Endpoint, model: str | None, timeout: float) -> EndpointReading:
    try:
        models = client.list_models(endpoint, timeout=timeout)
    except AuthFault as fault:
        return EndpointReading(endpoint.url, error=fault.message, auth_failed=True)
    except SetupFault as fault:
        return EndpointReading(endpoint.url, error=fault.message, setup_hint=fault.hint)
    except RequestFault as fault:
        if fault.status != 404:
            return EndpointReading(endpoint.url, error=fault.message)
        models = None
    except ClientFault as fault:
        return EndpointReading(endpoint.url, error=fault.message)
    use = _model_to_ask(models, model)
    if models is not None and (use is None or not serves(models, use)):
        return EndpointReading(endpoint.url, models=models, completion_error="no model to ask (see above)")
    payload: dict[str, Any] = {"messages": [{"role": "user", "content": "Say goodnight."}], "stream": True,
                               "max_tokens": TINY_MAX_TOKENS, "temperature": 0, "seed": 1}
    if use:
        payload["model"] = use
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    try:
        for chunk in client.stream_chat(endpoint, payload):
            if chunk.content:
                tokens += 1
                first = first if first is not None else time.perf_counter() - started
    except ClientFault as fault:
        return EndpointReading(endpoint.url, models=models, completion_error=fault.message)
    total = time.perf_counter() - started
    return EndpointReading(endpoint.url, models=models, first_token_seconds=first if first is not None else total,
                           total_seconds=total, tokens=tokens)


def endpoint_checks(settings: Settings, env: Mapping[str, str] | None = None) -> list[Check]:
    """The checks for every configured endpoint, in the order the endpoints were given."""
    try:
        endpoints = parse_base_urls(settings.base_url)
    except ConfigError as exc:
        return [Check("servers", FAIL, exc.message, exc.hint)]
    if not endpoints:
        return [Check("servers", FAIL, "the openai backend is chosen but no server URL is set",
                      "pass --base-url http://127.0.0.1:8080/v1 (or DREAMFLOW_BASE_URL, or base_url in the config)")]
    timeout = min(settings.server_timeout, 60.0)
    try:
        client = make_client(settings, env, timeout=timeout)
    except ConfigError as exc:
        return [Check("servers", FAIL, exc.message, exc.hint)]
    model = settings.model
    readings: dict[str, EndpointReading] = {}

    def one(endpoint: Endpoint) -> None:
        reading = read_endpoint(client, endpoint, model, timeout)
        if reading.error is None and reading.completion_error is None:
            # After the tiny request, so the model is warm and the probe is not timing a load.
            a, b = measure(client, endpoint, _model_to_ask(reading.models, model))
            reading = replace(reading, overlap=classify(a, b))
        readings[endpoint.url] = reading

    threads = [threading.Thread(target=one, args=(e,), daemon=True) for e in endpoints]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checks: list[Check] = []
    for endpoint in endpoints:
        r = readings[endpoint.url]
        checks += [reach_check(r), model_check(r, model), latency_check(r), parallel_check(r)]
    return checks


def server_doctor(report: Report, settings: Settings, machine: Callable[[], Machine], *, verify: bool = False,
                  load_test: bool = False, **_probes: Any) -> None:
    """The openai backend's doctor hook: the servers' checks replace the local model's."""
    report.checks.extend(endpoint_checks(settings, env=machine().env))
    if load_test:
        report.checks.append(Check("load test", SKIP, "the servers load their own models; the checks above "
                                                      "asked each for a few tokens"))
