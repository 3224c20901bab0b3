"""`generate --narrate --video` end to end on the real model, the real narrator (piper-tts with the
pip-shipped voice) and the real encoder (PyAV): everything written is decoded again and measured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import av
import psutil
import pytest

from dreamflow_cli.errors import ExitStatus
from dreamflow_cli.output.video.subtitles import parse_vtt
from tests.helpers.cli import invoke
from tests.helpers.processes import Child

pytestmark = pytest.mark.model
posix_only = pytest.mark.skipif(os.name == "nt", reason="SIGTERM to a child process is POSIX-only")


def args(models_dir: Path, *extra: str) -> list[str]:
    return ["generate", "a sleepy dragon who counts the stars", "--name", "Mia", "--models-dir", str(models_dir),
            "--threads", "1", "--seed", "3", "--max-tokens", "96", *extra]


def streams(path: Path) -> dict[str, tuple[str, float]]:
    """Each stream's codec and duration in seconds, read back by FFmpeg (PyAV)."""
    with av.open(str(path)) as container:
        found = {}
        for stream in container.streams:
            seconds = float(stream.duration * stream.time_base) if stream.duration else float(container.duration) / 1e6
            found[stream.type] = (stream.codec_context.name, seconds)  # the decoder's name: mp3float, h264, aac
        return found


def frame_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def test_a_narrated_video_of_a_story(runner, isolated, voice_models_dir):
    result = invoke(runner, *args(voice_models_dir, "--narrate", "--video", "--json"))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    meta = json.loads(Path(summary["metadata_path"]).read_text())
    audio, video, vtt = Path(summary["audio_path"]), Path(summary["video_path"]), Path(summary["subtitles_path"])
    assert meta["files"]["audio"] == audio.name == "narration.mp3" and meta["files"]["video"] == "story.mp4"
    # The narration: MP3, as long as its words at a calm pace, the scenes in order.
    (codec, seconds), = streams(audio).values()
    narration = meta["narration"]
    assert codec.startswith("mp3") and abs(seconds - narration["seconds"]) < 0.2 and narration["voice"] == "en-us-joe-medium"
    words = sum(len(s["text"].split()) for s in narration["segments"])
    assert 110 <= words * 60 / seconds <= 170
    starts = [s["start"] for s in narration["scenes"]]
    assert len(starts) == meta["scenes"] and starts == sorted(starts) and narration["sample_rate"] == 22050
    # The video: H.264 and AAC, the audio's length within a second, the picture's own size (fast).
    found = streams(video)
    assert found["video"][0] == "h264" and found["audio"][0] == "aac"
    assert abs(found["video"][1] - seconds) <= 1.0 and abs(found["audio"][1] - seconds) <= 1.0
    assert frame_size(video) == (768, 512)
    # Subtitles: every sentence heard has a cue, in order; nothing hidden is left in the folder.
    cues = " ".join(c.text for c in parse_vtt(vtt.read_text(encoding="utf-8")))
    for segment in narration["segments"]:
        assert " ".join(segment["text"].split()) in " ".join(cues.split())
    assert not [p.name for p in audio.parent.iterdir() if p.name.startswith(".")]
    assert meta["peak_rss_bytes"] >= narration["peak_rss_bytes"]  # the narrator's memory counts as ours


def test_a_silent_high_quality_video_holds_each_picture_for_its_reading_time(runner, isolated, models_dir):
    result = invoke(runner, *args(models_dir, "--video", "--video-quality", "high", "--scenes", "2", "--json"))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    video = Path(summary["video_path"])
    assert summary["audio_path"] is None and set(streams(video)) == {"video"}  # no sound track without --narrate
    assert frame_size(video) == (1536, 1024)
    meta = json.loads(Path(summary["metadata_path"]).read_text())
    words = len(meta["title"].split()) + sum(len(s.split()) for s in Path(summary["story_path"]).read_text()
                                             .split("\n") if s and not s.startswith("#"))
    assert meta["video"]["quality"] == "high" and abs(meta["video"]["seconds"] - words * 60 / 130) < 0.35 * meta["video"]["seconds"]


def test_a_narrator_that_cannot_read_its_voice_is_one_line_and_saves_nothing(runner, isolated, models_dir):
    broken = isolated / "broken.onnx"
    broken.write_bytes(b"\x08\x07" + os.urandom(4096))  # ONNX's first byte, then nothing a model is made of
    Path(str(broken) + ".json").write_text(json.dumps({"audio": {"sample_rate": 22050}}))
    result = invoke(runner, *args(models_dir, "--narrate", "--voice", str(broken)))
    assert result.exit_code == ExitStatus.MODEL, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("Memory: ")]
    assert len(lines) == 1 and "the narrator (voice broken)" in lines[0] and "Traceback" not in result.stderr
    assert result.stdout == "" and not [p for p in (isolated / "stories").iterdir() if p.is_dir()]


@posix_only
def test_sigterm_while_narrating_stops_the_narrator_and_keeps_nothing(isolated, voice_models_dir):
    out = isolated / "out"
    child = Child(args(voice_models_dir, "--narrate", "--max-tokens", "200", "--out", str(out)), isolated)
    narrator = _wait_for_child(child.proc.pid, "output.narration.narrator")
    child.proc.send_signal(signal.SIGTERM)
    code, stdout, stderr = child.finish()
    assert code == 143 and stdout == "" and "Interrupted (SIGTERM while narrating)" in stderr, stderr
    assert not narrator.is_running() or narrator.status() == psutil.STATUS_ZOMBIE
    assert not [p for p in out.iterdir() if p.name != "index.html"]  # no story, no staging folder


def _wait_for_child(pid: int, module: str, timeout: float = 120) -> psutil.Process:
    deadline = time.monotonic() + timeout
    parent = psutil.Process(pid)
    while time.monotonic() < deadline:
        for proc in parent.children(recursive=True):
            try:
                if any(module in part for part in proc.cmdline()):
                    return proc
            except psutil.Error:
                continue
        time.sleep(0.1)
    raise AssertionError(f"no {module} child within {timeout} s")


@pytest.mark.skipif(not (os.name == "posix" and os.geteuid() == 0), reason="mounting a small tmpfs needs root")
def test_a_disk_that_fills_while_narrating_is_exit_8_and_keeps_nothing(runner, isolated, voice_models_dir):
    out = isolated / "small"
    out.mkdir()
    # Room for the pictures, the book and the text, not for a minute of lossless narration.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1600k", "tmpfs", str(out)], check=True)
    try:
        result = invoke(runner, *args(voice_models_dir, "--narrate", "--video", "--out", str(out)))
        assert result.exit_code == ExitStatus.NO_SPACE, result.stderr
        assert "no space left" in result.stderr and "Traceback" not in result.stderr
        assert not [p.name for p in out.iterdir() if p.name != "index.html"]
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)


def test_a_low_memory_batch_narrates_every_story_after_the_model(runner, isolated, voice_models_dir):
    prompts = isolated / "p.txt"
    prompts.write_text("a sleepy owl\na tiny boat on a calm sea\n")
    result = invoke(runner, "generate", "--prompts-file", str(prompts), "--models-dir", str(voice_models_dir),
                    "--threads", "1", "--seed", "2", "--max-tokens", "64", "--low-memory", "--parallel", "2",
                    "--narrate", "--json")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"] and [r["index"] for r in records] == [1, 2]
    for record in records:
        (codec, seconds), = streams(Path(record["audio_path"])).values()
        assert codec.startswith("mp3") and seconds > 3
