"""Sequels: the next story of a series, with the same child, hero, companions and setting, one
line recalling last time, and a new small adventure.

`generate --continue STORY` names the story to continue by its folder (a path, or a folder name in
the output folder) or by the story_id in its story.json. The story continued must be one dreamflow
wrote and still readable (story.json and story.md); anything else is a one-line usage error (exit 2).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamflow_cli.cast.characters import character, same_name
from dreamflow_cli.errors import UsageError
from dreamflow_cli.story.checks import prompt_subjects
from dreamflow_cli.story.continuity import join_names, story_sentences
from dreamflow_cli.story.request import Character, Sequel
from dreamflow_cli.story.text import story_subject

METADATA_FILE = "story.json"  # run/pipeline.py writes it; output/text.py writes STORY_FILE
STORY_FILE = "story.md"
STORY_ID = re.compile(r"[0-9a-f]{16}")
# Tonight's adventure when the parent names none: small, calm, and never last night's.
SMALL_ADVENTURES = (
    "a lost button that needs finding before bed", "a picnic under the moon", "a tiny seed to plant by the window",
    "a visit to the quiet pond where the frogs sing", "a song for the sleepy owls", "a blanket fort for two",
    "a walk to see the fireflies", "a kite that needs mending", "star-shaped biscuits to bake",
    "a letter to the moon", "a lantern parade in the garden", "a snail race that nobody wins",
)
_RECAPS = ("Last time, in “{title}”, {who} had a cosy adventure together.",
           "Do you remember “{title}”? That was when {who} first had an adventure together.",
           "After “{title}”, {who} could not wait to meet again.")
_HINT = "give the folder of a story dreamflow wrote (it holds story.json and story.md), or its story_id"


@dataclass(frozen=True)
class Previous:
    """What a sequel needs from the story it continues."""

    folder: Path
    story_id: str
    title: str
    prompt: str
    name: str | None
    age: int | None
    theme: str | None
    characters: tuple[Character, ...]
    series: dict[str, Any] | None
    sentences: tuple[str, ...]


def find_story(ref: str, out_dir: Path) -> Path:
    """The folder ``ref`` names: a path, a folder name in ``out_dir``, or a story_id found there."""
    path = Path(ref).expanduser()
    for candidate in (path, Path(out_dir) / ref):
        if candidate.is_dir():
            return candidate
        if candidate.exists():
            raise UsageError(f"{candidate} is not a story folder", _HINT)
    if STORY_ID.fullmatch(ref.strip().lower()):
        found = _with_id(ref.strip().lower(), Path(out_dir))
        if found is not None:
            return found
        raise UsageError(f"no story with id {ref} in {out_dir}", "check the id in its story.json, or give --out")
    raise UsageError(f"no story folder or story id {ref!r}", _HINT)


def _with_id(story_id: str, out_dir: Path) -> Path | None:
    # The newest, when a story was written again with the same request (folders sort by time).
    for meta_path in sorted(out_dir.glob(f"*/{METADATA_FILE}"), reverse=True):
        try:
            if json.loads(meta_path.read_text(encoding="utf-8")).get("story_id") == story_id:
                return meta_path.parent
        except (OSError, ValueError, AttributeError):
            continue  # a damaged story is not the one asked for
    return None


def read_previous(folder: Path) -> Previous:
    """The story in ``folder``, or UsageError saying why it cannot be continued."""
    meta = _read(folder / METADATA_FILE)
    try:
        data = json.loads(meta)
    except ValueError:
        raise UsageError(f"cannot continue {folder}: its {METADATA_FILE} is not valid JSON", _HINT) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) and data.get(k)
                                             for k in ("story_id", "title", "prompt")):
        raise UsageError(f"cannot continue {folder}: its {METADATA_FILE} has no story_id, title and prompt", _HINT)
    try:
        characters = tuple(character(c.get("name"), c.get("kind"), c.get("traits", []))
                           for c in data.get("characters") or [])
    except (UsageError, AttributeError) as exc:
        why = exc.message if isinstance(exc, UsageError) else "an entry is not a character"
        raise UsageError(f"cannot continue {folder}: its characters are damaged ({why})", _HINT) from None
    age = data.get("age")
    text = "\n".join(line for line in _read(folder / STORY_FILE).splitlines() if not line.startswith("#"))
    series = data.get("series") if isinstance(data.get("series"), dict) else None
    sentences = story_sentences(text)
    if series and sentences and sentences[0] == series.get("recap"):
        sentences = sentences[1:]  # last time's recap line is ours, not the story
    return Previous(folder, data["story_id"], data["title"], data["prompt"], _text(data.get("name")),
                    age if isinstance(age, int) and not isinstance(age, bool) else None, _text(data.get("theme")),
                    characters, series, tuple(sentences))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"cannot continue {path.parent}: it has no {path.name}", _HINT) from None
    except OSError as exc:
        raise UsageError(f"cannot continue {path.parent}: {path.name} cannot be read ({exc.strerror})",
                         "check its permissions") from None
    except UnicodeDecodeError:
        raise UsageError(f"cannot continue {path.parent}: {path.name} is not UTF-8 text", _HINT) from None


def sequel(previous: Previous, adventure: str | None, companions: tuple[Character, ...]) -> Sequel:
    """The next part after ``previous``: its series, part number, recap line and adventure."""
    series = previous.series or {}
    series_id = str(series.get("id") or previous.story_id)
    last_part = series.get("part")
    part = (last_part if isinstance(last_part, int) and not isinstance(last_part, bool) and last_part > 0 else 1) + 1
    hero = str(series.get("hero") or story_subject(previous.prompt))
    if not adventure:
        last = series.get("adventure")
        start = int(series_id[:8], 16) if STORY_ID.fullmatch(series_id) else len(series_id)
        choices = [a for a in SMALL_ADVENTURES if a != last]
        adventure = choices[(start + part) % len(choices)]
    things = prompt_subjects(hero)
    who = [w for w in (previous.name, f"the {things[0]}" if things else "") if w]
    who += [c.name for c in companions]
    recap = _RECAPS[part % len(_RECAPS)].format(title=previous.title, who=join_names(who) or "everyone")
    return Sequel(series_id, part, previous.story_id, previous.folder.name, previous.title, hero, recap,
                  adventure, previous.sentences)


def companions(previous: Previous, added: tuple[Character, ...]) -> tuple[Character, ...]:
    """Last time's characters, with the ones asked for now (a name saved again replaces its old self)."""
    kept = [c for c in previous.characters if not any(same_name(c.name, a.name) for a in added)]
    return (*kept, *added)
