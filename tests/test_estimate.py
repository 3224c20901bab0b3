"""The memory estimator: known figures, calibration against measured peaks, the recommendation."""

from __future__ import annotations

import pytest

from dreamflow_cli.model.catalog import CatalogEntry, find_entry
from dreamflow_cli.settings.profiles import MemoryMode, choose_profile
from dreamflow_cli.plan.preflight import recommend as recommend_profile
from dreamflow_cli.plan.estimate import (
    KNOWN_SHAPES, MAX_UBATCH, MemoryEstimate, ModelShape, compute_bytes, estimate, estimate_entry,
    estimate_profiles, estimate_ram_bytes, kv_cache_bytes,
)

TINYLLAMA = KNOWN_SHAPES["tinyllama"]
SMOLLM2 = KNOWN_SHAPES["smollm2-135m"]
SMOLLM2_FILE = 98_362_432
# Peak RSS of `dreamflow generate --no-repack --json` on SmolLM2-135M Q4_1, 2 threads.
MEASURED_PEAK = {"standard": 219_332_608, "low-memory": 206_106_624}


def total(name: str, n: int) -> MemoryEstimate:
    return MemoryEstimate(profile=name, weights=n, repack_copy=0, kv_cache=0, compute=0, overhead=0)


def test_tinyllama_kv_cache_matches_the_known_figure():
    # 22 layers, 4 KV heads x 64 dims, f16: 22 * (256 + 256) * 2 bytes per token.
    assert TINYLLAMA.n_embd_k_gqa == TINYLLAMA.n_embd_v_gqa == 256
    per_token = kv_cache_bytes(TINYLLAMA.n_layer, 1, TINYLLAMA.n_embd_k_gqa, TINYLLAMA.n_embd_v_gqa)
    assert per_token == 22_528
    est = estimate(TINYLLAMA, 668_788_096, profile="low-memory", n_ctx=512, n_batch=128, repack=False)
    assert est.kv_cache == 11 * 2**20


def test_kv_cache_uses_kv_heads_not_query_heads():
    shape = ModelShape(n_layer=2, n_embd=64, n_head=8, n_head_kv=2, n_vocab=100)
    assert shape.n_embd_k_gqa == 16  # head_dim 8 x 2 KV heads
    wide = ModelShape(n_layer=2, n_embd=64, n_head=8, n_head_kv=2, n_vocab=100, head_dim_k=32, head_dim_v=16)
    assert (wide.n_embd_k_gqa, wide.n_embd_v_gqa) == (64, 32)


def test_kv_cache_grows_with_context_and_compute_with_the_batch_up_to_a_micro_batch():
    small = estimate(SMOLLM2, SMOLLM2_FILE, profile="a", n_ctx=512, n_batch=128, repack=False)
    big = estimate(SMOLLM2, SMOLLM2_FILE, profile="b", n_ctx=1024, n_batch=128, repack=False)
    assert big.kv_cache == 2 * small.kv_cache
    assert compute_bytes(SMOLLM2, 512, 256) > compute_bytes(SMOLLM2, 512, 128)
    assert compute_bytes(SMOLLM2, 512, 4096) == compute_bytes(SMOLLM2, 512, MAX_UBATCH)


def test_repacking_counts_the_weights_twice():
    on = estimate(SMOLLM2, SMOLLM2_FILE, profile="s", n_ctx=1024, n_batch=256, repack=True)
    off = estimate(SMOLLM2, SMOLLM2_FILE, profile="s", n_ctx=1024, n_batch=256, repack=False)
    assert on.weights == off.weights == SMOLLM2_FILE
    assert on.repack_copy == SMOLLM2_FILE and off.repack_copy == 0
    assert on.total - off.total == SMOLLM2_FILE
    assert on.as_dict()["total"] == on.total


@pytest.mark.parametrize("low_memory, name", [(MemoryMode.STANDARD, "standard"), (MemoryMode.LOW_MEMORY, "low-memory")])
def test_calibration_errs_on_the_safe_side_of_measured_peaks(low_memory, name):
    profile = choose_profile(low_memory, 2, flags={"repack": False})
    est = estimate_profiles(SMOLLM2, SMOLLM2_FILE, [profile])[name]
    assert MEASURED_PEAK[name] <= est.total <= MEASURED_PEAK[name] * 1.2


def test_estimates_keep_the_profiles_order():
    profiles = [choose_profile(MemoryMode.STANDARD, 2), choose_profile(MemoryMode.LOW_MEMORY, 2)]
    assert list(estimate_profiles(SMOLLM2, SMOLLM2_FILE, profiles)) == ["standard", "low-memory"]


def test_recommends_low_memory_with_the_reason_when_standard_lacks_headroom():
    rec = recommend_profile({"standard": total("standard", 1_400_000_000),
                             "low-memory": total("low-memory", 800_000_000)},
                            3_100_000_000, headroom=2_000_000_000)
    assert rec.profile == "low-memory"
    assert rec.reason == "low-memory recommended: 3.1 GB available, standard needs ~1.4 GB + 2.0 GB headroom"


def test_recommends_standard_when_it_fits_with_headroom():
    rec = recommend_profile({"standard": total("standard", 1_400_000_000),
                             "low-memory": total("low-memory", 800_000_000)}, 16_000_000_000)
    assert rec.profile == "standard"
    assert rec.reason.startswith("standard fits: 16.0 GB available")


def test_tight_memory_still_recommends_the_smallest_profile_but_says_so():
    profile, reason = recommend_profile({"standard": total("standard", 1_400_000_000),
                                         "low-memory": total("low-memory", 800_000_000)}, 1_000_000_000)
    assert profile == "low-memory"
    assert "tight" in reason and "close other programs" in reason


def test_nothing_fits():
    rec = recommend_profile({"standard": total("standard", 331_000_000),
                             "low-memory": total("low-memory", 211_000_000)}, 150_000_000)
    assert rec.profile is None
    assert rec.reason == "not enough memory: 150 MB available, the smallest profile (low-memory) needs ~211 MB"


def test_recommendation_needs_profiles():
    with pytest.raises(ValueError):
        recommend_profile({}, 1)


def test_catalog_entries_are_estimated_without_a_file():
    smollm = find_entry("smollm2-135m")
    tiny = find_entry("tinyllama")
    assert estimate_ram_bytes(smollm) > smollm.size
    assert estimate_ram_bytes(tiny) > 2 * tiny.size  # standard repacks
    assert estimate_ram_bytes(tiny, profile="low-memory") < estimate_ram_bytes(tiny)
    # TinyLlama Q4_K_M at standard: the guide's "~1.4 GB" order of magnitude.
    assert 1_300_000_000 < estimate_ram_bytes(tiny) < 1_700_000_000


def test_an_entry_without_a_size_is_sized_from_its_quantization():
    est = estimate_entry(find_entry("tinyllama-q2"))
    assert est is not None
    assert 400_000_000 < est.weights < 550_000_000  # the published Q2_K file is ~483 MB


def test_unknown_models_fall_back_to_their_size_or_nothing():
    mystery = CatalogEntry(name="mystery-7b", filename="mystery.Q4_0.gguf", size=500_000_000, sha256=None,
                           license="?", source="?", description="?")
    est = estimate_entry(mystery, {"n_ctx": 1024, "n_batch": 256, "repack": False})
    assert est is not None and est.total > 500_000_000 and est.repack_copy == 0
    unsized = CatalogEntry(name="mystery-7b", filename="mystery.gguf", size=None, sha256=None,
                           license="?", source="?", description="?")
    assert estimate_ram_bytes(unsized) is None


def test_shape_from_header_needs_the_basic_numbers():
    class Info:
        block_count, embedding_length, head_count, head_count_kv = 30, 576, None, None
        vocab_size, feed_forward_length, key_length, value_length = 49152, 1536, None, None

    assert ModelShape.from_info(Info()) is None
    Info.head_count = 9
    shape = ModelShape.from_info(Info())
    assert shape is not None and shape.n_head_kv == 9  # no KV head count: plain multi-head attention
