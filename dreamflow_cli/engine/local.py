"""Opening the ``local`` backend: one story at a time (single.LoadedModel) or several at once
(parallel.ParallelBackend), with the thread policy and the GPU offload decision applied to either.

The CPU sample that picks the thread count runs while llama.cpp is imported and the model
loads, so on most runs it adds no time at all; llama.cpp takes a new thread count between two
decode calls, so the choice is applied right after the load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dreamflow_cli.backend.seam import Generation, Prompt, TokenCallback
from dreamflow_cli.engine.single import load_model, LoadedModel
from dreamflow_cli.settings.profiles import Profile
from dreamflow_cli.engine.gpu import CPU_DECISION, GpuDecision
from dreamflow_cli.engine.threads import Governor, ThreadChoice, choose_threads, thread_record
from dreamflow_cli.plan.cpu import CpuSample

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


def open_local(path: Path, profile: Profile, *, parallel: int = 1, forced: int | None = None,
               gpu: GpuDecision = CPU_DECISION, cores: int | None = None, verbose: bool = False) -> Any:
    """The local backend for ``parallel`` stories at once. ``forced``: a fixed thread count
    (the policy then neither samples nor watches); ``gpu``: the layers to offload."""
    from dreamflow_cli.engine.parallel import load_parallel

    cores = cores or os.cpu_count() or 1
    sample = CpuSample() if forced is None else None
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
