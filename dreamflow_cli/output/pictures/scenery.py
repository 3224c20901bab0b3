"""Where a picture happens: the backdrop of each setting, painted on the night palette.

One entry per setting of vocabulary.py: its sky (top and horizon colours), its ground (hills, water,
a bedroom floor, moonland…) and a few props (OpenMoji glyphs dimmed toward the sky so they recede:
trees for a forest, a bed for a bedroom). The palette is the plain picture's (plain.py): deep night
blue to dusky violet, soft stars and a crescent moon, so every picture stays calm for bedtime.

All jitter comes from the ``random.Random`` the caller passes in (seeded by story and scene), so the
same scene always gives the same backdrop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from PIL import Image, ImageDraw

from dreamflow_cli.output.pictures import art
from dreamflow_cli.output.pictures.plain import HEIGHT, NIGHT, WIDTH

RGB = tuple[int, int, int]


# --- settings: data, one entry each -------------------------------------------------------------

@dataclass(frozen=True)
class Prop:
    """A setting glyph. ``y`` None: it stands on the horizon (far) or the ground line (front);
    else its centre, as a fraction of the height. ``dim`` melts it into the night (0 = as drawn)."""
    code: str
    x: float
    size: int
    y: float | None = None
    dim: float = 0.4
    front: bool = False


@dataclass(frozen=True)
class Backdrop:
    sky: tuple[RGB, RGB]               # top, horizon
    ground: str                        # hills | water | floor | dunes | moonland | clouds | city | cave | shore | pond
    ground_colors: tuple[RGB, RGB]     # far, near
    horizon: float = 0.72              # where the ground starts, fraction of the height
    stars: int = 36
    moon: bool = True                  # the palette's own crescent (unless a moon glyph is shown)
    props: tuple[Prop, ...] = ()
    snowfall: bool = False


_NIGHT = NIGHT  # the plain picture's palette
_HILLS = ((24, 34, 62), (30, 40, 72))

BACKDROPS: dict[str, Backdrop] = {
    "meadow": Backdrop(_NIGHT, "hills", ((24, 40, 60), (30, 48, 66)), props=(
        Prop("1F333", 0.10, 96, dim=0.5), Prop("1F333", 0.90, 74, dim=0.55),
        Prop("1F33C", 0.04, 38, front=True, dim=0.3), Prop("1F33F", 0.96, 44, front=True, dim=0.3))),
    "forest": Backdrop(((8, 20, 40), (30, 50, 72)), "hills", ((14, 34, 38), (18, 42, 42)), stars=24, props=(
        Prop("1F332", 0.03, 170, dim=0.5), Prop("1F332", 0.17, 128, dim=0.55), Prop("1F333", 0.33, 110, dim=0.6),
        Prop("1F332", 0.50, 120, dim=0.6), Prop("1F332", 0.66, 104, dim=0.6), Prop("1F333", 0.82, 132, dim=0.55),
        Prop("1F332", 0.97, 176, dim=0.5),
        Prop("1F344", 0.04, 40, front=True, dim=0.25), Prop("1F33F", 0.96, 46, front=True, dim=0.3))),
    "jungle": Backdrop(((8, 24, 38), (28, 58, 62)), "hills", ((14, 40, 36), (18, 48, 40)), stars=18, props=(
        Prop("1F334", 0.05, 190, dim=0.45), Prop("1F33F", 0.30, 80, dim=0.5), Prop("1F334", 0.60, 130, dim=0.55),
        Prop("1F334", 0.95, 200, dim=0.45), Prop("1F33A", 0.04, 40, front=True, dim=0.3),
        Prop("1F33F", 0.96, 50, front=True, dim=0.3))),
    "sea": Backdrop(((8, 16, 46), (34, 50, 100)), "water", ((22, 46, 96), (10, 26, 66)), horizon=0.6, stars=40),
    "beach": Backdrop(_NIGHT, "shore", ((22, 46, 96), (84, 70, 88)), horizon=0.62, props=(
        Prop("1F334", 0.05, 200, dim=0.45), Prop("1F41A", 0.95, 36, front=True, dim=0.2))),
    "island": Backdrop(((8, 16, 46), (40, 50, 100)), "water", ((22, 46, 96), (10, 26, 66)), horizon=0.6, props=(
        Prop("1F3DD", 0.5, 160, dim=0.45),)),
    "snow": Backdrop(((18, 26, 62), (72, 86, 134)), "hills", ((150, 164, 204), (176, 190, 226)), stars=28,
                     snowfall=True, props=(
        Prop("1F3D4", 0.22, 190, dim=0.45), Prop("1F3D4", 0.74, 150, dim=0.5),
        Prop("1F332", 0.04, 120, dim=0.35), Prop("1F332", 0.95, 104, dim=0.35))),
    "space": Backdrop(((4, 6, 22), (26, 18, 60)), "moonland", ((70, 72, 96), (86, 88, 110)), horizon=0.8,
                      stars=110, moon=False, props=(
        Prop("1FA90", 0.82, 96, y=0.2, dim=0.15), Prop("1F30D", 0.14, 70, y=0.16, dim=0.2),
        Prop("2604", 0.46, 54, y=0.12, dim=0.2))),
    "sky": Backdrop(((22, 32, 80), (94, 86, 150)), "clouds", ((44, 52, 96), (56, 62, 108)), horizon=0.86, stars=24,
                    props=(
        Prop("2601", 0.12, 120, y=0.5, dim=0.45), Prop("2601", 0.5, 90, y=0.3, dim=0.5),
        Prop("2601", 0.88, 130, y=0.55, dim=0.45), Prop("2601", 0.7, 70, y=0.16, dim=0.55))),
    "bedroom": Backdrop(((30, 24, 58), (46, 36, 74)), "floor", ((62, 44, 66), (70, 50, 72)), horizon=0.74, stars=0,
                        moon=False, props=(Prop("1F6CF", 0.9, 170, dim=0.3),)),
    "home": Backdrop(_NIGHT, "hills", _HILLS, props=(
        Prop("1F3E0", 0.52, 140, dim=0.35), Prop("1F333", 0.08, 100, dim=0.5), Prop("1F333", 0.93, 86, dim=0.5))),
    "garden": Backdrop(_NIGHT, "hills", ((24, 42, 56), (30, 50, 62)), props=(
        Prop("1F333", 0.12, 110, dim=0.5), Prop("1F33B", 0.88, 90, dim=0.45),
        Prop("1F337", 0.04, 48, front=True, dim=0.2), Prop("1F338", 0.96, 46, front=True, dim=0.2))),
    "desert": Backdrop(((18, 16, 50), (92, 58, 86)), "dunes", ((96, 72, 84), (116, 88, 92)), props=(
        Prop("1F335", 0.07, 120, dim=0.4), Prop("1F335", 0.9, 84, dim=0.45), Prop("1F3DC", 0.5, 110, dim=0.55))),
    "mountain": Backdrop(((12, 18, 52), (62, 62, 112)), "hills", _HILLS, props=(
        Prop("26F0", 0.2, 230, dim=0.5), Prop("1F3D4", 0.72, 280, dim=0.5))),
    "farm": Backdrop(_NIGHT, "hills", ((26, 42, 52), (32, 50, 58)), props=(
        Prop("1F3E1", 0.5, 130, dim=0.4), Prop("1F33E", 0.04, 60, front=True, dim=0.25),
        Prop("1F33D", 0.96, 58, front=True, dim=0.25))),
    "pond": Backdrop(_NIGHT, "pond", ((24, 40, 60), (30, 48, 66)), props=(
        Prop("1F33F", 0.04, 60, front=True, dim=0.3), Prop("1F33F", 0.96, 56, front=True, dim=0.3))),
    "castle": Backdrop(_NIGHT, "hills", _HILLS, props=(Prop("1F3F0", 0.5, 220, dim=0.4),)),
    "cave": Backdrop(((22, 18, 30), (48, 40, 54)), "cave", ((44, 36, 48), (52, 42, 56)), horizon=0.76, stars=0,
                     moon=False, props=(Prop("1FAA8", 0.06, 80, dim=0.3), Prop("1FAA8", 0.93, 66, dim=0.3))),
    "city": Backdrop(((12, 16, 46), (62, 46, 94)), "city", ((30, 30, 56), (36, 34, 60)), horizon=0.8),
    "camp": Backdrop(_NIGHT, "hills", _HILLS, props=(
        Prop("26FA", 0.5, 120, dim=0.3), Prop("1F332", 0.06, 150, dim=0.5), Prop("1F332", 0.94, 130, dim=0.5))),
}



# --- painting ------------------------------------------------------------------------------------

def paint(backdrop: Backdrop, rng: random.Random, *, moon_x: float, moon_glyph: bool, base_y: int) -> Image.Image:
    """The backdrop alone (RGBA, WIDTH x HEIGHT): sky, stars, the palette's crescent unless the
    scene shows a moon of its own, far props on the horizon, the ground, snowfall, front props
    standing on ``base_y`` (the line the hero's feet stand on)."""
    image = sky(backdrop.sky).copy()
    draw = ImageDraw.Draw(image)
    _stars(draw, rng, backdrop)
    horizon = int(HEIGHT * backdrop.horizon)
    if backdrop.moon and not moon_glyph:
        _crescent(draw, int(WIDTH * moon_x), int(HEIGHT * 0.13), backdrop.sky)
    # Far props stand on the horizon, behind the ground's front edge.
    for prop in backdrop.props:
        if not prop.front:
            _put_prop(image, prop, backdrop, horizon, rng)
    GROUNDS[backdrop.ground](image, backdrop, horizon, rng, moon_x)
    if backdrop.snowfall:
        _snowfall(image, rng, backdrop)
    for prop in backdrop.props:
        if prop.front:
            _put_prop(image, prop, backdrop, base_y, rng)
    return image


@lru_cache(maxsize=32)
def sky(colors: tuple[RGB, RGB]) -> Image.Image:
    """A vertical gradient from the top colour to the horizon colour (cached: callers copy it)."""
    top, bottom = colors
    column = Image.new("RGBA", (1, HEIGHT))
    for y in range(HEIGHT):
        t = y / (HEIGHT - 1)
        column.putpixel((0, y), (*(round(a + (b - a) * t) for a, b in zip(top, bottom)), 255))
    return column.resize((WIDTH, HEIGHT))


def sky_at(colors: tuple[RGB, RGB], y: float) -> RGB:
    t = min(max(y / (HEIGHT - 1), 0.0), 1.0)
    r, g, b = (round(a + (c - a) * t) for a, c in zip(*colors))
    return r, g, b


def _stars(draw: ImageDraw.ImageDraw, rng: random.Random, backdrop: Backdrop) -> None:
    top = int(HEIGHT * backdrop.horizon * 0.92)
    for _ in range(backdrop.stars):
        x, y = rng.randrange(WIDTH), rng.randrange(max(top, 1))
        r = rng.choice((1, 1, 1, 2, 2, 3))
        glow = rng.randint(190, 255)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(glow, glow, rng.randint(200, 255), 255))


def _crescent(draw: ImageDraw.ImageDraw, mx: int, my: int, colors: tuple[RGB, RGB], r: int = 30) -> None:
    """The palette's own moon: a pale disc with a sky-coloured disc bitten out of it."""
    draw.ellipse((mx - r, my - r, mx + r, my + r), fill=(250, 240, 200, 255))
    draw.ellipse((mx - r + 13, my - r - 6, mx + r + 13, my + r - 6), fill=(*sky_at(colors, my - 6), 255))


def _put_prop(image: Image.Image, prop: Prop, backdrop: Backdrop, line: int, rng: random.Random) -> None:
    size = max(16, int(prop.size * rng.uniform(0.92, 1.08)))
    x = (prop.x + rng.uniform(-0.015, 0.015)) * WIDTH
    tint = sky_at(backdrop.sky, line if prop.y is None else prop.y * HEIGHT)
    g = art.glyph(prop.code, size, tint, prop.dim)
    if prop.y is None:
        paste_bottom(image, g, x, line + (4 if prop.front else 10))
    else:
        paste_center(image, g, x, prop.y * HEIGHT + rng.uniform(-8, 8))


# --- grounds: one painter per kind ----------------------------------------------------------------

def _opaque(color: RGB) -> tuple[int, int, int, int]:
    return (*color, 255)


def _hills(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    draw = ImageDraw.Draw(image)
    far, near = _opaque(b.ground_colors[0]), _opaque(b.ground_colors[1])
    draw.ellipse((-220, horizon - 10, WIDTH // 2 + 220, HEIGHT + 300), fill=far)
    draw.ellipse((WIDTH // 3 - 40, horizon + 14, WIDTH + 260, HEIGHT + 300), fill=near)


def _dunes(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    _hills(image, b, horizon, rng, moon_x)
    ImageDraw.Draw(image).ellipse((-120, horizon + 60, WIDTH // 2, HEIGHT + 200), fill=_opaque(b.ground_colors[1]))


def _pond(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    _hills(image, b, horizon, rng, moon_x)
    draw = ImageDraw.Draw(image)
    cx, cy = WIDTH // 2, HEIGHT - 70
    draw.ellipse((cx - 170, cy - 30, cx + 170, cy + 30), fill=(40, 62, 110, 255))
    draw.ellipse((cx - 150, cy - 22, cx + 150, cy + 22), fill=(30, 50, 96, 255))
    for k in range(3):
        y = cy - 10 + k * 9
        draw.line((cx - 90 + k * 20, y, cx - 40 + k * 20, y), fill=(120, 140, 200, 255), width=2)
    paste_bottom(image, art.glyph("1FAB7", 40, (30, 50, 96), 0.25), cx + 110, cy + 8)  # a lotus


def _water(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    draw = ImageDraw.Draw(image)
    top, bottom = b.ground_colors[0], b.ground_colors[1] if b.ground == "water" else (12, 30, 70)
    for y in range(horizon, HEIGHT):
        t = (y - horizon) / max(HEIGHT - horizon - 1, 1)
        draw.line((0, y, WIDTH, y), fill=(*(round(a + (c - a) * t) for a, c in zip(top, bottom)), 255))
    for row in range(7):  # soft wave lines, more spread out toward the viewer
        y = horizon + 8 + row * row * 5 + row * 6
        for _ in range(rng.randint(3, 5)):
            x = rng.randrange(-40, WIDTH)
            w = rng.randint(40, 110)
            draw.arc((x, y - 6, x + w, y + 6), 200, 340, fill=(90, 120, 190, 255), width=2)
    mx = int(WIDTH * moon_x)
    for k in range(6):  # the moon's path on the water
        y = horizon + 6 + k * 11
        half = 26 - k * 3
        draw.line((mx - half, y, mx + half, y), fill=(200, 196, 170, 255), width=2)


def _shore(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    _water(image, b, horizon, rng, moon_x)
    ImageDraw.Draw(image).ellipse((-200, horizon + 50, WIDTH + 200, HEIGHT + 420), fill=_opaque(b.ground_colors[1]))


def _floor(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, horizon, WIDTH, HEIGHT), fill=_opaque(b.ground_colors[0]))
    draw.line((0, horizon, WIDTH, horizon), fill=(84, 62, 84, 255), width=3)
    draw.ellipse((WIDTH * 0.18, HEIGHT - 64, WIDTH * 0.82, HEIGHT + 10), fill=(88, 52, 86, 255))  # a rug
    _window(draw, WIDTH // 2, int(HEIGHT * 0.3), rng)


def _moonland(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    draw = ImageDraw.Draw(image)
    draw.ellipse((-300, horizon - 16, WIDTH + 300, HEIGHT + 500), fill=_opaque(b.ground_colors[1]))
    for _ in range(6):  # craters
        x, y, r = rng.randrange(40, WIDTH - 40), rng.randrange(horizon + 16, HEIGHT - 10), rng.randint(10, 24)
        draw.ellipse((x - r, y - r // 3, x + r, y + r // 3), fill=_opaque(b.ground_colors[0]))


def _city(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    draw = ImageDraw.Draw(image)
    x = -10
    while x < WIDTH:  # houses of different heights, a few windows still lit
        w, h = rng.randint(48, 96), rng.randint(70, 190)
        draw.rectangle((x, horizon - h, x + w, horizon), fill=(24, 24, 52, 255))
        for wy in range(horizon - h + 12, horizon - 10, 18):
            for wx in range(x + 8, x + w - 10, 16):
                if rng.random() < 0.3:
                    draw.rectangle((wx, wy, wx + 6, wy + 8), fill=(250, 210, 120, 255))
        x += w + rng.randint(2, 10)
    draw.rectangle((0, horizon, WIDTH, HEIGHT), fill=_opaque(b.ground_colors[1]))


def _cave(image: Image.Image, b: Backdrop, horizon: int, rng: random.Random, moon_x: float) -> None:
    draw = ImageDraw.Draw(image)
    for _ in range(9):  # stalactites
        x, w, h = rng.randrange(0, WIDTH), rng.randint(30, 70), rng.randint(30, 90)
        draw.polygon([(x - w // 2, 0), (x + w // 2, 0), (x, h)], fill=(36, 30, 42, 255))
    draw.ellipse((-200, horizon - 10, WIDTH + 200, HEIGHT + 400), fill=_opaque(b.ground_colors[1]))


Ground = Callable[[Image.Image, Backdrop, int, random.Random, float], None]
GROUNDS: dict[str, Ground] = {
    "hills": _hills, "clouds": _hills, "dunes": _dunes, "pond": _pond, "water": _water, "shore": _shore,
    "floor": _floor, "moonland": _moonland, "city": _city, "cave": _cave,
}


def _window(draw: ImageDraw.ImageDraw, cx: int, cy: int, rng: random.Random) -> None:
    """A bedroom window onto the night: frame, panes, stars and a crescent."""
    w, h = 170, 150
    x0, y0 = cx - w // 2, cy - h // 2
    draw.rounded_rectangle((x0 - 10, y0 - 10, x0 + w + 10, y0 + h + 10), 10, fill=(96, 68, 60, 255))
    for y in range(h):
        t = y / h
        draw.line((x0, y0 + y, x0 + w, y0 + y), fill=(round(14 + 30 * t), round(20 + 22 * t), round(56 + 40 * t), 255))
    for _ in range(14):
        x, y = rng.randrange(x0 + 4, x0 + w - 4), rng.randrange(y0 + 4, y0 + h - 4)
        draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=(240, 240, 255, 255))
    mx, my, r = x0 + w - 44, y0 + 40, 20
    draw.ellipse((mx - r, my - r, mx + r, my + r), fill=(250, 240, 200, 255))
    draw.ellipse((mx - r + 9, my - r - 4, mx + r + 9, my + r - 4), fill=(18, 24, 62, 255))
    draw.line((cx, y0, cx, y0 + h), fill=(96, 68, 60, 255), width=8)
    draw.line((x0, cy, x0 + w, cy), fill=(96, 68, 60, 255), width=8)


def _snowfall(image: Image.Image, rng: random.Random, b: Backdrop) -> None:
    for _ in range(9):
        size = rng.randint(16, 30)
        y = rng.uniform(0.05, 0.7) * HEIGHT
        g = art.glyph("2744", size, sky_at(b.sky, y), 0.1)
        paste_center(image, g, rng.uniform(0.03, 0.97) * WIDTH, y)


# --- pasting glyphs ---------------------------------------------------------------------------------

def paste_center(image: Image.Image, g: Image.Image, cx: float, cy: float) -> None:
    _paste(image, g, int(cx - g.width / 2), int(cy - g.height / 2))


def paste_bottom(image: Image.Image, g: Image.Image, cx: float, bottom: float) -> None:
    _paste(image, g, int(cx - g.width / 2), int(bottom - g.height))


def _paste(image: Image.Image, g: Image.Image, x: int, y: int) -> None:
    # alpha_composite refuses negative offsets: clip the sprite instead.
    left, top = max(0, -x), max(0, -y)
    right, bottom = min(g.width, WIDTH - x), min(g.height, HEIGHT - y)
    if right <= left or bottom <= top:
        return
    piece = g if (left, top, right, bottom) == (0, 0, g.width, g.height) else g.crop((left, top, right, bottom))
    image.alpha_composite(piece, (x + left, y + top))
