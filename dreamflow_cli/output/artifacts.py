"""What a story becomes on disk, one producer per output, in one registry.

Each artifact declares its files (story.json's ``files``), the keys it adds to `generate --json`
(with their value when it was not made), the story.json blocks it writes, its memory need for the
preflight (child processes included; the run makes them one at a time), and the phase the live
display shows while it works. The run writes the story text
through each wanted artifact in registration order, all into the story's staging folder, so a new
output is one module and one ``register(...)`` call, and a story interrupted at any artifact
leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from dreamflow_cli.doctor.checks import Check
from dreamflow_cli.plan.preflight import NO_MEDIA, MediaNeed
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.story.text import Story
from dreamflow_cli.units import human_bytes

if TYPE_CHECKING:
    from dreamflow_cli.output.folder import StoryFolder


@dataclass(frozen=True)
class Made:
    """What one artifact wrote. Names are relative to the story folder."""

    files: Mapping[str, str | list[str]] = field(default_factory=dict)  # story.json "files" entries
    json: Mapping[str, str | list[str] | None] = field(default_factory=dict)  # --json keys -> names
    metadata: Mapping[str, Any] = field(default_factory=dict)  # story.json blocks, e.g. "narration"


@dataclass
class Work:
    """One story's artifacts at work: the text, the request, where to write, and what the
    artifacts before this one made (the video reads the narration's timings)."""

    story: Story
    request: StoryRequest
    settings: Settings
    seed: int
    folder: StoryFolder
    made: dict[str, Made] = field(default_factory=dict)
    progress: Callable[[float], None] = lambda fraction: None  # share of this phase done, 0..1


class Artifact(Protocol):
    name: str  # "pictures"
    phase: str  # what the live display says while it works: "drawing pictures" ("" for none)
    absent: Mapping[str, Any]  # its --json keys when it was not made: {"image_paths": []}
    # Made by a child process of its own (narrator, encoder): in a batch it waits for the media
    # lane, beside the model or after it, as the memory profile says (run/batch.py).
    child_process: bool

    def wanted(self, request: StoryRequest, settings: Settings) -> bool: ...

    def memory_bytes(self, settings: Settings) -> int:
        """The most RAM it adds while it works (child processes included), for the preflight; 0
        when the settings do not ask for it. In-process work within a few MB counts as 0."""
        ...

    def memory_hint(self, settings: Settings) -> str:
        """How to need less memory for it: "--video-quality fast, fewer --scenes, or --no-video"."""
        ...

    def check(self, settings: Settings) -> None:
        """Before the model loads: raise a DreamflowError if the settings ask for it and it cannot
        be made here (no voice installed, no encoder), so no story is written in vain."""
        ...

    def doctor(self, settings: Settings) -> list[Check]:
        """What `dreamflow doctor` says about it: can it run here, and what it needs."""
        ...

    def produce(self, work: Work) -> Made: ...


class Plain:
    """The answers of an artifact that needs nothing special: made in this process, nothing to
    check before the model loads, nothing for doctor, no memory of note."""

    child_process = False

    def memory_bytes(self, settings: Settings) -> int:
        return 0

    def memory_hint(self, settings: Settings) -> str:
        return ""

    def check(self, settings: Settings) -> None:
        return None

    def doctor(self, settings: Settings) -> list[Check]:
        return []


# The built-in artifacts, in the order a story is made (each may read what the ones before it
# made): modules with an ``ARTIFACT``, imported when a story first needs them.
BUILTIN = ("dreamflow_cli.output.pictures.artifact", "dreamflow_cli.output.narration.artifact",
           "dreamflow_cli.output.video.artifact", "dreamflow_cli.output.book.artifact", "dreamflow_cli.output.text")
_REGISTERED: dict[str, Artifact] = {}


def register(artifact: Artifact) -> Artifact:
    """Add an artifact; it is made after the built-in ones."""
    _REGISTERED[artifact.name] = artifact
    return artifact


def unregister(name: str) -> None:
    _REGISTERED.pop(name, None)


def every() -> list[Artifact]:
    import importlib

    builtin = [importlib.import_module(module).ARTIFACT for module in BUILTIN]
    return builtin + [a for a in _REGISTERED.values() if a.name not in {b.name for b in builtin}]


def wanted(request: StoryRequest, settings: Settings) -> list[Artifact]:
    """The artifacts this story gets, in the order they are made."""
    return [a for a in every() if a.wanted(request, settings)]


def media_need(settings: Settings, beside: frozenset[str] = frozenset()) -> MediaNeed:
    """The preflight's view of this run's artifacts: they are made one at a time, so the largest
    need counts. ``beside``: the profiles in which they run while the model is still loaded."""
    needs = [(a.memory_bytes(settings), a) for a in every()]
    peak, top = max(needs, key=lambda pair: pair[0], default=(0, None))
    if not peak or top is None:
        return NO_MEDIA
    return MediaNeed(peak, f"{top.name} needs ~{human_bytes(peak)}", top.memory_hint(settings), beside)


def needs_lane(request: StoryRequest, settings: Settings) -> bool:
    """Whether a story of this run has an artifact made by a child process."""
    return any(a.child_process for a in wanted(request, settings))


def check_all(settings: Settings) -> None:
    for artifact in every():
        artifact.check(settings)


def absent_keys() -> dict[str, Any]:
    """Every artifact's --json keys at their not-made value."""
    keys: dict[str, Any] = {}
    for artifact in every():
        keys.update(artifact.absent)
    return keys
