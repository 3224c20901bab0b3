"""`dreamflow doctor`: options in, a table (or one JSON object) out. The checks live in doctor.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from dreamflow_cli.config import default_help
from dreamflow_cli.ui import Output

if TYPE_CHECKING:  # doctor's own imports load when it runs, not for every --help
    from dreamflow_cli.doctor import Report

STYLES = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red", "SKIP": "dim"}


def doctor(
    model: Optional[str] = typer.Option(None, "--model", help="Model file or catalog name."),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help=f"Where models live {default_help('models_dir')}."),
    out: Optional[Path] = typer.Option(None, "--out", help=f"Output folder {default_help('out_dir')}."),
    low_memory: Optional[bool] = typer.Option(None, "--low-memory/--standard",
                                              help="The profile you mean to use \\[default: standard]."),
    repack: Optional[bool] = typer.Option(None, "--repack/--no-repack",
                                          help="Weight repacking for both profiles \\[default: per profile]."),
    verify: bool = typer.Option(False, "--verify", help="Also recompute the model's sha256."),
    load_test: bool = typer.Option(False, "--load-test",
                                   help="Also load the model with each profile and generate a few tokens."),
    backend: Optional[str] = typer.Option(None, "--backend", help="local or openai (check model servers)."),
    base_url: Optional[list[str]] = typer.Option(None, "--base-url", help="Model-server URL (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file to use (else $DREAMFLOW_CONFIG, "
                                          "./dreamflow.toml, the user config dir).", dir_okay=False),
) -> None:
    """Check whether this machine can write stories, and which profile fits. Exit 1 on any FAIL."""
    output = Output.detect(as_json=as_json, quiet=quiet)
    from dreamflow_cli.doctor import run_doctor
    from dreamflow_cli.doctor_load_test import run_load_test

    flags = {"model": model, "models_dir": models_dir, "out_dir": out, "low_memory": low_memory,
             "repack": repack, "backend": backend, "base_url": ",".join(base_url) if base_url else None}
    if verify:
        output.step("Recomputing the model's sha256…")
    report = run_doctor(flags, config_path=config, verify=verify)
    if load_test:
        output.step("Loading the model with each profile…")
        run_load_test(report)
    if output.as_json:
        output.emit(report.as_dict())
    else:
        render(report, output)
    raise typer.Exit(1 if report.failed else 0)


def render(report: Report, output: Output) -> None:
    from rich.table import Table
    from rich.text import Text

    console = output.out()
    table = Table(show_lines=False, title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail")
    for check in report.checks:
        detail = Text(check.detail)
        if check.hint:
            detail.append("\n→ " + check.hint, style="italic")
        table.add_row(check.name, Text(check.status, style=STYLES.get(check.status, "")), detail)
    console.print(table)
    style = "bold red" if report.failed else "bold green"
    console.print(Text(report.verdict, style=style))
