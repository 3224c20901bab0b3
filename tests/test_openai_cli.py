"""`generate --backend openai` against the scripted server: what a user sees for each fault (exit
code, one line on stderr, a hint), what story.json records, and that the key appears nowhere."""

from __future__ import annotations

import json
from pathlib import Path

from dreamflow_cli.server import backend as server_backend
from tests.helpers.cli import invoke
from tests.helpers.scripted_server import ScriptedServer

KEY = "sk-cli-KEEP-SECRET-0b7e"
FAST = ["--no-images", "--scenes", "1", "--seed", "4"]


def _all_written(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in root.rglob("*") if p.is_file())


def _generate(runner, server: ScriptedServer, *args: str, env: dict[str, str] | None = None):
    return invoke(runner, "generate", *args, "--backend", "openai", "--base-url", server.url, *FAST,
                  env={"DREAMFLOW_API_KEY": KEY, "DREAMFLOW_SERVER_RETRIES": "1", **(env or {})})


def test_story_json_records_the_server_and_its_usage_never_the_key(runner, isolated):
    with ScriptedServer() as server:
        result = _generate(runner, server, "a sleepy dragon", "--name", "Mia", "--json", "--out", "out")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(Path(json.loads(result.stdout)["metadata_path"]).read_text(encoding="utf-8"))
    assert meta["backend"]["kind"] == "openai" and meta["backend"]["server_model"] == "tiny-story"
    assert meta["endpoint"] == server.url and meta["server_usage"]["prompt_tokens"] == 50
    assert meta["model"] == {"path": None, "size_bytes": None, "name": "tiny-story", "source": "server"}
    assert meta["memory"] is None
    assert KEY not in result.stdout + result.stderr + _all_written(isolated)


def test_url_password_is_used_but_never_written(runner, isolated):
    with ScriptedServer() as server:
        url = server.url.replace("http://", "http://reader:pa55word@")
        result = invoke(runner, "generate", "a calm sea", "--backend", "openai", "--base-url", url, "--json",
                        "--out", "out", *FAST)
        auth = server.chat_requests()[0]["authorization"]
    assert result.exit_code == 0, result.stderr
    assert auth.startswith("Basic ")
    assert "pa55word" not in result.stdout + result.stderr + _all_written(isolated)


def test_refused_key_is_exit_2_with_a_hint(runner, isolated):
    with ScriptedServer() as server:
        server.script.mode = "401"
        result = _generate(runner, server, "a sleepy dragon", "--out", "out")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused the API key" in lines[0] and "DREAMFLOW_API_KEY" in lines[0]
    assert KEY not in result.stderr
    assert list((isolated / "out").glob("*")) == []  # nothing started, nothing left


def test_unknown_model_is_exit_3_listing_the_models(runner):
    with ScriptedServer() as server:
        server.script.models = ("llama3.2", "qwen2.5")
        result = _generate(runner, server, "a sleepy dragon", "--model", "gpt-4o")
    assert result.exit_code == 3
    assert "does not serve a model called 'gpt-4o'" in result.stderr and "llama3.2, qwen2.5" in result.stderr


def test_no_server_is_exit_3_saying_what_to_do(runner):
    with ScriptedServer() as gone:
        url = gone.url
    result = invoke(runner, "generate", "a fox", "--backend", "openai", "--base-url", url)
    assert result.exit_code == 3
    assert "no model server answered" in result.stderr and "--base-url" in result.stderr


def test_missing_url_is_a_usage_error(runner):
    result = invoke(runner, "generate", "a fox", "--backend", "openai")
    assert result.exit_code == 2 and "--base-url" in result.stderr


def test_a_failing_story_fails_alone_and_the_batch_goes_on(runner, isolated, monkeypatch):
    monkeypatch.setattr(server_backend, "BACKOFF_SECONDS", 0.02)  # the pauses are waited, only shorter
    prompts = isolated / "prompts.txt"
    prompts.write_text("a sleepy dragon\na brave owl\na calm sea\n", encoding="utf-8")
    with ScriptedServer() as server:
        server.script.mode, server.script.fail_times = "500", 2  # the first story's two attempts
        result = _generate(runner, server, "--prompts-file", str(prompts), "--parallel", "1", "--json",
                           "--out", "out")
    assert result.exit_code == 7, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["index"], r["status"]) for r in records] == [(1, "failed"), (2, "ok"), (3, "ok")]
    assert "after 2 attempts" in records[0]["error"] and "HTTP 500" in records[0]["error"]
    assert "trying again" in result.stderr  # the retry was said
    assert len(list((isolated / "out").glob("*/story.json"))) == 2
    assert KEY not in result.stdout + result.stderr + _all_written(isolated)


def test_a_server_asking_to_wait_past_the_cap_is_exit_3_at_once(runner, isolated):
    with ScriptedServer() as server:
        server.script.mode, server.script.retry_after = "429", "3600"
        result = _generate(runner, server, "a sleepy dragon", "--out", "out",
                           env={"DREAMFLOW_SERVER_RETRIES": "3"})
        asked = len(server.chat_requests())
    assert result.exit_code == 3, result.stderr
    assert result.stdout == "" and asked == 1  # neither waited for nor asked again
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "HTTP 429" in errors[0] and "3600 s" in errors[0]
    assert "server_retries" in result.stderr  # the usual hint
    assert not list((isolated / "out").glob("*/story.json"))
