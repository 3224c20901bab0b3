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
from dreamflow_cli.plan.parallelism import ParallelChoice
from dreamflow_cli.plan.preflight import MemoryDecision
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

    @property
    def profile(self) -> Profile:
        return self.prepared.profile

    @property
    def memory(self) -> MemoryDecision | None:
        return self.prepared.memory

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
    prepared = entry.prepare(settings, **machine)
    ensure_writable_dir(settings.out_dir, "output folder")
    parallel = entry.parallel(settings.parallel, prepared, stories) if stories is not None else None
    return RunPlan(settings, entry, prepared, parallel)


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
