"""The one model-file inspection: each kind of problem, what is expected of a file and from where,
and the manifest. The same problems reach `generate` (exit 3), `doctor` and `download-model`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dreamflow_cli.model import file as modelfile
from dreamflow_cli.model.catalog import find_entry
from dreamflow_cli.errors import ExitStatus, ModelError
from dreamflow_cli.model.file import (
    Expected, damaged, expected_for, inspect, manifest_path, read_manifest, write_manifest,
)

GGUF = b"GGUF" + b"\x03\x00\x00\x00" + bytes(100)
SMOLLM = find_entry("smollm2-135m")


def model_file(tmp_path: Path, data: bytes = GGUF, name: str = "m.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def kinds(path: Path, expected: Expected = Expected(), **kw) -> list[str]:
    return [p.kind for p in inspect(path, expected, **kw)]


def test_a_file_matching_what_is_expected_has_no_problems(tmp_path):
    path = model_file(tmp_path)
    digest = hashlib.sha256(GGUF).hexdigest()
    assert inspect(path, Expected(len(GGUF), digest), verify=True) == []


def test_missing_directory_and_dangling_link_are_no_file(tmp_path):
    missing = inspect(tmp_path / "nope.gguf", Expected(name="smollm2-135m"))
    assert [p.kind for p in missing] == ["missing"] and missing[0].check == "model"
    assert missing[0].message == f"{tmp_path / 'nope.gguf'} does not exist"
    assert "dreamflow download-model smollm2-135m" in missing[0].hint
    directory = inspect(tmp_path)
    assert [p.kind for p in directory] == ["directory"] and "--model" in directory[0].hint
    link = tmp_path / "link.gguf"
    link.symlink_to(tmp_path / "gone.gguf")
    dangling = inspect(link)
    assert [p.kind for p in dangling] == ["missing"] and "symbolic link" in dangling[0].reason


def test_not_gguf_says_what_the_file_starts_with(tmp_path):
    html = inspect(model_file(tmp_path, b"<!DOCTYPE html>"), Expected(name="smollm2-135m"))
    assert [p.kind for p in html] == ["not-gguf"] and html[0].check == "model header"
    assert "not a GGUF model file (it starts with b'<!DO', not b'GGUF')" in html[0].message
    assert html[0].hint == "run `dreamflow download-model smollm2-135m --force`"
    empty = inspect(model_file(tmp_path, b"", "empty.gguf"))
    assert "it is empty" in empty[0].reason
    assert empty[0].hint == "download the file again, or pass another .gguf file with --model"


def test_an_unreadable_file_has_only_that_problem(tmp_path, monkeypatch):
    # chmod 000 does not stop root (these tests' user here): the refusal is simulated.
    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(modelfile, "read_magic", refuse)
    found = inspect(model_file(tmp_path), Expected(size=1))
    assert [p.kind for p in found] == ["unreadable"] and "permissions" in found[0].hint
    assert found[0].message.endswith("m.gguf cannot be read: Permission denied")


def test_size_problems_name_who_expects_the_size(tmp_path):
    path = model_file(tmp_path)
    short = inspect(path, Expected(len(GGUF) + 10, None, "manifest", "tinyllama"))
    assert [p.kind for p in short] == ["size"] and short[0].check == "model size"
    assert f"is truncated: {len(GGUF):,} bytes of the {len(GGUF) + 10:,} the manifest expects" in short[0].message
    long = inspect(path, Expected(len(GGUF) - 1))
    assert f"has {len(GGUF):,} bytes, but the catalog expects {len(GGUF) - 1:,}" in long[0].message


def test_the_sha256_is_computed_only_when_asked_and_nothing_else_is_wrong(tmp_path):
    path = model_file(tmp_path)
    wrong = "0" * 64
    assert kinds(path, Expected(sha256=wrong)) == []  # generate and a plain doctor never hash
    bad = inspect(path, Expected(sha256=wrong), verify=True)
    assert [p.kind for p in bad] == ["checksum"]
    assert f"its sha256 is {hashlib.sha256(GGUF).hexdigest()}, expected {wrong}" in bad[0].message
    hashed: list[int] = []
    assert kinds(path, Expected(size=1, sha256=wrong), verify=True, on_chunk=hashed.append) == ["size"]
    assert hashed == []  # a file of the wrong size is not read through
    assert kinds(path, Expected(sha256=wrong), verify=True, actual_sha256=wrong) == []


def test_not_gguf_and_wrong_size_are_both_reported(tmp_path):
    assert kinds(model_file(tmp_path, b"PK\x03\x04zip"), Expected(size=1)) == ["not-gguf", "size"]


def test_a_problem_becomes_a_model_error_with_exit_3(tmp_path):
    error = inspect(tmp_path / "nope.gguf")[0].error()
    assert isinstance(error, ModelError) and error.exit_code == ExitStatus.MODEL == 3
    header = damaged(tmp_path / "x.gguf", "its header is damaged (bad)", None)
    assert header.check == "model header" and "is not a usable GGUF model: its header is damaged" in header.message


def test_expected_comes_from_the_manifest_first_then_the_catalog(tmp_path):
    path = model_file(tmp_path, name=SMOLLM.filename)
    from_catalog = expected_for(path, SMOLLM)
    assert (from_catalog.size, from_catalog.sha256, from_catalog.size_from, from_catalog.name) == \
        (SMOLLM.size, SMOLLM.sha256, "catalog", "smollm2-135m")
    write_manifest(path, name="smollm2-135m", source="a mirror", url=None, size=123, sha256="A" * 64,
                   sha256_from="server")
    from_manifest = expected_for(path, SMOLLM)
    assert (from_manifest.size, from_manifest.sha256, from_manifest.size_from) == (123, "a" * 64, "manifest")
    assert expected_for(path, None).name is None


def test_a_malformed_manifest_is_ignored_not_an_error(tmp_path):
    path = model_file(tmp_path)
    assert read_manifest(path) is None
    manifest_path(path).write_text("{not json")
    assert read_manifest(path) is None and expected_for(path, None) == Expected()
    manifest_path(path).write_text(json.dumps({"size": True, "sha256": 5}))
    assert expected_for(path, None) == Expected()  # a bool is not a size


def test_the_real_model_passes_the_full_inspection(test_model):
    assert inspect(test_model, expected_for(test_model, SMOLLM), verify=True) == []
