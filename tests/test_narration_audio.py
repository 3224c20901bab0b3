from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dreamflow_cli.output.narration import audio as na

RATE = 22_050


def tone(seconds: float, amplitude: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_trim_silence_keeps_a_small_margin() -> None:
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), tone(1.0, 0.5), np.zeros(RATE, np.float32)])
    trimmed = na.trim_silence(audio, RATE, keep=0.03)
    assert trimmed.size / RATE == pytest.approx(1.0 + 2 * 0.03, abs=0.005)
    assert na.trim_silence(np.zeros(100, np.float32), RATE).size == 0


def test_assemble_places_parts_and_exact_pauses() -> None:
    track, times = na.assemble([tone(1.0, 0.3), tone(2.0, 0.3)], [0.7, 0.0], RATE, lead_in=0.4, tail=1.5)
    assert times == [pytest.approx((0.4, 1.4)), pytest.approx((2.1, 4.1))]
    assert track.size / RATE == pytest.approx(5.6)
    runs = na.silence_runs(track, RATE, min_seconds=0.3)
    expected = [(0.0, 0.4), (1.4, 2.1), (4.1, 5.6)]
    assert len(runs) == 3
    for (a, b), (x, y) in zip(runs, expected):  # 10 ms resolution
        assert a == pytest.approx(x, abs=0.011) and b == pytest.approx(y, abs=0.011)


def test_normalise_reaches_the_target_when_peaks_allow() -> None:
    quiet = tone(3.0, 0.01)
    out, loud = na.normalise(quiet, RATE, target_dbfs=-19.0, peak_ceiling_dbfs=-1.0)
    assert na.speech_level_dbfs(out, RATE) == pytest.approx(-19.0, abs=0.05)
    assert not loud.limited_by_peak


def test_normalise_never_clips_a_peaky_track() -> None:
    audio = tone(3.0, 0.05)
    audio[1000] = 0.9  # one click-like peak far above the speech level
    out, loud = na.normalise(audio, RATE, target_dbfs=-12.0, peak_ceiling_dbfs=-1.0)
    assert loud.limited_by_peak
    assert float(np.max(np.abs(out))) == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    pcm = na.to_int16(out)
    assert int(np.max(np.abs(pcm.astype(np.int32)))) < 32767


def test_silent_parts_do_not_lower_the_measured_level() -> None:
    speech = tone(2.0, 0.1)
    padded = np.concatenate([speech, np.zeros(5 * RATE, np.float32)])
    assert na.speech_level_dbfs(padded, RATE) == pytest.approx(na.speech_level_dbfs(speech, RATE), abs=0.2)


def test_fade_in_and_out_are_smooth_and_reach_zero() -> None:
    faded = na.fade(np.ones(RATE * 4, np.float32), RATE, fade_in=0.5, fade_out=1.0)
    assert faded[0] == 0.0 and faded[-1] == pytest.approx(0.0, abs=1e-6)
    assert faded[RATE // 4] == pytest.approx(0.5, abs=0.01)
    assert np.all(np.diff(faded[: RATE // 2]) >= 0) and np.all(np.diff(faded[-RATE:]) <= 0)
    assert np.all(faded[RATE : 2 * RATE] == 1.0)


def test_wav_round_trip(tmp_path: Path) -> None:
    pcm = na.to_int16(tone(0.5, 0.5))
    na.write_wav(tmp_path / "a.wav", pcm, RATE)
    back, rate = na.read_wav(tmp_path / "a.wav")
    assert rate == RATE and np.array_equal(back, pcm)
