"""End to end against the real OpenAI-compatible server shipped with llama-cpp-python, running
SmolLM2 on 127.0.0.1 (one thread each, started with --interrupt_requests False; the default
configuration has tests of its own in test_openai_real_servers.py): one story, a batch over two servers with --parallel 2,
and a server killed in the middle of a batch. Stories are short (--max-tokens 48) to stay
cheap on a shared machine; the API key must never appear in any output or written file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.cli import folder_entries, invoke
from tests.helpers.llama_server import LlamaServer, batch_losing_a_server, json_lines

KEY = "sk-live-NEVER-PRINT-5c1d"
ROOT = Path(__file__).resolve().parent.parent
STORY = ["--max-tokens", "48", "--no-images", "--scenes", "1"]


QUEUE = ("--interrupt_requests", "False")  # a second request waits instead of cutting the first


@pytest.fixture(scope="session")
def llama_servers(test_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LlamaServer]]:
    """Two real servers for the whole session (started together, stopped at the end)."""
    logs = tmp_path_factory.mktemp("llama-servers")
    servers = [LlamaServer(test_model, logs / f"server{i}.log", *QUEUE) for i in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def _written_text(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in root.rglob("*") if p.is_file())


def test_one_story_end_to_end_same_shape_as_local(runner, llama_servers, models_dir, tmp_path):
    server = llama_servers[0]
    result = invoke(runner, "generate", "a sleepy dragon", "--backend", "openai", "--base-url", server.url,
                    "--model", "smollm2", "--seed", "3", "--json", "--out", str(tmp_path / "served"), *STORY,
                    env={"DREAMFLOW_API_KEY": KEY})
    assert result.exit_code == 0, result.stderr
    served = json.loads(result.stdout)
    meta = json.loads(Path(served["metadata_path"]).read_text(encoding="utf-8"))
    assert meta["backend"]["kind"] == "openai" and meta["backend"]["server_model"] == "smollm2"
    assert meta["endpoint"] == server.url and meta["generated_tokens"] > 0
    assert len(Path(served["story_path"]).read_text(encoding="utf-8").split()) >= 8

    local = invoke(runner, "generate", "a sleepy dragon", "--models-dir", str(models_dir), "--threads", "1",
                   "--seed", "3", "--json", "--out", str(tmp_path / "local"), *STORY)
    assert local.exit_code == 0, local.stderr
    local_summary = json.loads(local.stdout)
    local_meta = json.loads(Path(local_summary["metadata_path"]).read_text(encoding="utf-8"))
    assert set(served) == set(local_summary)
    # the same story.json, plus where a server wrote it
    assert set(local_meta) - set(meta) == set()
    assert set(meta) - set(local_meta) <= {"endpoint", "server_usage"}

    everything = result.stdout + result.stderr + _written_text(tmp_path / "served")
    assert KEY not in everything


def test_batch_over_two_servers_in_parallel(runner, llama_servers, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a sleepy dragon\na brave little owl\na snail at sunset\na kitten and the moon\n",
                       encoding="utf-8")
    out = tmp_path / "stories"
    result = invoke(runner, "generate", "--prompts-file", str(prompts), "--backend", "openai",
                    "--base-url", llama_servers[0].url, "--base-url", llama_servers[1].url, "--parallel", "2",
                    "--seed", "5", "--json", "--out", str(out), *STORY, env={"DREAMFLOW_API_KEY": KEY})
    assert result.exit_code == 0, result.stderr
    records = json_lines(result.stdout)
    assert sorted(r["index"] for r in records) == [1, 2, 3, 4]
    assert sorted(r["line"] for r in records) == [1, 2, 3, 4]
    assert all(r["status"] == "ok" for r in records)
    metas = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/story.json")]
    assert len(metas) == 4 and len({m["story_id"] for m in metas}) == 4
    assert {m["endpoint"] for m in metas} == {s.url for s in llama_servers}  # both servers wrote
    # one story each at a time, none cut: nothing learned, nothing lowered
    assert all(m["backend"]["servers"] == {s.url: {"asked": 1, "limit": 1} for s in llama_servers} for m in metas)
    assert KEY not in result.stdout + result.stderr + _written_text(out)


def test_a_server_killed_mid_batch(llama_servers, test_model, tmp_path):
    """Stories go on on the other server; none is lost or written twice."""
    doomed = LlamaServer(test_model, tmp_path / "doomed.log", *QUEUE).wait_ready()
    survivor = llama_servers[0]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"a calm story number {i}\n" for i in range(1, 7)), encoding="utf-8")
    out = tmp_path / "stories"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DREAMFLOW_API_KEY": KEY, "DREAMFLOW_SERVER_TIMEOUT": "30"}
    cmd = [sys.executable, "-m", "dreamflow_cli", "generate", "--prompts-file", str(prompts), "--backend", "openai",
           "--base-url", doomed.url, "--base-url", survivor.url, "--parallel", "2", "--seed", "9", "--json",
           "--out", str(out), *STORY]
    stdout, stderr, code = batch_losing_a_server(cmd, env, doomed, timeout=300)
    assert code == 0, stderr
    records = json_lines(stdout)
    assert sorted(r["index"] for r in records) == [1, 2, 3, 4, 5, 6]
    assert all(r["status"] == "ok" for r in records)
    metas = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/story.json")]
    assert len(metas) == 6 and len({m["story_id"] for m in metas}) == 6
    assert sorted(m["batch_line"] for m in metas) == [1, 2, 3, 4, 5, 6]
    assert [p.name for p in out.iterdir() if p.is_dir() and not (p / "story.json").is_file()] == []  # no half-written folder
    assert KEY not in stdout + stderr + _written_text(out)


def test_ctrl_c_keeps_finished_stories_and_stops_at_once(llama_servers, tmp_path):
    """One server, two stories in flight: the second waits in the server's queue, so nothing
    but hanging up can stop it quickly."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"a quiet story number {i}\n" for i in range(1, 6)), encoding="utf-8")
    out = tmp_path / "stories"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DREAMFLOW_API_KEY": KEY}
    cmd = [sys.executable, "-m", "dreamflow_cli", "generate", "--prompts-file", str(prompts), "--backend", "openai",
           "--base-url", llama_servers[1].url, "--parallel", "2", "--seed", "2", "--json", "--out", str(out), *STORY]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        rest, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    records = json_lines(first + rest)
    assert records and all(r["status"] == "ok" for r in records)
    kept = folder_entries(out)
    assert kept == sorted(Path(r["story_dir"]).name for r in records)  # finished ones only, nothing half-written
    assert len(kept) < 5
    assert KEY not in first + rest + stderr
