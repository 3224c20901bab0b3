"""Scene pictures that show the story: the hero large, who is with them, where they are.

Every picture is composed on the calm night palette of the plain picture (deep blue to dusky
violet, soft stars, a crescent moon): the setting behind (scenery.py: its own sky and ground and a
few dimmed props), the hero large on the same side at the same size in every scene of a story,
companions smaller on the other side, a few small details from the scene's words, and a tiny credit
line. The caption band is optional (``Cast.captions``). Art: OpenMoji (CC BY-SA 4.0), see art.py.

Deterministic: all jitter comes from ``random.Random(f"{seed}:{scene}")``, never the clock; the
same story and seed give the same bytes. What each picture shows is returned with it, for
story.json ``illustrations``. When nothing in the story has art, or the art is missing, the
picture falls back to the plain night sky with the title (plain.py).
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dreamflow_cli.output.pictures import art, plain, scenery, vocabulary
from dreamflow_cli.output.pictures.plain import HEIGHT, WIDTH
from dreamflow_cli.output.pictures.scenery import paste_bottom, paste_center
from dreamflow_cli.output.pictures.vocabulary import Showing, Thing

HERO_SIZE = 250            # px per em; the glyph's ink is ~85% of that
HERO_SIZE_CAPTIONED = 224  # smaller when a caption band takes the bottom of the frame
COMPANION_SIZES = (150, 124)
DETAIL_SIZE = 58
SKY_DETAIL_SIZE = 54
BAND_HEIGHT = 66           # caption band
CREDIT_SIZE = 11
_MOONS = ("1F319", "1F315")

# Art that brings its own daylight water (a light-blue block under the hull): keep only the top
# of it, so the boat floats on the night sea instead of on a pale rectangle.
_CROP_BOTTOM = {"26F5": 0.705, "1F6A2": 0.71}

Fallback = Callable[[str, str, int, int, bool], Image.Image]  # (title, caption, index, total, captions)


@dataclass(frozen=True)
class Picture:
    image: Image.Image
    shows: tuple[str, ...]      # story.json illustrations[].shows, e.g. ("dragon", "forest", "moon")
    credit: str | None          # None for the plain fallback picture (no third-party art in it)

    def entry(self, file: str) -> dict[str, object]:
        """One story.json ``illustrations`` item."""
        return {"file": file, "shows": list(self.shows), "credit": self.credit}


@dataclass(frozen=True)
class Cast:
    """Story-wide choices, so the hero looks the same in every scene."""
    hero: Thing | None
    hero_code: str | None       # the code actually drawn (a ZWJ fallback may replace it)
    side: str                   # "left" | "right": where the hero stands
    seed: int
    captions: bool = False
    hero_size: int = HERO_SIZE


@dataclass(frozen=True)
class _Layout:
    base_y: int      # where feet stand
    hero_x: float    # fractions of the width
    other: float     # the companions' side
    moon_x: float    # above the hero's corner; sky details go elsewhere


def plan(prompt: str, scenes: Sequence[str], seed: int, *, captions: bool = False) -> Cast:
    """Pick the hero (the prompt's subject, else the story's most-mentioned one) and its side."""
    hero = vocabulary.subject(prompt, "\n".join(scenes))
    code = art.resolve(hero.code, hero.fallback) if hero is not None else None
    side = "left" if random.Random(f"{seed}:side").random() < 0.5 else "right"
    return Cast(hero, code, side, seed, captions, HERO_SIZE_CAPTIONED if captions else HERO_SIZE)


def draw_story(prompt: str, title: str, scenes: Sequence[str], captions: Sequence[str], seed: int, *,
               show_captions: bool = False, fallback: Fallback | None = None,
               child: str | None = None) -> list[Picture]:
    """One picture per scene, same hero throughout; ``child`` is the listening child's name."""
    cast = plan(prompt, scenes, seed, captions=show_captions)
    showings = vocabulary.story_showings(prompt, scenes, cast.hero, child=child)
    return [draw(cast, showing, caption, index=i, total=len(scenes), title=title, fallback=fallback)
            for i, (showing, caption) in enumerate(zip(showings, captions), 1)]


def draw(cast: Cast, showing: Showing, caption: str, *, index: int, total: int, title: str,
         fallback: Fallback | None = None) -> Picture:
    """The picture for one scene (``index`` counts from 1); ``showing`` from vocabulary.choose
    or vocabulary.story_showings with the cast's hero."""
    plain_picture = fallback or plain.draw_scene
    try:
        if not _has_anything(showing):
            raise art.ArtUnavailable("nothing in this story has art")
        return _compose(cast, showing, caption, index)
    except art.ArtUnavailable:
        return Picture(plain_picture(title, caption, index, total, cast.captions), (), None)


def _has_anything(showing: Showing) -> bool:
    # A backdrop alone is worth drawing when the story named it; a default meadow with nothing
    # in it is not: the titled plain sky says more.
    return bool(showing.hero or showing.companions or showing.details or showing.setting_from != "default")


def _compose(cast: Cast, showing: Showing, caption: str, index: int) -> Picture:
    rng = random.Random(f"{cast.seed}:{index}")
    backdrop = scenery.BACKDROPS.get(showing.setting, scenery.BACKDROPS[vocabulary.DEFAULT_SETTING])
    hero_x = 0.27 if cast.side == "left" else 0.73
    layout = _Layout(base_y=HEIGHT - (BAND_HEIGHT + 10 if cast.captions else 26), hero_x=hero_x,
                     other=1 - hero_x, moon_x=0.9 if cast.side == "right" else 0.1)
    moon_glyph = any(d.code in _MOONS for d in showing.details) or (cast.hero_code or "") in _MOONS
    image = scenery.paint(backdrop, rng, moon_x=layout.moon_x, moon_glyph=moon_glyph, base_y=layout.base_y)
    details = _place_details(image, showing.details, layout, rng, moon_glyph)
    companions = _place_companions(image, showing.companions, layout)
    hero = _place_hero(image, cast, layout)
    if cast.captions and caption:
        _caption_band(image, caption)
    _credit(image, cast.captions)
    shows = hero + companions + [showing.setting] + details
    return Picture(image.convert("RGB"), tuple(shows), art.CREDIT)


def _place_details(image: Image.Image, details: Sequence[Thing], at: _Layout, rng: random.Random,
                   moon_glyph: bool) -> list[str]:
    """Sky details in free slots up high, ground ones between the hero and the companions."""
    moon_slot = (at.moon_x, 0.13)
    sky_slots = [(0.5, 0.13), (at.other, 0.14), (0.5 + (at.other - 0.5) * 0.45, 0.3), moon_slot]
    if moon_glyph:  # a moon the scene names goes where the palette's crescent would be
        sky_slots.insert(0, moon_slot)
    ground_slots = [0.5, 0.5 + (at.other - 0.5) * 1.75, 0.5 - (at.other - 0.5) * 0.05]
    names: list[str] = []
    for thing in details:
        code = art.resolve(thing.code, thing.fallback)
        if code is None:
            continue
        if thing.place in ("sky", "air"):
            if thing.code in _MOONS:
                slot = moon_slot
            else:
                slot = next(s for s in sky_slots if s != moon_slot) if len(sky_slots) > 1 else sky_slots[0]
            sky_slots.remove(slot)
            g = _sticker(code, SKY_DETAIL_SIZE + rng.randint(-4, 4), 0.3)
            paste_center(image, g, slot[0] * WIDTH + rng.randint(-12, 12), slot[1] * HEIGHT + rng.randint(-6, 6))
        else:
            x = ground_slots.pop(0) if ground_slots else rng.uniform(0.4, 0.6)
            g = _sticker(code, DETAIL_SIZE + rng.randint(-4, 4), 0.35)
            paste_bottom(image, g, x * WIDTH + rng.randint(-10, 10), at.base_y - 2)
        names.append(thing.name)
    return names


def _place_companions(image: Image.Image, companions: Sequence[Thing], at: _Layout) -> list[str]:
    """Companions on the other side from the hero, smaller, the second a little further out."""
    placed: list[str] = []
    for i, thing in enumerate(companions):
        code = art.resolve(thing.code, thing.fallback)
        if code is None:
            continue
        size = COMPANION_SIZES[min(i, len(COMPANION_SIZES) - 1)]
        x = at.other + (0.0 if i == 0 else (0.16 if at.other > 0.5 else -0.16))
        g = _sticker(code, size, 0.5)
        if thing.place == "air":
            paste_center(image, g, x * WIDTH, HEIGHT * 0.36)
        else:
            paste_bottom(image, g, x * WIDTH, at.base_y - (8 if i else 0))
        placed.append(thing.name)
    return placed


def _place_hero(image: Image.Image, cast: Cast, at: _Layout) -> list[str]:
    """The hero last (in front), large, with a soft glow behind; the same in every scene."""
    if cast.hero is None or cast.hero_code is None:
        return []
    g = _sticker(cast.hero_code, cast.hero_size, 0.6)
    cx = at.hero_x * WIDTH
    floats = cast.hero.place in ("air", "sky")
    cy = HEIGHT * 0.42 if floats else at.base_y - g.height / 2
    glow = _glow(g.width, g.height)
    image.alpha_composite(glow, (int(cx - glow.width / 2), int(cy - glow.height / 2)))
    if floats:
        paste_center(image, g, cx, cy)
    else:
        paste_bottom(image, g, cx, at.base_y)
    return [cast.hero.name]


@lru_cache(maxsize=64)
def _sticker(code: str, size: int, halo: float) -> Image.Image:
    """The glyph with a thin pale outline, so dark art (a bat, a ninja) reads on a night sky."""
    g = art.glyph(code, size)
    if code in _CROP_BOTTOM:
        g = g.crop((0, 0, g.width, int(g.height * _CROP_BOTTOM[code])))
    pad = max(3, size // 45)
    alpha = Image.new("L", (g.width + 2 * pad, g.height + 2 * pad), 0)
    alpha.paste(g.getchannel("A"), (pad, pad))
    ring = alpha.filter(ImageFilter.MaxFilter(2 * pad + 1)).point(lambda v: int(v * halo))
    out = Image.new("RGBA", alpha.size, (236, 232, 255, 0))
    out.putalpha(ring)
    out.alpha_composite(g, (pad, pad))
    return out


@lru_cache(maxsize=8)
def _glow(w: int, h: int) -> Image.Image:
    """A soft warm pool of light behind the hero."""
    gw, gh = int(w * 1.6), int(h * 1.3)
    mask = Image.new("L", (gw, gh), 0)
    ImageDraw.Draw(mask).ellipse((gw * 0.15, gh * 0.15, gw * 0.85, gh * 0.85), fill=70)
    mask = mask.filter(ImageFilter.GaussianBlur(min(gw, gh) // 10))
    out = Image.new("RGBA", (gw, gh), (255, 236, 190, 0))
    out.putalpha(mask)
    return out


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled scalable font: no system fonts


def _caption_band(image: Image.Image, caption: str) -> None:
    band = Image.new("RGBA", (WIDTH, BAND_HEIGHT), (8, 10, 30, 200))
    image.alpha_composite(band, (0, HEIGHT - BAND_HEIGHT))
    draw = ImageDraw.Draw(image)
    lines = _fit_lines(draw, caption, 22, WIDTH - 80, 2)
    y = HEIGHT - BAND_HEIGHT + (12 if len(lines) > 1 else 22)
    for line in lines:
        draw.text((WIDTH // 2, y), line, font=_font(22), fill=(226, 230, 255, 255), anchor="mt")
        y += 26


def _credit(image: Image.Image, captioned: bool) -> None:
    """The licence's attribution, tiny, in the bottom right corner (CC BY-SA asks for it on the work)."""
    draw = ImageDraw.Draw(image)
    color = (150, 156, 196, 255) if captioned else (176, 180, 214, 255)
    draw.text((WIDTH - 8, HEIGHT - 4), art.CREDIT, font=_font(CREDIT_SIZE), fill=color, anchor="rd")


def _fit_lines(draw: ImageDraw.ImageDraw, text: str, size: int, max_width: int, max_lines: int) -> list[str]:
    font = _font(size)
    for width in range(64, 8, -4):
        lines = textwrap.wrap(text, width=width)
        if all(draw.textlength(line, font=font) <= max_width for line in lines):
            if len(lines) > max_lines:
                lines = lines[:max_lines]
                lines[-1] = lines[-1].rstrip(".,;:") + "…"
            return lines
    return textwrap.wrap(text, width=8)[:max_lines]


def illustrations(files: Sequence[str], pictures: Sequence[Picture]) -> list[dict[str, object]]:
    """story.json ``illustrations``: one entry per scene picture."""
    return [p.entry(f) for f, p in zip(files, pictures)]
