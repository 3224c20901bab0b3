"""`dreamflow library`: rebuild the library page (index.html) of a stories folder, or list its
stories as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dreamflow_cli.cli import options
from dreamflow_cli.cli.ui import Output
from dreamflow_cli.errors import UsageError
from dreamflow_cli.settings.load import load_settings


def library(
    out: Optional[Path] = options.OUT,
    as_json: bool = typer.Option(False, "--json", help="Print the stories as a JSON list instead of the page's path."),
    config: Optional[Path] = options.CONFIG,
) -> None:
    """Rebuild index.html, a page of every story in the output folder (newest first), and print its path."""
    from dreamflow_cli.output.library import build

    output = Output.detect(as_json=as_json)
    out_dir = load_settings({"out_dir": out}, config_path=config).out_dir
    if not out_dir.is_dir():
        raise UsageError(f"there is no stories folder at {out_dir}",
                         "name it with --out, or write a story first: dreamflow generate \"a sleepy dragon\"")
    built = build(out_dir)
    for warning in built.warnings:
        output.warn(warning)
    if as_json:
        output.emit([{**entry.as_json(), "folder": str(out_dir.absolute() / entry.folder)} for entry in built.entries])
    else:
        output.result_line(str(built.path.absolute()))
    output.note(f"{built.stories} stor{'y' if built.stories == 1 else 'ies'} in the library; "
                f"open {built.path.absolute().as_uri()} in a browser")
