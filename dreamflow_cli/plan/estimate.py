"""How much memory a model needs under each profile, from its shape alone (no weights loaded).

One implementation for `doctor`, `generate`'s preflight and `download-model --list`. Pure:
numbers in, numbers out; the callers do the reading.

    total = mapped weights (+ a second copy when llama.cpp repacks them)
          + KV cache + compute buffers + process overhead

Calibrated on SmolLM2-135M Q4_1 (2 threads, repacking off, `dreamflow generate --json`): peak
RSS 219 MB at standard (ctx 1024, batch 256) and 206 MB at low-memory (ctx 512, batch 128),
against estimates of 233 MB and 211 MB. The estimate is meant to err on the high side.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from dreamflow_cli.settings import profiles
# names keep working through this session's merges.

KV_BYTES_PER_ELEMENT = 2  # llama.cpp's default KV cache type is f16
FLOAT_BYTES = 4  # activations and attention scores are f32
# llama.cpp splits a batch into micro-batches of at most this many tokens (its n_ubatch default).
MAX_UBATCH = 512
# Interpreter + dreamflow + llama-cpp-python and its libraries, measured at 62 MB before a load.
PROCESS_BASE_BYTES = 64_000_000
# The tokenizer's tables inside llama.cpp and the Python wrapper: the remaining 31 MB of the
# SmolLM2 measurement, spread over its 49,152-token vocabulary.
VOCAB_BYTES_PER_TOKEN = 640


@dataclass(frozen=True)
class ModelShape:
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    n_vocab: int
    n_ff: int = 0
    head_dim_k: int | None = None  # when the model states it; else n_embd / n_head
    head_dim_v: int | None = None

    @property
    def n_embd_k_gqa(self) -> int:
        return (self.head_dim_k or self.n_embd // self.n_head) * self.n_head_kv

    @property
    def n_embd_v_gqa(self) -> int:
        return (self.head_dim_v or self.head_dim_k or self.n_embd // self.n_head) * self.n_head_kv

    @classmethod
    def from_info(cls, info: Any) -> "ModelShape | None":
        """From a ``gguf_info.GgufInfo``; None when the header lacks what the formula needs."""
        needed = (info.block_count, info.embedding_length, info.head_count, info.vocab_size)
        if not all(needed):
            return None
        return cls(n_layer=info.block_count, n_embd=info.embedding_length, n_head=info.head_count,
                   n_head_kv=info.head_count_kv or info.head_count, n_vocab=info.vocab_size,
                   n_ff=info.feed_forward_length or 0, head_dim_k=info.key_length,
                   head_dim_v=info.value_length)


@dataclass(frozen=True)
class MemoryEstimate:
    profile: str
    weights: int
    repack_copy: int
    kv_cache: int
    compute: int
    overhead: int

    @property
    def total(self) -> int:
        return self.weights + self.repack_copy + self.kv_cache + self.compute + self.overhead

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


def kv_cache_bytes(n_layer: int, n_ctx: int, n_embd_k_gqa: int, n_embd_v_gqa: int,
                   bytes_per_element: int = KV_BYTES_PER_ELEMENT) -> int:
    return n_layer * n_ctx * (n_embd_k_gqa + n_embd_v_gqa) * bytes_per_element


def compute_bytes(shape: ModelShape, n_ctx: int, n_batch: int) -> int:
    """The worst micro-batch: its attention scores over a full context, a few activation rows
    per token, and one row of logits (only the last token's are kept)."""
    ubatch = min(n_batch, MAX_UBATCH)
    per_token = n_ctx * shape.n_head + 4 * shape.n_embd + 2 * shape.n_ff
    return FLOAT_BYTES * (ubatch * per_token + shape.n_vocab)


def overhead_bytes(n_vocab: int) -> int:
    return PROCESS_BASE_BYTES + VOCAB_BYTES_PER_TOKEN * n_vocab


def estimate(shape: ModelShape, weights_bytes: int, *, profile: str, n_ctx: int, n_batch: int,
             repack: bool) -> MemoryEstimate:
    # Every weight is read for every token, so all mapped pages end up resident. Repacking
    # copies the weights llama.cpp can reorder into anonymous memory while the mapping stays
    # (+560 MB measured on a 660 MB Q4_0 model); counting the whole file again stays on the
    # safe side whichever quantization the model uses.
    return MemoryEstimate(
        profile=profile,
        weights=weights_bytes,
        repack_copy=weights_bytes if repack else 0,
        kv_cache=kv_cache_bytes(shape.n_layer, n_ctx, shape.n_embd_k_gqa, shape.n_embd_v_gqa),
        compute=compute_bytes(shape, n_ctx, n_batch),
        overhead=overhead_bytes(shape.n_vocab),
    )


def estimate_profiles(shape: ModelShape, weights_bytes: int, profiles: Iterable[Any]) -> dict[str, MemoryEstimate]:
    """``profiles``: objects with name, n_ctx, n_batch and repack (profiles.Profile), in order of
    preference. Returns estimates keyed by profile name, in the same order."""
    return {p.name: estimate(shape, weights_bytes, profile=p.name, n_ctx=p.n_ctx, n_batch=p.n_batch,
                             repack=p.repack) for p in profiles}




# Shapes of the catalog's models, from their GGUF headers, for estimates before a download.
KNOWN_SHAPES: Mapping[str, ModelShape] = {
    "tinyllama": ModelShape(n_layer=22, n_embd=2048, n_head=32, n_head_kv=4, n_vocab=32000, n_ff=5632),
    "smollm2-135m": ModelShape(n_layer=30, n_embd=576, n_head=9, n_head_kv=3, n_vocab=49152, n_ff=1536),
}
KNOWN_PARAMETERS = {"tinyllama": 1_100_048_384, "smollm2-135m": 134_515_008}
# Bits per weight of whole files (mixed tensor types included), for sizes a catalog leaves out.
BITS_PER_WEIGHT = {"Q2_K": 3.5, "Q3_K_M": 4.0, "Q4_0": 4.6, "Q4_1": 5.0, "Q4_K_M": 4.9,
                   "Q5_K_M": 5.7, "Q6_K": 6.6, "Q8_0": 8.5, "F16": 16.0}
# Without a known shape: KV cache and compute as a share of the weights (generous for small
# models, where the vocabulary dominates), never below this floor.
UNKNOWN_SHAPE_SHARE = 0.25
UNKNOWN_SHAPE_FLOOR = 64_000_000


def _family(entry: Any) -> str | None:
    name = entry.name.lower()
    return next((f for f in KNOWN_SHAPES if name == f or name.startswith(f + "-")), None)


def _quant_of(filename: str) -> str | None:
    match = re.search(r"\.((?:Q\d_[0-9A-Z_]+)|F16)\.gguf$", filename, re.IGNORECASE)
    return match.group(1).upper() if match else None


def _weights_bytes(entry: Any, family: str | None) -> int | None:
    if entry.size:
        return int(entry.size)
    bpw = BITS_PER_WEIGHT.get(_quant_of(entry.filename) or "")
    if family is None or bpw is None:
        return None
    return int(KNOWN_PARAMETERS[family] * bpw / 8)


def estimate_entry(entry: Any, profile_values: Mapping[str, Any] | None = None,
                   profile: str = "standard") -> MemoryEstimate | None:
    """An estimate for a catalog entry that may not be downloaded yet; None when neither its
    size nor its shape is known. ``profile_values`` defaults to the standard profile's."""
    values = profile_values or profiles.PROFILES[profile].values
    family = _family(entry)
    weights = _weights_bytes(entry, family)
    if weights is None:
        return None
    if family is not None:
        return estimate(KNOWN_SHAPES[family], weights, profile=profile, n_ctx=int(values["n_ctx"]),
                        n_batch=int(values["n_batch"]), repack=bool(values["repack"]))
    return MemoryEstimate(profile=profile, weights=weights, repack_copy=weights if values["repack"] else 0,
                          kv_cache=0, compute=max(UNKNOWN_SHAPE_FLOOR, int(weights * UNKNOWN_SHAPE_SHARE)),
                          overhead=PROCESS_BASE_BYTES)


def estimate_ram_bytes(entry: Any, profile_values: Mapping[str, Any] | None = None,
                       profile: str = "standard") -> int | None:
    """Peak memory a catalog entry needs under a profile (standard by default), for listings."""
    est = estimate_entry(entry, profile_values, profile)
    return est.total if est else None
