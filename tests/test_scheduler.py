"""The batch scheduler: several stories in flight over one backend, outcomes as they finish,
and an interrupted batch that keeps finished stories and removes unfinished ones."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from dreamflow_cli.backend.seam import Generation, Prompt
from dreamflow_cli.run import batch as batch_module
from dreamflow_cli.run.batch import parse_prompts, run_batch
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.settings.load import load_settings
from dreamflow_cli.run.monitor import Watch
from dreamflow_cli.run.setup import prepare
from tests.helpers.cli import invoke

FAST = ("--max-tokens", "40", "--no-images", "--low-memory", "--threads", "1")


def test_parallel_batch_on_the_real_model_writes_every_story_once(runner, models_dir, isolated):
    (isolated / "prompts.txt").write_text("a sleepy owl\nnot json {\na calm bear\na quiet fox\n")
    result = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--models-dir", str(models_dir),
                    "--seed", "2", "--parallel", "2", "--json", *FAST)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["line"] for r in records) == [1, 2, 3, 4]
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == 4 - sum(r["status"] == "failed" for r in records)
    assert all(Path(r["story_path"]).is_file() for r in ok)
    written = sorted(json.loads(p.read_text())["batch_line"] for p in (isolated / "stories").glob("*/story.json"))
    assert written == sorted(r["line"] for r in ok)
    assert not [p for p in (isolated / "stories").iterdir() if p.name.startswith(".")]
    meta = json.loads(Path(ok[0]["metadata_path"]).read_text())
    assert meta["backend"]["kind"] == "local"


def test_one_story_at_a_time_keeps_input_order_with_failed_lines_in_place(runner, models_dir, isolated):
    batch = '{"prompt": "a calm bear"}\n{"prompt": ""}\n{"prompt": "a quiet fox"}\n'
    (isolated / "p.jsonl").write_text(batch)
    result = invoke(runner, "generate", "--prompts-file", "p.jsonl", "--models-dir", str(models_dir),
                    "--seed", "4", "--parallel", "1", "--json", *FAST)
    assert result.exit_code == 7, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["index"], r["status"]) for r in records] == [(1, "ok"), (2, "failed"), (3, "ok")]


class GatedFake:
    """Stands in for the model where a real one cannot be made to stall on cue: each story waits
    (ticking tokens) until the test lets one through, so a batch can be stopped mid-story."""

    kind = "local"
    has_chat_template = True
    load_seconds = 0.0
    max_parallel = 2

    def __init__(self, profile):
        self.profile = profile
        self.gate = threading.Semaphore(0)
        self.started = threading.Semaphore(0)
        self.threads: set[str] = set()
        self.closed = False

    def count_tokens(self, prompt: Prompt) -> int:
        return len((prompt.system + prompt.user + prompt.prefix).split())

    def generate(self, prompt, *, max_tokens, sampling, seed, on_token=None):
        self.threads.add(threading.current_thread().name)
        self.started.release()
        n = 0
        while not self.gate.acquire(timeout=0.01):
            n += 1
            if on_token is not None:
                on_token(n)
        text = " watched the calm moon. The owl was sleepy and warm. Soon the owl fell asleep."
        return Generation(text=text, prompt_tokens=10, generated_tokens=n, max_tokens=max_tokens, seconds=0.1,
                          first_token_seconds=0.01, finish_reason="stop")

    def describe(self):
        return {"kind": "fake"}

    def interrupt(self):
        pass

    def close(self):
        self.closed = True


def _fake_batch(models_dir, monkeypatch, prompts: int, parallel):
    # One draft per story: the gate lets each story write exactly once.
    settings = load_settings({"models_dir": models_dir, "images": False, "low_memory": True, "candidates": 1,
                              "parallel": parallel})
    run = prepare(settings, stories=prompts)
    fake = GatedFake(run.profile)
    monkeypatch.setattr("dreamflow_cli.run.batch.open_backend", lambda *a, **k: fake)
    text = "\n".join(f"a sleepy animal number {n}" for n in range(prompts))
    items = parse_prompts(text, StoryRequest(prompt="", images=False), 1)
    return settings, fake, run_batch(items, run, skip_existing=False, watch=Watch())


def test_stopping_a_parallel_batch_removes_stories_in_flight_and_closes_the_backend(models_dir, isolated,
                                                                                   monkeypatch):
    settings, fake, outcomes = _fake_batch(models_dir, monkeypatch, 3, 2)
    first: list = []
    consumer = threading.Thread(target=lambda: first.append(next(outcomes)), daemon=True)
    consumer.start()
    try:
        assert fake.started.acquire(timeout=30) and fake.started.acquire(timeout=30), "two stories never started"
        assert len([p for p in settings.out_dir.iterdir() if p.name.startswith(".")]) == 2  # both in flight
        fake.gate.release()  # one story may finish
        consumer.join(timeout=30)
        assert first and first[0].status == "ok"
        assert fake.started.acquire(timeout=30)  # the third story took the free worker
    except BaseException:
        for _ in range(3):  # a failed assertion must not leave the workers waiting at the gate for ever
            fake.gate.release()
        raise
    outcomes.close()  # the reader stops (Ctrl-C in the CLI): the two stories in flight are abandoned
    assert fake.closed
    assert not [p for p in settings.out_dir.iterdir() if p.name.startswith(".")]
    assert [p.parent.resolve() for p in settings.out_dir.glob("*/story.json")] == [first[0].story_dir.resolve()]


@pytest.mark.parametrize("parallel", [None, 1, 3])
def test_parallel_defaults_to_what_the_backend_does_well(parallel, models_dir, isolated, monkeypatch):
    settings, fake, outcomes = _fake_batch(models_dir, monkeypatch, 6, parallel)
    for _ in range(6):
        fake.gate.release()
    results = list(outcomes)
    assert sorted(r.index for r in results) == [1, 2, 3, 4, 5, 6] and {r.status for r in results} == {"ok"}
    assert len(fake.threads) <= (parallel or fake.max_parallel)
    assert len(list(settings.out_dir.glob("*/story.json"))) == 6


def test_a_story_that_finished_as_the_signal_arrived_is_still_reported(models_dir, isolated, monkeypatch):
    settings, fake, outcomes = _fake_batch(models_dir, monkeypatch, 3, 2)
    real_wait = batch_module.wait

    def interrupted_wait(futures, return_when):
        real_wait(futures, return_when=return_when)  # a story is done and on disk ...
        raise KeyboardInterrupt  # ... and Ctrl-C lands before the batch reports it

    monkeypatch.setattr(batch_module, "wait", interrupted_wait)
    fake.gate.release()
    reported = []
    with pytest.raises(KeyboardInterrupt):
        for outcome in outcomes:
            reported.append(outcome)
    on_disk = [p.parent.resolve() for p in settings.out_dir.glob("*/story.json")]
    assert len(on_disk) == 1 and [o.story_dir.resolve() for o in reported] == on_disk
    assert not [p for p in settings.out_dir.iterdir() if p.name.startswith(".")]
