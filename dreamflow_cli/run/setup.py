"""What every story of a run shares, settled once before the model is touched: the ``RunPlan``.

``prepare`` asks the backend registry for the backend the settings name, lets it prepare (the
local one checks the model file and chooses the profile against the memory available; the
server one probes its servers), checks the output folder, and decides how many stories a batch
writes at once. Later stages read the plan; none of them decides any of this again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from dreamflow_cli.backend import registry
from dreamflow_cli.backend.registry import BackendEntry, Prepared
from dreamflow_cli.files import ensure_writable_dir
from dreamflow_cli.output import artifacts
from dreamflow_cli.plan.parallelism import ParallelChoice
from dreamflow_cli.plan.preflight import MemoryDecision
from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.profiles import Profile
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.story.request import LATER_FIELDS, StoryRequest, prepare_request
from dreamflow_cli.cast.resolve import resolve


@dataclass(frozen=True)
class RunPlan:
    settings: Settings
    backend: BackendEntry
    prepared: Prepared
    parallel: ParallelChoice | None = None  # None: one at a time, or as many as the backend does well
    # The profiles in which a batch makes its media (narration, video) while the model is loaded;
    # in the others the model is closed first. The preflight counted the memory the same way.
    media_beside: frozenset[str] = frozenset()

    @property
    def profile(self) -> Profile:
        return self.prepared.profile

    @property
    def memory(self) -> MemoryDecision | None:
        return self.prepared.memory

    @property
    def media_beside_model(self) -> bool:
        return self.profile.name in self.media_beside

    @property
    def stories_at_once(self) -> int | None:
        return self.parallel.stories if self.parallel is not None else None


@dataclass(frozen=True)
class StoryPlan:
    """One story of a run: the cleaned request and its seed."""

    run: RunPlan
    request: StoryRequest
    seed: int


def prepare(settings: Settings, *, stories: int | None = None, **machine: Any) -> RunPlan:
    """Everything before the first story. ``stories``: how many stories a batch writes (its
    parallel choice depends on it), None for a single story; ``machine``: readings a test injects
    (the local backend's ``cores`` and ``available``)."""
    entry = registry.get(settings.backend)
    artifacts.check_all(settings)  # a voice or an encoder missing is said before any model loads
    beside = _media_beside(stories)
    prepared = entry.prepare(settings, media=artifacts.media_need(settings, beside=beside), **machine)
    ensure_writable_dir(settings.out_dir, "output folder")
    parallel = entry.parallel(settings.parallel, prepared, stories) if stories is not None else None
    return RunPlan(settings, entry, prepared, parallel, beside)


def _media_beside(stories: int | None) -> frozenset[str]:
    """The profiles in which a story's media are made while the model is still loaded: a batch's,
    except in the low-memory profile, which closes the model first (so the two never add up). A
    single story always closes the model before its media."""
    if stories is None:
        return frozenset()
    return frozenset(name for name in profiles.names() if name != profiles.ProfileName.LOW_MEMORY)


def plan_story(request: StoryRequest, run: RunPlan) -> StoryPlan:
    request = resolve(request, run.settings.out_dir)  # --with and --continue (cast/), before the checks
    request = prepare_request(request, run.settings)
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    return StoryPlan(run, request, seed)


def story_id(request: StoryRequest, run: RunPlan) -> str:
    """Same prompt, options, seed, model and profile → same id; `--skip-existing` relies on it.
    (An unseeded story has no fixed text, but a rerun still owes it only once.)"""
    identity = {
        "request": {k: getattr(request, k) for k in StoryRequest.__dataclass_fields__
                    if k not in LATER_FIELDS or getattr(request, k) not in (None, ())},
        **run.prepared.identity,
        "profile": run.profile.as_dict(),
        "sampling": run.settings.sampling(),
    }
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
