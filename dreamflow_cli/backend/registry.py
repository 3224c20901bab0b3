"""The backends dreamflow can write with, and everything that differs between them.

An entry owns a backend's whole part in a run: ``prepare`` settles, before any story, what the
run will use (a model file checked and its memory estimated; or model servers probed),
``parallel`` decides how many stories a batch writes at once, ``open`` gives the Backend that
writes them, and ``doctor`` adds the backend's checks to `dreamflow doctor`. Nothing else in
dreamflow asks which backend it is.

Built-in entries are modules loaded on first use (as entry points are), so `--help` and the fast
tests import none of them: a new backend is one module with an ``ENTRY`` and one line in
``BUILTIN`` (or, from a test or a plugin, one ``register(entry)`` call).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from dreamflow_cli.errors import ConfigError
from dreamflow_cli.plan.parallelism import ParallelChoice
from dreamflow_cli.plan.preflight import MemoryDecision
from dreamflow_cli.settings.profiles import Profile
from dreamflow_cli.settings.table import Settings

if TYPE_CHECKING:
    from dreamflow_cli.backend.seam import Backend

# name -> the module whose ENTRY it is, imported when the name is first asked for.
BUILTIN: dict[str, str] = {
    "local": "dreamflow_cli.engine.entry",
    "openai": "dreamflow_cli.server.entry",
}


@dataclass(frozen=True)
class Prepared:
    """What a backend's ``prepare`` settled, in the terms the rest of a run reads."""

    profile: Profile  # n_ctx bounds prompt + story; max_tokens is the story budget
    memory: MemoryDecision | None  # None: the memory is a server's, not ours to check
    model: Mapping[str, Any]  # story.json's "model" block (never a credential)
    identity: Mapping[str, Any]  # what a story id depends on besides the request: the model's identity
    label: str = ""  # who writes, for the live display ("server 127.0.0.1:8080"); "": this process
    detail: Any = field(default=None, repr=False)  # the backend's own plan, for its open and parallel


class Open(Protocol):
    def __call__(self, prepared: Prepared, settings: Settings, *, parallel: int | None, verbose: bool,
                 on_warning: Callable[[str], None] | None) -> Backend: ...


class Parallel(Protocol):
    def __call__(self, requested: int | str | None, prepared: Prepared, stories: int) -> ParallelChoice | None: ...


@dataclass(frozen=True)
class BackendEntry:
    name: str
    summary: str  # one line for --help: "llama.cpp in this process"
    # prepare(settings, **machine) -> Prepared; ``machine``: readings a test injects (the local
    # backend's ``cores`` and ``available``).
    prepare: Callable[..., Prepared]
    open: Open
    # Stories at once for a batch of ``stories`` (``--parallel``: a count, auto, or None); None
    # lets the opened backend decide (its max_parallel).
    parallel: Parallel
    # doctor(report, settings, machine, *, verify, load_test, **probes): adds the backend's checks to
    # the report; ``machine()`` reads the machine (once); ``probes``: readers a test injects.
    doctor: Callable[..., None]


_ENTRIES: dict[str, BackendEntry] = {}


def register(entry: BackendEntry) -> BackendEntry:
    _ENTRIES[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    _ENTRIES.pop(name, None)


def names() -> tuple[str, ...]:
    return tuple(dict.fromkeys((*BUILTIN, *_ENTRIES)))


def get(name: str) -> BackendEntry:
    """The entry called ``name`` (the ``backend`` setting, in any case); ConfigError for an unknown one."""
    name = name.strip().lower()
    if name not in _ENTRIES and name in BUILTIN:
        register(importlib.import_module(BUILTIN[name]).ENTRY)
    if name not in _ENTRIES:
        raise ConfigError(f"backend has invalid value {name!r}", f"backend accepts {' or '.join(names())}")
    return _ENTRIES[name]
