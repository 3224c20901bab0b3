"""What a GGUF file says about itself, read from its header without loading any weights.

The reading is done by the llama.cpp project's own reader (the ``gguf`` package). Its stock
parser turns every vocabulary entry into a numpy view of its own, which takes ~2.5 s for a
49k-token vocabulary; ``doctor`` has one second in total, so ``_HeaderReader`` reads each array
as one block instead and never builds views of the tensor data.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dreamflow_cli.model.file import Expected, damaged, inspect, unreadable

# Arrays up to this length keep the stock per-item parsing, so ``contents()`` stays exact for
# the small lists a model card carries (languages, tags); vocabularies are far longer.
_SMALL_ARRAY = 256


class _Truncated(Exception):
    """The file ends before the structure being read from it does."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type_name: str
    n_elements: int
    n_bytes: int
    offset: int  # absolute, in the file
    shape: tuple[int, ...]


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    file_size: int
    version: int
    architecture: str | None
    name: str | None
    block_count: int | None
    embedding_length: int | None
    feed_forward_length: int | None
    head_count: int | None
    head_count_kv: int | None
    key_length: int | None  # per-head K width when the model states it (else n_embd / n_head)
    value_length: int | None
    context_length: int | None
    vocab_size: int | None
    file_type: int | None
    quantization: str | None
    parameter_count: int
    data_end: int  # where the last tensor's data ends: the smallest size a complete file has
    has_chat_template: bool
    tensors: tuple[TensorInfo, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "file_size": self.file_size, "gguf_version": self.version,
            "architecture": self.architecture, "name": self.name, "block_count": self.block_count,
            "embedding_length": self.embedding_length, "feed_forward_length": self.feed_forward_length,
            "head_count": self.head_count, "head_count_kv": self.head_count_kv,
            "context_length": self.context_length, "vocab_size": self.vocab_size,
            "file_type": self.file_type, "quantization": self.quantization,
            "parameter_count": self.parameter_count, "chat_template": self.has_chat_template,
        }


def _make_reader_class() -> type:
    # Built on first use: importing numpy and gguf costs ~0.2 s that `--help` must not pay.
    import numpy as np
    from gguf import GGUFReader, GGUFValueType

    class _HeaderReader(GGUFReader):
        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
            end = int(offset) + np.dtype(dtype).itemsize * int(count)
            if end > self.data.shape[0]:
                raise _Truncated
            return super()._get(offset, dtype, count, override_order)

        def _get_field_parts(self, orig_offs: int, raw_type: int) -> tuple[int, list[Any], list[int], list[Any]]:
            if raw_type != GGUFValueType.ARRAY:
                return super()._get_field_parts(orig_offs, raw_type)
            raw_itype = self._get(orig_offs, np.uint32)
            alen = self._get(orig_offs + 4, np.uint64)
            itype, count, offs = GGUFValueType(int(raw_itype[0])), int(alen[0]), orig_offs + 12
            nptype = self.gguf_scalar_to_np.get(itype)
            if nptype is not None:
                values = self._get(offs, nptype, count)
                return offs + int(values.nbytes) - orig_offs, [raw_itype, alen, values], [2], \
                    [GGUFValueType.ARRAY, itype]
            if itype != GGUFValueType.STRING or count <= _SMALL_ARRAY:
                return super()._get_field_parts(orig_offs, raw_type)
            end = self._skip_strings(offs, count)
            # The strings stay one opaque block: nothing here needs a vocabulary entry.
            return end - orig_offs, [raw_itype, alen, self._get(offs, np.uint8, end - offs)], [], \
                [GGUFValueType.ARRAY, itype]

        def _skip_strings(self, offs: int, count: int) -> int:
            little = (sys.byteorder == "little") != (self.byte_order == "S")
            length = struct.Struct("<Q" if little else ">Q")
            size = self.data.shape[0]
            data: Any = self.data  # a numpy memmap: a buffer, though numpy's stubs do not say so
            for _ in range(count):
                if offs + 8 > size:
                    raise _Truncated
                offs += 8 + length.unpack_from(data, offs)[0]
            if offs > size:
                raise _Truncated
            return offs

        def _build_tensors(self, start_offs: int, fields: list[Any]) -> None:
            self.tensor_infos = [_tensor_info(start_offs, f) for f in fields]

    return _HeaderReader


_READER: type | None = None


def _tensor_info(data_start: int, fld: Any) -> TensorInfo:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    # The stock reader's tensor-info parts: name length, name, n_dims, dims, type, offset.
    _len, name, _ndims, dims, raw_type, offset = fld.parts
    qtype = GGMLQuantizationType(int(raw_type[0]))
    n_elements = 1
    for d in dims.tolist():
        n_elements *= int(d)
    block, type_size = GGML_QUANT_SIZES[qtype]
    return TensorInfo(name=bytes(name).decode("utf-8", "replace"), type_name=qtype.name,
                      n_elements=n_elements, n_bytes=n_elements * type_size // block,
                      offset=data_start + int(offset[0]), shape=tuple(int(d) for d in dims.tolist()))


def _open_reader(path: Path) -> Any:
    global _READER
    if _READER is None:
        _READER = _make_reader_class()
    return _READER(path)


def _field(reader: Any, key: str) -> Any:
    fld = reader.fields.get(key)
    if fld is None:
        return None
    try:
        value = fld.contents()
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    if isinstance(value, list):  # per-layer values (some architectures): the widest layer rules
        numbers = [v for v in value if isinstance(v, (int, float))]
        return max(numbers) if numbers else None
    return value


def _quantization(file_type: int | None, tensors: list[TensorInfo]) -> str | None:
    from gguf import LlamaFileType

    if file_type is not None:
        try:
            return LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    by_type: dict[str, int] = {}
    for t in tensors:
        by_type[t.type_name] = by_type.get(t.type_name, 0) + t.n_bytes
    return max(by_type, key=by_type.__getitem__) if by_type else None


def read_gguf_info(path: Path | str, catalog_name: str | None = None) -> GgufInfo:
    """Header facts of a GGUF model. Raises ModelError (with a fix) for a missing, non-GGUF,
    damaged or truncated file. ``catalog_name`` only improves the hint."""
    path = Path(path)
    problems = inspect(path, Expected(name=catalog_name))
    if problems:
        raise problems[0].error()
    size = path.stat().st_size
    try:
        reader = _open_reader(path)
    except _Truncated:
        raise damaged(path, f"truncated: it ends inside its own header, after {size:,} bytes "
                             "(an interrupted download?)", catalog_name).error() from None
    except (ValueError, IndexError, KeyError, OverflowError, struct.error, UnicodeDecodeError) as exc:
        raise damaged(path, f"its header is damaged ({exc})", catalog_name).error() from None
    except OSError as exc:
        raise unreadable(path, exc).error() from None
    return _info_from(reader, path, size, catalog_name)


def _info_from(reader: Any, path: Path, size: int, catalog_name: str | None) -> GgufInfo:
    tensors: list[TensorInfo] = list(reader.tensor_infos)
    data_end = max((t.offset + t.n_bytes for t in tensors), default=int(reader.data_offset))
    if data_end > size:
        raise damaged(path, f"truncated: {size:,} bytes, but its tensors need {data_end:,} "
                             f"(an interrupted download?)", catalog_name).error()
    arch = _field(reader, "general.architecture")

    def key(name: str) -> Any:
        value = _field(reader, f"{arch}.{name}") if arch else None
        return int(value) if isinstance(value, (int, float)) else None

    embd = next((t for t in tensors if t.name == "token_embd.weight"), None)
    vocab = key("vocab_size") or (embd.shape[1] if embd and len(embd.shape) > 1 else None)
    file_type = _field(reader, "general.file_type")
    return GgufInfo(
        path=path, file_size=size, version=int(_field(reader, "GGUF.version") or 0),
        architecture=arch, name=_field(reader, "general.name"),
        block_count=key("block_count"), embedding_length=key("embedding_length"),
        feed_forward_length=key("feed_forward_length"), head_count=key("attention.head_count"),
        head_count_kv=key("attention.head_count_kv"), key_length=key("attention.key_length"),
        value_length=key("attention.value_length"), context_length=key("context_length"),
        vocab_size=vocab, file_type=file_type if isinstance(file_type, int) else None,
        quantization=_quantization(file_type if isinstance(file_type, int) else None, tensors),
        parameter_count=sum(t.n_elements for t in tensors), data_end=data_end,
        has_chat_template=bool(_field(reader, "tokenizer.chat_template")),
        tensors=tuple(tensors),
    )

