"""Build a GGUF with TinyLlama-1.1B's exact shape and random Q4_0 weights.

TinyLlama cannot be downloaded on these machines; its text would be noise here anyway, but load
time, tokens per second and memory depend only on shapes and types. The tokenizer (and chat
template) is SmolLM2's, so the vocabulary is 49,152 tokens instead of TinyLlama's 32,000 and
the embedding/output matrices grow to match (~6% more weights than the real Q4_0 file).

    python bench/make_tiny.py SMOLLM2.gguf OUT.gguf
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

N_LAYER, N_EMBD, N_FF, N_HEAD, N_HEAD_KV, N_CTX = 22, 2048, 5632, 32, 4, 2048
QK4_0, BLOCK_BYTES = 32, 18  # 32 weights per block: an f16 scale and 16 bytes of 4-bit values
# Scale so the 4-bit values (-8..7) give weights of roughly N(0, 0.02), like a trained model's.
SCALE = np.float16(0.02 / 4.6)


def q4_0(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    # Random bytes straight into Q4_0 blocks: quantizing 1.2 G random floats with numpy would take
    # minutes for the same statistical result.
    blocks = rng.integers(0, 256, size=(rows, cols // QK4_0, BLOCK_BYTES), dtype=np.uint8)
    blocks[:, :, :2] = np.frombuffer(SCALE.tobytes(), dtype=np.uint8)
    return blocks.reshape(rows, cols // QK4_0 * BLOCK_BYTES)


def build(source: Path, target: Path, seed: int = 0) -> None:
    reader = GGUFReader(source)
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    writer = GGUFWriter(str(target), "llama")
    writer.add_name("TinyLlama-size random Q4_0 (dreamflow bench)")
    writer.add_block_count(N_LAYER)
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(2)  # LLAMA_FTYPE_MOSTLY_Q4_0
    writer.add_quantization_version(2)
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        value = field.contents()
        if field.types[0] == GGUFValueType.ARRAY:
            writer.add_key_value(key, value, GGUFValueType.ARRAY, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, value, field.types[0])

    rng = np.random.default_rng(seed)
    ones = np.ones(N_EMBD, dtype=np.float32)
    kv = N_EMBD // N_HEAD * N_HEAD_KV
    q = GGMLQuantizationType.Q4_0
    writer.add_tensor("token_embd.weight", q4_0(rng, n_vocab, N_EMBD), raw_dtype=q)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", ones)
        writer.add_tensor(p + "attn_q.weight", q4_0(rng, N_EMBD, N_EMBD), raw_dtype=q)
        writer.add_tensor(p + "attn_k.weight", q4_0(rng, kv, N_EMBD), raw_dtype=q)
        writer.add_tensor(p + "attn_v.weight", q4_0(rng, kv, N_EMBD), raw_dtype=q)
        writer.add_tensor(p + "attn_output.weight", q4_0(rng, N_EMBD, N_EMBD), raw_dtype=q)
        writer.add_tensor(p + "ffn_norm.weight", ones)
        writer.add_tensor(p + "ffn_gate.weight", q4_0(rng, N_FF, N_EMBD), raw_dtype=q)
        writer.add_tensor(p + "ffn_up.weight", q4_0(rng, N_FF, N_EMBD), raw_dtype=q)
        writer.add_tensor(p + "ffn_down.weight", q4_0(rng, N_EMBD, N_FF), raw_dtype=q)
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", q4_0(rng, n_vocab, N_EMBD), raw_dtype=q)

    partial = target.with_suffix(".part")
    writer.path = partial
    writer.write_header_to_file(path=partial)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(target)  # a half-written cache file must never look finished


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
