"""`doctor --backend openai`: reachability, the model, a tiny request's latency, per endpoint."""

from __future__ import annotations

import json

import pytest

from dreamflow_cli.doctor.checks import FAIL, PASS, SKIP, WARN
from dreamflow_cli.server.doctor import EndpointReading, latency_check, model_check, reach_check
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
    assert statuses[f"server {dead}"] == FAIL and statuses[f"server latency {dead}"] == SKIP
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
