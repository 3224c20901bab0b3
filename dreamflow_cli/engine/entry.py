"""The ``local`` backend's registry entry: llama.cpp in this process.

prepare: find and check the model file, read its GGUF header once, estimate every profile's
memory need and choose the profile (the preflight), all before loading, so a model that cannot
fit is refused instead of freezing the machine. What it learns (the estimates, the model's layer
count, the GPU capabilities when it had to ask) rides in ``LocalPlan``, so the parallel choice
and the opening never read the header or the GPU again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from dreamflow_cli.backend.registry import BackendEntry, Prepared
from dreamflow_cli.engine.doctor import local_doctor
from dreamflow_cli.engine.gpu import CPU_ONLY, GpuCapabilities, GpuDecision, decide_gpu_layers
from dreamflow_cli.model.gguf import read_gguf_info
from dreamflow_cli.model.resolve import ResolvedModel, check_model_file, resolve_model
from dreamflow_cli.plan.estimate import MemoryEstimate, ModelShape, estimate_profiles
from dreamflow_cli.plan.memory import memory_readings
from dreamflow_cli.plan.parallelism import ParallelChoice, choose_parallel
from dreamflow_cli.plan.preflight import DEFAULT_HEADROOM_BYTES, NO_MEDIA, MediaNeed, decide, unestimated
from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.table import Settings


@dataclass(frozen=True)
class LocalPlan:
    model: ResolvedModel
    size: int
    n_layer: int | None  # None: the header lacks the model's shape
    estimates: Mapping[str, MemoryEstimate] = field(default_factory=dict)  # per profile, all in RAM
    gpu: GpuCapabilities | None = None  # read during prepare only when RAM was tight


def prepare(settings: Settings, *, media: MediaNeed = NO_MEDIA, cores: int | None = None,
            available: int | None = None) -> Prepared:
    """``media``: what the story's media add (counted with the model as each profile runs them);
    ``cores`` and ``available`` are the machine's, injectable for tests."""
    model = resolve_model(settings)
    size = check_model_file(model)
    built = {p.name: p for p in profiles.build_all(cores or os.cpu_count() or 1, settings.profile_config,
                                                   settings.profile_flags)}
    shape = ModelShape.from_info(read_gguf_info(model.path, model.entry.name if model.entry else None))
    available = memory_readings().usable if available is None else available
    caps: GpuCapabilities | None = None
    if shape is None:
        estimates: dict[str, MemoryEstimate] = {}
        decision = unestimated(settings.low_memory, available)
    else:
        estimates = estimate_profiles(shape, size, built.values())
        ram = estimates
        if settings.gpu_layers != 0 and min(e.total for e in estimates.values()) + DEFAULT_HEADROOM_BYTES > available:
            # Tight on RAM: layers a GPU will hold need VRAM, not RAM (asked only now, since
            # asking means importing llama.cpp, which a run with room to spare does later anyway).
            from dreamflow_cli.engine.gpu import ram_estimates, read_capabilities

            caps = read_capabilities()
            ram = ram_estimates(estimates, settings.gpu_layers, caps, shape.n_layer)
        decision = decide(settings.low_memory, ram, available, check=settings.memory_check, media=media)
    plan = LocalPlan(model, size, shape.n_layer if shape else None, estimates, caps)
    return Prepared(
        profile=built[decision.profile], memory=decision,
        model={"path": str(model.path.resolve()), "size_bytes": size,
               "name": model.entry.name if model.entry else None, "source": model.source},
        identity={"model": model.path.name, "model_size": size},
        detail=plan)


def parallel(requested: int | str | None, prepared: Prepared, stories: int) -> ParallelChoice | None:
    """N stories at once need N KV caches, so the count is checked against the memory available
    (and ``auto`` picks it from memory and the profile)."""
    if requested is None:
        return None
    plan: LocalPlan = prepared.detail
    assert prepared.memory is not None  # a local run always has its memory decision
    return choose_parallel(requested, stories=stories, profile=prepared.profile.name,
                           single=plan.estimates.get(prepared.profile.name), available=prepared.memory.available)


def gpu_decision(plan: LocalPlan, profile: str, requested: int | str,
                 read: Callable[[], GpuCapabilities] | None = None) -> GpuDecision:
    """The layers to offload; the capabilities are asked only once per run."""
    if requested == 0:
        caps = CPU_ONLY
    elif plan.gpu is not None:
        caps = plan.gpu
    else:
        from dreamflow_cli.engine.gpu import read_capabilities

        caps = (read or read_capabilities)()
    if not caps.offload:
        return decide_gpu_layers(requested, caps, 0)
    return decide_gpu_layers(requested, caps, plan.n_layer or 0, plan.estimates.get(profile))


def threads_fixed(profile_flags: Mapping[str, Any]) -> bool:
    """Whether --threads fixed the count. ``n_threads`` in a profile table (which `config init`
    writes) stays a ceiling for the policy, like the built-in profiles' value."""
    return profile_flags.get("n_threads") is not None


def open_backend(prepared: Prepared, settings: Settings, *, parallel: int | None, verbose: bool = False,
                 on_warning: Callable[[str], None] | None = None) -> Any:
    """One story at a time, or ``parallel`` at once."""
    from dreamflow_cli.engine.local import open_local

    plan: LocalPlan = prepared.detail
    return open_local(plan.model.path, prepared.profile, parallel=parallel or 1,
                      forced=prepared.profile.n_threads if threads_fixed(settings.profile_flags) else None,
                      gpu=gpu_decision(plan, prepared.profile.name, settings.gpu_layers), verbose=verbose)


ENTRY = BackendEntry(name="local", summary="llama.cpp in this process", prepare=prepare, open=open_backend,
                     parallel=parallel, doctor=local_doctor)
