"""Opening the ``local`` backend: one story at a time (engine.LoadedModel) or several at once
(decoder.ParallelBackend), with the thread policy and the GPU offload decision applied to either.

The CPU sample that picks the thread count runs while llama.cpp is imported and the model
loads, so on most runs it adds no time at all; llama.cpp takes a new thread count between two
decode calls, so the choice is applied right after the load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamflow_cli.backend import Generation, Prompt, TokenCallback
from dreamflow_cli.engine import load_model, LoadedModel
from dreamflow_cli.profiles import Profile
from dreamflow_cli.gpu import AUTO, CPU_ONLY, GpuDecision, decide_gpu_layers, read_capabilities
from dreamflow_cli.parallelism import ParallelChoice, choose_parallel
from dreamflow_cli.threads import CpuSample, Governor, ThreadChoice, choose_threads, thread_record

if TYPE_CHECKING:
    from dreamflow_cli.config import Settings
    from dreamflow_cli.estimate import MemoryEstimate
    from dreamflow_cli.pipeline import Setup


def set_threads(llama: Any, threads: int) -> None:
    import llama_cpp.llama_cpp as low_level

    low_level.llama_set_n_threads(llama._ctx.ctx, threads, threads)


class GovernedModel:
    """One story at a time, with the thread governor watching the time between tokens. The token
    callback runs between two decode calls, which is exactly when llama.cpp may change threads."""

    def __init__(self, model: LoadedModel, choice: ThreadChoice, governor: Governor | None,
                 gpu: GpuDecision | None = None, clock: Callable[[], float] = time.perf_counter):
        self._model = model
        self._clock = clock
        self._choice = choice
        self._gpu = gpu
        self.governor = governor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def generate(self, prompt: Prompt, *, max_tokens: int, sampling: Mapping[str, float], seed: int,
                 on_token: TokenCallback | None = None) -> Generation:
        governor = self.governor
        if governor is None:
            return self._model.generate(prompt, max_tokens=max_tokens, sampling=sampling, seed=seed,
                                        on_token=on_token)
        last = [0.0]

        def timed(count: int) -> None:
            now = self._clock()
            if count > 1:  # the first token's time is the prompt's
                threads = governor.observe(now - last[0])
                if threads is not None:
                    set_threads(self._model.llama, threads)
            last[0] = now
            if on_token is not None:
                on_token(count)

        return self._model.generate(prompt, max_tokens=max_tokens, sampling=sampling, seed=seed, on_token=timed)

    def describe(self) -> dict[str, Any]:
        record = {**self._model.describe(), "threads": thread_record(self._choice, self.governor)}
        if self._gpu is not None:
            record["gpu"] = self._gpu.as_dict()
        return record

    def close(self) -> None:
        self._model.close()


def threads_fixed(profile_flags: Mapping[str, Any]) -> bool:
    """Whether --threads fixed the count. ``n_threads`` in a profile table (which `config init`
    writes) stays a ceiling for the policy, like the built-in profiles' value."""
    return profile_flags.get("n_threads") is not None


def single_estimate(path: Path, profile: Profile, size: int) -> tuple[MemoryEstimate | None, int | None]:
    """One story's memory estimate under ``profile``, and the model's layer count (header only)."""
    from dreamflow_cli.estimate import ModelShape, estimate
    from dreamflow_cli.gguf_info import read_gguf_info

    shape = ModelShape.from_info(read_gguf_info(path, None))
    if shape is None:
        return None, None
    return estimate(shape, size, profile=profile.name, n_ctx=profile.n_ctx, n_batch=profile.n_batch,
                    repack=profile.repack), shape.n_layer


def batch_parallel(requested: int | str | None, setup: Setup, stories: int) -> ParallelChoice:
    """``--parallel`` for a local batch: N stories need N KV caches, so the count is checked
    against the memory available (and ``auto`` picks it from memory and the profile)."""
    if requested is None:
        return choose_parallel(None, stories=stories, profile=setup.profile.name, single=None, available=0)
    assert setup.model is not None and setup.memory is not None  # a local run always has both
    single, _ = single_estimate(setup.model.path, setup.profile, setup.model_size)
    return choose_parallel(requested, stories=stories, profile=setup.profile.name, single=single,
                           available=setup.memory.available)


def open_local(path: Path, profile: Profile, *, parallel: int = 1, forced: int | None = None,
               gpu_layers: int | str = AUTO, size: int = 0, cores: int | None = None,
               verbose: bool = False) -> Any:
    """The local backend for ``parallel`` stories at once. ``forced``: a fixed thread count
    (the policy then neither samples nor watches)."""
    from dreamflow_cli.decoder import load_parallel

    cores = cores or os.cpu_count() or 1
    sample = CpuSample() if forced is None else None
    gpu = _gpu_decision(path, profile, gpu_layers, size)
    if parallel > 1:
        backend: Any = load_parallel(path, profile, parallel, verbose=verbose, n_gpu_layers=gpu.n_gpu_layers)
        llama = backend.llama
    else:
        backend = load_model(path, profile, verbose=verbose, n_gpu_layers=gpu.n_gpu_layers)
        llama = backend.llama
    busy, seconds = sample.finish() if sample is not None else (None, 0.0)
    choice = choose_threads(cores, profile.n_threads, busy, forced=forced)
    if sample is not None:
        choice = ThreadChoice(choice.threads, choice.policy, choice.reason, choice.others_busy_cores, seconds)
    if choice.threads != profile.n_threads:
        set_threads(llama, choice.threads)
    # Start from the choice, but allow probing back up to the profile's count when a neighbour leaves.
    governor = Governor(choice.threads, start_threads=max(choice.threads, min(profile.n_threads, cores))) \
        if choice.policy == "auto" else None
    if parallel > 1:
        backend.attach_policy(choice, governor, gpu)
        return backend
    return GovernedModel(backend, choice, governor, gpu)


def _gpu_decision(path: Path, profile: Profile, requested: int | str, size: int) -> GpuDecision:
    caps = read_capabilities() if requested != 0 else CPU_ONLY
    if not caps.offload:
        return decide_gpu_layers(requested, caps, 0)
    est, n_layer = single_estimate(path, profile, size)
    return decide_gpu_layers(requested, caps, n_layer or 0, est)


def open_for_run(setup: Setup, settings: Settings, *, parallel: int | None, verbose: bool = False) -> Any:
    """pipeline.open_backend's local branch."""
    count = parallel if isinstance(parallel, int) else 1
    fixed = threads_fixed(settings.profile_flags)
    assert setup.model is not None  # a local run always has its model file
    return open_local(setup.model.path, setup.profile, parallel=count,
                      forced=setup.profile.n_threads if fixed else None,
                      gpu_layers=getattr(settings, "gpu_layers", AUTO), size=setup.model_size, verbose=verbose)
