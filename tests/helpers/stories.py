"""Story folders as dreamflow writes them, made without a model: for the library's tests, the
browser test and the library bench.

With ``real=True`` the pictures and the book are drawn by dreamflow's own modules; otherwise a tiny
PNG stands in for each picture (the library bench measures the page, not the pictures). ``audio``
and ``video`` add the files issue 20's narration and video would add, so the page's players can be
checked before those outputs exist.
"""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

T0 = datetime(2026, 12, 1, 19, 30, tzinfo=timezone.utc)


@lru_cache(maxsize=1)
def tiny_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (20, 30, 70)).save(buf, "PNG")
    return buf.getvalue()


def tiny_wav(seconds: float = 0.5) -> bytes:
    """A soft 220 Hz hum, 8 kHz mono: a real file an <audio> element can play."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 220 * i / 8000)))
                               for i in range(int(8000 * seconds))))
    return buf.getvalue()


def _real_art(path: Path, prompt: str, title: str, scenes: list[str], captions: list[str], seed: int,
              name: str | None, age: int | None, book: bool, files: dict[str, Any], meta: dict[str, Any]) -> None:
    from dreamflow_cli.output.book.pdf import make_book
    from dreamflow_cli.output.pictures import draw
    from dreamflow_cli.output.pictures.plain import png_bytes

    pictures = draw.draw_story(prompt, title, scenes, captions, seed)
    pngs = [png_bytes(p.image) for p in pictures]
    for file, data in zip(files["images"], pngs):
        (path / file).write_bytes(data)
    meta["illustrations"] = draw.illustrations(files["images"], pictures)
    if book:
        made = make_book(title, scenes, pngs, name=name, age=age, art_credit=pictures[0].credit)
        (path / "book.pdf").write_bytes(made.data)
        files["book"] = "book.pdf"


def make_story_folder(out_dir: Path, folder: str, *, title: str, prompt: str, scenes: list[str],
                      name: str | None = None, age: int | None = 5, created: datetime | None = None,
                      seed: int = 1, real: bool = False, book: bool = True, audio: bool = False,
                      video: bool = False, **extra: Any) -> Path:
    """A finished story folder; ``extra`` goes into story.json as it is (series, parent_note, …)."""
    path = Path(out_dir) / folder
    path.mkdir(parents=True, exist_ok=True)
    created = created or T0
    captions = [s.split(". ")[0][:70] for s in scenes]
    md = f"# {title}\n\n" + "\n\n".join(f"## Scene {i}\n\n{s}" for i, s in enumerate(scenes, 1)) + "\n"
    (path / "story.md").write_text(md, encoding="utf-8")
    files: dict[str, Any] = {"story": "story.md", "images": [f"scene-{i}.png" for i in range(1, len(scenes) + 1)]}
    meta: dict[str, Any] = {"title": title, "prompt": prompt, "name": name, "age": age, "scenes": len(scenes),
                            "captions": captions,
                            "created_utc": created.astimezone(timezone.utc).isoformat(timespec="seconds")}
    if real:
        _real_art(path, prompt, title, scenes, captions, seed, name, age, book, files, meta)
    else:
        for file in files["images"]:
            (path / file).write_bytes(tiny_png())
        if book:
            (path / "book.pdf").write_bytes(b"%PDF-1.4\n%stand-in\n")
            files["book"] = "book.pdf"
    if audio:
        (path / "narration.wav").write_bytes(tiny_wav())
        files["audio"] = "narration.wav"
    if video:
        (path / "story.mp4").write_bytes(b"")  # a stand-in: the page tests check the link only
        files["video"] = "story.mp4"
    meta["files"] = files
    meta.update(extra)
    (path / "story.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
