"""Batches from shell scripts: one model load, one line out per story, resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dreamflow_cli.run.batch import parse_prompts
from dreamflow_cli.seeds import line_seed
from dreamflow_cli.story.request import StoryRequest
from tests.helpers.cli import invoke
from tests.helpers.processes import dreamflow_script

FAST = ("--max-tokens", "40", "--no-images", "--low-memory")


def test_parse_text_and_json_lines_with_line_numbers():
    text = "a sleepy owl\n\n# a comment\n{\"prompt\": \"a calm bear\", \"name\": \"Leo\", \"seed\": 4, \"scenes\": 2}\n" \
           "{\"prompt\": 5}\n{\"prompt\": \"x\", \"colour\": \"red\"}\n{broken\n{\"prompt\": \"y\", \"age\": 40}\n"
    items = parse_prompts(text, StoryRequest(prompt="", scenes=3), base_seed=None)
    assert [i.line for i in items] == [1, 4, 5, 6, 7, 8]
    assert items[0].request.prompt == "a sleepy owl" and items[0].request.seed is None
    assert (items[1].request.name, items[1].request.seed, items[1].request.scenes) == ("Leo", 4, 2)
    assert items[2].error == 'missing "prompt" (a non-empty string)'
    assert items[3].error.startswith("unknown key(s) colour; accepted: prompt, name, age,")
    assert items[4].error.startswith("invalid JSON (")
    assert items[5].error.startswith("age has invalid value 40")
    assert [i.error for i in items[:2]] == [None, None]


def test_seeds_derive_from_the_base_seed_and_the_line():
    items = parse_prompts("one\ntwo\n{\"prompt\": \"three\", \"seed\": 9}\n", StoryRequest(prompt=""), base_seed=7)
    seeds = [i.request.seed for i in items]
    assert seeds == [line_seed(7, 1), line_seed(7, 2), 9]
    assert seeds[0] != seeds[1]
    again = parse_prompts("one\ntwo\n", StoryRequest(prompt=""), base_seed=7)
    assert [i.request.seed for i in again] == seeds[:2]


def test_text_batch_prints_one_folder_per_line(runner, models_dir, isolated):
    (isolated / "prompts.txt").write_text("a sleepy owl\n# skip me\n\na calm bear\na quiet fox\n")
    result = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--models-dir", str(models_dir),
                    "--seed", "2", *FAST)
    assert result.exit_code == 0, result.stderr
    dirs = result.stdout.splitlines()
    assert len(dirs) == 3 and all(Path(d).is_dir() for d in dirs)
    lines = [json.loads(Path(d, "story.json").read_text())["batch_line"] for d in dirs]
    assert lines == [1, 4, 5]
    assert "3 done, 0 skipped, 0 failed" in result.stderr


def test_jsonl_from_stdin_with_an_invalid_line_in_the_middle(runner, models_dir, isolated):
    batch = '{"prompt": "a sleepy owl", "name": "Ada"}\n{"prompt": ""}\n{"prompt": "a calm bear", "seed": 5}\n'
    result = runner.invoke(__import__("dreamflow_cli.cli.app").cli.app.app,
                           ["generate", "--prompts-file", "-", "--models-dir", str(models_dir), "--json", *FAST],
                           input=batch)
    assert result.exit_code == 7, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["index"], r["line"], r["status"]) for r in records] == [(1, 1, "ok"), (2, 2, "failed"), (3, 3, "ok")]
    assert records[2]["seed"] == 5 and Path(records[0]["story_path"]).is_file()
    assert "line 2" in result.stderr and "1 failed" in result.stderr
    assert json.loads(Path(records[0]["metadata_path"]).read_text())["name"] == "Ada"


def test_prompt_and_prompts_file_together_is_a_usage_error(runner, isolated):
    result = invoke(runner, "generate", "a fox", "--prompts-file", "x.txt")
    assert result.exit_code == 2 and result.stdout == "" and "not both" in result.stderr
    result = invoke(runner, "generate")
    assert result.exit_code == 2 and "prompts-file" in result.stderr


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child process is POSIX-only")
def test_skip_existing_after_ctrl_c_completes_exactly_the_missing_stories(isolated, models_dir):
    prompts = isolated / "prompts.txt"
    prompts.write_text("\n".join(f"a sleepy animal number {n}" for n in range(1, 6)) + "\n")
    out = isolated / "stories"
    args = [dreamflow_script(), "generate", "--prompts-file", str(prompts), "--models-dir", str(models_dir),
            "--seed", "3", "--out", str(out), "--skip-existing", "--json", *FAST]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=isolated)
    deadline = time.monotonic() + 600
    while len([p for p in out.glob("*/story.json")]) < 2:  # interrupt after two stories are done
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    first_out, first_err = proc.communicate(timeout=60)
    assert proc.returncode == 130, first_err
    finished = {json.loads(p.read_text())["batch_line"] for p in out.glob("*/story.json")}
    assert 2 <= len(finished) < 5
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the story in progress left nothing

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=isolated)
    assert rerun.returncode == 0, rerun.stderr
    records = [json.loads(line) for line in rerun.stdout.splitlines()]
    assert {r["line"] for r in records if r["status"] == "skipped"} == finished
    assert {r["line"] for r in records if r["status"] == "ok"} == set(range(1, 6)) - finished
    lines = sorted(json.loads(p.read_text())["batch_line"] for p in out.glob("*/story.json"))
    assert lines == [1, 2, 3, 4, 5]  # nothing lost, nothing duplicated
