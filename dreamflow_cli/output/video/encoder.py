"""The video encoder: ``python -m dreamflow_cli.output.video.encoder`` turns scene pictures (+ narration) into an MP4.

Runs PyAV, whose bundled FFmpeg includes libx264 (GPL), in its own process; see
``child_protocol`` for the protocol and exit codes. Request (JSON on stdin)::

    {"pictures": [".../scene-1.png", ...],
     "scenes": [{"start": 3.6, "end": 42.9}, ...],   # narration's scene times, or estimated ones
     "seconds": 144.0,                                # the video's length (= the audio's)
     "audio_wav": ".../narration.wav" | null,         # null: a silent video
     "video_path": ".../story.mp4", "quality": "fast" | "high", "title": "..."}

Output: H.264 (yuv420p, BT.709, +faststart so a browser plays it while it loads) and AAC.
Each picture is shown for its scene with a slow eased zoom/pan, changing with a soft cross-fade
(plans in ``video_plan``); the whole video fades in from and out to black with the narration.

Frames are drawn with Pillow, directly in yuv420p: each picture is converted once to BT.709 Y/Cb/Cr
planes, then per frame one ``Image.resize(box=...)`` per plane (a sub-pixel crop + separable
resize in C, so the drift is smooth, unlike FFmpeg's zoompan which moves in whole pixels; faster
than ``Image.transform``) and ``Image.blend`` during cross-fades, in worker threads that overlap
with x264.
"""

from __future__ import annotations

import math
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

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
from dreamflow_cli.output.video.plan import (
    CROSSFADE_SECONDS,
    KEYFRAME_SECONDS,
    QUALITIES,
    Span,
    frame_count,
    ken_burns_rect,
    output_size,
    picture_spans,
)

FADE_FROM_BLACK = 1.0
FADE_TO_BLACK = 2.0
AUDIO_RATE = 44_100  # AAC at 44.1 kHz: what every phone and browser decodes
AUDIO_BITRATE = 96_000


def _imports() -> tuple[Any, Any, Any]:
    try:
        import av
        import numpy as np
        from PIL import Image
    except ImportError as exc:
        raise ChildFailure(
            f"the video needs {exc.name}: pip install 'dreamflow[video]'", EXIT_MISSING_PACKAGE
        ) from None
    return av, np, Image


def _load_pictures(paths: list[str], Image: Any) -> list[Any]:
    pictures = []
    for raw in paths:
        try:
            with Image.open(raw) as img:
                pictures.append(img.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise ChildFailure(f"picture {Path(raw).name} is unreadable: {exc}", EXIT_BAD_INPUT) from None
    return pictures


def _scene_times(request: dict[str, Any], n: int) -> list[tuple[float, float]]:
    raw = field(request, "scenes", list)
    if len(raw) != n:
        raise ChildFailure(f"{n} pictures but {len(raw)} scene times", EXIT_BAD_REQUEST)
    try:
        return [(float(s["start"]), float(s["end"])) for s in raw]
    except (KeyError, TypeError, ValueError):
        raise ChildFailure("scene times must be objects with 'start' and 'end'", EXIT_BAD_REQUEST) from None


def to_yuv_planes(picture: Any, np: Any, Image: Any) -> tuple[Any, Any, Any]:
    """RGB picture -> Y, Cb, Cr planes (BT.709, limited range) as 8-bit Pillow images.

    Done once per picture; every frame is then drawn straight in the encoder's own format
    (Y at full size, chroma at half), which halves the drawing work and skips swscale's
    RGB->YUV conversion per frame (measured: 43 -> 17 ms CPU per 1536x1024 frame).
    """
    rgb = np.asarray(picture, dtype=np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    planes = (16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748)
    # A 2-D uint8 array becomes an 8-bit ("L") image.
    y_plane, cb_plane, cr_plane = (Image.fromarray(np.clip(np.round(p), 0, 255).astype(np.uint8)) for p in planes)
    return y_plane, cb_plane, cr_plane


class Renderer:
    """Draws frame k in yuv420p: the active picture(s) at their Ken Burns position, blended, faded."""

    def __init__(
        self,
        pictures: list[Any],
        spans: list[Span],
        size: tuple[int, int],
        resample: Any,
        seconds: float,
        np: Any,
        Image: Any,
    ) -> None:
        self.planes = [to_yuv_planes(p, np, Image) for p in pictures]
        self.source_size = [(p.width, p.height) for p in pictures]
        self.spans = spans
        self.width, self.height = size
        self.sizes = (size, (size[0] // 2, size[1] // 2), (size[0] // 2, size[1] // 2))
        self.resample = resample
        self.seconds = seconds
        self.np = np
        self.Image = Image
        # Black in limited-range YUV: Y=16, Cb=Cr=128.
        self.black = tuple(Image.new("L", sz, v) for sz, v in zip(self.sizes, (16, 128, 128)))

    def _view(self, span: Span, t: float) -> list[Any]:
        w, h = self.source_size[span.picture]
        length = max(1e-6, span.end - span.start)
        rect = ken_burns_rect(span.picture, (t - span.start) / length, w, h, self.width, self.height)
        # Chroma always bilinear: the eye does not see chroma detail, and it saves a quarter of
        # the drawing time at "high" (16.8 -> 12.7 ms CPU per 1536x1024 frame).
        filters = (self.resample, self.Image.Resampling.BILINEAR, self.Image.Resampling.BILINEAR)
        return [plane.resize(sz, f, box=rect) for plane, sz, f in zip(self.planes[span.picture], self.sizes, filters)]

    def frame(self, t: float) -> Any:
        """The frame at ``t`` seconds as an (height * 3 / 2, width) uint8 array of Y, U, V planes."""
        active = [s for s in self.spans if s.start <= t < s.end] or [self.spans[-1]]
        planes = self._view(active[0], t)
        if len(active) > 1:
            incoming = active[1]
            x = min(1.0, max(0.0, (t - incoming.start) / max(1e-6, incoming.fade_in)))
            alpha = x * x * (3 - 2 * x)  # eased blend: no visible start/stop of the fade
            planes = [self.Image.blend(a, b, alpha) for a, b in zip(planes, self._view(incoming, t))]
        level = min(1.0, t / FADE_FROM_BLACK, (self.seconds - t) / FADE_TO_BLACK)
        if level < 1.0:
            planes = [self.Image.blend(k, p, max(0.0, level)) for k, p in zip(self.black, planes)]
        flat = self.np.concatenate([self.np.frombuffer(p.tobytes(), dtype=self.np.uint8) for p in planes])
        return flat.reshape(self.height * 3 // 2, self.width)


def _read_audio(path: Path, np: Any) -> tuple[Any, int]:
    import wave

    try:
        with wave.open(str(path), "rb") as src:
            if src.getsampwidth() != 2:
                raise ChildFailure(f"{path.name}: expected 16-bit PCM", EXIT_BAD_INPUT)
            pcm = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
            channels, rate = src.getnchannels(), src.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise ChildFailure(f"sound track {path.name} is unreadable: {exc}", EXIT_BAD_INPUT) from None
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return pcm, rate


def encode(request: dict[str, Any], reporter: Reporter, outputs: Outputs) -> dict[str, Any]:
    av, np, Image = _imports()
    paths = field(request, "pictures", list)
    if not paths:
        raise ChildFailure("no pictures to show", EXIT_BAD_REQUEST)
    quality_name = field(request, "quality", str, "fast")
    if quality_name not in QUALITIES:
        raise ChildFailure(f"unknown quality {quality_name!r}", EXIT_BAD_REQUEST)
    quality = QUALITIES[quality_name]
    fps = field(request, "fps", int, quality.fps)
    seconds = field(request, "seconds", float)
    video_path = Path(field(request, "video_path", str))
    audio_raw = field(request, "audio_wav", str, "")
    started = time.monotonic()

    pictures = _load_pictures(paths, Image)
    times = _scene_times(request, len(pictures))
    size = output_size(pictures[0].width, pictures[0].height, quality)
    resample = Image.Resampling.BICUBIC if quality.resample == "bicubic" else Image.Resampling.BILINEAR
    spans = picture_spans(times, seconds, field(request, "crossfade", float, CROSSFADE_SECONDS))
    renderer = Renderer(pictures, spans, size, resample, seconds, np, Image)
    del pictures  # the renderer keeps its own Y/Cb/Cr planes
    pcm, rate = _read_audio(Path(audio_raw), np) if audio_raw else (None, 0)

    total = frame_count(seconds, fps)
    with av.open(str(outputs.add(video_path)), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        title = field(request, "title", str, "")
        if title:
            container.metadata["title"] = title
        video = _video_stream(container, size, fps, quality, request)
        sound = _AudioFeed(av, np, container, pcm, rate)
        render_s, encode_s = _encode_frames(av, container, video, renderer, fps, total, sound, reporter,
                                            max(1, field(request, "render_threads", int, 2)))
        container.mux(video.encode(None))
        sound.feed(math.inf)
    return {
        "video_path": str(video_path),
        "seconds": round(total / fps, 3),
        "frames": total,
        "fps": fps,
        "width": size[0],
        "height": size[1],
        "quality": quality_name,
        "audio": pcm is not None,
        "timings": {
            "render_thread_sum": round(render_s, 3),
            "main_encode": round(encode_s, 3),
            "wall": round(time.monotonic() - started, 3),
        },
    }


def _video_stream(container: Any, size: tuple[int, int], fps: int, quality: Any, request: dict[str, Any]) -> Any:
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height = size
    video.pix_fmt = "yuv420p"
    ctx = video.codec_context
    ctx.gop_size = fps * KEYFRAME_SECONDS
    ctx.thread_count = field(request, "threads", int, 0)
    # Tag what the pixels are (BT.709, limited range) so browsers show the colours as drawn.
    ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = 1, 1, 1, 1
    options = {"crf": str(field(request, "crf", int, quality.crf)), "preset": field(request, "preset", str, quality.preset),
               "profile": "high"}
    tune = field(request, "tune", str, "")
    if tune:
        options["tune"] = tune
    video.options = options
    return video


class _AudioFeed:
    """The narration as the AAC track, fed alongside the video (1 s ahead) so the muxer
    interleaves as it goes; nothing at all for a silent video."""

    def __init__(self, av: Any, np: Any, container: Any, pcm: Any, rate: int):
        self.av, self.np, self.container, self.pcm, self.rate = av, np, container, pcm, rate
        self.pos = 0
        self.stream = self.resampler = None
        if pcm is not None:
            self.stream = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
            self.stream.bit_rate = AUDIO_BITRATE
            self.resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)

    def feed(self, until_seconds: float) -> None:
        if self.stream is None or self.resampler is None or self.pcm is None:
            return
        pcm, rate, av = self.pcm, self.rate, self.av
        stop = pcm.size if until_seconds >= math.inf else min(pcm.size, int(until_seconds * rate))
        while self.pos < stop:
            end = min(stop, self.pos + rate)
            frame = av.AudioFrame.from_ndarray(self.np.ascontiguousarray(pcm[self.pos:end]).reshape(1, -1),
                                               format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = self.pos
            frame.time_base = Fraction(1, rate)
            for out in self.resampler.resample(frame):
                self.container.mux(self.stream.encode(out))
            self.pos = end
        if until_seconds >= math.inf:
            for out in self.resampler.resample(None):
                self.container.mux(self.stream.encode(out))
            self.container.mux(self.stream.encode(None))


def _encode_frames(av: Any, container: Any, video: Any, renderer: Renderer, fps: int, total: int, sound: _AudioFeed,
                   reporter: Reporter, render_threads: int) -> tuple[float, float]:
    """Every frame, drawn in worker threads while x264 encodes the one before (Pillow's resize and
    blend release the GIL). Returns the drawing and the encoding seconds."""
    render_s = encode_s = 0.0
    reporter.progress(0, total)
    step = max(1, total // 100)

    def make(k: int) -> tuple[Any, float]:
        t0 = time.monotonic()
        frame = av.VideoFrame.from_ndarray(renderer.frame(k / fps), format="yuv420p")
        frame.pts = k
        frame.time_base = Fraction(1, fps)
        return frame, time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=render_threads) as pool:
        pending: deque[Future[tuple[Any, float]]] = deque()
        next_k = 0
        for k in range(total):
            while next_k < total and len(pending) < 2 * render_threads:
                pending.append(pool.submit(make, next_k))
                next_k += 1
            frame, took = pending.popleft().result()
            render_s += took
            t1 = time.monotonic()
            container.mux(video.encode(frame))
            sound.feed((k + 1) / fps + 1.0)
            encode_s += time.monotonic() - t1
            if (k + 1) % step == 0 or k + 1 == total:
                reporter.progress(k + 1, total)
    return render_s, encode_s


if __name__ == "__main__":
    run(encode)
