from __future__ import annotations

import pytest

from dreamflow_cli.output.video.plan import (
    QUALITIES,
    base_rect,
    ease,
    frame_count,
    ken_burns_rect,
    memory_bytes,
    output_size,
    picture_spans,
)

SCENES = [(3.6, 42.9), (44.9, 90.3), (92.3, 142.5)]


def test_spans_cover_the_whole_video_with_changes_inside_the_scene_pauses() -> None:
    spans = picture_spans(SCENES, 144.0, crossfade=1.5)
    assert spans[0].start == 0.0 and spans[-1].end == 144.0
    for left, right, (_, end), (start, _) in zip(spans, spans[1:], SCENES, SCENES[1:]):
        # overlap = the cross-fade, entirely inside the silence between the two scenes
        assert right.start < left.end
        assert left.end - right.start == pytest.approx(1.5)
        assert end <= right.start and left.end <= start
    assert spans[0].fade_in == 0.0 and spans[-1].fade_out == 0.0


def test_short_scenes_get_a_shorter_crossfade() -> None:
    spans = picture_spans([(0.0, 1.0), (1.2, 2.0)], 2.5, crossfade=1.5)
    assert spans[1].fade_in == pytest.approx(min(1.1, 1.4) / 3)


def test_ease_starts_and_ends_at_rest() -> None:
    assert ease(0) == 0 and ease(1) == 1 and ease(0.5) == 0.5
    d = 1e-4
    assert ease(d) / d < 0.01 and (1 - ease(1 - d)) / d < 0.01


@pytest.mark.parametrize("picture", [0, 1, 2, 3])
def test_ken_burns_stays_inside_the_picture_keeps_shape_and_moves_slowly(picture: int) -> None:
    previous = None
    for i in range(101):
        x0, y0, x1, y1 = ken_burns_rect(picture, i / 100, 768, 512, 768, 512)
        assert -1e-9 <= x0 < x1 <= 768 + 1e-9 and -1e-9 <= y0 < y1 <= 512 + 1e-9
        assert (x1 - x0) / (y1 - y0) == pytest.approx(1.5)
        assert 768 / 1.1 - 1e-6 <= x1 - x0 <= 768
        if previous is not None:  # 1% of the scene never moves a corner by more than ~2% of the width
            assert max(abs(a - b) for a, b in zip((x0, y0, x1, y1), previous)) < 0.02 * 768
        previous = (x0, y0, x1, y1)


def test_zoom_direction_alternates() -> None:
    width = lambda p, t: ken_burns_rect(p, t, 768, 512, 768, 512)[2] - ken_burns_rect(p, t, 768, 512, 768, 512)[0]  # noqa: E731
    assert width(0, 1) < width(0, 0)  # zooms in
    assert width(1, 1) > width(1, 0)  # zooms out


def test_base_rect_crops_other_shapes_to_the_output_shape() -> None:
    assert base_rect(1024, 1024, 768, 512) == (0.0, (1024 - 1024 / 1.5) / 2, 1024.0, 1024 / 1.5)


def test_qualities() -> None:
    fast, high = QUALITIES["fast"], QUALITIES["high"]
    assert output_size(768, 512, fast) == (768, 512) and output_size(768, 512, high) == (1536, 1024)
    assert output_size(767, 511, fast) == (766, 510)  # H.264 4:2:0 needs even sizes
    assert fast.fps < high.fps
    assert memory_bytes(768, 512, high, 3) > memory_bytes(768, 512, fast, 3)


def test_frame_count() -> None:
    assert frame_count(144.0, 12) == 1728 and frame_count(143.99, 12) == 1728 and frame_count(0.01, 12) == 1


def test_memory_estimates_cover_what_was_measured() -> None:
    from dreamflow_cli.output.narration.script import narrator_memory_bytes

    mb = 2**20
    assert 123 * mb < memory_bytes(768, 512, QUALITIES["fast"], 3) < 200 * mb
    assert 241 * mb < memory_bytes(768, 512, QUALITIES["high"], 3) < 350 * mb
    assert 351 * mb < narrator_memory_bytes(359) < 450 * mb  # 148 s story: 325-351 MB measured
    assert 368 * mb < narrator_memory_bytes(1077) < 520 * mb  # 436 s story: 368 MB measured
