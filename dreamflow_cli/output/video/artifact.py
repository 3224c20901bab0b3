"""The video artifact: ``story.mp4`` (H.264 + AAC, plays on phones and in browsers) and its
subtitles, ``story.vtt``.

Each scene's picture is on screen while its scene is read, drifting in a slow pan and zoom, with
soft cross-fades in the pauses between scenes; the narration is the sound track. Without
narration the video is silent and each picture stays for its scene's reading time at a calm
130 words a minute. PyAV's bundled FFmpeg (libx264) is GPL, so the encoder runs as a child
process (``encoder.py``), like the narrator: never beside it, one after the other.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from dreamflow_cli.doctor.checks import FAIL, PASS, SKIP, Check
from dreamflow_cli.errors import ModelError
from dreamflow_cli.output.artifacts import Made, Work
from dreamflow_cli.output.narration.artifact import WAV_FILE
from dreamflow_cli.output.narration.script import Timeline, build_script, estimate_timeline
from dreamflow_cli.output.video import plan
from dreamflow_cli.output.video.subtitles import webvtt
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.units import human_bytes

VIDEO_FILE = "story.mp4"
SUBTITLES_FILE = "story.vtt"
ENCODER = "dreamflow_cli.output.video.encoder"
PICTURE_SIZE = (768, 512)  # output/pictures draws every scene at this size
READING_PACE = 130  # words a minute, for a silent video


def encoder_missing() -> bool:
    return importlib.util.find_spec("av") is None


def memory_for(settings: Settings) -> int:
    return plan.memory_bytes(*PICTURE_SIZE, plan.QUALITIES[settings.video_quality], settings.scenes)


@dataclass(frozen=True)
class Video:
    child_process = True
    name: str = "video"
    phase: str = "making the video"
    absent: Mapping[str, Any] = field(default_factory=lambda: {"video_path": None, "subtitles_path": None})

    def wanted(self, request: StoryRequest, settings: Settings) -> bool:
        return settings.video

    def memory_bytes(self, settings: Settings) -> int:
        return memory_for(settings) if settings.video else 0

    def memory_hint(self, settings: Settings) -> str:
        faster = "--video-quality fast, " if settings.video_quality != "fast" else ""
        return f"{faster}fewer --scenes, or --no-video"

    def check(self, settings: Settings) -> None:
        if settings.video and encoder_missing():
            raise ModelError("--video needs the video encoder, and av (PyAV) is not installed",
                             "pip install 'dreamflow[video]' (or leave out --video)")

    def doctor(self, settings: Settings) -> list[Check]:
        return [video_check(settings)]

    def produce(self, work: Work) -> Made:
        staging = work.folder.staging
        timeline = _timeline(work)
        pictures, drawn = _pictures(work)
        wav = staging / WAV_FILE
        request = {
            "pictures": [str(p) for p in pictures], "seconds": timeline.seconds,
            "scenes": [{"start": a, "end": b} for a, b in timeline.scene_times()],
            "audio_wav": str(wav) if wav.is_file() else "", "video_path": str(staging / VIDEO_FILE),
            "quality": work.settings.video_quality, "title": work.story.title,
        }
        try:
            result = _encode(request, work)
        finally:
            for temporary in (*drawn, wav):  # the encoder's inputs only: never part of the story
                temporary.unlink(missing_ok=True)
        work.folder.write(SUBTITLES_FILE, webvtt(timeline).encode("utf-8"))
        return Made(files={"video": VIDEO_FILE, "subtitles": SUBTITLES_FILE},
                    json={"video_path": VIDEO_FILE, "subtitles_path": SUBTITLES_FILE},
                    metadata={"video": {**result, "file": VIDEO_FILE, "subtitles": SUBTITLES_FILE}})


def _timeline(work: Work) -> Timeline:
    """When each scene is heard: the narration's own times, else the reading time at a calm pace."""
    narrated = work.made.get("narration")
    if narrated is not None:
        return Timeline.from_json(dict(narrated.metadata["narration"]))
    script = build_script(work.story.title, work.story.scenes, work.request.name or "")
    return estimate_timeline(script, READING_PACE)


def _pictures(work: Work) -> tuple[list[Path], list[Path]]:
    """The scene pictures to show, and those drawn only for the video (to delete afterwards)."""
    made = work.made.get("pictures")
    names = made.files.get("images") if made is not None else None
    if isinstance(names, list) and names:
        return [work.folder.staging / n for n in names], []
    from dreamflow_cli.output.pictures.artifact import scene_pictures
    from dreamflow_cli.output.pictures.plain import png_bytes

    drawn = []
    for i, picture in enumerate(scene_pictures(work, captions=False), 1):
        drawn.append(work.folder.write(f".video-scene-{i}.png", png_bytes(picture.image)))
    return drawn, drawn


def _encode(request: dict[str, Any], work: Work) -> dict[str, Any]:
    from dreamflow_cli.output.child.errors import child_error
    from dreamflow_cli.output.child.runner import ChildFailed, run_child

    try:
        outcome = run_child(ENCODER, request, outputs=[Path(request["video_path"])],
                            on_progress=lambda done, total: work.progress(done / max(1, total)))
    except ChildFailed as failure:
        raise child_error(failure, "the video encoder", Video().memory_hint(work.settings), "video") from None
    result = outcome.result
    return {"quality": result["quality"], "seconds": result["seconds"], "width": result["width"],
            "height": result["height"], "fps": result["fps"], "sound": result["audio"],
            "peak_rss_bytes": outcome.peak_rss_bytes, "seconds_to_make": round(outcome.wall_seconds, 3)}


def video_check(settings: Settings) -> Check:
    need = f"the encoder needs ~{human_bytes(memory_for(settings))} at --video-quality {settings.video_quality}"
    if encoder_missing():
        if settings.video:
            return Check("video", FAIL, "video is on, but av (PyAV) is not installed", "pip install 'dreamflow[video]'")
        return Check("video", SKIP, "not set up: av (PyAV) is not installed", "pip install 'dreamflow[video]'")
    return Check("video", PASS, f"PyAV's encoder is installed; {need}")


ARTIFACT = Video()
