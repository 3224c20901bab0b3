"""Finding the model file to use, and refusing it before llama.cpp sees it when it is not a complete GGUF."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dreamflow_cli.model.catalog import CATALOG, CatalogEntry, find_entry
from dreamflow_cli.settings.table import Settings
from dreamflow_cli.errors import ModelError
from dreamflow_cli.model.file import download_hint, expected_for, inspect


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    source: str  # where the choice came from, for `config show` / `doctor`
    entry: CatalogEntry | None


def resolve_model(settings: Settings) -> ResolvedModel:
    """--model / DREAMFLOW_MODEL / LOCAL_MODEL_PATH / config, else the first catalog model present."""
    if settings.model:
        source = settings.sources.get("model", "default")
        entry = find_entry(settings.model)
        if entry is not None and entry.kind != "model":
            raise ModelError(f"{entry.name} is a narrator's voice, not a story model",
                             f"pass it as --voice {entry.name}, and a model with --model")
        if entry is not None and not Path(settings.model).is_file():
            path = installed_file(settings.models_dir, entry)
            if path is None:
                raise ModelError(
                    f"model {entry.name!r} is not downloaded (looked for {settings.models_dir / entry.filename})",
                    download_hint(entry.name),
                )
            return ResolvedModel(path, f"{source} (catalog name {entry.name})", entry)
        path = Path(settings.model).expanduser()
        return ResolvedModel(path, source, _entry_for_file(path))
    for entry in CATALOG:
        path = installed_file(settings.models_dir, entry)
        if path is not None and path.is_file():
            return ResolvedModel(path, f"found in models directory {settings.models_dir}", entry)
    raise ModelError(f"no model found in {settings.models_dir}", download_hint())


def installed_file(models_dir: Path, entry: CatalogEntry) -> Path | None:
    """The file of ``entry`` to use: its converted form when present, else the file as downloaded
    (an install from before the conversion keeps working; doctor says how to convert it)."""
    for filename in entry.filenames:
        path = models_dir / filename
        if path.exists():
            return path
    return None


def _entry_for_file(path: Path) -> CatalogEntry | None:
    return next((e for e in CATALOG if path.name in e.filenames), None)


def check_model_file(model: ResolvedModel) -> int:
    """Reject what llama.cpp would choke on, with a reason a parent can act on. Returns the size."""
    problems = inspect(model.path, expected_for(model.path, model.entry))
    if problems:
        raise problems[0].error()
    return model.path.stat().st_size
