"""GPU offload decisions with injected capabilities (no GPU here), and the real CPU-only reading."""

from __future__ import annotations

import pytest

from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.settings.keys import AUTO
from dreamflow_cli.settings.table import KEY_BY_NAME
from dreamflow_cli.engine.gpu import (ALL_LAYERS, CPU_ONLY, GpuCapabilities, decide_gpu_layers,
                               read_capabilities, split_memory)

# A TinyLlama-size model, standard profile: 660 MB weights, 46 MB KV cache, 40 MB compute.
TINY = MemoryEstimate("standard", 660_000_000, 660_000_000, 46_000_000, 40_000_000, 95_000_000)
CUDA_8GB = GpuCapabilities(True, ("NVIDIA GeForce RTX 3060",), vram_free=8_000_000_000, vram_total=12_000_000_000)


def test_a_cpu_only_build_never_offloads():
    for asked in (AUTO, 10):
        decision = decide_gpu_layers(asked, CPU_ONLY, 22, TINY)
        assert (decision.n_gpu_layers, decision.layers_on_gpu) == (0, 0)
        assert "no GPU support" in decision.reason
    assert "--gpu-layers 10 ignored" in decide_gpu_layers(10, CPU_ONLY, 22, TINY).reason


def test_auto_puts_every_layer_on_a_gpu_with_room():
    decision = decide_gpu_layers(AUTO, CUDA_8GB, 22, TINY)
    assert (decision.n_gpu_layers, decision.layers_on_gpu, decision.share) == (ALL_LAYERS, 22, 1.0)
    assert "all 22 layers on NVIDIA GeForce RTX 3060" in decision.reason and "8.0 GB free VRAM" in decision.reason


def test_auto_puts_what_fits_when_vram_is_short():
    small = GpuCapabilities(True, ("iGPU",), vram_free=400_000_000)
    decision = decide_gpu_layers(AUTO, small, 22, TINY)
    # 360 MB usable - 40 MB compute, ~32.1 MB a layer (weights + KV): 9 layers.
    assert (decision.n_gpu_layers, decision.layers_on_gpu) == (9, 9)
    assert "9 of 22 layers" in decision.reason
    none = decide_gpu_layers(AUTO, GpuCapabilities(True, (), vram_free=30_000_000), 22, TINY)
    assert (none.n_gpu_layers, none.layers_on_gpu) == (0, 0) and "holds no layer" in none.reason


def test_unified_memory_or_unknown_vram_offloads_everything():
    metal = GpuCapabilities(True, ("Apple M2",), vram_free=5_000_000_000, unified_memory=True)
    assert decide_gpu_layers(AUTO, metal, 22, TINY).n_gpu_layers == ALL_LAYERS
    assert decide_gpu_layers(AUTO, GpuCapabilities(True), 22, TINY).n_gpu_layers == ALL_LAYERS
    assert decide_gpu_layers(AUTO, CUDA_8GB, 22, None).n_gpu_layers == ALL_LAYERS


def test_a_count_is_used_as_given_and_zero_means_cpu():
    assert decide_gpu_layers(0, CUDA_8GB, 22, TINY).n_gpu_layers == 0
    assert "CPU only (--gpu-layers 0)" == decide_gpu_layers(0, CUDA_8GB, 22, TINY).reason
    some = decide_gpu_layers(8, CUDA_8GB, 22, TINY)
    assert (some.n_gpu_layers, some.layers_on_gpu) == (8, 8) and "as configured" in some.reason
    assert decide_gpu_layers(99, CUDA_8GB, 22, TINY).n_gpu_layers == ALL_LAYERS


def test_memory_splits_between_ram_and_vram():
    assert split_memory(TINY, 0.0).as_dict() == {"ram_bytes": TINY.total, "vram_bytes": 0}
    full = split_memory(TINY, 1.0)
    assert full.vram == TINY.weights + TINY.kv_cache + TINY.compute
    assert full.ram == TINY.overhead  # the weights live on the GPU, nothing is repacked for the CPU
    half = split_memory(TINY, 0.5)
    assert half.ram + half.vram < TINY.total and half.vram == 330_000_000 + 23_000_000 + 40_000_000


@pytest.mark.parametrize("raw, parsed", [("auto", AUTO), ("AUTO", AUTO), ("0", 0), ("33", 33), (12, 12), (0, 0)])
def test_the_gpu_layers_setting(raw, parsed):
    assert KEY_BY_NAME["gpu_layers"].coerce(raw, "--gpu-layers") == parsed


@pytest.mark.parametrize("raw", ["all", "-1", -1, True, 1.5])
def test_the_gpu_layers_setting_names_what_it_accepts(raw):
    with pytest.raises(ConfigError) as err:
        KEY_BY_NAME["gpu_layers"].coerce(raw, "--gpu-layers")
    assert "an integer from 0 to 999 or auto" in err.value.hint


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_this_machine_reads_as_cpu_only():
    # The llama-cpp-python wheel built here is CPU-only: the real reading must say so, not fail.
    caps = read_capabilities()
    assert caps.offload is False and caps.as_dict()["devices"] == []


# ---------------------------------------------------------------- doctor

def test_doctor_says_a_cpu_only_build_runs_on_the_cpu():
    from dreamflow_cli.doctor.checks import PASS
    from dreamflow_cli.engine.doctor import gpu_check

    check = gpu_check(CPU_ONLY, AUTO, 22, TINY)
    assert (check.name, check.status) == ("GPU", PASS) and "CPU only" in check.detail


def test_doctor_shows_vram_apart_from_ram():
    from dreamflow_cli.doctor.checks import PASS, WARN
    from dreamflow_cli.engine.doctor import gpu_check

    full = gpu_check(CUDA_8GB, AUTO, 22, TINY)
    assert full.status == PASS
    assert "NVIDIA GeForce RTX 3060; 8.0 GB of 12.0 GB VRAM free; all 22 layers" in full.detail
    assert "needs ~746 MB VRAM + ~95 MB RAM" in full.detail
    partial = gpu_check(GpuCapabilities(True, ("iGPU",), vram_free=400_000_000), AUTO, 22, TINY)
    assert partial.status == WARN and "9 of 22 layers" in partial.detail and "the rest runs on the CPU" in partial.hint


def test_doctor_reports_the_gpu_with_the_real_model(models_dir):
    from dreamflow_cli.doctor.report import Machine
    from dreamflow_cli.run.doctor import run_doctor
    from dreamflow_cli.plan.memory import MemoryReadings

    readings = MemoryReadings(total=32 * 10**9, available=24 * 10**9, swap_total=0, swap_free=0)
    machine = Machine(memory=readings, physical_cores=2, logical_cores=2, env={})
    metal = GpuCapabilities(True, ("Apple M2",), vram_free=10**10, unified_memory=True)
    report = run_doctor({"models_dir": models_dir}, machine=machine, gpu=lambda: metal)
    gpu = next(c for c in report.checks if c.name == "GPU")
    assert "Apple M2" in gpu.detail and "all 30 layers on Apple M2" in gpu.detail  # SmolLM2 has 30 blocks
    here = run_doctor({"models_dir": models_dir}, machine=machine)
    assert "CPU only" in next(c for c in here.checks if c.name == "GPU").detail


def test_the_preflight_weighs_ram_against_ram_when_a_gpu_takes_the_layers():
    from dreamflow_cli.engine.gpu import ram_estimates

    both = {"standard": TINY, "low-memory": TINY}
    on_gpu = ram_estimates(both, AUTO, CUDA_8GB, 22)["standard"]
    assert (on_gpu.weights, on_gpu.repack_copy, on_gpu.kv_cache) == (0, 0, 0)
    assert on_gpu.total == TINY.compute + TINY.overhead  # the safe side: compute stays counted
    assert ram_estimates(both, AUTO, CPU_ONLY, 22) == both  # a CPU-only build changes nothing
    assert ram_estimates(both, 0, CUDA_8GB, 22) == both
    half = ram_estimates(both, 11, CUDA_8GB, 22)["standard"]
    assert half.weights == TINY.weights // 2 and half.kv_cache == TINY.kv_cache // 2


def test_a_model_too_big_for_ram_loads_when_the_gpu_holds_it(models_dir, monkeypatch):
    from dreamflow_cli.settings.load import load_settings
    from dreamflow_cli.errors import NotEnoughMemoryError
    from dreamflow_cli.run.setup import prepare

    settings = load_settings({"models_dir": models_dir})
    # 150 MB of RAM: SmolLM2 needs ~330 MB on the CPU, so a CPU-only machine refuses (exit 4)...
    with pytest.raises(NotEnoughMemoryError):
        prepare(settings, available=150_000_000)
    # ...while with a GPU that holds its layers only the process and buffers stay in RAM.
    monkeypatch.setattr("dreamflow_cli.engine.gpu.read_capabilities", lambda: CUDA_8GB)
    setup = prepare(settings, available=150_000_000)
    assert setup.memory.fits and setup.memory.needed < 150_000_000
    cpu_only = load_settings({"models_dir": models_dir, "gpu_layers": "0"})
    with pytest.raises(NotEnoughMemoryError):
        prepare(cpu_only, available=150_000_000)
