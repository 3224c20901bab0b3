"""The pictures artifact: ``scene-N.png``, one per scene, showing what the scene is about.

What each picture shows, and the art's credit, go into story.json ``illustrations`` (one entry per
picture: ``{"file", "shows", "credit"}``; a plain fallback picture shows ``[]`` with no credit).
With captions on, the scenes carry a caption band, so a clean ``cover.png`` (scene 1 without the
band) is written as well for the book's cover and the library card; with captions off, scene 1 is
the cover and no extra file is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from dreamflow_cli.output.artifacts import Made, Plain, Work
from dreamflow_cli.output.pictures import draw, vocabulary
from dreamflow_cli.output.pictures.plain import png_bytes
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.request import StoryRequest

COVER_FILE = "cover.png"
# Measured: a process that drew 32 three-scene stories' pictures and books peaked 88 MB above its
# imports (reportlab's own import included; the glyph caches are bounded: art.glyph keeps 256
# glyphs, draw._sticker 64), so 100 MB is a safe bound for the pictures.
MEMORY_BYTES = 100 * 1024 * 1024


def scene_file(index: int) -> str:
    return f"scene-{index}.png"


def subject_text(request: StoryRequest) -> str:
    """What the pictures take their hero and fallback setting from: the prompt, then the theme
    ("a sleepy dragon" in "a snowy forest")."""
    return f"{request.prompt}. {request.theme}" if request.theme else request.prompt


def scene_pictures(work: Work, *, captions: bool, scenes: int | None = None,
                   progress: Callable[[float], None] | None = None) -> list[draw.Picture]:
    """The story's pictures (the first ``scenes`` of them); the same story and seed always give
    the same ones, so the book can redraw them without the caption band."""
    story, prompt = work.story, subject_text(work.request)
    cast = draw.plan(prompt, story.scenes, work.seed, captions=captions)
    wanted = story.scenes[:scenes] if scenes is not None else story.scenes
    showings = vocabulary.story_showings(prompt, wanted, cast.hero, child=work.request.name)
    pictures = []
    for i, (showing, caption) in enumerate(zip(showings, story.captions), 1):
        pictures.append(draw.draw(cast, showing, caption, index=i, total=len(story.scenes), title=story.title))
        if progress is not None:
            progress(i / len(wanted))
    return pictures


@dataclass(frozen=True)
class ScenePictures(Plain):
    name: str = "pictures"
    phase: str = "drawing pictures"
    absent: Mapping[str, Any] = field(default_factory=lambda: {"image_paths": []})

    def wanted(self, request: StoryRequest, settings: Settings) -> bool:
        return request.images

    def memory_bytes(self, settings: Settings) -> int:
        return MEMORY_BYTES if settings.images else 0

    def memory_hint(self, settings: Settings) -> str:
        return "--no-images"

    def produce(self, work: Work) -> Made:
        captions = work.settings.captions
        pictures = scene_pictures(work, captions=captions, progress=work.progress)
        names = [scene_file(i) for i in range(1, len(pictures) + 1)]
        for name, picture in zip(names, pictures):
            work.folder.write(name, png_bytes(picture.image))
        files: dict[str, str | list[str]] = {"images": names}
        illustrations = draw.illustrations(names, pictures)
        if captions and pictures:
            [cover] = scene_pictures(work, captions=False, scenes=1)
            work.folder.write(COVER_FILE, png_bytes(cover.image))
            files["cover"] = COVER_FILE
            illustrations.append(cover.entry(COVER_FILE))
        return Made(files=files, json={"image_paths": names}, metadata={"illustrations": illustrations})


ARTIFACT = ScenePictures()
