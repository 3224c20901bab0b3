"""The saved characters: one TOML file in the user's data folder, read whole and written whole
(atomically, so a crash or a full disk never leaves half a file).

    # dreamflow's saved characters: `dreamflow characters add | list | remove`.
    [[character]]
    name = "Pip"
    kind = "dragon"
    traits = ["counts the stars"]

The folder is the platform's (platformdirs): $XDG_DATA_HOME/dreamflow (else ~/.local/share/dreamflow)
on Linux, ~/Library/Application Support/dreamflow on macOS, %LOCALAPPDATA%\\dreamflow on Windows.
A file edited by hand is checked like `characters add` checks: a bad entry is refused, never cleaned.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from dreamflow_cli.cast.characters import character, same_name
from dreamflow_cli.errors import UsageError
from dreamflow_cli.files import atomic_write, ensure_writable_dir, file_problem
from dreamflow_cli.story.request import Character

FILE_NAME = "characters.toml"
# More than a family's worth: a file this long was not typed by hand.
MAX_CHARACTERS = 200
_HEADER = "# dreamflow's saved characters: `dreamflow characters add | list | remove`.\n"


def data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("dreamflow", appauthor=False))


def default_path() -> Path:
    return data_dir() / FILE_NAME


def _fix_hint(path: Path) -> str:
    return f"fix or remove that entry in {path} (or delete the file to start again)"


def load(path: Path | None = None) -> list[Character]:
    """Every saved character, in the order they were added; none when there is no file yet."""
    path = path or default_path()
    if not path.exists() and not path.is_symlink():
        return []
    problem = file_problem(path)
    if problem is not None:
        raise UsageError(f"the characters file {path} {problem}", "check the path, or delete it to start again")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the characters file {path}: {exc.strerror}", "check its permissions") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"the characters file {path} is not valid TOML ({exc})",
                         f"fix it, or delete {path} to start again") from None
    entries = data.get("character", [])
    if not isinstance(entries, list) or set(data) - {"character"}:
        raise UsageError(f"the characters file {path} holds something other than [[character]] entries",
                         f"fix it, or delete {path} to start again")
    return _characters(entries, path)


def _characters(entries: list[Any], path: Path) -> list[Character]:
    found: list[Character] = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) - {"name", "kind", "traits"} or not isinstance(
                entry.get("traits", []), list):
            raise UsageError(f"character {number} in {path} is not a name, a kind and a list of traits",
                             _fix_hint(path))
        try:
            one = character(entry.get("name"), entry.get("kind"), entry.get("traits", []))
        except UsageError as exc:
            raise UsageError(f"character {number} in {path}: {exc.message}", _fix_hint(path)) from None
        twin = next((other for other in found if same_name(one.name, other.name)), None)
        if twin is not None:
            raise UsageError(f"{path} has {twin.name} twice", _fix_hint(path))
        found.append(one)
    if len(found) > MAX_CHARACTERS:
        raise UsageError(f"{path} has {len(found)} characters; the limit is {MAX_CHARACTERS}", _fix_hint(path))
    return found


def save(characters: list[Character], path: Path | None = None) -> Path:
    """Write the whole list, atomically; returns the file's path."""
    import tomli_w

    path = path or default_path()
    ensure_writable_dir(path.parent, "characters folder", option="XDG_DATA_HOME")
    body = tomli_w.dumps({"character": [c.as_dict() for c in characters]}) if characters else ""
    atomic_write(path, (_HEADER + body).encode("utf-8"), option="XDG_DATA_HOME")
    return path


def find(characters: list[Character], name: str) -> Character | None:
    return next((c for c in characters if same_name(c.name, name)), None)


def add(new: Character, *, replace: bool = False, path: Path | None = None) -> Path:
    """Save ``new``; a character of the same name (in any case) is refused unless ``replace``."""
    saved = load(path)
    old = find(saved, new.name)
    if old is not None and not replace:
        raise UsageError(f"a character called {old.name} is already saved",
                         f"add --replace to change it, or remove it first: dreamflow characters remove {old.name}")
    if old is None and len(saved) >= MAX_CHARACTERS:
        raise UsageError(f"{MAX_CHARACTERS} characters are saved already", "remove one first")
    updated = [new if c is old else c for c in saved] if old is not None else [*saved, new]
    return save(updated, path)


def remove(name: str, path: Path | None = None) -> Character:
    saved = load(path)
    old = find(saved, name)
    if old is None:
        raise UsageError(f"no saved character called {name!r}", _known(saved))
    save([c for c in saved if c is not old], path)
    return old


def lookup(names: tuple[str, ...], path: Path | None = None) -> tuple[Character, ...]:
    """The saved characters ``names`` asks for, in that order (each once), or UsageError."""
    saved = load(path)
    chosen: list[Character] = []
    for name in names:
        found = find(saved, name)
        if found is None:
            raise UsageError(f"no saved character called {name!r}", _known(saved))
        if found not in chosen:
            chosen.append(found)
    return tuple(chosen)


def _known(saved: list[Character]) -> str:
    if not saved:
        return 'save one first, e.g. dreamflow characters add Pip --kind dragon --trait "counts the stars"'
    return f"saved: {', '.join(c.name for c in saved)} (dreamflow characters list)"
