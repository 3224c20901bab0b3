"""The ``openai`` backend's registry entry: stories written by OpenAI-compatible model servers.

prepare probes every server and settles the model they serve (a refused key, an unknown model or
no server answering ends the run before any story); the memory is the servers', not ours, so
there is no preflight; how many stories are in flight is the backend's own choice unless
``--parallel`` names a count.
"""

from __future__ import annotations

from typing import Any, Callable

from dreamflow_cli.backend.registry import BackendEntry, Prepared
from dreamflow_cli.plan.memory import memory_readings
from dreamflow_cli.plan.parallelism import ParallelChoice
from dreamflow_cli.plan.preflight import NO_MEDIA, MediaNeed, media_check
from dreamflow_cli.server.backend import ServerPlan, open_openai_backend, prepare_server
from dreamflow_cli.server.doctor import server_doctor
from dreamflow_cli.settings.keys import AUTO
from dreamflow_cli.settings.table import Settings


def prepare(settings: Settings, *, media: MediaNeed = NO_MEDIA, **_machine: Any) -> Prepared:
    """The servers' memory is theirs; the media (narration, video) are made here, so they alone
    are checked against this machine's memory."""
    media_check(media, memory_readings().usable)
    plan = prepare_server(settings)
    return Prepared(profile=plan.profile, memory=None,
                    model={"path": None, "size_bytes": None, "name": plan.model, "source": "server"},
                    identity={"model": f"server:{plan.model}", "model_size": 0},
                    label=plan.label(), detail=plan)


def parallel(requested: int | str | None, prepared: Prepared, stories: int) -> ParallelChoice | None:
    if requested is None or requested == AUTO:
        return None  # the backend's own default: a few stories per server
    return ParallelChoice(int(requested), requested, "")


def open_backend(prepared: Prepared, settings: Settings, *, parallel: int | None, verbose: bool = False,
                 on_warning: Callable[[str], None] | None = None) -> Any:
    plan: ServerPlan = prepared.detail
    return open_openai_backend(settings, plan=plan, parallel=parallel, on_notice=on_warning)


ENTRY = BackendEntry(name="openai", summary="an OpenAI-compatible model server", prepare=prepare,
                     open=open_backend, parallel=parallel, doctor=server_doctor)
