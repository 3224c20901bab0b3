"""The fast tier (`pytest -m "not model"`): the pipeline above the backend seam, on the fake
backend (tests/fakes.py), and proof that this tier never loads llama.cpp."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dreamflow_cli.backend.seam import Backend
from dreamflow_cli.run.batch import BatchItem, Outcome, Summary
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.settings.load import load_settings
from dreamflow_cli.errors import ContentBlockedError
from dreamflow_cli.run.monitor import Watch
from dreamflow_cli.run.pipeline import TOKENS_ALIAS, write_story
from dreamflow_cli.run.setup import plan_story
from tests.helpers.fakes import CALM_STORY, FakeBackend, fake_run

ROOT = Path(__file__).resolve().parent.parent


def test_the_fake_implements_the_backend_protocol():
    backend: Backend = FakeBackend()  # mypy checks the structure; here, the members exist
    for member in ("kind", "profile", "has_chat_template", "load_seconds", "max_parallel", "count_tokens",
                   "generate", "describe", "interrupt", "close"):
        assert hasattr(backend, member), member


def test_a_story_through_the_fake_backend(isolated):
    settings = load_settings({"images": False}, env={})
    backend = FakeBackend()
    plan = plan_story(StoryRequest("a sleepy fox", name="Mia", scenes=2, images=False, seed=7), fake_run(settings))
    result = write_story(plan, backend=backend, watch=Watch())
    # No pictures: the book (on by default) is text only.
    assert sorted(p.name for p in result.story_dir.iterdir()) == ["book.pdf", "story.json", "story.md"]
    meta = json.loads(result.metadata_path.read_text())
    assert meta["backend"] == {"kind": "fake", "model": "fake"} and meta["seed"] == 7
    assert meta["generated_tokens"] > 0 and meta["profile"]["name"] == "standard"
    summary = result.summary()
    assert summary["generated_tokens"] == summary[TOKENS_ALIAS] == meta["generated_tokens"]
    assert "fox" in result.story.text.lower() and not backend.closed  # the caller owns the backend
    assert backend.calls[0][2] == 7  # the first draft is written with the story's own seed


def test_a_blocked_draft_is_written_again_with_a_new_seed(isolated):
    settings = load_settings({"images": False}, env={})
    first_seed: list[int] = []

    def text_for(prompt, seed):
        first_seed.append(seed)
        return CALM_STORY.replace("sleepy fox", "scary monster") if seed == first_seed[0] else CALM_STORY

    warnings: list[str] = []
    plan = plan_story(StoryRequest("a sleepy fox", name="Mia", scenes=2, images=False, seed=3), fake_run(settings))
    result = write_story(plan, backend=FakeBackend(text_for), watch=Watch(on_warning=warnings.append))
    meta = json.loads(result.metadata_path.read_text())
    assert meta["attempts"] >= 2 and meta["accepted_seed"] != 3
    assert any("monster" in hit for hits in meta["guard_hits"] for hit in hits)
    assert warnings and "writing it again with a new seed" in warnings[0]
    assert "monster" not in result.story.text.lower()


def test_every_draft_blocked_saves_nothing(isolated):
    settings = load_settings({"images": False, "guard_retries": 1}, env={})
    plan = plan_story(StoryRequest("a sleepy fox", scenes=1, images=False, seed=3), fake_run(settings))
    with pytest.raises(ContentBlockedError) as err:
        write_story(plan, backend=FakeBackend(lambda p, s: CALM_STORY + " A ghost screamed."))
    assert err.value.exit_code == 6
    assert not list(Path(settings.out_dir).glob("**/story.*"))


def test_a_token_callback_that_raises_propagates_and_the_fake_stays_usable():
    from dreamflow_cli.backend.seam import Prompt

    backend = FakeBackend()

    def stop(count: int) -> None:
        if count == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend.generate(Prompt("s", "u"), max_tokens=50, sampling={}, seed=1, on_token=stop)
    assert backend.generate(Prompt("s", "u"), max_tokens=5, sampling={}, seed=1).finish_reason == "length"


def test_the_batch_record_is_built_in_the_core():
    ok = Outcome(BatchItem(4, None), index=2, status="failed", error="bad line")
    assert ok.record() == {"index": 2, "line": 4, "status": "failed", "error": "bad line"}
    summary = Summary()
    for status in ("ok", "failed", "skipped", "ok"):
        summary.count(Outcome(BatchItem(1, None), 1, status))
    summary.seconds = 30
    assert (summary.done, summary.failed, summary.skipped) == (2, 1, 1)
    assert summary.text() == "Batch: 2 done, 1 skipped, 1 failed in 30.0 s (4.0 stories/min)"


def test_the_fast_tier_never_imports_llama_cpp(tmp_path):
    # A fresh interpreter: every dreamflow module, the CLI's --help and a whole story on the fake.
    script = textwrap.dedent(f"""
        import pkgutil, sys, importlib
        sys.path.insert(0, {str(ROOT)!r})
        import dreamflow_cli
        for mod in pkgutil.walk_packages(dreamflow_cli.__path__, "dreamflow_cli."):
            importlib.import_module(mod.name)
        from typer.testing import CliRunner
        from dreamflow_cli.cli.app import app
        assert CliRunner().invoke(app, ["generate", "--help"]).exit_code == 0
        from dreamflow_cli.story.request import StoryRequest
        from dreamflow_cli.settings.load import load_settings
        from dreamflow_cli.run.pipeline import write_story
        from dreamflow_cli.run.setup import plan_story
        from tests.helpers.fakes import FakeBackend, fake_run
        settings = load_settings({{"out_dir": {str(tmp_path / "stories")!r}}}, env={{}})
        write_story(plan_story(StoryRequest("a sleepy fox", seed=1), fake_run(settings)), backend=FakeBackend())
        print(sorted(m for m in sys.modules if m.split(".")[0] == "llama_cpp"))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


FRIGHTENED_BOAT = (
    "The little boat was scared of the dark water. Then the moon came out and smiled, and the boat "
    "felt safe and warm. The stars sang softly to the little boat, and the waves rocked it gently. "
    "The boat watched the quiet harbour and yawned. Soon the little boat was fast asleep, dreaming "
    "of the calm sea. Goodnight, little boat."
)


def test_a_story_about_a_fear_may_name_it_once_it_is_soothed(isolated):
    settings = load_settings({"images": False, "candidates": 1}, env={})
    plan = plan_story(StoryRequest("a little boat that is afraid of the dark", scenes=2, images=False, seed=7), fake_run(settings))
    result = write_story(plan, backend=FakeBackend(lambda prompt, seed: FRIGHTENED_BOAT),
                         watch=Watch())
    meta = json.loads(result.metadata_path.read_text())
    assert meta["attempts"] == 1 and meta["guard_hits"] == []  # not thrown away for "scared"
    assert "boat" in result.story.text and "scared" not in result.story.scenes[-1]


def test_a_fear_the_request_did_not_ask_for_is_still_blocked(isolated):
    settings = load_settings({"images": False, "candidates": 1, "guard_retries": 0}, env={})
    plan = plan_story(StoryRequest("a little boat on a calm sea", scenes=2, images=False, seed=7), fake_run(settings))
    with pytest.raises(ContentBlockedError, match="scared"):
        write_story(plan, backend=FakeBackend(lambda prompt, seed: FRIGHTENED_BOAT), watch=Watch())
    assert not list(settings.out_dir.glob("*/story.json"))  # nothing saved


def test_a_request_that_names_a_feeling_is_about_a_fear_even_when_it_sounds_brave(isolated):
    # VADER does not read "never scared" as a worry, but the request names the feeling: its story
    # may say "scared" (soothed) just as a story for "never afraid" may say "afraid".
    settings = load_settings({"images": False, "candidates": 1, "guard_retries": 0}, env={})
    plan = plan_story(StoryRequest("a brave little boat that is never scared", scenes=2, images=False, seed=7), fake_run(settings))
    result = write_story(plan, backend=FakeBackend(lambda prompt, seed: FRIGHTENED_BOAT), watch=Watch())
    meta = json.loads(result.metadata_path.read_text())
    assert meta["attempts"] == 1 and meta["guard_hits"] == []
