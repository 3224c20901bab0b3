"""A scripted backend for CLI tests of what stories say (saved characters, sequels, reading level):
`generate --backend scripted` writes whatever ``Storyteller.text_for`` returns, through the real
pipeline, and keeps every backend it opened so a test can read the prompts it was sent."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from dreamflow_cli.backend import registry
from dreamflow_cli.backend.registry import BackendEntry
from dreamflow_cli.backend.seam import Prompt
from tests.helpers.fakes import CALM_STORY, FakeBackend, fake_doctor, fake_prepare


@dataclass
class Storyteller:
    text_for: Callable[[Prompt, int], str] = lambda prompt, seed: CALM_STORY
    opened: list[FakeBackend] = field(default_factory=list)

    def open(self, prepared: Any, settings: Any, **_: Any) -> FakeBackend:
        backend = FakeBackend(lambda prompt, seed: self.text_for(prompt, seed), profile=prepared.profile)
        self.opened.append(backend)
        return backend

    @property
    def prompts(self) -> list[Prompt]:
        return [prompt for backend in self.opened for prompt, _, _ in backend.calls]

    def entry(self, name: str = "scripted", profile: str = "standard") -> BackendEntry:
        from dreamflow_cli.settings.profiles import build

        def prepare(settings: Any, **machine: Any) -> Any:
            return dataclasses.replace(fake_prepare(settings, **machine), profile=build(profile, cores=2))

        return BackendEntry(name=name, summary="scripted stories for tests", prepare=prepare, open=self.open,
                            parallel=lambda requested, prepared, stories: None, doctor=fake_doctor)


def install(teller: Storyteller, name: str = "scripted", profile: str = "standard") -> None:
    registry.register(teller.entry(name, profile))


def uninstall(name: str = "scripted") -> None:
    registry.unregister(name)
