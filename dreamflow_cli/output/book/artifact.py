"""The book artifact: ``book.pdf`` (setting ``book``, on by default) and ``book.epub`` (setting
``epub``, off by default), made from the story's text and its pictures.

The book's pictures never carry the caption band: the text is on the page below them. With
captions off (the default) the scene pictures are the book's as they are; with captions on they are
drawn again without the band (the same seed gives the same picture). With pictures off the book is
text only, with a title cover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from dreamflow_cli.output.artifacts import Made, Plain, Work
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.request import StoryRequest

BOOK_FILE = "book.pdf"
EPUB_FILE = "book.epub"
# reportlab holds the pictures and the page streams of one small book: a few MB.
MEMORY_BYTES = 30 * 1024 * 1024


@dataclass(frozen=True)
class _Art:
    scenes: list[bytes | None]
    cover: bytes | None
    credit: str | None


def book_pictures(work: Work) -> _Art:
    """The PNGs the book shows, one per scene (None where there is none), its cover, and the art's
    credit (None when no picture holds third-party art)."""
    from dreamflow_cli.output.pictures import artifact as pictures
    from dreamflow_cli.output.pictures.plain import png_bytes

    made = work.made.get("pictures")
    if made is None:
        return _Art([None] * len(work.story.scenes), None, None)
    credits = {entry.get("credit") for entry in made.metadata.get("illustrations", ())}
    credit = next((c for c in credits if c), None)
    if work.settings.captions:
        clean = [png_bytes(p.image) for p in pictures.scene_pictures(work, captions=False)]
    else:
        images = made.files.get("images", [])
        clean = [(work.folder.staging / name).read_bytes() for name in images]
    return _Art(list(clean), clean[0] if clean else None, credit)


@dataclass(frozen=True)
class PictureBook(Plain):
    name: str = "book"
    phase: str = "making the book"
    absent: Mapping[str, Any] = field(default_factory=lambda: {"book_path": None, "epub_path": None})

    def wanted(self, request: StoryRequest, settings: Settings) -> bool:
        return settings.book or settings.epub

    def memory_bytes(self, settings: Settings) -> int:
        return MEMORY_BYTES if settings.book or settings.epub else 0

    def memory_hint(self, settings: Settings) -> str:
        return "--no-book"

    def produce(self, work: Work) -> Made:
        story, request = work.story, work.request
        art = book_pictures(work)
        work.progress(0.3)
        files: dict[str, str | list[str]] = {}
        if work.settings.book:
            from dreamflow_cli.output.book.pdf import make_book

            book = make_book(story.title, story.scenes, art.scenes, name=request.name, age=request.age,
                             cover=art.cover, art_credit=art.credit)
            work.folder.write(BOOK_FILE, book.data)
            files["book"] = BOOK_FILE
            work.progress(0.8)
        if work.settings.epub:
            from dreamflow_cli.output.book.epub import make_epub

            data = make_epub(story.title, story.scenes, art.scenes, name=request.name, age=request.age,
                             cover=art.cover, art_credit=art.credit, identifier=f"dreamflow:{work.seed}:{story.title}",
                             modified=datetime.now(timezone.utc))
            work.folder.write(EPUB_FILE, data)
            files["epub"] = EPUB_FILE
        json: dict[str, str | list[str] | None] = {"book_path": files.get("book"), "epub_path": files.get("epub")}
        return Made(files=files, json=json)


ARTIFACT = PictureBook()
