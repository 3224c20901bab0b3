"""One setting key: its type, bounds and environment variables, and the one coercion every
source (config file, environment, flags) goes through.

The words every key shares live here too: true/false spellings, ``auto``, and the text folding
that makes a word list (``guard_extra_terms``) match the way the guard reads stories.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence, get_args, get_origin, get_type_hints

from dreamflow_cli.errors import ConfigError

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
AUTO = "auto"

def parse_bool(text: str, where: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{where} has invalid value {text!r}",
        f"use one of: {', '.join(TRUE_WORDS + FALSE_WORDS)} (any case)",
    )


def _bound(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def number_range_text(kind: type, low: float | None, high: float | None) -> str:
    """How a number setting is described to people: "an integer from 1 to 1,048,576"."""
    word = "an integer" if kind is int else "a finite number"
    if low is not None and high is not None:
        return f"{word} from {_bound(low)} to {_bound(high)}"
    if low is not None:
        return f"{word} ≥ {_bound(low)}"
    if high is not None:
        return f"{word} ≤ {_bound(high)}"
    return word


def checked_number(value: Any, kind: type, low: float | None, high: float | None) -> int | float | None:
    """The one number check behind flags, environment and config file: ``value`` (a TOML number or
    a string) as ``kind`` within [low, high], or None. NaN and infinities are never accepted: NaN
    slips through every ``<``/``>`` comparison, and neither is valid JSON in story.json."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = kind(value.strip())
        except ValueError:
            return None
    if kind is int and not isinstance(value, int):
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    value = kind(value)
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


@dataclass(frozen=True)
class Key:
    """One setting: its type, default, bounds and the environment variables that set it.
    Built from the ``Settings`` fields (see ``setting``), not written by hand."""

    name: str
    kind: type
    default: Any
    env: tuple[str, ...] = ()  # earlier names win over later (legacy) ones
    low: float | None = None
    high: float | None = None
    doc: str = ""
    auto: bool = False  # a bool or number that may also be "auto" (decided at run time)
    choices: tuple[str, ...] = ()  # a str key accepts only these words
    check: Callable[[Any], Any] | None = None  # after coercion: normalise, or raise ConfigError

    def accepted(self) -> str:
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        if self.kind is bool:
            words = "/".join(TRUE_WORDS + FALSE_WORDS) + " (any case)"
            return f"{words} or auto" if self.auto else words
        if self.kind in (int, float):
            text = number_range_text(self.kind, self.low, self.high)
            return f"{text} or auto" if self.auto else text
        if self.kind is tuple:
            return "a list of words (or one comma-separated string)"
        return "a string" if self.kind is str else "a path"

    def _coerce(self, value: Any, where: str) -> Any:
        who = where if where.startswith("--") else self.name
        bad = ConfigError(f"{where} has invalid value {value!r}", f"{who} accepts {self.accepted()}")
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                if self.auto and value.strip().lower() == AUTO:
                    return AUTO
                try:
                    return parse_bool(value, where)
                except ConfigError:
                    raise bad from None
            raise bad
        if self.kind in (int, float):
            if self.auto and isinstance(value, str) and value.strip().lower() == AUTO:
                return AUTO
            number = checked_number(value, self.kind, self.low, self.high)
            if number is None:
                raise bad
            return number
        if self.kind is tuple:  # a TOML list of strings, or one comma-separated string (env, flags)
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
                raise bad
            return tuple(i.strip() for i in items if i.strip())
        if not isinstance(value, str):
            raise bad
        if self.kind is Path:
            return Path(value).expanduser() if value else None
        if self.choices:
            word = value.strip().lower()
            if word not in self.choices:
                raise bad
            return word
        return value or None

    def coerce(self, value: Any, where: str) -> Any:
        """Turn a TOML value or an environment string into this key's type, or raise ConfigError."""
        value = self._coerce(value, where)
        if self.check is not None:
            try:
                value = self.check(value)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc.message}", exc.hint) from None
        return value


def setting(default: Any, *env: str, low: float | None = None, high: float | None = None,
            choices: tuple[str, ...] = (), doc: str = "", auto: bool = False,
            check: Callable[[Any], Any] | None = None, kind: type | None = None) -> Any:
    """One row of the settings table: a ``Settings`` field with everything else the key needs.
    The field's annotation is the key's type (``kind`` when what is written differs, e.g. the
    true/false/auto words ``check`` turns into a MemoryMode); ``env`` names earlier-wins
    environment variables."""
    spec = {"env": env, "low": low, "high": high, "choices": choices, "doc": doc, "auto": auto, "check": check,
            "kind": kind}
    return field(default=default, metadata={_SPEC: spec})


_SPEC = "dreamflow.setting"


def fold(text: str) -> str:
    """Fold text so lookalike tricks (fullwidth letters, zero-width joiners) still match: the one
    normalisation the guard's word lists and the stories they are matched against share."""
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return folded.casefold()


_TERM_SHAPE = re.compile(r"^[^\W\d_]+(?:[ '-][^\W\d_]+)*$")


def word_list(value: str | Sequence[str] | None, *, key: str, limit: int, example: str) -> tuple[str, ...]:
    """A list of words or short phrases from config: a TOML list of strings, or one comma-separated
    string (env, flags); folded, deduplicated, at most ``limit``."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    terms: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{key} has a non-text entry {item!r}", f"write words, e.g. {example}")
        term = " ".join(fold(item).split())
        if not term:
            continue
        if not _TERM_SHAPE.match(term):
            raise ConfigError(f"{key} entry {item!r} is not a word or phrase",
                              "use letters only (spaces, hyphens and apostrophes inside are fine)")
        if term not in terms:
            terms.append(term)
    if len(terms) > limit:
        raise ConfigError(f"{key} has {len(terms)} entries; the limit is {limit}",
                          "keep the list to the words that matter to you")
    return tuple(terms)


def _kind_of(hint: Any) -> type:
    """The value type a key coerces to, from its field annotation: ``X | None`` is X,
    ``tuple[str, ...]`` is tuple, and ``bool | str`` (true/false/auto) is bool."""
    if get_origin(hint) is tuple:
        return tuple
    args = [a for a in get_args(hint) if a is not type(None)] or [hint]
    if bool in args:
        return bool
    kind = args[0]
    if not isinstance(kind, type):
        raise TypeError(f"settings table: cannot coerce to {hint!r}")
    return kind


def keys_of(table: type) -> tuple[Key, ...]:
    """The keys of a settings table: its fields made with ``setting(...)``, in order."""
    hints = get_type_hints(table)
    keys = []
    for f in fields(table):
        if _SPEC in f.metadata:
            spec = dict(f.metadata[_SPEC])
            kind = spec.pop("kind") or _kind_of(hints[f.name])
            keys.append(Key(f.name, kind, f.default, **spec))
    return tuple(keys)
