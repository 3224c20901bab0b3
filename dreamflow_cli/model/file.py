"""What is wrong with a model file on disk, decided once for `generate`, `doctor` and `download-model`.

``inspect`` returns the problems of a file (missing, a directory, unreadable, not a GGUF file, the
wrong size, the wrong sha256) in the order a fix should address them: ``generate`` raises the first,
``doctor`` shows each as a failed check, a download lists them when it refuses a file. Parsing the
header is ``gguf_info``'s job; its damage reports use ``damaged`` from here.

The manifest (``<file>.manifest.json``) is the record a download leaves of what it verified; the
expected size and sha256 come from it first (it describes the very file fetched, from any source),
then from the catalog.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from dreamflow_cli import __version__
from dreamflow_cli.model.catalog import EMBEDDED_MODEL, CatalogEntry
from dreamflow_cli.errors import ModelError
from dreamflow_cli.files import atomic_write, file_problem

GGUF_MAGIC = b"GGUF"
HASH_CHUNK = 1 << 20

# The `doctor` check each kind of problem fails; the first three leave nothing else to look at.
CHECK_OF = {"missing": "model", "directory": "model", "unreadable": "model header", "not-gguf": "model header",
            "damaged": "model header", "size": "model size", "checksum": "model checksum"}
NO_FILE = ("missing", "directory", "unreadable")


@dataclass(frozen=True)
class Problem:
    kind: str  # a key of CHECK_OF
    path: Path
    reason: str  # a clause that follows the file's name: "is truncated: …", "does not exist"
    hint: str

    @property
    def check(self) -> str:
        return CHECK_OF[self.kind]

    @property
    def message(self) -> str:
        return f"{self.path} {self.reason}"

    def error(self) -> ModelError:
        return ModelError(self.message, self.hint)


@dataclass(frozen=True)
class Expected:
    """What a model file should be, and who says so."""

    size: int | None = None
    sha256: str | None = None
    size_from: str = "catalog"  # "catalog", "manifest": named in the messages
    name: str | None = None  # the catalog name, for the re-download hint
    filename: str | None = None  # the name the file has or will have (a .part is checked as it)


def download_hint(name: str | None = None) -> str:
    return f"run `dreamflow download-model {name or EMBEDDED_MODEL}` (or pass --model PATH to a .gguf file)"


def redownload_hint(name: str | None) -> str:
    if name:
        return f"run `dreamflow download-model {name} --force`"
    return "download the file again, or pass another .gguf file with --model"


# ---------------------------------------------------------------- the checks, one at a time


def place_problem(path: Path, name: str | None = None) -> Problem | None:
    """Missing, a directory, not a regular file: there is no file to look at."""
    if path.is_dir():
        return Problem("directory", path, "is a directory, not a .gguf file", "pass the .gguf file inside it with --model")
    absent = file_problem(path)  # says why: missing, a dangling link, a loop…
    if absent is not None:
        return Problem("missing", path, absent, download_hint(name))
    return None


def read_magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(len(GGUF_MAGIC))


def unreadable(path: Path, exc: OSError) -> Problem:
    return Problem("unreadable", path, f"cannot be read: {exc.strerror or exc}", "check the file's permissions")


# What the first bytes of each kind of file dreamflow downloads must be, by the file's final
# suffix: a Piper voice is an ONNX protobuf (field 1, ir_version, a varint: byte 0x08) with a JSON
# config; anything else is a GGUF model. Checked on the first bytes, so an HTML error page never
# downloads in full, and never installed under a model's name.
_MAGIC_BY_SUFFIX = {".onnx": (b"\x08", "an ONNX voice model"), ".json": (b"{", "a voice's JSON config")}


def magic_problem(path: Path, name: str | None = None, final_name: str | None = None) -> Problem | None:
    """Unreadable, or not the kind of file its name says at all (an HTML error page, a zip, an
    empty file). ``final_name``: the name it will have (a ``.part`` is checked as its model)."""
    try:
        magic = read_magic(path)
    except OSError as exc:
        return unreadable(path, exc)
    suffix = Path(final_name or path.name).suffix.lower()
    want, what_kind = _MAGIC_BY_SUFFIX.get(suffix, (GGUF_MAGIC, "a GGUF model file"))
    head = magic.lstrip() if suffix == ".json" else magic
    if not head.startswith(want):
        what = "it is empty" if not magic else f"it starts with {magic!r}, not {want!r}"
        return Problem("not-gguf", path, f"is not {what_kind} ({what})", redownload_hint(name))
    return None


def size_problem(path: Path, size: int, expected: Expected) -> Problem | None:
    if expected.size is None or size == expected.size:
        return None
    if size < expected.size:
        reason = (f"is truncated: {size:,} bytes of the {expected.size:,} the {expected.size_from} expects "
                  "(an interrupted download?)")
    else:
        reason = f"has {size:,} bytes, but the {expected.size_from} expects {expected.size:,}"
    return Problem("size", path, reason, redownload_hint(expected.name))


def checksum_problem(path: Path, actual: str, expected: Expected) -> Problem | None:
    if expected.sha256 is None or actual == expected.sha256:
        return None
    return Problem("checksum", path, f"is damaged: its sha256 is {actual}, expected {expected.sha256}",
                   redownload_hint(expected.name))


def damaged(path: Path, reason: str, name: str | None) -> Problem:
    """A header that does not parse (gguf_info finds these): ``reason`` says how."""
    return Problem("damaged", path, f"is not a usable GGUF model: {reason}", redownload_hint(name))


def sha256_file(path: Path, on_chunk: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return digest.hexdigest()


# ---------------------------------------------------------------- all of them


def inspect(path: Path, expected: Expected = Expected(), *, verify: bool = False, actual_sha256: str | None = None,
            on_chunk: Callable[[int], None] | None = None) -> list[Problem]:
    """Every problem of ``path`` against ``expected`` (empty: it looks like the model it should be).
    A file that is missing or unreadable has only that problem. The sha256 (slow: the whole file is
    read) is computed only with ``verify``, when one is expected and nothing else is wrong —
    hashing a file already known to be wrong tells nothing new. ``actual_sha256`` skips it."""
    path = Path(path)
    first = place_problem(path, expected.name)
    if first is not None:
        return [first]
    magic = magic_problem(path, expected.name, expected.filename)
    if magic is not None and magic.kind in NO_FILE:
        return [magic]
    found = [p for p in (magic, size_problem(path, path.stat().st_size, expected)) if p is not None]
    if verify and expected.sha256 is not None and not found:
        digest = actual_sha256 or sha256_file(path, on_chunk)
        found += [p for p in (checksum_problem(path, digest, expected),) if p is not None]
    return found


def expected_for(path: Path, entry: CatalogEntry | None) -> Expected:
    """The size and sha256 ``path`` should have: its manifest's, else its catalog entry's (for the
    file the entry's download is converted into, the converted form's)."""
    size, sha = manifest_facts(path)
    name = entry.name if entry else None
    pinned_size, pinned_sha = (entry.size, entry.sha256) if entry else (None, None)
    if entry is not None and entry.derived is not None and Path(path).name == entry.derived.filename:
        pinned_size, pinned_sha = entry.derived.size, entry.derived.sha256
    if size is not None:
        return Expected(size, sha or pinned_sha, "manifest", name)
    return Expected(pinned_size, sha or pinned_sha, "catalog", name)


# ---------------------------------------------------------------- the manifest


def manifest_path(model_path: Path) -> Path:
    return Path(model_path).with_name(Path(model_path).name + ".manifest.json")


def read_manifest(model_path: Path) -> dict[str, Any] | None:
    """The manifest written when ``model_path`` was downloaded and verified, or None when there is
    none or it is unreadable (a manifest is a record, never a reason to fail)."""
    try:
        data = json.loads(manifest_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def manifest_facts(model_path: Path) -> tuple[int | None, str | None]:
    """(size, sha256) from the manifest, each None when absent or malformed."""
    manifest = read_manifest(model_path) or {}
    size, sha = manifest.get("size"), manifest.get("sha256")
    return (size if isinstance(size, int) and not isinstance(size, bool) else None,
            sha.lower() if isinstance(sha, str) else None)


def write_manifest(final: Path, *, name: str | None, source: str, url: str | None, size: int, sha256: str,
                   sha256_from: str, extra: Mapping[str, Any] | None = None) -> None:
    """``extra``: keys beyond a download's (a converted file's origin: model/derived.py)."""
    record = {
        "file": final.name, "name": name, "source": source, "url": url,
        "size": size, "sha256": sha256, "sha256_from": sha256_from, **(extra or {}),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dreamflow_version": __version__,
    }
    path = manifest_path(final)
    atomic_write(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    # Temp files are private (0600); whoever may read the model may read its record too.
    os.chmod(path, final.stat().st_mode & 0o777)
