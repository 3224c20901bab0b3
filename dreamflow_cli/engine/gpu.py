"""GPU offload: whether this llama.cpp can put layers on a GPU, how many to put there, and how
the memory need splits between RAM and VRAM.

llama-cpp-python built with Metal (a Mac), CUDA or Vulkan says so through
``llama_supports_gpu_offload``; a CPU-only build (the default wheel) does not, and then nothing
here changes anything. The decision is pure over ``GpuCapabilities`` so every branch is tested
without a GPU.
"""

from __future__ import annotations

import ctypes
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.settings.keys import AUTO
from dreamflow_cli.units import human_bytes

# llama-cpp-python's "every layer" value for n_gpu_layers.
ALL_LAYERS = -1
# VRAM to leave free for the desktop and other programs, as a share of the free VRAM.
VRAM_SPARE_SHARE = 0.1


@dataclass(frozen=True)
class GpuCapabilities:
    offload: bool  # llama_supports_gpu_offload()
    devices: tuple[str, ...] = ()
    vram_free: int | None = None  # bytes, summed over GPU devices; None when not reported
    vram_total: int | None = None
    unified_memory: bool = False  # Apple silicon: "VRAM" is system RAM

    def as_dict(self) -> dict[str, Any]:
        return {"offload": self.offload, "devices": list(self.devices), "vram_free_bytes": self.vram_free,
                "vram_total_bytes": self.vram_total, "unified_memory": self.unified_memory}


CPU_ONLY = GpuCapabilities(offload=False)


@dataclass(frozen=True)
class GpuDecision:
    n_gpu_layers: int  # what llama.cpp is given: 0 = CPU only, -1 = every layer
    layers_on_gpu: int  # of the model's n_layer
    n_layer: int
    reason: str

    @property
    def share(self) -> float:
        return self.layers_on_gpu / self.n_layer if self.n_layer else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"n_gpu_layers": self.n_gpu_layers, "layers_on_gpu": self.layers_on_gpu, "n_layer": self.n_layer,
                "reason": self.reason}


@dataclass(frozen=True)
class MemorySplit:
    ram: int
    vram: int

    def as_dict(self) -> dict[str, int]:
        return {"ram_bytes": self.ram, "vram_bytes": self.vram}


def split_memory(est: MemoryEstimate, share: float) -> MemorySplit:
    """With ``share`` of the layers on the GPU, their weights and KV cache move to VRAM along with
    the compute buffers; a GPU build repacks no weights for the CPU it no longer uses for them."""
    if share <= 0:
        return MemorySplit(est.total, 0)
    on_gpu = est.weights * share + est.kv_cache * share + est.compute
    on_cpu = est.weights * (1 - share) + est.repack_copy * (1 - share) + est.kv_cache * (1 - share) + est.overhead
    return MemorySplit(int(on_cpu), int(on_gpu))


def ram_estimates(estimates: Mapping[str, MemoryEstimate], requested: int | str, caps: GpuCapabilities,
                  n_layer: int) -> dict[str, MemoryEstimate]:
    """Each profile's estimate with the part that goes to the GPU taken out, so the memory
    preflight weighs RAM against RAM (the compute buffers and the process stay counted: safe side)."""
    out = {}
    for name, est in estimates.items():
        share = decide_gpu_layers(requested, caps, n_layer, est).share
        keep = 1 - share
        out[name] = dataclasses.replace(est, weights=int(est.weights * keep), repack_copy=int(est.repack_copy * keep),
                                        kv_cache=int(est.kv_cache * keep))
    return out


def decide_gpu_layers(requested: int | str, caps: GpuCapabilities, n_layer: int,
                      est: MemoryEstimate | None = None) -> GpuDecision:
    """Auto offloads every layer when the build can and the VRAM (when reported) holds them,
    else as many layers as fit; a count is used as given (capped at the model's layers)."""
    if requested == 0:
        return GpuDecision(0, 0, n_layer, "CPU only (--gpu-layers 0)")
    if not caps.offload:
        why = "this llama.cpp build has no GPU support" if requested == AUTO else \
            f"--gpu-layers {requested} ignored: this llama.cpp build has no GPU support"
        return GpuDecision(0, 0, n_layer, f"CPU only: {why}")
    where = ", ".join(caps.devices) or "the GPU"
    if requested != AUTO:
        layers = min(int(requested), n_layer)
        return GpuDecision(ALL_LAYERS if layers >= n_layer else layers, layers, n_layer,
                           f"{layers} of {n_layer} layers on {where} as configured")
    if caps.unified_memory or caps.vram_free is None or est is None:
        return GpuDecision(ALL_LAYERS, n_layer, n_layer, f"all {n_layer} layers on {where}")
    budget = caps.vram_free * (1 - VRAM_SPARE_SHARE)
    if split_memory(est, 1.0).vram <= budget:
        return GpuDecision(ALL_LAYERS, n_layer, n_layer,
                           f"all {n_layer} layers on {where} (~{human_bytes(split_memory(est, 1.0).vram)} of "
                           f"{human_bytes(caps.vram_free)} free VRAM)")
    per_layer = (est.weights + est.kv_cache) / max(1, n_layer)
    layers = max(0, min(n_layer, int((budget - est.compute) // per_layer))) if per_layer else 0
    if layers == 0:
        return GpuDecision(0, 0, n_layer, f"CPU only: {human_bytes(caps.vram_free)} free VRAM holds no layer")
    return GpuDecision(layers, layers, n_layer, f"{layers} of {n_layer} layers on {where}: "
                                                f"{human_bytes(caps.vram_free)} free VRAM holds no more")


# No offload: what a run gets before (or without) reading the GPU capabilities.
CPU_DECISION = GpuDecision(0, 0, 0, "CPU only")


def read_capabilities() -> GpuCapabilities:
    """Ask the installed llama.cpp; any failure reads as CPU only (never an error)."""
    try:
        import llama_cpp.llama_cpp as low_level

        if not low_level.llama_supports_gpu_offload():
            return CPU_ONLY
    except Exception:  # noqa: BLE001 - no llama.cpp, or an old one: no offload
        return CPU_ONLY
    devices, free, total, unified = _gpu_devices()
    return GpuCapabilities(True, devices, free, total, unified)


# ggml's device types (ggml-backend.h): CPU, GPU, integrated GPU, accelerator.
_GPU_TYPES = {1, 2}


def _gpu_devices() -> tuple[tuple[str, ...], int | None, int | None, bool]:
    """Names and summed free/total memory of ggml's GPU devices, through the ggml library that
    llama-cpp-python ships (it binds no Python wrapper for these calls)."""
    try:
        from llama_cpp._ggml import libggml as lib

        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        lib.ggml_backend_dev_type.restype = ctypes.c_int
        lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_description.restype = ctypes.c_char_p
        lib.ggml_backend_dev_description.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_memory.restype = None
        lib.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                                                ctypes.POINTER(ctypes.c_size_t)]
        names, free_sum, total_sum, integrated = [], 0, 0, False
        for i in range(lib.ggml_backend_dev_count()):
            dev = lib.ggml_backend_dev_get(i)
            kind = lib.ggml_backend_dev_type(dev)
            if kind not in _GPU_TYPES:
                continue
            free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
            lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
            names.append((lib.ggml_backend_dev_description(dev) or b"GPU").decode("utf-8", "replace"))
            free_sum += free.value
            total_sum += total.value
            integrated = integrated or kind == 2
        return tuple(names), free_sum or None, total_sum or None, integrated
    except Exception:  # noqa: BLE001 - unknown ggml: offload still works, VRAM is just not known
        return (), None, None, False
