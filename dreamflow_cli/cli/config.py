"""`dreamflow config init` and `config show`: a starting config file, and the effective settings
with where each came from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from dreamflow_cli.cli import options
from dreamflow_cli.cli.ui import Output
from dreamflow_cli.errors import UsageError
from dreamflow_cli.files import atomic_write, ensure_writable_dir
from dreamflow_cli.settings import profiles
from dreamflow_cli.settings.load import load_settings, starter_config, user_config_dir
from dreamflow_cli.settings.show import shown_setting
from dreamflow_cli.settings.table import KEYS

config_app = typer.Typer(help="Create or inspect the configuration file.", no_args_is_help=True)


def _profile_defaults(profile: str) -> dict[str, int | bool]:
    return profiles.default_values(profile, os.cpu_count() or 1)


@config_app.command("init")
def config_init(
    path: Optional[Path] = typer.Option(None, "--path", help="Where to write \\[default: the user config dir]."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write a starting config file with every key at its default."""
    import tomli_w

    target = path or user_config_dir() / "config.toml"
    if target.is_dir():  # --force replaces a file, never a folder
        raise UsageError(f"{target} is a directory", "give --path the name of the file to write, e.g. "
                         f"{target / 'config.toml'}")
    ensure_writable_dir(target.parent, "config folder", "--path")
    data = tomli_w.dumps(starter_config(_profile_defaults)).encode("utf-8")
    try:
        atomic_write(target, b"# dreamflow configuration; see config.example.toml for every key.\n" + data,
                     overwrite=force, option="--path")
    except FileExistsError:
        raise UsageError(f"{target} already exists", "pass --force to replace it") from None
    Output.detect().result_line(str(target))


@config_app.command("show")
def config_show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    low_memory: Optional[bool] = typer.Option(None, "--low-memory/--standard", help="Show this profile."),
    config: Optional[Path] = options.CONFIG,
) -> None:
    """Show the effective settings and where each came from."""
    output = Output.detect(as_json=as_json)
    settings = load_settings({"low_memory": low_memory}, config_path=config)
    # With "auto" the run decides; show the values of the profile it starts from.
    profile = profiles.choose_profile(settings.low_memory, os.cpu_count() or 1, settings.profile_config,
                                      settings.profile_flags)
    rows = []
    for spec in KEYS:
        value = shown_setting(spec.name, getattr(settings, spec.name))
        rows.append((spec.name, None if value is None else str(value) if isinstance(value, Path) else value,
                     settings.sources.get(spec.name, "default")))
    for field_name in profiles.VALUE_KEYS:
        name = f"profile.{profiles.PROFILES[profile.name].table}.{field_name}"
        rows.append((name, getattr(profile, field_name), settings.sources.get(name, "default")))
    if output.as_json:
        output.emit({"config_file": str(settings.config_path) if settings.config_path else None,
                     "profile": profile.name,
                     "settings": {k: {"value": v, "source": s} for k, v, s in rows}})
        return
    from rich.table import Table

    table = Table(title=f"config file: {settings.config_path or 'none'}", title_justify="left")
    for column in ("key", "value", "source"):
        table.add_column(column)
    for key, value, source in rows:
        table.add_row(key, "" if value is None else str(value), source)
    output.out().print(table)
