"""The narration artifact: the story read aloud into ``narration.mp3`` by an offline Piper voice.

A bedtime reading, not a news reader: slower than the voice's own pace, the title first, a pause
after each sentence and a longer one between scenes, one loudness gain under a peak ceiling, soft
fades; the child's name is spoken as written. The voice runs in a child process
(``narrator.py``): piper-tts is GPL and stays out of dreamflow's process, its ~350 MB stay out of
our memory, and Ctrl-C stops it cleanly. story.json ``narration`` records the voice, the length,
the sample rate and when each scene and sentence is heard (the video and its subtitles use them).

MP3 because it is the one format every browser, phone and tablet plays (Apple's players do not
reliably play Ogg/Opus; WAV is 2.6 MB a minute); 64 kbit/s mono is ~0.5 MB a minute.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Mapping

from dreamflow_cli.doctor.checks import FAIL, PASS, SKIP, Check
from dreamflow_cli.errors import DreamflowError, ModelError
from dreamflow_cli.model.catalog import DEFAULT_VOICE
from dreamflow_cli.model.voice import Voice, resolve_voice
from dreamflow_cli.output.artifacts import Made, Work
from dreamflow_cli.output.narration.script import STORY_WORDS_BOUND, build_script, narrator_memory_bytes
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.units import human_bytes

AUDIO_FILE = "narration.mp3"
# The lossless track the video's sound is made from (never from the MP3); hidden, and gone before
# the story folder is committed.
WAV_FILE = ".narration.wav"
NARRATOR = "dreamflow_cli.output.narration.narrator"
PACKAGES = ("piper", "onnxruntime", "av")


def missing_packages() -> list[str]:
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


@dataclass(frozen=True)
class Narration:
    child_process = True
    name: str = "narration"
    phase: str = "narrating"
    absent: Mapping[str, Any] = field(default_factory=lambda: {"audio_path": None})

    def wanted(self, request: StoryRequest, settings: Settings) -> bool:
        return settings.narrate

    def memory_bytes(self, settings: Settings) -> int:
        return narrator_memory_bytes(STORY_WORDS_BOUND) if settings.narrate else 0

    def memory_hint(self, settings: Settings) -> str:
        return "--no-narrate (the video then holds each picture for its reading time)"

    def check(self, settings: Settings) -> None:
        if not settings.narrate:
            return
        missing = missing_packages()
        if missing:
            raise ModelError(f"--narrate needs the narrator's packages, and {', '.join(missing)} is not installed",
                             "pip install 'dreamflow[voice]' (or leave out --narrate)")
        resolve_voice(settings.voice, settings.models_dir)

    def doctor(self, settings: Settings) -> list[Check]:
        return [narration_check(settings)]

    def produce(self, work: Work) -> Made:
        voice = resolve_voice(work.settings.voice, work.settings.models_dir)
        script = build_script(work.story.title, work.story.scenes, work.request.name or "")
        wav = work.folder.staging / WAV_FILE if work.settings.video else None
        audio = work.folder.staging / AUDIO_FILE
        request = {
            "voice_model": str(voice.model), "voice_config": str(voice.config), "title": work.story.title,
            "segments": [{"text": s.text, "scene": s.scene, "pause_after": s.pause_after} for s in script],
            "audio_path": str(audio), "wav_path": str(wav) if wav else "",
            # One thread: measured faster than two whenever anything else runs, and a parent's
            # batch may still be decoding beside it.
            "threads": 1,
        }
        result = _run(request, voice, [audio, *([wav] if wav else [])], work)
        return Made(files={"audio": AUDIO_FILE}, json={"audio_path": AUDIO_FILE},
                    metadata={"narration": _record(result, voice)})


def _run(request: dict[str, Any], voice: Voice, outputs: list[Any], work: Work) -> dict[str, Any]:
    from dreamflow_cli.output.child.errors import child_error
    from dreamflow_cli.output.child.runner import ChildFailed, run_child

    try:
        outcome = run_child(NARRATOR, request, outputs=outputs,
                            on_progress=lambda done, total: work.progress(done / max(1, total)))
    except ChildFailed as failure:
        raise child_error(failure, f"the narrator (voice {voice.name})",
                          f"run the command again; if it fails the same way, try another voice with --voice, or "
                          f"fetch this one again (dreamflow download-model {DEFAULT_VOICE} --force)",
                          "voice") from None
    result = dict(outcome.result)
    result["peak_rss_bytes"] = outcome.peak_rss_bytes
    result["wall_seconds"] = round(outcome.wall_seconds, 3)
    return result


def _record(result: Mapping[str, Any], voice: Voice) -> dict[str, Any]:
    """story.json ``narration``: what a player, the video and the subtitles need."""
    seconds = float(result["seconds"])
    words = sum(len(str(s["text"]).split()) for s in result["segments"])
    return {
        "voice": voice.name,
        "file": AUDIO_FILE,
        "seconds": round(seconds, 2),
        "sample_rate": result["sample_rate"],
        "words_per_minute": round(words * 60 / seconds, 1) if seconds else None,
        "scenes": result["scenes"],
        "segments": result["segments"],
        "loudness": result.get("loudness"),
        "peak_rss_bytes": result.get("peak_rss_bytes"),
        "seconds_to_make": result.get("wall_seconds"),
    }


def narration_check(settings: Settings) -> Check:
    """Can this machine narrate: the packages, a voice, and the memory the narrator needs. What
    is missing FAILs only when narration is on; otherwise it is a SKIP that says how to set it up."""
    missing = missing_packages()
    problems, hints = [], []
    if missing:
        problems.append(f"{', '.join(missing)} not installed")
        hints.append("pip install 'dreamflow[voice]'")
    try:
        voice = resolve_voice(settings.voice, settings.models_dir)
    except DreamflowError as exc:
        problems.append(exc.message)
        hints.append(exc.hint or f"dreamflow download-model {DEFAULT_VOICE}")
    if not problems:
        need = human_bytes(narrator_memory_bytes(STORY_WORDS_BOUND))
        return Check("narration", PASS, f"voice {voice.name} ({voice.model}); the narrator needs ~{need} while it reads")
    if settings.narrate:
        return Check("narration", FAIL, "; ".join(problems), "; ".join(hints))
    return Check("narration", SKIP, f"off, and not set up here: {'; '.join(problems)}", "; ".join(hints))


ARTIFACT = Narration()
