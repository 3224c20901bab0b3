"""What dreamflow needs from the llama-cpp-python build, so a slimmer build (README, Quick start:
-DLLAVA_BUILD=OFF and .ci/llama-cpp-slim.cmake, which leave out llama.cpp's multimodal and "common"
libraries) is known to keep all of it. CI builds the slim wheel and runs the whole suite on it: the
real-model tests load and write stories, decode 4 stories at once (test_parallel_cli.py), convert
with the quantizer (test_quantize.py) and serve (test_openai_real_servers.py); this file checks the
rest in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dreamflow_cli"
# The C functions dreamflow calls itself (engine/, model/quantize_child.py, doctor), by name.
CALLED = re.compile(r"\b(?:_ll|low_level|llama_cpp|ll)\.(llama_[a-z_0-9]+)\(")


def called_functions() -> set[str]:
    return {name for path in PACKAGE.rglob("*.py") for name in CALLED.findall(path.read_text(encoding="utf-8"))}


def test_dreamflow_never_uses_what_the_slim_build_leaves_out():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for what in ("mtmd", "llava", "Llava15ChatHandler", "llama_cpp.llama_chat_format.Llava"):
            assert what not in text, f"{path} uses {what}: the slim build (README, Quick start) leaves it out"


def test_the_scan_finds_the_functions_dreamflow_calls():
    found = called_functions()
    assert {"llama_decode", "llama_batch_init", "llama_memory_seq_cp", "llama_model_quantize", "llama_log_set"} <= found


@pytest.mark.model
def test_the_installed_build_has_every_function_dreamflow_calls():
    import llama_cpp

    missing = sorted(name for name in called_functions() if not callable(getattr(llama_cpp, name, None)))
    assert missing == []


@pytest.mark.model
def test_the_installed_build_serves():
    from llama_cpp.server.app import create_app  # the [server] extra the server-backend tests run

    assert callable(create_app)
