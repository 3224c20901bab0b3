"""Seeds derived from the user's seed, so every part of a run is reproducible on its own: the
story of each batch line, and each retry after the content guard refused a draft."""

from __future__ import annotations

import hashlib

SEED_RANGE = 2**31  # llama.cpp takes a non-negative 32-bit int


def derived_seed(*parts: object) -> int:
    """A seed from ``parts``. A hash, not a sum: neighbouring inputs give unrelated seeds, so the
    retries of seed 7 are not the first attempts of seeds 8, 9, … nor line 2 of a batch line 1's."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") % SEED_RANGE


def line_seed(batch_seed: int, line: int) -> int:
    """The seed of a batch's line ``line`` when the batch has a seed and the line none."""
    return derived_seed(batch_seed, line)


def retry_seed(seed: int, attempt: int) -> int:
    """The seed of attempt ``attempt`` (1 = the user's seed itself)."""
    return seed if attempt <= 1 else derived_seed("dreamflow-retry", seed, attempt)
