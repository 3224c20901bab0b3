"""`dreamflow doctor`: options in, a table (or one JSON object) out. The checks: doctor/, run/doctor.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from dreamflow_cli.cli import options
from dreamflow_cli.cli.ui import Output
from dreamflow_cli.errors import UsageError

if TYPE_CHECKING:  # doctor's own imports load when it runs, not for every --help
    from dreamflow_cli.doctor.report import Report

STYLES = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red", "SKIP": "dim"}


def doctor(
    model: Optional[str] = options.MODEL,
    models_dir: Optional[Path] = options.MODELS_DIR,
    out: Optional[Path] = options.OUT,
    low_memory: Optional[bool] = options.LOW_MEMORY,
    repack: Optional[bool] = options.REPACK,
    verify: bool = typer.Option(False, "--verify", help="Also recompute the model's sha256."),
    load_test: bool = typer.Option(False, "--load-test",
                                   help="Also load the model with each profile and generate a few tokens."),
    backend: Optional[str] = options.BACKEND,
    base_url: Optional[list[str]] = options.BASE_URL,
    ca_bundle: Optional[Path] = options.CA_BUNDLE,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
    config: Optional[Path] = options.CONFIG,
) -> None:
    """Check whether this machine can write stories, and which profile fits. Exit 1 on any FAIL."""
    if sys.stdout is None:  # closed (>&-): the report is the whole result (--json is refused in app.py)
        raise UsageError("standard output is closed, so doctor's report would be lost",
                         "redirect stdout to a file (or to /dev/null, to use the exit status alone) instead of "
                         "closing it")
    output = Output.detect(as_json=as_json, quiet=quiet)
    from dreamflow_cli.run.doctor import run_doctor

    flags = {"model": model, "models_dir": models_dir, "out_dir": out, "low_memory": low_memory,
             "repack": repack, "backend": backend, "base_url": options.joined(base_url),
             "ca_bundle": str(ca_bundle) if ca_bundle else None}
    if verify:
        output.step("Recomputing the model's sha256…")
    if load_test:
        output.step("Loading the model with each profile…")
    report = run_doctor(flags, config_path=config, verify=verify, load_test=load_test)
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
