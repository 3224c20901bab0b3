"""Decisions about a model file dreamflow makes itself: a catalog model's converted form
(catalog.DerivedForm, e.g. SmolLM2's Q8_0 made from the verified Q4_1 download).

Pure functions: download-model (download/convert.py) and doctor (engine/doctor.py) do the I/O.

* Whether freshly converted bytes may stand (``judge_output``): the conversion is deterministic,
  so with the llama-cpp-python version the catalog measured they must be exactly its bytes;
  another version may write its header differently, which is not damage (the source was verified,
  llama.cpp validated every row), so other bytes are recorded, with a notice.
* What the manifest records besides a download's keys (``derivation_record``): where the bytes
  came from and what made them. The sha256 in it is the file's own, hashed before the rename, so
  doctor checks the file against its own record and ``--force`` simply converts again.
* What doctor says about the form in use (``findings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from dreamflow_cli.errors import ModelError
from dreamflow_cli.model.catalog import CatalogEntry, DerivedForm

TOOL = "llama_model_quantize"


@dataclass(frozen=True)
class Verdict:
    sha256_from: str  # "catalog": the reference bytes; "computed": this llama.cpp's own, recorded
    notice: str | None  # a line for the user, or None


def judge_output(size: int, sha256: str, form: DerivedForm, llama_cpp_python: str | None) -> Verdict:
    """Whether a converted file may stand (raises ModelError when it may not)."""
    if size == form.size and sha256 == form.sha256:
        return Verdict("catalog", None)
    if llama_cpp_python == form.reference:
        raise ModelError(
            f"the converted model is not what llama-cpp-python {form.reference} writes ({size:,} bytes, "
            f"sha256 {sha256[:12]}…; expected {form.size:,} bytes, {form.sha256[:12]}…); it was removed",
            "report this as a bug, with `dreamflow doctor --json`; meanwhile `download-model --keep-original` "
            "keeps the original file, which works as it is")
    return Verdict("computed", f"llama-cpp-python {llama_cpp_python or '(unknown version)'} wrote other bytes "
                               f"than {form.reference} does (expected after an upgrade); their sha256 is recorded "
                               "in the manifest")


def derivation_record(*, source: Path, source_size: int, source_sha256: str, source_origin: str, kept: bool,
                      form: DerivedForm, llama_cpp_python: str | None, seconds: float) -> dict[str, Any]:
    """The manifest's keys beyond a download's (model/file.write_manifest ``extra``)."""
    return {
        "derived_from": {"file": source.name, "size": source_size, "sha256": source_sha256,
                         "source": source_origin, "kept": kept},
        "derivation": {"tool": TOOL, "quant": form.quant, "llama_cpp_python": llama_cpp_python,
                       "seconds": round(seconds, 2)},
    }


def made_by_us(manifest: Mapping[str, Any] | None, entry: CatalogEntry) -> bool:
    """Whether a manifest records dreamflow's own conversion for ``entry``."""
    if not manifest or manifest.get("name") != entry.name:
        return False
    derivation = manifest.get("derivation")
    return isinstance(derivation, dict) and derivation.get("tool") == TOOL


@dataclass(frozen=True)
class Finding:
    level: str  # "ok" or "warn"
    message: str
    hint: str | None = None


def findings(entry: CatalogEntry, used: Path, *, derived_present: bool, part_present: bool,
             manifest: Mapping[str, Any] | None) -> list[Finding]:
    """What doctor says about a catalog model that has a converted form: ``used`` is the file
    the run would load, ``manifest`` the converted file's (None when absent or unreadable)."""
    form = entry.derived
    if form is None:
        return []
    found: list[Finding] = []
    convert = f"run `dreamflow download-model {entry.name}`"
    if used.name == entry.filename and not derived_present:
        found.append(Finding("warn", f"{entry.name} is installed in its original form only ({entry.filename}), "
                                     f"not yet converted to {form.quant}, which {form.why or 'is faster'}",
                             f"{convert} to convert it (a few seconds; --keep-original keeps the original file)"))
    elif used.name == form.filename and not made_by_us(manifest, entry):
        found.append(Finding("warn", f"{form.filename} has no record of its conversion (copied by hand, or "
                                     "converted by something else): it is checked against the catalog only",
                             f"run `dreamflow download-model {entry.name} --force` to convert it again"))
    elif used.name == form.filename:
        assert manifest is not None
        origin = (manifest.get("derived_from") or {}).get("file") or entry.filename
        version = (manifest.get("derivation") or {}).get("llama_cpp_python") or "an unknown version"
        found.append(Finding("ok", f"{form.quant}, converted from {origin} by llama-cpp-python {version}"))
    if part_present:
        found.append(Finding("warn", f"{form.filename}.part was left by an interrupted conversion (or one "
                                     "running right now)", f"{convert}: it converts again and removes it"))
    return found
