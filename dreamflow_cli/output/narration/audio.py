"""Turning synthesised sentences into one calm narration track (numpy only, no piper).

Kept apart from the narrator child so the signal processing can be tested without a voice model.
All audio here is mono float32 in [-1, 1] until ``to_int16``.

Loudness normalisation, simply: the level of *speech* is the power mean of 50 ms blocks that are
not silence (blocks within 35 dB of the loudest block; a crude version of the gating in EBU R128).
One gain brings that level to ``target_dbfs``; if that gain would push the highest sample over
``peak_ceiling_dbfs`` the gain is lowered instead, so nothing is ever clipped and nothing is
compressed (no limiter: a bedtime voice should keep its soft and loud words as spoken).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK_SECONDS = 0.05


@dataclass(frozen=True)
class Loudness:
    speech_dbfs: float  # measured level of speech before the gain
    gain_db: float
    peak_dbfs: float  # highest sample after the gain
    limited_by_peak: bool


def db(x: float) -> float:
    return 20.0 * float(np.log10(max(x, 1e-12)))


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(max(0, round(seconds * rate)), dtype=np.float32)


def trim_silence(audio: np.ndarray, rate: int, threshold_db: float = -40.0, keep: float = 0.03) -> np.ndarray:
    """Cut the voice's own leading/trailing near-silence so the script's pauses are exact.

    ``threshold_db`` is relative to the segment's peak; ``keep`` seconds stay on each side so
    that soft consonants ("h", "s") are not clipped.
    """
    if audio.size == 0:
        return audio
    peak = float(np.max(np.abs(audio)))
    if peak <= 0.0:
        return audio[:0]
    loud = np.flatnonzero(np.abs(audio) >= peak * 10 ** (threshold_db / 20))
    margin = round(keep * rate)
    first = max(0, int(loud[0]) - margin)
    last = min(audio.size, int(loud[-1]) + 1 + margin)
    return audio[first:last]


def assemble(
    parts: list[np.ndarray], pauses: list[float], rate: int, lead_in: float, tail: float
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Concatenate spoken parts with their pauses; return the track and each part's (start, end)."""
    if len(parts) != len(pauses):
        raise ValueError("one pause per part")
    pieces = [silence(lead_in, rate)]
    times: list[tuple[float, float]] = []
    position = pieces[0].size
    for part, pause in zip(parts, pauses):
        times.append((position / rate, (position + part.size) / rate))
        gap = silence(pause, rate)
        pieces += [part.astype(np.float32, copy=False), gap]
        position += part.size + gap.size
    pieces.append(silence(tail, rate))
    return np.concatenate(pieces), times


def speech_level_dbfs(audio: np.ndarray, rate: int) -> float:
    block = max(1, round(BLOCK_SECONDS * rate))
    usable = audio[: audio.size - audio.size % block]
    if usable.size == 0:
        return -120.0
    power = np.mean(usable.reshape(-1, block).astype(np.float64) ** 2, axis=1)
    loudest = float(np.max(power))
    if loudest <= 0.0:
        return -120.0
    active = power[power >= loudest * 10 ** (-35 / 10)]
    return 10.0 * float(np.log10(float(np.mean(active))))


def plan_gain(audio: np.ndarray, rate: int, target_dbfs: float = -19.0, peak_ceiling_dbfs: float = -1.0) -> Loudness:
    """The one gain for the whole track: speech to ``target_dbfs`` unless the peak says less."""
    level = speech_level_dbfs(audio, rate)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0.0:
        return Loudness(level, 0.0, -120.0, False)
    gain_db = target_dbfs - level
    limited = db(peak) + gain_db > peak_ceiling_dbfs
    if limited:
        gain_db = peak_ceiling_dbfs - db(peak)
    return Loudness(level, gain_db, db(peak) + gain_db, limited)


def normalise(
    audio: np.ndarray, rate: int, target_dbfs: float = -19.0, peak_ceiling_dbfs: float = -1.0, in_place: bool = False
) -> tuple[np.ndarray, Loudness]:
    """Scale the whole track by ``plan_gain``'s gain (in place saves a copy of a long track)."""
    loudness = plan_gain(audio, rate, target_dbfs, peak_ceiling_dbfs)
    out = audio if in_place else audio.copy()
    out *= np.float32(10 ** (loudness.gain_db / 20))
    return out, loudness


def fade(audio: np.ndarray, rate: int, fade_in: float, fade_out: float, in_place: bool = False) -> np.ndarray:
    """Raised-cosine fade-in and fade-out (no click at either end, a soft start and finish)."""
    out = audio if in_place else audio.copy()
    n_in = min(out.size, round(fade_in * rate))
    n_out = min(out.size, round(fade_out * rate))
    if n_in:
        out[:n_in] *= (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_in))).astype(np.float32)
    if n_out:
        out[out.size - n_out :] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_out))).astype(np.float32)
    return out


def to_int16(audio: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """16-bit PCM, converted a block at a time (no full-length float temporaries).

    normalise() keeps peaks under the ceiling, so the clip never changes a sample; it only
    guards against float rounding at exactly full scale.
    """
    out = np.empty(audio.size, dtype=np.int16)
    for start in range(0, audio.size, block):
        chunk = np.round(audio[start : start + block] * np.float32(32767.0))
        out[start : start + block] = np.clip(chunk, -32768, 32767)
    return out


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """16-bit mono PCM and its rate (what ``write_wav`` wrote)."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2 or src.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono WAV")
        return np.frombuffer(src.readframes(src.getnframes()), dtype="<i2"), src.getframerate()


def silence_runs(
    pcm: np.ndarray, rate: int, threshold_dbfs: float = -50.0, min_seconds: float = 0.3
) -> list[tuple[float, float]]:
    """(start, end) seconds of quiet stretches of at least ``min_seconds`` (10 ms resolution)."""
    block = max(1, round(0.01 * rate))
    usable = pcm[: pcm.size - pcm.size % block].astype(np.float64)
    if pcm.dtype == np.int16:
        usable /= 32768.0
    quiet = np.max(np.abs(usable.reshape(-1, block)), axis=1) < 10 ** (threshold_dbfs / 20)
    runs: list[tuple[float, float]] = []
    start: int | None = None
    for i, q in enumerate(np.append(quiet, False)):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if (i - start) * block >= min_seconds * rate:
                runs.append((start * block / rate, i * block / rate))
            start = None
    return runs
