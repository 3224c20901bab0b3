"""Issue 25 against the real thing: llama-cpp-python's server started the way a new user starts
it (no flags but the model), which stops the story in progress when a second request arrives,
and one started with --interrupt_requests False, which makes the second wait.

Before issue 25 a batch of 8 against one default server wrote 1 of 8, and 4 of 8 with two such
servers and one killed mid-batch. Stories are short (--max-tokens 48, one scene, one draft) to
stay cheap on a shared machine."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

from dreamflow_cli.doctor.checks import PASS, WARN
from dreamflow_cli.server.doctor import endpoint_checks
from dreamflow_cli.settings.load import load_settings
from tests.helpers.cli import invoke
from tests.helpers.llama_server import LlamaServer, batch_losing_a_server, json_lines

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
STORY = ["--max-tokens", "48", "--no-images", "--scenes", "1", "--candidates", "1", "--model", "smollm2"]
PROMPTS = "".join(f"a calm story number {i}\n" for i in range(1, 9))


@pytest.fixture(scope="module")
def default_server(test_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with LlamaServer(test_model, tmp_path_factory.mktemp("llama") / "default.log") as server:
        yield server


@pytest.fixture(scope="module")
def queueing_server(test_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama") / "queue.log"
    with LlamaServer(test_model, log, "--interrupt_requests", "False") as server:
        yield server


def _metas(out: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/story.json")]


def test_a_batch_on_one_default_server_writes_every_story(runner, default_server, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(PROMPTS, encoding="utf-8")
    result = invoke(runner, "generate", "--prompts-file", str(prompts), "--backend", "openai", "--base-url",
                    default_server.url, "--seed", "5", "--json", "--out", str(tmp_path / "out"), *STORY,
                    env={"DREAMFLOW_SERVER_RETRIES": "0"})  # not one counted retry is allowed
    assert result.exit_code == 0, result.stderr
    records = json_lines(result.stdout)
    assert sorted(r["index"] for r in records) == list(range(1, 9)) and {r["status"] for r in records} == {"ok"}
    learned = [line for line in result.stderr.splitlines() if "at a time" in line]
    assert learned == [f"Warning: server {default_server.address} writes one story at a time; using 1 slot"]
    metas = _metas(tmp_path / "out")
    assert len(metas) == 8 and len({m["story_id"] for m in metas}) == 8
    assert records[-1]["servers"][default_server.url] == {"asked": 2, "limit": 1, "lowest": 1,
                                                          "reason": "ended a story early when 2 were in flight"}


def test_two_default_servers_one_killed_mid_batch_write_each_story_once(default_server, test_model, tmp_path):
    doomed = LlamaServer(test_model, tmp_path / "doomed.log").wait_ready()
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(PROMPTS, encoding="utf-8")
    out = tmp_path / "stories"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DREAMFLOW_SERVER_TIMEOUT": "60"}
    cmd = [sys.executable, "-m", "dreamflow_cli", "generate", "--prompts-file", str(prompts), "--backend", "openai",
           "--base-url", doomed.url, "--base-url", default_server.url, "--seed", "9", "--json", "--out", str(out),
           *STORY]
    stdout, stderr, code = batch_losing_a_server(cmd, env, doomed, timeout=600)
    assert code == 0, stderr
    records = json_lines(stdout)
    assert sorted(r["index"] for r in records) == list(range(1, 9)) and {r["status"] for r in records} == {"ok"}
    metas = _metas(out)
    assert len(metas) == 8 and len({m["story_id"] for m in metas}) == 8
    assert sorted(m["batch_line"] for m in metas) == list(range(1, 9))
    assert [p.name for p in out.iterdir() if p.is_dir() and not (p / "story.json").is_file()] == []  # nothing half-written


def test_doctor_tells_a_default_server_from_a_queueing_one(default_server, queueing_server):
    urls = f"{default_server.url},{queueing_server.url}"
    checks = {c.name: c for c in endpoint_checks(load_settings({"backend": "openai", "base_url": urls}), env={})}
    cuts = checks[f"server parallelism {default_server.url}"]
    waits = checks[f"server parallelism {queueing_server.url}"]
    assert cuts.status == WARN and "ended one request early" in cuts.detail, cuts
    assert "--interrupt_requests False" in cuts.hint
    assert waits.status == PASS and "one at a time" in waits.detail, waits
