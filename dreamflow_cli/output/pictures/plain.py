"""The plain picture: a calm night sky with the story's title (and the scene's caption, when
captions are on). It was every scene's picture before the pictures showed the story; now it is the
fallback for a story whose words name nothing with art (draw.py), and the palette the composed
pictures keep.

Drawn with Pillow in a few milliseconds; the same story always gives the same pictures (the layout
is seeded from the text, never from the clock).
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 768, 512
_TOP = (12, 18, 48)  # deep night blue
_BOTTOM = (58, 44, 96)  # dusky violet near the horizon
NIGHT = (_TOP, _BOTTOM)  # the palette the composed pictures keep (scenery.py)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    # Pillow's bundled scalable font (needs FreeType, which Pillow's wheels ship on every OS),
    # so text is readable everywhere without relying on system fonts such as arial.ttf.
    return ImageFont.load_default(size=size)


def _sky(y: int) -> tuple[int, ...]:
    t = y / (HEIGHT - 1)
    return tuple(round(a + (b - a) * t) for a, b in zip(_TOP, _BOTTOM))


def _gradient() -> Image.Image:
    column = Image.new("RGB", (1, HEIGHT))
    for y in range(HEIGHT):
        column.putpixel((0, y), _sky(y))
    return column.resize((WIDTH, HEIGHT))


def _fit_lines(draw: ImageDraw.ImageDraw, text: str, size: int, max_width: int, max_lines: int) -> list[str]:
    font = _font(size)
    for width in range(48, 8, -4):
        lines = textwrap.wrap(text, width=width)
        if all(draw.textlength(line, font=font) <= max_width for line in lines):
            return lines[:max_lines]
    return textwrap.wrap(text, width=8)[:max_lines]


def draw_scene(title: str, caption: str, index: int, total: int, captions: bool = True) -> Image.Image:
    """The plain picture of scene ``index`` of ``total``; ``captions=False`` leaves the caption out."""
    seed = hashlib.sha256(f"{title}\x00{caption}\x00{index}".encode()).digest()
    rng = random.Random(seed)
    image = _gradient()
    draw = ImageDraw.Draw(image)

    for _ in range(rng.randint(28, 44)):
        x, y = rng.randrange(WIDTH), rng.randrange(int(HEIGHT * 0.62))
        r = rng.choice((1, 1, 1, 2, 2, 3))
        glow = rng.randint(190, 255)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(glow, glow, rng.randint(200, 255)))

    # A crescent moon: a pale disc with a sky-coloured disc bitten out of it.
    mx, my, mr = rng.randint(560, 690), rng.randint(50, 110), 38
    draw.ellipse((mx - mr, my - mr, mx + mr, my + mr), fill=(250, 240, 200))
    draw.ellipse((mx - mr + 16, my - mr - 8, mx + mr + 16, my + mr - 8), fill=_sky(my - 8))

    # Rolling hills at the bottom keep the frame calm and give the caption a dark backing.
    draw.ellipse((-200, HEIGHT - 150, WIDTH // 2 + 200, HEIGHT + 260), fill=(24, 30, 58))
    draw.ellipse((WIDTH // 3, HEIGHT - 120, WIDTH + 260, HEIGHT + 260), fill=(30, 36, 68))

    margin = 40
    y = 150
    for line in _fit_lines(draw, title, 40, WIDTH - 2 * margin, 2):
        draw.text((WIDTH // 2, y), line, font=_font(40), fill=(255, 246, 220), anchor="mt")
        y += 50
    y += 16
    for line in _fit_lines(draw, caption, 24, WIDTH - 2 * margin, 3) if captions else ():
        draw.text((WIDTH // 2, y), line, font=_font(24), fill=(214, 220, 255), anchor="mt")
        y += 32
    if total > 1:
        draw.text((WIDTH - margin, HEIGHT - 30), f"{index} / {total}", font=_font(18),
                  fill=(170, 176, 220), anchor="rs")
    return image


def png_bytes(image: Image.Image) -> bytes:
    """PNG at zlib level 6, without ``optimize``: optimize took 5x as long on a 768x512 picture
    here for files 3.8% smaller (bench/pictures.py --only png)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
