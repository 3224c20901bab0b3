"""book.pdf: a printable picture book of one story, made with reportlab (BSD, pure Python).

Cover (title, "a story for Mia", cover picture), one page per scene (picture above, text below in
a large type sized for the age band), and a closing page with "The End" and the credits. A4
portrait, white pages: it is for printing (the library page is the one for reading in the dark).

Why reportlab: pure Python with its own TrueType fonts, so nothing to install beside it, and a
4-page picture book takes tens of milliseconds. fpdf2's built-in fonts fail on a curly apostrophe,
ebooklib is AGPL, weasyprint needs the system's Pango.

Fonts are TrueType and embedded (subset), so the book prints the same everywhere and curly quotes
render: Bitstream Vera Sans, which ships inside reportlab (Bitstream Vera licence), for the text,
and its bold for titles. (A rounder title face, Fredoka One, is OFL-licensed, but the only wheel of
it is a 2018 third-party repackaging whose licence file names another font: not worth a dependency.)
``invariant=True`` leaves out the creation time and the random file id, so the same story gives the
same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

BODY, BODY_ITALIC, TITLE = "DreamflowBody", "DreamflowBodyItalic", "DreamflowTitle"

# Body text size (pt) per age band: big letters for the youngest, who look along while a parent
# reads. Text that does not fit shrinks down to MIN_SIZE; what still does not fit continues on a
# text-only page.
SIZES = {"4": 26.0, "8": 21.0, "12": 17.0}
MIN_SIZE = 13.0
LEADING = 1.42
MARGIN = 42.0
INK = (0.12, 0.13, 0.26)      # deep night blue, not black: softer on white paper
SOFT = (0.38, 0.40, 0.55)
ART_CREDIT = ("Illustrations: OpenMoji, the open-source emoji and icon project (openmoji.org), "
              "licensed under CC BY-SA 4.0 (creativecommons.org/licenses/by-sa/4.0).")
FONT_CREDIT = "Font: Bitstream Vera Sans (Bitstream Vera licence)."
MADE_BY = "Written and drawn on this computer by dreamflow."


@dataclass(frozen=True)
class Book:
    data: bytes
    pages: int


def age_band(age: int | None) -> str:
    """"4" (≤4), "8" (5–8) or "12" (9–12); no age: the middle band."""
    if age is None:
        return "8"
    if age <= 4:
        return "4"
    if age <= 8:
        return "8"
    return "12"


def body_size(age: int | None) -> float:
    return SIZES[age_band(age)]


def credits_lines(art_credit: str | None, *, fonts: bool = True) -> list[str]:
    """The closing page's credits (the EPUB's too, without the font line: a reader uses its own)."""
    lines = [ART_CREDIT] if art_credit else []
    if fonts:
        lines.append(FONT_CREDIT)
    return lines + [MADE_BY]


@lru_cache(maxsize=1)
def _fonts() -> None:
    """Register the fonts once per process."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    fonts = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont(BODY, str(fonts / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(BODY_ITALIC, str(fonts / "VeraIt.ttf")))
    pdfmetrics.registerFont(TTFont(TITLE, str(fonts / "VeraBd.ttf")))


def make_book(title: str, scenes: Sequence[str], pictures: Sequence[bytes | None], *,
              name: str | None = None, age: int | None = None, cover: bytes | None = None,
              art_credit: str | None = None) -> Book:
    """The PDF as bytes. ``pictures[i]`` is scene i's PNG (or None: a text-only page); ``cover``
    defaults to the first picture (none at all: a cover with the title only)."""
    _fonts()
    book = _Pages(title, name)
    book.cover(title, name, cover if cover is not None else next((p for p in pictures if p), None))
    size = body_size(age)
    for index, scene in enumerate(scenes):
        book.scene(scene, pictures[index] if index < len(pictures) else None, size)
    book.end(art_credit)
    return Book(book.save(), book.pages)


class _Pages:
    """One reportlab canvas and the page count; each picture embedded once however often shown."""

    def __init__(self, title: str, name: str | None):
        from reportlab import rl_config
        from reportlab.lib.pagesizes import A4
        from reportlab.pdfgen.canvas import Canvas

        # Binary streams, not ASCII85 text: reportlab encodes ASCII85 in pure Python, the largest
        # cost of a book, and it makes every picture 25% larger. Every PDF reader takes binary.
        rl_config.useA85 = 0

        self.buffer = io.BytesIO()
        # initialFontName: otherwise every page names Helvetica, a font that is not embedded.
        self.canvas = Canvas(self.buffer, pagesize=A4, invariant=True, pageCompression=1,
                             initialFontName=BODY, initialFontSize=12)
        self.canvas.setTitle(title)
        self.canvas.setAuthor("dreamflow")
        self.canvas.setSubject(f"A bedtime story for {name}" if name else "A bedtime story")
        self.canvas.setCreator("dreamflow")
        self.width, self.height = A4
        self.pages = 0
        self._readers: dict[int, Any] = {}

    def cover(self, title: str, name: str | None, picture: bytes | None) -> None:
        c, width = self.canvas, self.width
        c.setFillColorRGB(*INK)
        y = self.height - MARGIN - 30
        for line in _wrap(title, TITLE, 36, width - 2 * MARGIN)[:3]:
            c.setFont(TITLE, 36)
            c.drawCentredString(width / 2, y, line)
            y -= 44
        if name:
            c.setFont(BODY_ITALIC, 18)
            c.setFillColorRGB(*SOFT)
            c.drawCentredString(width / 2, y - 4, f"a story for {name}")
            y -= 34
        if picture:
            self.picture(picture, y - 18, width - 2 * MARGIN, self.height * 0.55)
        self.next_page()

    def scene(self, text: str, picture: bytes | None, size: float) -> None:
        """A page with the picture above and the text below (plus pages for text that overflows)."""
        top = self.height - MARGIN
        if picture:
            top = self.picture(picture, top, self.width - 2 * MARGIN, (self.height - 2 * MARGIN) * 0.5) - 26
        block = _paragraph_lines(text, size, self.width - 2 * MARGIN, top - MARGIN - 24)
        y = top - block.size
        for line in block.lines:
            if y < MARGIN + 24:
                self.next_page()
                y = self.height - MARGIN - block.size
            if line:
                self.canvas.setFont(BODY, block.size)
                self.canvas.setFillColorRGB(*INK)
                self.canvas.drawString(MARGIN, y, line)
            y -= block.size * LEADING if line else block.size * LEADING * 0.6
        self.next_page()

    def end(self, art_credit: str | None) -> None:
        c, width = self.canvas, self.width
        c.setFillColorRGB(*INK)
        c.setFont(TITLE, 48)
        c.drawCentredString(width / 2, self.height * 0.62, "The End")
        c.setFont(BODY, 10.5)
        c.setFillColorRGB(*SOFT)
        y = self.height * 0.3
        for line in credits_lines(art_credit):
            for part in _wrap(line, BODY, 10.5, width - 2 * MARGIN - 40):
                c.drawCentredString(width / 2, y, part)
                y -= 14
            y -= 6
        self.canvas.showPage()  # no page number on the last page
        self.pages += 1

    def picture(self, png: bytes, top: float, max_w: float, max_h: float) -> float:
        """Draw ``png`` centred below ``top`` with rounded corners; returns its bottom edge."""
        from reportlab.lib.utils import ImageReader

        if id(png) not in self._readers:  # the cover and scene 1 share one embedded image
            self._readers[id(png)] = ImageReader(io.BytesIO(png))
        image = self._readers[id(png)]
        iw, ih = image.getSize()
        scale = min(max_w / iw, max_h / ih)
        w, h = iw * scale, ih * scale
        x, y = (self.width - w) / 2, top - h
        path = self.canvas.beginPath()
        path.roundRect(x, y, w, h, 14)
        self.canvas.saveState()
        self.canvas.clipPath(path, stroke=0, fill=0)
        self.canvas.drawImage(image, x, y, w, h)
        self.canvas.restoreState()
        return y

    def next_page(self) -> None:
        """Number the page (not the cover) and start the next one."""
        if self.pages:
            self.canvas.setFont(BODY, 10)
            self.canvas.setFillColorRGB(*SOFT)
            self.canvas.drawCentredString(self.width / 2, MARGIN - 14, str(self.pages + 1))
        self.canvas.showPage()
        self.pages += 1

    def save(self) -> bytes:
        self.canvas.save()
        return self.buffer.getvalue()


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.lib.utils import simpleSplit

    return simpleSplit(text, font, size, width) or [""]


@dataclass(frozen=True)
class _Lines:
    size: float
    lines: list[str]          # "" is a paragraph break


def _paragraph_lines(text: str, size: float, width: float, height: float) -> _Lines:
    """Wrap ``text`` at ``size``, shrinking toward MIN_SIZE until it fits ``height``."""
    paragraphs = [p.strip() for p in text.replace("\r", "").split("\n\n") if p.strip()] or [""]
    while True:
        lines: list[str] = []
        for p in paragraphs:
            if lines:
                lines.append("")
            lines += _wrap(" ".join(p.split()), BODY, size, width)
        if len(lines) * size * LEADING <= height or size <= MIN_SIZE:
            return _Lines(size, lines)
        size = max(MIN_SIZE, size - 1.0)
