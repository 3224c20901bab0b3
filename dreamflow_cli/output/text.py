"""The story itself, as Markdown: a title, and a heading per scene when there are several."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from dreamflow_cli.output.artifacts import Made, Plain, Work
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.request import StoryRequest

STORY_FILE = "story.md"


@dataclass(frozen=True)
class StoryText(Plain):
    name: str = "story"
    phase: str = ""  # a few milliseconds: no phase of its own on the display
    absent: Mapping[str, Any] = field(default_factory=lambda: {"story_path": None})

    def wanted(self, request: StoryRequest, settings: Settings) -> bool:
        return True

    def memory_bytes(self, settings: Settings) -> int:
        return 0

    def memory_hint(self, settings: Settings) -> str:
        return ""

    def produce(self, work: Work) -> Made:
        work.folder.write(STORY_FILE, work.story.markdown().encode("utf-8"))
        return Made(files={"story": STORY_FILE}, json={"story_path": STORY_FILE})


ARTIFACT = StoryText()
