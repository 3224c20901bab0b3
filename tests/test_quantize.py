"""model/quantize.py: converting a model with llama.cpp's quantizer in a child process. The parent's
side with a stand-in child (fast: tests/helpers/fake_quantize_child.py), then the real quantizer on
the real SmolLM2 file (model tier)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dreamflow_cli.errors import ModelError, NoSpaceError, UsageError
from dreamflow_cli.model import quantize
from dreamflow_cli.model.catalog import EMBEDDED_MODEL, find_entry
from dreamflow_cli.model.quantize_child import reason
from tests.helpers.fake_quantize_child import TENSORS, converted

ROOT = Path(__file__).resolve().parent.parent
FAKE = "tests.helpers.fake_quantize_child"
PLENTY = 10**12
FORM = find_entry(EMBEDDED_MODEL).derived


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The stand-in child, importable from the child's own working directory."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("FAKE_QUANTIZE", "ok")
    return monkeypatch


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "model.Q4_1.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF" + os.urandom(5000))
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def convert(src: Path, dst: Path, **kwargs):
    return quantize.quantize(src, dst, module=FAKE, free_space=kwargs.pop("free_space", lambda p: PLENTY), **kwargs)


def test_a_conversion_is_renamed_into_place_with_progress_and_its_own_hash(src, out, fake):
    seen: list[tuple[int, int]] = []
    judged: list[tuple[int, str, str | None]] = []
    dst = out / "model.Q8_0.gguf"
    result = convert(src, dst, on_progress=lambda d, n: seen.append((d, n)),
                     accept=lambda size, sha, version: judged.append((size, sha, version)))
    expected = converted(src.read_bytes())
    assert dst.read_bytes() == expected
    assert (result.size, result.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
    assert (result.tensors, result.quant, result.path, result.llama_cpp_python) == (TENSORS, "Q8_0", dst, "0.3.36")
    assert seen == [(k, TENSORS) for k in range(1, TENSORS + 1)]  # the free-text log lines are not progress
    assert judged == [(result.size, result.sha256, "0.3.36")]  # judged once, before the rename
    assert listing(out) == ["model.Q8_0.gguf"]


def test_a_refused_conversion_never_takes_the_final_name(src, out, fake):
    def refuse(size: int, sha: str, version: str | None) -> None:
        assert (out / "model.Q8_0.gguf.part").is_file() and not (out / "model.Q8_0.gguf").exists()
        raise ModelError("not the bytes the catalog pins")

    with pytest.raises(ModelError, match="catalog pins"):
        convert(src, out / "model.Q8_0.gguf", accept=refuse)
    assert listing(out) == []


@pytest.mark.parametrize("mode, error, exit_code, fragment", [
    ("input", ModelError, 3, "llama.cpp could not convert model.Q4_1.gguf: tensor 'blk.16.ffn_down.weight' data is "
                             "not within the file bounds"),
    ("disk", NoSpaceError, 8, "no space left while converting model.Q4_1.gguf"),
    ("abort", ModelError, 3, f"llama.cpp stopped while converting model.Q4_1.gguf (signal {int(signal.SIGABRT)})"),
    ("crash", ModelError, 3, "RuntimeError: boom"),
    ("package", ModelError, 3, "cannot import llama_cpp"),
])
def test_a_failing_child_is_one_error_and_leaves_nothing(src, out, fake, mode, error, exit_code, fragment):
    fake.setenv("FAKE_QUANTIZE", mode)
    with pytest.raises(error) as caught:
        convert(src, out / "model.Q8_0.gguf", name="smollm2-135m")
    assert caught.value.exit_code == exit_code
    assert fragment in caught.value.message
    if mode in ("input", "abort"):
        assert "download-model smollm2-135m --force" in (caught.value.hint or "")
    if mode == "package":
        assert "llama-cpp-python" in (caught.value.hint or "")
    assert listing(out) == []


def test_an_output_that_is_not_gguf_is_refused(src, out, fake):
    fake.setenv("FAKE_QUANTIZE", "not-gguf")
    with pytest.raises(ModelError, match="not a GGUF file"):
        convert(src, out / "model.Q8_0.gguf")
    assert listing(out) == []


def test_ctrl_c_in_the_parent_kills_the_child_at_once_and_removes_the_part(src, out, fake, tmp_path):
    fake.setenv("FAKE_QUANTIZE", "slow")  # a second per tensor: 8 s if it were waited for

    def interrupt(done: int, total: int) -> None:
        assert (out / "model.Q8_0.gguf.part").is_file()
        raise KeyboardInterrupt  # what Ctrl-C (signals.Interrupted) raises in the parent while it reads

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        convert(src, out / "model.Q8_0.gguf", on_progress=interrupt)
    assert time.monotonic() - started < 4
    assert listing(out) == []


def test_a_leftover_part_of_a_killed_run_is_replaced(src, out, fake):
    dst = out / "model.Q8_0.gguf"
    quantize.part_path(dst).write_bytes(b"GGUF stale, and longer than the real output " * 1000)
    result = convert(src, dst)
    assert dst.read_bytes() == converted(src.read_bytes()) and result.size == dst.stat().st_size
    assert listing(out) == ["model.Q8_0.gguf"]


def test_not_enough_space_is_refused_before_the_child_starts(src, out, fake):
    fake.setenv("FAKE_QUANTIZE", "abort")  # would fail differently if it ran
    with pytest.raises(NoSpaceError) as caught:
        convert(src, out / "model.Q8_0.gguf", expected_size=144_811_072, free_space=lambda p: 150_000_000)
    assert caught.value.exit_code == 8 and "need 162 MB, 150 MB free" in caught.value.message
    assert "--dir" in (caught.value.hint or "")
    assert listing(out) == []


def test_an_unknown_type_and_a_missing_source_are_refused(src, out):
    with pytest.raises(UsageError, match="Q3_X") as caught:
        quantize.quantize(src, out / "x.gguf", "Q3_X")
    assert "Q8_0" in (caught.value.hint or "")
    with pytest.raises(ModelError, match="does not exist"):
        quantize.quantize(out / "nope.gguf", out / "x.gguf")


def test_needed_space_uses_the_pinned_size_when_known():
    assert quantize.needed_space(100_000_000, "Q8_0", 144_811_072) == 144_811_072 + quantize.SPACE_MARGIN
    assert quantize.needed_space(100_000_000, "Q8_0") == 190_000_000 + quantize.SPACE_MARGIN


# What llama.cpp (llama-cpp-python 0.3.36) logged at ERROR level for damaged files tried by hand.
LOADER = ["gguf_init_from_reader: invalid magic characters: '<htm', expected 'GGUF'",
          "llama_model_quantize: failed to quantize: llama_model_loader: failed to load model from bad/html.gguf"]
BOUNDS = ["llama_model_quantize: failed to quantize: tensor 'token_embd.weight' data is not within the file bounds, "
          "model is corrupted or incomplete"]


@pytest.mark.parametrize("errors, expected", [
    (LOADER, "invalid magic characters: '<htm', expected 'GGUF'"),
    (BOUNDS, "tensor 'token_embd.weight' data is not within the file bounds, model is corrupted or incomplete"),
    (["some_func: something odd"], "something odd"),
    ([], "no reason given"),
])
def test_the_child_reports_the_most_specific_complaint(errors, expected):
    assert reason(errors) == expected


def test_the_child_refuses_a_malformed_request_with_its_own_exit_code():
    proc = subprocess.run([sys.executable, "-m", quantize.CHILD_MODULE], input=b'{"source": 1}', capture_output=True,
                          timeout=60)
    assert proc.returncode == 10
    message = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert message["kind"] == "request" and "source" in message["error"]


# ---------------------------------------------------------------- the real quantizer (model tier)


@pytest.mark.model
def test_the_real_conversion_writes_the_catalogs_bytes_quietly(test_model, out, capfd):
    seen: list[tuple[int, int]] = []
    versions: list[str | None] = []
    result = quantize.quantize(test_model, out / FORM.filename, on_progress=lambda d, n: seen.append((d, n)),
                               accept=lambda size, sha, version: versions.append(version), threads=1)
    from importlib.metadata import version

    assert versions == [version("llama_cpp_python")]
    if versions[0] == FORM.reference:  # the conversion is deterministic: the pinned bytes exactly
        assert (result.size, result.sha256) == (FORM.size, FORM.sha256)
    assert result.sha256 == hashlib.sha256((out / FORM.filename).read_bytes()).hexdigest()
    assert result.tensors == 272 and seen[0] == (1, 272) and seen[-1] == (272, 272) and len(seen) == 272
    assert listing(out) == [FORM.filename]
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # llama.cpp's ~300 log lines stay in the child


@pytest.mark.model
def test_a_truncated_source_is_a_model_error_and_leaves_nothing(test_model, tmp_path, out):
    bad = tmp_path / "truncated.gguf"
    with open(test_model, "rb") as fh:
        bad.write_bytes(fh.read(50_000_000))
    with pytest.raises(ModelError, match="not within the file bounds") as caught:
        quantize.quantize(bad, out / "m.gguf", name="smollm2-135m")
    assert "download-model smollm2-135m --force" in (caught.value.hint or "")
    assert listing(out) == []


@pytest.mark.model
def test_ctrl_c_ends_the_real_child_at_once(test_model, out):
    """The real child takes SIGINT's default action: the C call is not waited for."""
    request = {"source": str(test_model), "part": str(out / "m.gguf.part"), "ftype": 7, "threads": 1}
    proc = subprocess.Popen([sys.executable, "-m", quantize.CHILD_MODULE], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(request).encode())
    proc.stdin.close()
    assert "done" in json.loads(proc.stdout.readline())  # converting now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == -signal.SIGINT
    assert time.monotonic() - sent < 1.0
    proc.stdout.close()


@pytest.mark.model
def test_a_full_disk_is_no_space_and_leaves_nothing(test_model, tmp_path):
    """A real full file system: a 100 MiB tmpfs (root only) cannot hold the 138 MiB output."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        with pytest.raises(NoSpaceError) as caught:
            quantize.quantize(test_model, mnt / "m.gguf", free_space=lambda p: PLENTY)  # past the preflight
        assert caught.value.exit_code == 8
        assert listing(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
