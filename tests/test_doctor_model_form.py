"""doctor and SmolLM2's converted form (issue 24): an install from before the conversion is told how
to upgrade, a conversion that was interrupted or damaged is found, and doctor refuses to run with
its report going nowhere (a closed stdout)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dreamflow_cli.doctor.report import Machine
from dreamflow_cli.engine.doctor import LlamaReading
from dreamflow_cli.engine.gpu import CPU_ONLY
from dreamflow_cli.model.catalog import EMBEDDED_MODEL, find_entry
from dreamflow_cli.model.derived import derivation_record
from dreamflow_cli.model.file import write_manifest
from dreamflow_cli.plan.memory import MemoryReadings
from dreamflow_cli.run.doctor import run_doctor
from tests.helpers.processes import dreamflow_script

ENTRY = find_entry(EMBEDDED_MODEL)
FORM = ENTRY.derived
MACHINE = Machine(memory=MemoryReadings(total=32 * 10**9, available=24 * 10**9), physical_cores=2, logical_cores=2,
                  env={}, others_busy=0.0)


def doctor(models, **flags):
    report = run_doctor({"models_dir": models, **flags}, machine=MACHINE, gpu=lambda: CPU_ONLY,
                        llama=lambda: LlamaReading(version="0.3.36", features=("AVX2",), machine="x86_64"))
    return report, [c for c in report.checks if c.name in ("model", "model form", "model size")]


def test_an_install_from_before_the_conversion_is_warned_with_the_upgrade_command(tmp_path):
    (tmp_path / ENTRY.filename).write_bytes(b"GGUF" + b"\0" * 100)
    _, checks = doctor(tmp_path)
    model, form = checks[0], checks[1]
    assert model.status == "PASS" and str(tmp_path / ENTRY.filename) in model.detail
    assert form.name == "model form" and form.status == "WARN"
    assert "installed in its original form only" in form.detail and "Q8_0" in form.detail
    assert form.hint.startswith("run `dreamflow download-model smollm2-135m` to convert it")


def test_the_converted_form_is_used_and_passes_with_its_record(tmp_path):
    (tmp_path / ENTRY.filename).write_bytes(b"GGUF" + b"\0" * 100)  # kept with --keep-original
    path = tmp_path / FORM.filename
    path.write_bytes(b"GGUF converted")
    write_manifest(path, name=ENTRY.name, source="converted", url=None, size=14, sha256="ab" * 32,
                   sha256_from="computed", extra=derivation_record(
                       source=tmp_path / ENTRY.filename, source_size=104, source_sha256="cd" * 32, source_origin="x",
                       kept=True, form=FORM, llama_cpp_python="0.3.36", seconds=1.5))
    _, checks = doctor(tmp_path)
    assert str(path) in checks[0].detail
    assert [(c.name, c.status) for c in checks] == [("model", "PASS"), ("model form", "PASS"), ("model size", "PASS")]
    assert checks[1].detail == "Q8_0, converted from SmolLM2-135M-Instruct.Q4_1.gguf by llama-cpp-python 0.3.36"


def test_a_partial_conversion_fails_the_size_check_with_the_command_that_redoes_it(tmp_path):
    path = tmp_path / FORM.filename
    path.write_bytes(b"GGUF" + b"\0" * 1000)  # no record of it, and not the size the catalog pins
    report, checks = doctor(tmp_path)
    size = checks[-1]
    assert size.status == "FAIL" and f"{FORM.size:,} the catalog expects" in size.detail
    assert size.hint == "run `dreamflow download-model smollm2-135m --force`"
    assert any(c.name == "model form" and "no record of its conversion" in c.detail for c in checks)
    assert report.failed


def test_an_interrupted_conversion_left_behind_is_reported(tmp_path):
    (tmp_path / ENTRY.filename).write_bytes(b"GGUF" + b"\0" * 100)
    (tmp_path / (FORM.filename + ".part")).write_bytes(b"GGUF half")
    _, checks = doctor(tmp_path)
    left = [c for c in checks if c.name == "model form" and ".part" in c.detail]
    assert len(left) == 1 and left[0].status == "WARN" and "interrupted conversion" in left[0].detail


@pytest.mark.skipif(sys.platform == "win32", reason="closing a child's standard streams is POSIX-only")
def test_doctor_with_a_closed_stdout_is_refused(isolated):
    proc = subprocess.run([dreamflow_script(), "doctor"], cwd=isolated, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=lambda: os.close(1),
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: standard output is closed, so doctor's report would be lost")
