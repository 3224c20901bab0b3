"""The plain picture (the fallback when a story names nothing with art): readable, calm,
deterministic, small."""

from __future__ import annotations

import io

from PIL import Image

from dreamflow_cli.output.pictures.plain import HEIGHT, WIDTH, draw_scene, png_bytes


def test_same_story_same_picture_other_scene_other_picture():
    a = png_bytes(draw_scene("The Sleepy Dragon", "Mia counts the stars.", 1, 3))
    assert a == png_bytes(draw_scene("The Sleepy Dragon", "Mia counts the stars.", 1, 3))
    assert a != png_bytes(draw_scene("The Sleepy Dragon", "Mia counts the stars.", 2, 3))


def test_size_and_weight():
    data = png_bytes(draw_scene("A Very Long Title About a Whale Who Sings Lullabies to the Moon",
                                "The whale hummed softly while the little fish yawned and curled up.", 2, 4))
    image = Image.open(io.BytesIO(data))
    assert image.size == (WIDTH, HEIGHT) and image.format == "PNG"
    assert 10_000 < len(data) < 100_000  # tens of kilobytes


def test_text_uses_a_scalable_font_at_a_readable_size():
    # Not the 10-px bitmap fallback that a missing arial.ttf gives: a FreeType font, 40 px tall.
    from PIL import ImageFont

    from dreamflow_cli.output.pictures.plain import _font

    font = _font(40)
    assert isinstance(font, ImageFont.FreeTypeFont)
    left, top, right, bottom = font.getbbox("Moon")
    assert bottom - top >= 25 and right - left >= 80


def test_without_captions_the_title_stays_and_the_caption_goes():
    with_caption = draw_scene("The Sleepy Dragon", "Mia counts the stars.", 1, 3)
    without = draw_scene("The Sleepy Dragon", "Mia counts the stars.", 1, 3, captions=False)
    title_box, caption_box = (0, 140, WIDTH, 200), (0, 210, WIDTH, 320)
    assert with_caption.crop(title_box).tobytes() == without.crop(title_box).tobytes()
    assert with_caption.crop(caption_box).tobytes() != without.crop(caption_box).tobytes()
    # The caption's letters are drawn in one colour; none of it is left without captions.
    def letter_pixels(image):
        return dict((colour, n) for n, colour in image.crop(caption_box).getcolors(1 << 16)).get((214, 220, 255), 0)

    assert letter_pixels(with_caption) > 100 and letter_pixels(without) == 0
