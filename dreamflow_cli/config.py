"""Settings: one frozen dataclass, built in one function, with one precedence.

    defaults < config file < environment < command-line flags

Config file lookup (first that applies): ``--config PATH``, ``$DREAMFLOW_CONFIG``,
``./dreamflow.toml``, then ``config.toml`` in the platform's user config directory.
An explicitly named file must exist; the implicit ones are optional.
"""

from __future__ import annotations

import math
import os
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, get_args, get_origin, get_type_hints

from dreamflow_cli import guard, profiles
from dreamflow_cli.backend import MIN_STORY_TOKENS
from dreamflow_cli.profiles import MemoryMode
from dreamflow_cli.errors import ConfigError
from dreamflow_cli.storage import file_problem

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
PROFILE_KEYS = profiles.VALUE_KEYS
ENV_CONFIG = "DREAMFLOW_CONFIG"
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


@dataclass(frozen=True)
class Settings:
    """The effective settings. Every field made with ``setting(...)`` is a key of the config file,
    of ``config show`` and of config.example.toml: adding a key is adding one line here."""

    model: str | None = setting(
        None, "DREAMFLOW_MODEL", "LOCAL_MODEL_PATH",
        doc="Model file path or catalog name; empty = first known model in models_dir.")
    models_dir: Path = setting(
        Path("models"), "DREAMFLOW_MODELS_DIR",
        doc="Where downloaded GGUF models live (relative paths are from the working directory).")
    out_dir: Path = setting(Path("stories"), "DREAMFLOW_OUT_DIR", doc="Where story folders are written.")
    low_memory: MemoryMode = setting(
        MemoryMode.AUTO, "DREAMFLOW_LOW_MEMORY", "LOW_MEMORY_MODE", auto=True, kind=bool, check=MemoryMode.of,
        doc="Low-memory profile: true, false, or auto (standard when it fits with headroom).")
    scenes: int = setting(3, "DREAMFLOW_SCENES", low=1, high=8, doc="Scenes (and pictures) per story.")
    images: bool = setting(True, "DREAMFLOW_IMAGES", doc="Draw one placeholder picture per scene.")
    seed: int | None = setting(None, "DREAMFLOW_SEED", low=0, high=2**31 - 1, doc="Sampling seed; unset = random.")
    name: str | None = setting(None, "DREAMFLOW_NAME", doc="Default child's name for the hero.")
    age: int | None = setting(None, "DREAMFLOW_AGE", low=1, high=12, doc="Default child's age (1-12).")
    theme: str | None = setting(None, "DREAMFLOW_THEME", doc="Where stories happen, e.g. \"a snowy forest\".")
    moral: str | None = setting(None, "DREAMFLOW_MORAL", doc="A lesson stories show gently.")
    guard_level: str = setting(
        guard.DEFAULT_LEVEL, "DREAMFLOW_GUARD_LEVEL", choices=guard.LEVELS,
        doc="Content guard strictness: relaxed, standard or strict.")
    guard_retries: int = setting(
        3, "DREAMFLOW_GUARD_RETRIES", low=0, high=guard.MAX_RETRIES,
        doc="New attempts (with new seeds) when a story trips the guard.")
    guard_extra_terms: tuple[str, ...] = setting(
        (), "DREAMFLOW_GUARD_EXTRA_TERMS", check=guard.parse_terms, doc="More words the guard blocks.")
    candidates: int = setting(
        3, "DREAMFLOW_CANDIDATES", low=1, high=8,
        doc="Drafts written at most per story; the best by the content checks is kept (stops early when one is good enough).")
    temperature: float = setting(0.6, "DREAMFLOW_TEMPERATURE", low=0, high=2, doc="Sampling temperature.")
    top_p: float = setting(0.9, low=0, high=1, doc="Nucleus sampling cut-off.")
    top_k: int = setting(40, low=0, high=1000, doc="Top-k sampling (0 = off).")
    min_p: float = setting(0.05, low=0, high=1, doc="Min-p sampling cut-off.")
    repeat_penalty: float = setting(1.1, low=1, high=2, doc="Penalty for repeated tokens.")
    warn_load_seconds: float = setting(60.0, low=1, high=86400, doc="Warn when loading the model takes longer.")
    warn_generation_seconds: float = setting(600.0, low=1, high=86400, doc="Warn when writing takes longer.")
    memory_check: bool = setting(
        True, "DREAMFLOW_MEMORY_CHECK", doc="Refuse to load a model that does not fit in available memory.")
    warn_memory_used_gb: float | None = setting(
        None, low=0.1, high=4096,
        doc="Warn when system memory in use exceeds this; unset = 7/8 of total (the guide's 7 GB of 8).")
    backend: str = setting(
        "local", "DREAMFLOW_BACKEND", choices=("local", "openai"),
        doc="Who runs the model: local (in this process) or openai (an OpenAI-compatible server).")
    base_url: tuple[str, ...] = setting(
        (), "DREAMFLOW_BASE_URL",
        doc="Model-server URLs for the openai backend, e.g. http://127.0.0.1:8080/v1 (a list, or comma-separated).")
    parallel: int | str | None = setting(
        None, "DREAMFLOW_PARALLEL", low=1, high=64, auto=True,
        doc="Stories in flight at once in a batch; auto = as many as memory and the profile allow "
            "(local: up to 4, 2 in low-memory); unset = 1 locally, 2 per server with openai.")
    gpu_layers: int | str = setting(
        AUTO, "DREAMFLOW_GPU_LAYERS", low=0, high=999, auto=True,
        doc="Model layers on the GPU when llama.cpp was built with GPU support: auto = all that fit, "
            "0 = CPU only.")
    server_timeout: float = setting(
        120.0, "DREAMFLOW_SERVER_TIMEOUT", low=0.1, high=3600,
        doc="Seconds a model server may stay silent (connecting, or between streamed tokens).")
    server_retries: int = setting(
        3, "DREAMFLOW_SERVER_RETRIES", low=0, high=10,
        doc="New attempts, on another server when there is one, after a server fails mid-story.")

    # Not keys: what the sources said, and where.
    # Per-profile values from the config file ([standard] / [low_memory] tables).
    profile_config: Mapping[str, Mapping[str, int | bool]] = field(default_factory=lambda: MappingProxyType({}))
    # --ctx/--batch/--threads/--max-tokens: applied to whichever profile is chosen.
    profile_flags: Mapping[str, int | bool] = field(default_factory=lambda: MappingProxyType({}))
    config_path: Path | None = None
    # key -> where its value came from ("default", "config file", "env NAME", "flag")
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def sampling(self) -> dict[str, float]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repeat_penalty": self.repeat_penalty,
        }


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


KEYS: tuple[Key, ...] = keys_of(Settings)
KEY_BY_NAME = {k.name: k for k in KEYS}
# Every default, as a Settings: other modules read defaults from here, never restate them.
DEFAULTS = Settings()
# Profile values. Threads above the core count are accepted here and capped when the profile is
# chosen (a config file may travel between machines); the ceiling only stops absurd numbers.
PROFILE_VALUE_KEYS = {
    "n_ctx": Key("n_ctx", int, None, (), profiles.MIN_CTX, 1 << 20),
    "n_batch": Key("n_batch", int, None, (), 1, 1 << 20),
    "n_threads": Key("n_threads", int, None, (), 1, None),
    "max_tokens": Key("max_tokens", int, None, (), MIN_STORY_TOKENS, 1 << 20),
    "repack": Key("repack", bool, None),
}
# The command-line spelling of each setting, so a message names what the user typed.
FLAG_NAMES = {"n_ctx": "--ctx", "n_batch": "--batch", "n_threads": "--threads", "max_tokens": "--max-tokens",
              "repack": "--repack", "out_dir": "--out", "low_memory": "--low-memory"}


def default_help(name: str) -> str:
    """"\\[default: 3]" for a flag's help, read from the table (the backslash escapes Rich markup)."""
    value = getattr(DEFAULTS, name)
    if isinstance(value, bool):
        shown = "on" if value else "off"
    elif isinstance(value, Path):
        shown = f"./{value}"
    else:
        shown = str(value)
    return f"\\[default: {shown}]"


def flag_name(key: str) -> str:
    return FLAG_NAMES.get(key, "--" + key.replace("_", "-"))


def user_config_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    env = os.environ if env is None else env
    platform = platform or sys.platform
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        base = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    return base / "dreamflow"


def find_config_file(
    explicit: Path | None, env: Mapping[str, str], cwd: Path
) -> tuple[Path | None, str]:
    """Return (path or None, how it was found). Named files must exist; implicit ones may not."""
    if explicit is not None:
        named, how = Path(explicit), "--config"
    elif env.get(ENV_CONFIG):
        named, how = Path(env[ENV_CONFIG]), ENV_CONFIG
    else:
        for candidate, how in ((cwd / "dreamflow.toml", "./dreamflow.toml"),
                               (user_config_dir(env) / "config.toml", "user config dir")):
            if candidate.is_file():
                return candidate, how
        return None, "none"
    problem = file_problem(named)
    if problem is not None:
        raise ConfigError(
            f"config file {named} (from {how}) {problem}",
            "create it with `dreamflow config init`, or fix the path" if problem == "does not exist"
            else f"point {how} at a .toml file",
        )
    return named, how


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}",
                          "fix the file, or start again with `dreamflow config init --force`") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text",
                          "save it as UTF-8, or start again with `dreamflow config init --force`") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}",
                          "check the path and its permissions") from None


def _profile_tables(raw: Mapping[str, Any], path: Path) -> dict[str, dict[str, int | bool]]:
    """The [profile.standard] and [profile.low_memory] tables."""
    section = raw.get("profile", {})
    written = " or ".join(f"[profile.{t}]" for t in profiles.tables())
    accepted = f"write {written} with keys {', '.join(PROFILE_KEYS)}"
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: profile must be a table", accepted)
    tables: dict[str, dict[str, int | bool]] = {}
    for profile, table in section.items():
        if profile not in profiles.tables() or not isinstance(table, dict):
            raise ConfigError(f"{path}: unknown profile table profile.{profile}", accepted)
        for key, value in table.items():
            if key not in PROFILE_KEYS:
                raise ConfigError(f"{path}: unknown key profile.{profile}.{key}",
                                  f"[profile.{profile}] accepts {', '.join(PROFILE_KEYS)}")
            tables.setdefault(profile, {})[key] = PROFILE_VALUE_KEYS[key].coerce(
                value, f"{path}: profile.{profile}.{key}")
    return tables


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build the effective settings. ``flags`` holds only options the user actually gave
    (None values are ignored); profile flags use the keys n_ctx/n_batch/n_threads/max_tokens."""
    env = dict(os.environ if env is None else env)
    cwd = cwd or Path.cwd()
    flags = {k: v for k, v in (flags or {}).items() if v is not None}

    values: dict[str, Any] = {k.name: k.default for k in KEYS}
    sources: dict[str, str] = {k.name: "default" for k in KEYS}

    path, _how = find_config_file(config_path, env, cwd)
    profile_config: dict[str, dict[str, int | bool]] = {}
    if path is not None:
        raw = read_config_file(path)
        for key, value in raw.items():
            if key == "profile":
                continue
            if key not in KEY_BY_NAME:
                raise ConfigError(
                    f"{path}: unknown key {key!r}",
                    f"accepted keys: {', '.join(KEY_BY_NAME)} and [profile.standard] / [profile.low_memory]",
                )
            values[key] = KEY_BY_NAME[key].coerce(value, f"{path}: {key}")
            sources[key] = f"config file {path}"
        profile_config = _profile_tables(raw, path)
        for profile, table in profile_config.items():
            for field_name in table:
                sources[f"profile.{profile}.{field_name}"] = f"config file {path}"

    for spec in KEYS:
        for var in spec.env:
            if env.get(var, "").strip() != "":
                values[spec.name] = spec.coerce(env[var], f"environment variable {var}")
                sources[spec.name] = f"env {var}"
                break

    profile_flags: dict[str, int | bool] = {}
    for name, value in flags.items():
        if name in PROFILE_KEYS:
            profile_flags[name] = PROFILE_VALUE_KEYS[name].coerce(value, flag_name(name))
            sources[name] = "flag"
        elif name in KEY_BY_NAME:
            values[name] = KEY_BY_NAME[name].coerce(value, flag_name(name)) \
                if not isinstance(value, Path) else value
            sources[name] = "flag"
        else:  # a programming error, not a user one
            raise KeyError(f"unknown setting {name}")

    return Settings(
        **values,
        profile_config=MappingProxyType({k: MappingProxyType(v) for k, v in profile_config.items()}),
        profile_flags=MappingProxyType(profile_flags),
        config_path=path,
        sources=MappingProxyType(sources),
    )


def starter_config(defaults: Callable[[str], Mapping[str, int | bool]]) -> dict[str, Any]:
    """The document `dreamflow config init` writes: every key at its default.
    ``defaults(profile)`` gives the profile table (it depends on the machine's cores)."""
    doc: dict[str, Any] = {}
    for key in KEYS:
        if key.default is None:
            continue  # TOML has no null; unset keys are documented in config.example.toml
        if isinstance(key.default, MemoryMode):
            doc[key.name] = key.default.value
            continue
        if isinstance(key.default, tuple):
            doc[key.name] = list(key.default)
            continue
        doc[key.name] = str(key.default) if isinstance(key.default, Path) else key.default
    doc["profile"] = {profile: dict(defaults(profile)) for profile in profiles.tables()}
    return doc
