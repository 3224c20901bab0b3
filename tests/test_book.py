"""The picture book: book.pdf read back with pypdf (pages, text, pictures, embedded fonts) and
rendered by poppler; book.epub checked by epubcheck; both through `dreamflow generate`."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pypdf
import pytest
from PIL import Image

from dreamflow_cli.output.book import epub, pdf
from dreamflow_cli.output.pictures import draw
from dreamflow_cli.output.pictures.plain import png_bytes
from tests.helpers.cli import invoke
from tests.helpers.fakes import FAKE_ENTRY
from tests.helpers.tools import need, need_epubcheck
from tests.test_pictures import DRAGON_SCENES

TITLE = "The Sleepy Dragon\u2019s Starry Night"


@pytest.fixture(scope="module")
def pngs():
    return [png_bytes(p.image) for p in draw.draw_story("a sleepy dragon", TITLE, DRAGON_SCENES, DRAGON_SCENES, 7)]


@pytest.fixture(scope="module")
def book(pngs):
    return pdf.make_book(TITLE, DRAGON_SCENES, pngs, name="Mia", age=3, art_credit="Art: OpenMoji, CC BY-SA 4.0")


def reader(book):
    return pypdf.PdfReader(io.BytesIO(book.data))


def test_a_cover_a_page_per_scene_and_the_end(book):
    pages = reader(book).pages
    assert len(pages) == book.pages == len(DRAGON_SCENES) + 2
    cover = " ".join(pages[0].extract_text().split())
    assert "Dragon\u2019s Starry Night" in cover and "a story for Mia" in cover
    for page, scene in zip(pages[1:], DRAGON_SCENES):
        assert " ".join(scene.split()[:6]) in " ".join(page.extract_text().split())
    end = pages[-1].extract_text()
    assert "The End" in end and "CC BY-SA 4.0" in end and "Bitstream Vera" in end
    assert reader(book).metadata.title == TITLE


def test_curly_quotes_survive(book):
    text = reader(book).pages[1].extract_text()
    assert "\u201cGoodnight,\u201d" in text and "he\u2019d" in text


def test_a_picture_on_the_cover_and_on_every_scene_page(book):
    pages = reader(book).pages
    for page in pages[:-1]:
        [image] = page.images
        assert image.image.size == (768, 512)
    assert len(pages[-1].images) == 0


def test_every_font_is_embedded(book):
    fonts = {}
    for page in reader(book).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts[font["/BaseFont"]] = "/FontFile2" in font["/FontDescriptor"]
    assert fonts and all(fonts.values()), fonts


def _sizes(page):
    sizes = []
    page.extract_text(visitor_text=lambda text, cm, tm, font, size: sizes.append(size * tm[0]) if text.strip() else None)
    return sizes


@pytest.mark.parametrize("age, size", [(3, 26), (6, 21), (11, 17), (None, 21)])
def test_the_text_size_follows_the_age_band(age, size):
    page = reader(pdf.make_book("T", ["A short scene."], [None], age=age)).pages[1]
    assert max(_sizes(page)) == pytest.approx(size, abs=0.01)


def test_a_long_scene_shrinks_then_continues():
    long = " ".join(["The owl counted the stars one by one."] * 160)
    made = pdf.make_book("T", [long], [None], age=3)
    pages = reader(made).pages
    assert len(pages) == made.pages >= 4  # cover, the scene and its continuation, the end
    assert max(_sizes(pages[1])) == pytest.approx(pdf.MIN_SIZE, abs=0.01)
    assert "".join(p.extract_text() for p in pages[1:-1]).split().count("owl") == 160


def test_the_same_story_gives_the_same_bytes(book, pngs):
    again = pdf.make_book(TITLE, DRAGON_SCENES, pngs, name="Mia", age=3, art_credit="Art: OpenMoji, CC BY-SA 4.0")
    assert again.data == book.data


def test_no_art_no_art_credit():
    end = reader(pdf.make_book("T", ["x"], [None])).pages[-1].extract_text()
    assert "OpenMoji" not in end and "The End" in end


@pytest.mark.model
def test_poppler_renders_every_page(book, tmp_path):
    pdftoppm = need("pdftoppm", "poppler-utils")
    (tmp_path / "book.pdf").write_bytes(book.data)
    subprocess.run([pdftoppm, "-r", "30", "-png", str(tmp_path / "book.pdf"), str(tmp_path / "p")], check=True,
                   timeout=120)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) == len(DRAGON_SCENES) + 2
    for page in pages:
        assert Image.open(page).convert("L").getextrema()[0] < 100  # ink on the page, not blank


# --- EPUB ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ebook(pngs):
    return epub.make_epub("The Dragon\u2019s <Night> & Day", DRAGON_SCENES, pngs, name="Mia", age=4,
                          art_credit="Art: OpenMoji, CC BY-SA 4.0", identifier="story-123")


def test_the_epub_passes_its_own_structure_check(ebook):
    assert epub.check(ebook) == []


def test_the_epub_holds_a_page_per_scene_escaped_text_and_the_credits(ebook):
    z = zipfile.ZipFile(io.BytesIO(ebook))
    assert z.namelist()[0] == "mimetype"
    assert len([n for n in z.namelist() if n.endswith(".xhtml") and "scene-" in n]) == len(DRAGON_SCENES)
    assert "he\u2019d say" in z.read("OEBPS/scene-1.xhtml").decode("utf-8")
    assert "&lt;Night&gt; &amp; Day" in z.read("OEBPS/content.opf").decode("utf-8")
    assert "CC BY-SA 4.0" in z.read("OEBPS/end.xhtml").decode("utf-8")
    assert len([n for n in z.namelist() if n.endswith(".png")]) == len(DRAGON_SCENES) + 1


def test_the_same_epub_twice(ebook, pngs):
    assert epub.make_epub("The Dragon\u2019s <Night> & Day", DRAGON_SCENES, pngs, name="Mia", age=4,
                          art_credit="Art: OpenMoji, CC BY-SA 4.0", identifier="story-123") == ebook


def test_the_structure_check_finds_a_broken_epub(ebook):
    src = zipfile.ZipFile(io.BytesIO(ebook))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # mimetype compressed and a picture dropped
        for info in src.infolist():
            if info.filename != "OEBPS/scene-2.png":
                z.writestr(info.filename, src.read(info.filename), compress_type=zipfile.ZIP_DEFLATED)
    problems = epub.check(buf.getvalue())
    assert any("mimetype" in p for p in problems) and any("scene-2.png" in p for p in problems)


@pytest.mark.model
def test_epubcheck_accepts_the_epub(tmp_path, pngs):
    command = need_epubcheck()
    path = tmp_path / "book.epub"
    path.write_bytes(epub.make_epub(TITLE, DRAGON_SCENES, pngs, name="Mia", age=4, art_credit="x",
                                    modified=datetime(2026, 12, 6, tzinfo=timezone.utc)))
    run = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=300)
    assert "No errors or warnings detected" in run.stdout, run.stdout + run.stderr
    assert run.returncode == 0


# --- the artifact, through the command line -----------------------------------------------------------

@pytest.fixture
def fake_backend():
    from dreamflow_cli.backend import registry

    registry.register(FAKE_ENTRY)
    yield
    registry.unregister(FAKE_ENTRY.name)


def generate(runner, *args, env=None):
    result = invoke(runner, "generate", "a sleepy dragon", "--backend", "fake", "--seed", "5", "--name", "Mia",
                    "--age", "4", "--json", *args, env=env)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    return summary, json.loads(Path(summary["metadata_path"]).read_text(encoding="utf-8"))


def test_the_book_is_made_by_default_with_the_scene_pictures(runner, fake_backend):
    summary, meta = generate(runner, "--scenes", "2")
    assert Path(summary["book_path"]) == Path(summary["story_dir"]) / "book.pdf"
    assert meta["files"]["book"] == "book.pdf" and summary["epub_path"] is None
    made = pypdf.PdfReader(summary["book_path"])
    assert len(made.pages) == 2 + 2
    assert "a story for Mia" in made.pages[0].extract_text() and "OpenMoji" in made.pages[-1].extract_text()
    # The scene pages show the scene pictures themselves (the cover is scene 1: one image, twice).
    shown = made.pages[2].images[0].image.convert("RGB")
    assert shown.tobytes() == Image.open(summary["image_paths"][1]).convert("RGB").tobytes()


def test_with_captions_the_book_pictures_have_no_band(runner, fake_backend):
    plain, _ = generate(runner, "--scenes", "1")
    captioned, _ = generate(runner, "--scenes", "1", "--captions")
    page = pypdf.PdfReader(captioned["book_path"]).pages[1].images[0].image.convert("RGB")
    assert page.tobytes() == Image.open(plain["image_paths"][0]).convert("RGB").tobytes()
    assert page.tobytes() != Image.open(captioned["image_paths"][0]).convert("RGB").tobytes()


def test_no_pictures_a_text_book(runner, fake_backend):
    summary, _ = generate(runner, "--no-images", "--scenes", "2")
    made = pypdf.PdfReader(summary["book_path"])
    assert len(made.pages) == 4 and all(not page.images for page in made.pages)
    assert "OpenMoji" not in made.pages[-1].extract_text()


def test_no_book_from_the_flag_the_config_and_the_environment(runner, fake_backend, isolated):
    summary, meta = generate(runner, "--no-book")
    assert summary["book_path"] is None and "book" not in meta["files"]
    assert not (Path(summary["story_dir"]) / "book.pdf").exists()
    summary, _ = generate(runner, env={"DREAMFLOW_BOOK": "0"})
    assert summary["book_path"] is None
    (isolated / "dreamflow.toml").write_text("book = false\n", encoding="utf-8")
    summary, _ = generate(runner)
    assert summary["book_path"] is None
    summary, _ = generate(runner, "--book")  # the flag beats the file
    assert Path(summary["book_path"]).is_file()


def test_the_epub_on_request(runner, fake_backend):
    summary, meta = generate(runner, "--epub", "--no-book", "--scenes", "2")
    assert summary["book_path"] is None and meta["files"]["epub"] == "book.epub"
    data = Path(summary["epub_path"]).read_bytes()
    assert epub.check(data) == []
    assert len([n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith(".png")]) == 3
