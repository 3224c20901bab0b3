"""Decisions about the bedtime video, as small pure functions (no av, no numpy, no PIL).

- which picture is on screen when (``picture_spans``): picture i covers scene i, the change falls
  in the middle of the pause between two scenes, and a cross-fade centred there blends the two;
- how each picture drifts (``ken_burns_rect``): a slow zoom (in on even scenes, out on odd ones)
  with a small pan, eased so that it starts and stops without a jolt;
- what each quality means (``QUALITIES``) and roughly how much memory the encoder child needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Quality:
    name: str
    scale: int  # output size = picture size x scale
    fps: int
    crf: int  # x264 constant quality (lower = better, bigger)
    preset: str  # x264 speed/compression trade-off
    resample: str  # PIL filter for the per-frame zoom: "bilinear" or "bicubic"


# Chosen by measurement on a 2-core laptop (see the bench notes): "fast" keeps the picture's own
# size and a low frame rate, which is plenty for a motion this slow; "high" doubles the size and
# moves at a smooth 24 frames a second.
QUALITIES: dict[str, Quality] = {
    "fast": Quality("fast", 1, 12, 23, "veryfast", "bilinear"),
    "high": Quality("high", 2, 24, 21, "veryfast", "bicubic"),
}

ZOOM = 0.10  # the picture grows (or shrinks) by 10% over its scene
CROSSFADE_SECONDS = 1.5
KEYFRAME_SECONDS = 4  # a keyframe every 4 s: seeking in a browser stays quick


@dataclass(frozen=True)
class Span:
    """A picture on screen from ``start`` to ``end`` (seconds), cross-fading at either edge."""

    picture: int
    start: float
    end: float
    fade_in: float  # seconds at the start spent blending in from the previous picture
    fade_out: float


def output_size(width: int, height: int, quality: Quality) -> tuple[int, int]:
    """Even dimensions (H.264 with 4:2:0 chroma needs them)."""
    return (width * quality.scale) // 2 * 2, (height * quality.scale) // 2 * 2


def frame_count(seconds: float, fps: int) -> int:
    return max(1, math.ceil(seconds * fps - 1e-9))


def picture_spans(
    scene_times: list[tuple[float, float]] | tuple[tuple[float, float], ...],
    total: float,
    crossfade: float = CROSSFADE_SECONDS,
) -> list[Span]:
    """When each picture is shown. The first one from 0 (the title is read over it), the last
    one until the end; each change in the middle of the silence between two scenes.

    The cross-fade is at most ``crossfade`` seconds and never longer than a third of either
    neighbouring span, so short scenes (a silent video of a short story) still get a calm hold.
    """
    n = len(scene_times)
    if n == 0:
        raise ValueError("no scenes")
    if total <= 0:
        raise ValueError("total must be positive")
    cuts = [0.0]
    for (_, end), (start, _) in zip(scene_times, scene_times[1:]):
        cuts.append(min(max((end + start) / 2, cuts[-1]), total))
    cuts.append(total)
    fades = []
    for i in range(1, n):
        before, after = cuts[i] - cuts[i - 1], cuts[i + 1] - cuts[i]
        fades.append(max(0.0, min(crossfade, before / 3, after / 3)))
    spans = []
    for i in range(n):
        fin = fades[i - 1] if i > 0 else 0.0
        fout = fades[i] if i < n - 1 else 0.0
        spans.append(Span(i, max(0.0, cuts[i] - fin / 2), min(total, cuts[i + 1] + fout / 2), fin, fout))
    return spans


def ease(x: float) -> float:
    """Smoothstep: zero speed at both ends, so the drift never starts or stops with a jolt."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


def base_rect(width: int, height: int, out_w: int, out_h: int) -> tuple[float, float, float, float]:
    """The largest centred rectangle of the output's shape inside the picture (x, y, w, h)."""
    target = out_w / out_h
    if width / height > target:
        w, h = height * target, float(height)
    else:
        w, h = float(width), width / target
    return (width - w) / 2, (height - h) / 2, w, h


def ken_burns_rect(
    picture: int, progress: float, width: int, height: int, out_w: int, out_h: int, zoom: float = ZOOM
) -> tuple[float, float, float, float]:
    """The part of the picture (x0, y0, x1, y1) shown at ``progress`` (0..1) through its span.

    Even pictures zoom in towards a point a little off-centre, odd ones start close and zoom out;
    the off-centre point alternates left/right so consecutive scenes drift differently.
    """
    bx, by, bw, bh = base_rect(width, height, out_w, out_h)
    t = ease(progress)
    scale = 1 + zoom * (t if picture % 2 == 0 else 1 - t)  # how much closer than the full picture
    w, h = bw / scale, bh / scale
    # Focus point in 0..1 of the free room: drift from centre towards one side.
    side = 0.25 if picture % 4 in (0, 3) else 0.75
    fx = 0.5 + (side - 0.5) * (t if picture % 2 == 0 else 1 - t)
    fy = 0.45
    x0 = bx + (bw - w) * fx
    y0 = by + (bh - h) * fy
    return x0, y0, x0 + w, y0 + h


def memory_bytes(width: int, height: int, quality: Quality, pictures: int) -> int:
    """Peak RSS of the video child, for the preflight: measured plus 20% headroom.

    Measured (PyAV 18.1, x264 veryfast, 3 pictures of 768x512, 144 s with sound): fast
    (768x512) 116-123 MB, high (1536x1024) 234-241 MB. Interpreter + PyAV/FFmpeg ~90 MB; x264's
    lookahead/reference frames and the frames in flight ~100 bytes per output pixel; each
    picture is kept as Y/Cb/Cr planes at its own size.
    """
    out_w, out_h = output_size(width, height, quality)
    measured = 90 * 2**20 + 100 * out_w * out_h + 3 * width * height * pictures
    return int(measured * 1.2)
