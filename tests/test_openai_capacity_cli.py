"""Batches against servers as they really are (issue 25): one that interrupts a story when a
second request arrives (llama-cpp-python's default), one that queues, one that turns requests
away with 429, and two servers of which one dies mid-batch. Every story is written; what was
learned is said once on stderr and recorded in story.json and --json."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from tests.helpers.cli import invoke
from tests.helpers.testkit import Behaviour, ScriptedServer

KEY = "sk-capacity-NEVER-SHOWN-3d9"
# No pictures and no book: what these tests check is the talk with the server (the book is
# tested in test_book.py; test_openai_cli.py keeps it, to check the key never reaches it).
FAST = ["--no-images", "--no-book", "--scenes", "1", "--seed", "4", "--candidates", "1"]
PROMPTS = "".join(f"a calm story number {i}\n" for i in range(1, 9))


def _batch(runner, isolated: Path, *servers: ScriptedServer, args: tuple[str, ...] = (), retries: str = "3"):
    prompts = isolated / "prompts.txt"
    prompts.write_text(PROMPTS, encoding="utf-8")
    urls = [a for s in servers for a in ("--base-url", s.url)]
    return invoke(runner, "generate", "--prompts-file", str(prompts), "--backend", "openai", *urls, *FAST, "--json",
                  "--out", "out", *args, env={"DREAMFLOW_API_KEY": KEY, "DREAMFLOW_SERVER_RETRIES": retries})


def _records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _metas(isolated: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in (isolated / "out").glob("*/story.json")]


def _learned(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "stor" in line and "at a time" in line]


def test_a_server_that_interrupts_writes_every_story_and_says_so_once(runner, isolated):
    """llama-cpp-python's default: 1 of 8 before issue 25. Not one counted retry is allowed."""
    with ScriptedServer(Behaviour(slots=1, when_busy="interrupt", token_delay=0.002)) as server:
        result = _batch(runner, isolated, server, retries="0")
        seen = server.settled()
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    assert sorted(r["index"] for r in records) == list(range(1, 9)) and {r["status"] for r in records} == {"ok"}
    address = server.url.split("//")[1].split("/")[0]
    assert _learned(result.stderr) == [f"Warning: server {address} writes one story at a time; using 1 slot"]
    assert "cut the stream" not in result.stderr  # a free retry is not announced as a failure
    assert sum(1 for s in seen if s.outcome == "interrupted") >= 1
    assert len(seen) == 8 + sum(1 for s in seen if s.outcome == "interrupted")  # each cut story once more
    metas = _metas(isolated)
    assert len(metas) == 8 and len({m["story_id"] for m in metas}) == 8
    last = max(metas, key=lambda m: m["created_utc"])
    assert last["backend"]["servers"] == {server.url: {"asked": 2, "limit": 1, "lowest": 1,
                                                       "reason": "ended a story early when 2 were in flight"}}
    assert records[-1]["servers"][server.url]["limit"] == 1  # --json says it too
    assert KEY not in result.stdout + result.stderr


def test_a_server_that_queues_keeps_its_two_stories_in_flight(runner, isolated):
    with ScriptedServer(Behaviour(slots=1, when_busy="queue", token_delay=0.001)) as server:
        result = _batch(runner, isolated, server)
        seen = server.settled()
    assert result.exit_code == 0, result.stderr
    assert _learned(result.stderr) == [] and len(seen) == 8
    assert max(s.open_at_arrival for s in seen) == 1  # the next story was already waiting there
    assert all(m["backend"]["servers"][server.url] == {"asked": 2, "limit": 2} for m in _metas(isolated))


def test_a_server_that_turns_requests_away_gets_fewer_at_once(runner, isolated):
    behaviour = Behaviour(slots=1, when_busy="reject", busy_status=429, retry_after="0", token_delay=0.002)
    with ScriptedServer(behaviour) as server:
        result = _batch(runner, isolated, server, retries="0")
        seen = server.settled()
    assert result.exit_code == 0, result.stderr
    assert len(_learned(result.stderr)) == 1 and "one story at a time" in result.stderr
    assert sum(1 for s in seen if s.outcome == "finished") == 8
    last = max(_metas(isolated), key=lambda m: m["created_utc"])
    assert last["backend"]["servers"][server.url]["reason"] == "answered HTTP 429 when 2 were in flight"


def _kill_after(server: ScriptedServer, finished: int) -> threading.Thread:
    """Kill ``server`` (connections cut mid-story, port closed) once it has finished stories."""
    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(1 for s in server.chats() if s.outcome == "finished") >= finished:
                server.kill()
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_two_interrupting_servers_one_killed_mid_batch_write_each_story_once(runner, isolated):
    with ScriptedServer(Behaviour(slots=1, when_busy="interrupt", token_delay=0.002)) as doomed, \
            ScriptedServer(Behaviour(slots=1, when_busy="interrupt", token_delay=0.002)) as survivor:
        killer = _kill_after(doomed, 2)
        result = _batch(runner, isolated, doomed, survivor)
        killer.join(5)
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    assert sorted(r["index"] for r in records) == list(range(1, 9)) and {r["status"] for r in records} == {"ok"}
    metas = _metas(isolated)
    assert len(metas) == 8 and len({m["story_id"] for m in metas}) == 8
    assert sorted(m["batch_line"] for m in metas) == list(range(1, 9))
    assert {m["endpoint"] for m in metas} == {doomed.url, survivor.url}
    assert [p.name for p in (isolated / "out").iterdir() if p.is_dir() and not (p / "story.json").is_file()] == []
