"""Finding the model file to use and checking that it is a complete GGUF before llama.cpp sees it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dreamflow_cli.catalog import CATALOG, EMBEDDED_MODEL, CatalogEntry, find_entry
from dreamflow_cli.config import Settings
from dreamflow_cli.errors import ModelError
from dreamflow_cli.storage import file_problem

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    source: str  # where the choice came from, for `config show` / `doctor`
    entry: CatalogEntry | None


def download_hint(name: str = EMBEDDED_MODEL) -> str:
    return f"run `dreamflow download-model {name}` (or pass --model PATH to a .gguf file)"


def resolve_model(settings: Settings) -> ResolvedModel:
    """--model / DREAMFLOW_MODEL / LOCAL_MODEL_PATH / config, else the first catalog model present."""
    if settings.model:
        source = settings.sources.get("model", "default")
        entry = find_entry(settings.model)
        if entry is not None and not Path(settings.model).is_file():
            path = settings.models_dir / entry.filename
            if not path.exists():
                raise ModelError(
                    f"model {entry.name!r} is not downloaded (looked for {path})",
                    download_hint(entry.name),
                )
            return ResolvedModel(path, f"{source} (catalog name {entry.name})", entry)
        path = Path(settings.model).expanduser()
        return ResolvedModel(path, source, _entry_for_file(path))
    for entry in CATALOG:
        path = settings.models_dir / entry.filename
        if path.is_file():
            return ResolvedModel(path, f"found in models directory {settings.models_dir}", entry)
    raise ModelError(f"no model found in {settings.models_dir}", download_hint())


def _entry_for_file(path: Path) -> CatalogEntry | None:
    return next((e for e in CATALOG if e.filename == path.name), None)


def check_model_file(model: ResolvedModel) -> int:
    """Reject what llama.cpp would choke on, with a reason a parent can act on. Returns the size."""
    path = model.path
    if not path.exists():
        raise ModelError(f"model file {path} {file_problem(path)}", download_hint())
    if path.is_dir():
        raise ModelError(f"model path {path} is a directory, not a .gguf file",
                         "pass the .gguf file inside it with --model")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}",
                         "check the file's permissions") from None
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF model file (it starts with {magic!r}, not b'GGUF')",
                         download_hint(model.entry.name if model.entry else EMBEDDED_MODEL))
    entry = model.entry
    if entry is not None and entry.size is not None and size != entry.size:
        raise ModelError(
            f"{path} is incomplete: {size:,} bytes, expected {entry.size:,} (an interrupted download?)",
            f"run `dreamflow download-model {entry.name} --force`",
        )
    return size
