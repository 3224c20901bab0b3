"""Finding the narrator's voice: a Piper model (``.onnx``) and its config (``.onnx.json``) beside it.

``--voice NAME`` names a catalog voice in the models directory, ``--voice PATH`` a file; with
neither, the first catalog voice that is downloaded. A voice that is missing or incomplete is a
ModelError (exit 3) that says how to fetch it, raised before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dreamflow_cli.errors import ModelError
from dreamflow_cli.model.catalog import DEFAULT_VOICE, VOICES, find_entry

CONFIG_SUFFIX = ".json"


@dataclass(frozen=True)
class Voice:
    name: str  # the catalog name, or the file's stem
    model: Path
    config: Path

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "model": str(self.model), "config": str(self.config)}


def resolve_voice(voice: str | None, models_dir: Path) -> Voice:
    if voice:
        entry = find_entry(voice)
        if entry is not None and entry.kind == "voice" and not Path(voice).is_file():
            return _complete(entry.name, models_dir / entry.filename, f"dreamflow download-model {entry.name}")
        if entry is not None and entry.kind != "voice":
            raise ModelError(f"{entry.name} is a story model, not a narrator's voice",
                             f"pass a voice, e.g. --voice {DEFAULT_VOICE} (dreamflow download-model --list)")
        path = Path(voice).expanduser()
        return _complete(path.stem, path, "check the path: a Piper voice is a .onnx file with its .onnx.json beside it")
    for entry in VOICES:
        path = models_dir / entry.filename
        if path.is_file():
            return _complete(entry.name, path, f"dreamflow download-model {entry.name}")
    raise ModelError(f"no narrator's voice in {models_dir}",
                     f"fetch one with `dreamflow download-model {DEFAULT_VOICE}` (and pip install 'dreamflow[voice]'), "
                     "or leave out --narrate")


def _complete(name: str, model: Path, hint: str) -> Voice:
    config = model.with_name(model.name + CONFIG_SUFFIX)
    if not model.is_file():
        raise ModelError(f"voice {name} is not downloaded (looked for {model})", hint)
    if not config.is_file():
        raise ModelError(f"voice {name} has no {config.name} beside it", hint)
    return Voice(name, model, config)
