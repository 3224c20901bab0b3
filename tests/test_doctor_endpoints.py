"""`doctor --backend openai`: reachability, the model, a tiny request's latency, and whether the
server writes two stories at once, per endpoint."""

from __future__ import annotations

import json

import pytest

from dreamflow_cli.doctor.checks import FAIL, PASS, SKIP, WARN
from dreamflow_cli.server.doctor import (
    EndpointReading,
    endpoint_checks,
    latency_check,
    model_check,
    parallel_check,
    reach_check,
)
from dreamflow_cli.server.overlap import OverlapVerdict
from dreamflow_cli.settings.load import load_settings
from tests.helpers import testkit
from tests.helpers.cli import invoke
from tests.helpers.scripted_server import ScriptedServer

KEY = "sk-doctor-SECRET-91"


def _statuses(result) -> dict[str, str]:
    return {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}


def test_pure_verdicts():
    ok = EndpointReading("http://h:1/v1", models=["a"], first_token_seconds=0.2, total_seconds=0.5, tokens=4)
    assert [reach_check(ok).status, model_check(ok, "a").status, latency_check(ok).status] == [PASS, PASS, PASS]
    assert model_check(ok, None).status == PASS and "used" in model_check(ok, None).detail
    assert model_check(ok, "b").status == FAIL and "offers a" in model_check(ok, "b").detail
    assert model_check(EndpointReading("u", models=["a", "b"]), None).status == FAIL
    assert model_check(EndpointReading("u", models=["llama3.2:latest"]), "llama3.2").status == PASS  # Ollama
    assert model_check(EndpointReading("u", models=None, tokens=1), "a").status == WARN
    slow = EndpointReading("u", models=["a"], first_token_seconds=30, total_seconds=31, tokens=1)
    assert latency_check(slow).status == WARN
    down = EndpointReading("u", error="refused")
    assert [reach_check(down).status, model_check(down, "a").status, latency_check(down).status] == [FAIL, SKIP, SKIP]
    auth = EndpointReading("u", error="HTTP 401", auth_failed=True)
    assert "DREAMFLOW_API_KEY" in reach_check(auth).hint
    failed = EndpointReading("u", models=["a"], completion_error="HTTP 500")
    assert latency_check(failed).status == FAIL


def test_parallelism_verdicts():
    def check(kind: str, parallel: int | None = 1):
        return parallel_check(EndpointReading("u", models=["a"], overlap=OverlapVerdict(kind, parallel, "did x")))

    assert check("overlaps", 2).status == PASS and "--parallel 2 or more" in check("overlaps", 2).detail
    assert check("waits").status == PASS and "one story at a time" in check("waits").detail
    cuts = check("cuts")
    assert cuts.status == WARN and "--interrupt_requests False" in cuts.hint
    assert check("turns-away").status == WARN
    assert check("unknown", None).status == SKIP
    assert all("two tiny requests at once" in check(k).detail for k in ("overlaps", "waits", "cuts", "unknown"))
    assert parallel_check(EndpointReading("u", error="refused")).status == SKIP


@pytest.mark.parametrize("behaviour, status, words", [
    (testkit.Behaviour(slots=None, token_delay=0.01), PASS, "wrote both at once"),
    (testkit.Behaviour(slots=1, when_busy="queue", token_delay=0.01), PASS, "one at a time"),
    (testkit.Behaviour(slots=1, when_busy="interrupt", token_delay=0.01), WARN, "ended one request early"),
    (testkit.Behaviour(slots=1, when_busy="reject", retry_after="1", token_delay=0.01), WARN, "HTTP 429"),
])
def test_each_kind_of_server_is_told_apart(behaviour, status, words):
    with testkit.ScriptedServer(behaviour) as server:
        checks = endpoint_checks(load_settings({"backend": "openai", "base_url": server.url}), env={})
        posts = len(server.chats())
    by_name = {c.name: c for c in checks}
    assert [c.status for c in checks[:3]] == [PASS, PASS, PASS]
    found = by_name[f"server parallelism {server.url}"]
    assert found.status == status and words in found.detail, found
    assert posts == 3  # the tiny request, then the two at once: nothing retried


def test_a_redirect_elsewhere_fails_the_reach_check_with_its_own_hint():
    with testkit.ScriptedServer() as other, \
            testkit.ScriptedServer(testkit.Behaviour(models_reply="redirect",
                                                     redirect_to=f"http://localhost:{other.port}")) as server:
        checks = endpoint_checks(load_settings({"backend": "openai", "base_url": server.url}), env={})
    reach = checks[0]
    assert reach.status == FAIL and "another server" in reach.detail and "--base-url" in reach.hint
    assert other.seen == [] and checks[-1].status == SKIP


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_doctor_checks_each_server_in_json(runner):
    with ScriptedServer() as gone:
        dead = gone.url  # a port nobody listens on any more
    with ScriptedServer() as good:
        result = invoke(runner, "doctor", "--backend", "openai", "--base-url", good.url, "--base-url", dead,
                        "--model", "tiny-story", "--json", env={"DREAMFLOW_API_KEY": KEY})
        auth = {r["authorization"] for r in good.script.requests}
    assert result.exit_code == 1, result.output  # the dead server is a FAIL
    statuses = _statuses(result)
    assert statuses[f"server {good.url}"] == PASS
    assert statuses[f"server model {good.url}"] == PASS
    assert statuses[f"server latency {good.url}"] == PASS
    assert statuses[f"server parallelism {good.url}"] == PASS  # the scripted server writes both at once
    assert statuses[f"server {dead}"] == FAIL and statuses[f"server latency {dead}"] == SKIP
    assert statuses[f"server parallelism {dead}"] == SKIP
    assert "model" not in statuses  # no local model file is looked for
    assert auth == {f"Bearer {KEY}"}
    assert KEY not in result.stdout + result.stderr
    env_check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "environment")
    assert "DREAMFLOW_API_KEY=(set, not shown)" in env_check["detail"]


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_doctor_table_for_a_refused_key(runner):
    with ScriptedServer() as server:
        server.script.mode = "401"
        result = invoke(runner, "doctor", "--backend", "openai", "--base-url", server.url,
                        env={"DREAMFLOW_API_KEY": KEY})
    assert result.exit_code == 1
    assert "refused the API key" in result.stdout and "DREAMFLOW_API_KEY" in result.stdout
    assert KEY not in result.stdout + result.stderr


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_doctor_without_a_url(runner):
    result = invoke(runner, "doctor", "--backend", "openai", "--json")
    assert result.exit_code == 1
    assert _statuses(result)["servers"] == FAIL
