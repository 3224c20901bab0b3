"""The narrator: ``python -m dreamflow_cli.output.narration.narrator`` reads a script and writes the story read aloud.

Runs piper-tts (GPL-3.0) in its own process; see ``child_protocol`` for the protocol and exit
codes. Request (JSON on stdin)::

    {"voice_model": ".../en_US-joe-medium.onnx", "voice_config": ".../en_US-joe-medium.onnx.json",
     "segments": [{"text": "...", "scene": 0, "pause_after": 1.5}, ...],   # narration_script
     "audio_path": ".../narration.mp3",      # final audio: .mp3 / .ogg / .opus (PyAV) or .wav
     "wav_path": ".../narration.wav",        # optional lossless copy for the video's sound track
     "length_scale": 1.2, "threads": 0, "title": "...", ...}                # optional tuning

Progress: ``{"done": k, "total": n}`` after each segment (and a last one while encoding).
Result: seconds, sample_rate, each scene's start/end, each segment's start/end, loudness.

How the track is made: each segment is synthesised on its own (piper's per-sentence peak
normalisation off), its own leading/trailing silence trimmed, then the script's pauses inserted,
so a pause is exactly what the script says. Then one gain for the whole track (speech level to
-19 dBFS, peaks never over -1 dBFS, see ``narration_audio``) and raised-cosine fades.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

from dreamflow_cli.output.child.protocol import (
    EXIT_BAD_INPUT,
    EXIT_BAD_REQUEST,
    EXIT_MISSING_PACKAGE,
    ChildFailure,
    Outputs,
    Reporter,
    field,
    run,
)

# A bedtime pace: piper's length_scale stretches every phoneme (1.0 = the voice's own speed).
# 1.25 with the script's pauses gives ~145 words a minute for the joe voice (measured; 1.2: 150).
DEFAULT_LENGTH_SCALE = 1.25
DEFAULT_LEAD_IN = 0.4
DEFAULT_TAIL = 1.5
DEFAULT_FADE_IN = 0.6
DEFAULT_FADE_OUT = 2.0
# espeak splits a segment again at "Mr." or inside '"Hello?" Mia asked.': those pieces are joined
# with a breath, not a full sentence pause.
DEFAULT_CLAUSE_GAP = 0.15
AUDIO_FORMATS = {
    ".mp3": ("mp3", "libmp3lame"),
    ".ogg": ("ogg", "libopus"),
    ".opus": ("ogg", "libopus"),
    ".wav": ("wav", ""),
}
DEFAULT_BITRATE = 64_000  # mono speech: MP3 at 64 kbit/s is ~0.5 MB a minute


def _peak_mb() -> float | None:
    """This process's peak RSS so far (Linux reports KiB), for finding where memory goes; None
    where the resource module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _load_voice(model: Path, config: Path, threads: int, spin: bool = False, shrink: bool = True) -> Any:
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as exc:
        raise ChildFailure(
            f"the narrator needs piper-tts ({exc.name} is missing): pip install 'dreamflow[voice]'",
            EXIT_MISSING_PACKAGE,
        ) from None
    for path in (model, config):
        if not path.is_file():
            raise ChildFailure(f"voice file not found: {path}", EXIT_BAD_INPUT)
    try:
        config_dict = json.loads(config.read_text(encoding="utf-8"))
        piper_config = PiperConfig.from_dict(config_dict)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ChildFailure(f"voice config {config.name} is unreadable: {exc}", EXIT_BAD_INPUT) from None
    options = onnxruntime.SessionOptions()
    if not spin:
        # onnxruntime's worker threads busy-wait between runs by default; with one short run per
        # sentence on a shared 2-core laptop that spinning only steals CPU from everyone else.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if threads > 0:
        # Built here rather than with PiperVoice.load so the thread count can be set: on a busy
        # 2-core laptop one thread can beat two.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a bad model
        raise ChildFailure(f"voice model {model.name} could not be loaded: {exc}", EXIT_BAD_INPUT) from None
    if piper_config.phoneme_type.value != "espeak":
        raise ChildFailure(f"voice {model.name}: only espeak-based piper voices are supported", EXIT_BAD_INPUT)
    voice = PiperVoice(config=piper_config, session=session)
    if shrink:
        voice.session = _ShrinkingSession(session, onnxruntime)
    return voice


class _ShrinkingSession:
    """Passes piper's ``session.run`` through with the CPU arena shrunk after every run.

    onnxruntime keeps the memory of its largest runs; sentence after sentence of varying length
    its arena kept growing (~0.4 MB per second of narration: a 438 s story peaked at 545-578 MB).
    Shrinking returns it after each run: the same story peaked at 368 MB, for ~10% more CPU.
    (Tried and worse: the arena off, 457 MB for a 148 s story; MALLOC_MMAP_THRESHOLD_/
    MALLOC_ARENA_MAX made no difference.)
    """

    def __init__(self, session: Any, onnxruntime: Any) -> None:
        self._session = session
        self._options = onnxruntime.RunOptions()
        self._options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names: Any, inputs: Any) -> Any:
        return self._session.run(output_names, inputs, self._options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _parse_segments(request: dict[str, Any]) -> list[tuple[str, int, float]]:
    raw = field(request, "segments", list)
    segments = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ChildFailure(f"segment {i} must be an object with a 'text'", EXIT_BAD_REQUEST)
        segments.append((item["text"], int(item.get("scene", 0)), float(item.get("pause_after", 0.0))))
    if not segments:
        raise ChildFailure("request has no segments to narrate", EXIT_BAD_REQUEST)
    return segments


def encode_audio(pcm: Any, rate: int, path: Path, container_format: str, codec: str, bitrate: int, title: str) -> None:
    """Encode 16-bit mono PCM with PyAV (libmp3lame or libopus); ``path`` is a temporary name."""
    try:
        import av
    except ImportError:
        raise ChildFailure(
            "MP3/Opus narration needs PyAV: pip install 'dreamflow[voice]'", EXIT_MISSING_PACKAGE
        ) from None
    import numpy as np

    from av.audio.stream import AudioStream

    with av.open(str(path), "w", format=container_format) as container:
        if title:
            container.metadata["title"] = title
        # Opus only takes 48 kHz; MP3 keeps the voice's own rate (22.05 kHz is standard MPEG-2 Layer III).
        out_rate = 48_000 if codec == "libopus" else rate
        stream = cast(AudioStream, container.add_stream(codec, rate=out_rate, layout="mono"))
        stream.bit_rate = bitrate
        resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=out_rate)
        chunk = rate  # one second per frame handed to the resampler
        for start in range(0, pcm.size, chunk):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[start : start + chunk]).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = rate
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        for out in resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))


def narrate(request: dict[str, Any], reporter: Reporter, outputs: Outputs) -> dict[str, Any]:
    model = Path(field(request, "voice_model", str))
    config = Path(field(request, "voice_config", str, str(model) + ".json"))
    audio_path = Path(field(request, "audio_path", str))
    wav_path_raw = field(request, "wav_path", str, "")
    suffix = audio_path.suffix.lower()
    if suffix not in AUDIO_FORMATS:
        raise ChildFailure(f"unsupported audio format {suffix!r} (use .mp3, .ogg, .opus or .wav)", EXIT_BAD_REQUEST)
    segments = _parse_segments(request)
    total = len(segments) + 1  # + the final encode
    started = time.monotonic()
    voice = _load_voice(model, config, field(request, "threads", int, 0), field(request, "spin", bool, False),
                        field(request, "shrink", bool, True))
    loaded = time.monotonic()
    peaks = {"loaded": _peak_mb()}
    parts = _synthesise(voice, segments, request, reporter, total)
    synthesised = time.monotonic()
    peaks["synthesised"] = _peak_mb()
    rate = int(voice.config.sample_rate)
    pcm, times, loudness = _finish(parts, segments, rate, request)
    del parts
    if wav_path_raw and Path(wav_path_raw).resolve() != audio_path.resolve():
        from dreamflow_cli.output.narration import audio as na

        na.write_wav(outputs.add(Path(wav_path_raw)), pcm, rate)
    _write_audio(pcm, rate, outputs.add(audio_path), suffix, request)
    reporter.progress(total, total)
    finished = time.monotonic()
    peaks["finished"] = _peak_mb()
    return _result(pcm, rate, segments, times, loudness, audio_path, wav_path_raw, peaks,
                   {"load": round(loaded - started, 3), "synthesis": round(synthesised - loaded, 3),
                    "finish": round(finished - synthesised, 3)})


def _synthesise(voice: Any, segments: list[tuple[str, int, float]], request: dict[str, Any], reporter: Reporter,
                total: int) -> list[Any]:
    """Each segment read alone, its edge silence trimmed, so the script's pauses are exact."""
    import numpy as np
    from piper import SynthesisConfig

    from dreamflow_cli.output.narration import audio as na
    from dreamflow_cli.output.narration.script import synthesis_chunks

    rate = int(voice.config.sample_rate)
    clause_gap = field(request, "clause_gap", float, DEFAULT_CLAUSE_GAP)
    syn = SynthesisConfig(length_scale=field(request, "length_scale", float, DEFAULT_LENGTH_SCALE),
                          normalize_audio=False)
    parts: list[Any] = []
    reporter.progress(0, total)
    for k, (text, _scene, _pause) in enumerate(segments, start=1):
        # One call per clause-sized piece (synthesis_chunks): the voice's memory grows with the
        # length of one call, so a run-on sentence must not become one huge call.
        pieces = [
            na.trim_silence(np.asarray(c.audio_float_array, dtype=np.float32), rate)
            for chunk in synthesis_chunks(text)
            for c in voice.synthesize(chunk, syn_config=syn)
        ]
        pieces = [p for p in pieces if p.size]
        joined: list[Any] = []
        for i, piece in enumerate(pieces):
            if i:
                joined.append(na.silence(clause_gap, rate))
            joined.append(piece)
        parts.append(np.concatenate(joined) if joined else na.silence(0.3, rate))
        reporter.progress(k, total)
    return parts


def _finish(parts: list[Any], segments: list[tuple[str, int, float]], rate: int,
            request: dict[str, Any]) -> tuple[Any, list[tuple[float, float]], Any]:
    """The pieces with their pauses, one loudness gain under a peak ceiling, soft fades, int16."""
    from dreamflow_cli.output.narration import audio as na

    track, times = na.assemble(parts, [p for _, _, p in segments], rate, field(request, "lead_in", float, DEFAULT_LEAD_IN),
                               field(request, "tail", float, DEFAULT_TAIL))
    # In place: a long story's track is tens of MB per float32 copy.
    track, loudness = na.normalise(track, rate, field(request, "target_dbfs", float, -19.0),
                                   field(request, "peak_ceiling_dbfs", float, -1.0), in_place=True)
    na.fade(track, rate, field(request, "fade_in", float, DEFAULT_FADE_IN),
            field(request, "fade_out", float, DEFAULT_FADE_OUT), in_place=True)
    return na.to_int16(track), times, loudness


def _write_audio(pcm: Any, rate: int, path: Path, suffix: str, request: dict[str, Any]) -> None:
    container_format, codec = AUDIO_FORMATS[suffix]
    if codec:
        encode_audio(pcm, rate, path, container_format, codec, field(request, "bitrate", int, DEFAULT_BITRATE),
                     field(request, "title", str, ""))
    else:
        from dreamflow_cli.output.narration import audio as na

        na.write_wav(path, pcm, rate)


def _result(pcm: Any, rate: int, segments: list[tuple[str, int, float]], times: list[tuple[float, float]],
            loudness: Any, audio_path: Path, wav_path: str, peaks: dict[str, float | None],
            timings: dict[str, float]) -> dict[str, Any]:
    from dreamflow_cli.output.narration.script import TimedSegment, Timeline

    timeline = Timeline(
        pcm.size / rate,
        tuple(TimedSegment(text, scene, a, b) for (text, scene, _), (a, b) in zip(segments, times)),
    )
    return {
        **timeline.to_json(),  # seconds, scenes [{start, end}], segments [{text, scene, start, end}]
        "sample_rate": rate,
        "audio_path": str(audio_path),
        "wav_path": wav_path or None,
        "format": audio_path.suffix.lower().lstrip("."),
        "loudness": {
            "speech_dbfs": round(loudness.speech_dbfs, 2),
            "gain_db": round(loudness.gain_db, 2),
            "peak_dbfs": round(loudness.peak_dbfs, 2),
            "limited_by_peak": loudness.limited_by_peak,
        },
        "peak_rss_mb": peaks,
        "timings": timings,
    }


if __name__ == "__main__":
    run(narrate)
