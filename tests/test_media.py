"""Narration and video in the run, without the real narrator or encoder (those are
tests/test_media_model.py and tests/test_media_cli.py): what is refused before the model loads,
what the preflight counts, what doctor says, and when a batch makes its media."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pytest

from dreamflow_cli.errors import ExitStatus, NotEnoughMemoryError
from dreamflow_cli.output import artifacts
from dreamflow_cli.output.artifacts import Made, Plain, Work
from dreamflow_cli.output.narration import artifact as narration
from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.plan.preflight import MediaNeed, decide
from dreamflow_cli.run.batch import parse_prompts, run_batch
from dreamflow_cli.run.monitor import Watch
from dreamflow_cli.run.setup import RunPlan
from dreamflow_cli.settings.load import load_settings
from dreamflow_cli.settings.profiles import MemoryMode, ProfileName
from dreamflow_cli.story.request import StoryRequest
from tests.helpers.cli import invoke
from tests.helpers.fakes import FAKE_ENTRY, FakeBackend, fake_prepare

MB = 1_000_000
ESTIMATES = {"standard": MemoryEstimate("standard", 300 * MB, 0, 40 * MB, 30 * MB, 30 * MB),
             "low-memory": MemoryEstimate("low-memory", 300 * MB, 0, 10 * MB, 20 * MB, 20 * MB)}
VIDEO_HIGH = MediaNeed(260 * MB, "video needs ~260 MB", "--video-quality fast, fewer --scenes, or --no-video",
                       beside=frozenset({"standard"}))


def test_the_preflight_counts_media_after_the_model_or_beside_it():
    # A single story: the model is closed before the media, so the larger of the two counts.
    alone = decide(MemoryMode.STANDARD, ESTIMATES, 500 * MB, media=MediaNeed(260 * MB, "video needs ~260 MB"))
    assert alone.needed == 400 * MB and alone.media == 260 * MB
    # A batch in the standard profile makes media beside the loaded model: both count.
    beside = decide(MemoryMode.STANDARD, ESTIMATES, 700 * MB, media=VIDEO_HIGH)
    assert beside.needed == 660 * MB and beside.as_dict()["media_bytes"] == 260 * MB
    # Low-memory never adds them up, so auto falls to it when the sum does not fit.
    auto = decide(MemoryMode.AUTO, ESTIMATES, 600 * MB, media=VIDEO_HIGH, headroom=0)
    assert auto.profile == ProfileName.LOW_MEMORY and auto.needed == 350 * MB


def test_media_that_do_not_fit_are_refused_naming_what_to_drop():
    with pytest.raises(NotEnoughMemoryError) as err:
        decide(MemoryMode.STANDARD, ESTIMATES, 500 * MB, media=VIDEO_HIGH)
    assert err.value.exit_code == ExitStatus.MEMORY
    assert "not enough memory for the story's media" in err.value.message and "video needs ~260 MB" in err.value.message
    assert err.value.hint == "drop what does not fit: --video-quality fast, fewer --scenes, or --no-video"
    with pytest.raises(NotEnoughMemoryError) as model:  # the model itself does not fit: the old advice
        decide(MemoryMode.STANDARD, ESTIMATES, 300 * MB, media=VIDEO_HIGH)
    assert "not enough memory:" in model.value.message and "--low-memory" in model.value.hint


def test_the_artifacts_memory_need_is_the_largest_one(isolated):
    settings = load_settings({"narrate": True, "video": True, "video_quality": "high"}, env={})
    need = artifacts.media_need(settings)
    assert need.peak == narration.ARTIFACT.memory_bytes(settings) and need.what.startswith("narration needs ~")
    video = next(a for a in artifacts.every() if a.name == "video")
    assert video.memory_bytes(settings) > video.memory_bytes(load_settings({"video": True}, env={}))  # high > fast
    assert artifacts.media_need(load_settings({}, env={})).peak == max(
        a.memory_bytes(load_settings({}, env={})) for a in artifacts.every())  # pictures, the book


@pytest.mark.parametrize("missing, fragment", [(["piper"], "pip install 'dreamflow[voice]'"),
                                               ([], "dreamflow download-model en-us-joe-medium")])
def test_narrate_without_its_packages_or_a_voice_is_exit_3_before_the_model(runner, isolated, monkeypatch,
                                                                            missing, fragment):
    monkeypatch.setattr(narration, "missing_packages", lambda: missing)
    (isolated / "models").mkdir()  # no model either: the voice is refused before the model is looked for
    result = invoke(runner, "generate", "a sleepy owl", "--narrate")
    assert result.exit_code == ExitStatus.MODEL, result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert fragment in result.stderr and "no model found" not in result.stderr  # asked before any model
    assert not (isolated / "stories").exists() or not any((isolated / "stories").iterdir())


def test_a_voice_named_as_a_file_must_have_its_config(runner, isolated, monkeypatch):
    monkeypatch.setattr(narration, "missing_packages", lambda: [])
    (isolated / "mine.onnx").write_bytes(b"\x08\x07")
    result = invoke(runner, "generate", "a sleepy owl", "--narrate", "--voice", "mine.onnx")
    assert result.exit_code == ExitStatus.MODEL and "voice mine has no mine.onnx.json beside it" in result.stderr


def test_doctor_says_whether_narration_and_video_can_run(runner, isolated, monkeypatch):
    monkeypatch.setattr(narration, "missing_packages", lambda: ["piper"])
    result = invoke(runner, "doctor", "--json", "--backend", "fake")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["narration"]["status"] == "SKIP" and "pip install 'dreamflow[voice]'" in checks["narration"]["hint"]
    assert checks["video"]["status"] in ("PASS", "SKIP") and "video" in checks


@dataclass(frozen=True)
class FakeNarration(Plain):
    """A stand-in for a child-process artifact: records whether the model was loaded when it ran."""

    seen: list[tuple[str, bool]] = field(default_factory=list)
    backends: list[FakeBackend] = field(default_factory=list)
    child_process = True
    name: str = "fake narration"
    phase: str = "narrating"
    absent: Mapping[str, Any] = field(default_factory=lambda: {"fake_audio_path": None})

    def wanted(self, request: StoryRequest, settings: Any) -> bool:
        return True

    def produce(self, work: Work) -> Made:
        self.seen.append((work.request.prompt, all(b.closed for b in self.backends)))
        work.folder.write("fake.txt", b"la la")
        return Made(files={"fake_audio": "fake.txt"}, json={"fake_audio_path": "fake.txt"})


@pytest.mark.parametrize("profile, model_closed", [(ProfileName.LOW_MEMORY, True), (ProfileName.STANDARD, False)])
def test_a_batch_makes_media_after_the_model_in_low_memory_and_beside_it_otherwise(isolated, profile, model_closed):
    fake = FakeNarration()
    artifacts.register(fake)
    try:
        settings = load_settings({"images": False, "book": False, "low_memory": profile == ProfileName.LOW_MEMORY},
                                 env={})
        prepared = fake_prepare(settings)
        opened: list[FakeBackend] = fake.backends

        def open_fake(prepared, settings, **_):
            opened.append(FakeBackend(profile=prepared.profile))
            return opened[-1]

        entry = type(FAKE_ENTRY)(**{**FAKE_ENTRY.__dict__, "open": open_fake})
        run = RunPlan(settings, entry, type(prepared)(**{**prepared.__dict__, "profile": _named(prepared.profile, profile)}),
                      None, frozenset({ProfileName.STANDARD}))
        items = parse_prompts("a sleepy owl\na tiny boat\na calm bear\n", StoryRequest(prompt="", images=False), 1)
        outcomes = list(run_batch(items, run, skip_existing=False, watch=Watch()))
    finally:
        artifacts.unregister(fake.name)
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"] and [o.index for o in outcomes] == [1, 2, 3]
    assert [prompt for prompt, _ in fake.seen] == ["a sleepy owl", "a tiny boat", "a calm bear"]
    assert {closed for _, closed in fake.seen} == {model_closed}  # never both in RAM at low-memory
    assert all(Path(o.story_dir, "fake.txt").is_file() for o in outcomes)


def _named(profile: Any, name: str) -> Any:
    return type(profile)(**{**profile.__dict__, "name": name})
