"""Reading a GGUF header without loading weights, and refusing what is not a whole GGUF file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from dreamflow_cli.errors import ModelError
from dreamflow_cli.plan.estimate import ModelShape
from dreamflow_cli.model.gguf import read_gguf_info


def head_of(src: Path, dest: Path, n: int) -> Path:
    with open(src, "rb") as fh:
        dest.write_bytes(fh.read(n))
    return dest


def test_reads_the_real_model_header(test_model):
    info = read_gguf_info(test_model)
    assert info.version == 3
    assert info.architecture == "llama"
    assert (info.block_count, info.embedding_length, info.head_count, info.head_count_kv) == (30, 576, 9, 3)
    assert info.feed_forward_length == 1536
    assert info.context_length == 8192
    assert info.vocab_size == 49152
    assert info.quantization == "Q4_1"
    assert info.parameter_count == 134_515_008
    assert info.has_chat_template is True
    shape = ModelShape.from_info(info)
    assert shape is not None and shape.n_embd_k_gqa == shape.n_embd_v_gqa == 192  # 3 KV heads of 64
    assert info.file_size == info.data_end == 98_362_432
    assert info.as_dict()["chat_template"] is True


def test_agrees_with_the_stock_reader(test_model):
    """The fast path must read exactly what gguf's own GGUFReader reads."""
    from gguf import GGUFReader, GGUFValueType

    from dreamflow_cli.model.gguf import _open_reader

    stock, fast = GGUFReader(test_model), _open_reader(test_model)
    assert list(stock.fields) == list(fast.fields)
    for key, fld in stock.fields.items():
        if fld.types[0] != GGUFValueType.ARRAY or len(fld.data) <= 256:
            assert fast.fields[key].contents() == fld.contents(), key
    assert fast.fields["tokenizer.ggml.token_type"].contents() == stock.fields["tokenizer.ggml.token_type"].contents()
    assert [(t.name, t.type_name, t.n_bytes, t.offset) for t in fast.tensor_infos] == \
        [(t.name, t.tensor_type.name, t.n_bytes, t.data_offset) for t in stock.tensors]


def test_a_small_handmade_model_uses_the_fallbacks(tmp_path):
    """No KV head count, no vocab_size key, no file type, no chat template, a long string array."""
    import gguf

    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_context_length(256)
    writer.add_token_list([f"tok{i}" for i in range(300)])
    writer.add_tensor("token_embd.weight", np.zeros((300, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    info = read_gguf_info(path)
    assert info.vocab_size == 300  # from the embedding tensor's shape
    shape = ModelShape.from_info(info)
    assert info.head_count_kv is None and shape is not None and shape.n_embd_k_gqa == 64  # as many KV heads as heads
    assert info.quantization == "F32"
    assert info.has_chat_template is False
    assert info.parameter_count == 300 * 64
    assert info.data_end == info.file_size


def test_truncated_inside_the_header(test_model, tmp_path):
    cut = head_of(test_model, tmp_path / test_model.name, 1_000_000)
    with pytest.raises(ModelError) as err:
        read_gguf_info(cut, "smollm2-135m")
    assert "truncated" in err.value.message and "1,000,000" in err.value.message
    assert "dreamflow download-model smollm2-135m --force" in err.value.hint


def test_truncated_after_the_header(test_model, tmp_path):
    cut = head_of(test_model, tmp_path / "cut.gguf", 5_000_000)
    with pytest.raises(ModelError) as err:
        read_gguf_info(cut)
    assert "truncated" in err.value.message and "98,362,432" in err.value.message
    assert "--model" in err.value.hint


def test_not_a_gguf_file(tmp_path):
    html = tmp_path / "model.gguf"
    html.write_text("<html>404 not found</html>")
    with pytest.raises(ModelError, match="not a GGUF model file"):
        read_gguf_info(html)


def test_empty_file(tmp_path):
    empty = tmp_path / "model.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        read_gguf_info(empty)


def test_unsupported_version_is_a_damaged_header(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"GGUF" + struct.pack("<IQQ", 99, 0, 0))
    with pytest.raises(ModelError, match="damaged"):
        read_gguf_info(bad)


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(ModelError, match="is a directory"):
        read_gguf_info(tmp_path)
    with pytest.raises(ModelError, match="does not exist") as err:
        read_gguf_info(tmp_path / "nope.gguf")
    assert "download-model" in err.value.hint
