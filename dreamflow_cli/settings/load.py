"""Building the effective settings, with one precedence:

    defaults < config file < environment < command-line flags

Config file lookup (first that applies): ``--config PATH``, ``$DREAMFLOW_CONFIG``,
``./dreamflow.toml``, then ``config.toml`` in the platform's user config directory.
An explicitly named file must exist; the implicit ones are optional.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from dreamflow_cli.errors import ConfigError
from dreamflow_cli.files import file_problem
from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.profiles import MemoryMode
from dreamflow_cli.settings.table import KEY_BY_NAME, KEYS, PROFILE_KEYS, PROFILE_VALUE_KEYS, Settings, flag_name

ENV_CONFIG = "DREAMFLOW_CONFIG"


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
