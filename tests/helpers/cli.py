"""Running the CLI in tests, and what a refused run must look like."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import typer.testing
from typer.testing import CliRunner

from dreamflow_cli.cli.app import app

_built: dict[int, tuple[typer.Typer, tuple[int, int], Any]] = {}


def _command_once(typer_app: typer.Typer) -> Any:
    """typer's CliRunner turns the app into a click command on every invoke (~25 ms, hundreds of
    times a run). The app's commands are all registered at import (backends and outputs are
    looked up when a command runs, not when it is built), so it is built once per app, and again
    only if commands were added."""
    shape = (len(typer_app.registered_commands), len(typer_app.registered_groups))
    hit = _built.get(id(typer_app))
    if hit is None or hit[0] is not typer_app or hit[1] != shape:
        hit = (typer_app, shape, _build_command(typer_app))
        _built[id(typer_app)] = hit
    return hit[2]


_build_command = getattr(typer.testing, "_get_command", None)
if _build_command is not None:  # a typer that builds the command elsewhere just stays slower
    typer.testing._get_command = _command_once  # type: ignore[attr-defined]


def invoke(runner: CliRunner, *args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def assert_refused(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    # The automatic memory choice may be noted first; the error itself is one line.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("Memory: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def nothing_written(work: Path) -> bool:
    out = work / "stories"
    return not out.exists() or not any(out.iterdir())


def folder_entries(out: Path) -> list[str]:
    """What an output folder holds besides its library page (index.html): story folders, and any
    staging folder a test means to catch."""
    return sorted(p.name for p in out.iterdir() if p.name != "index.html")
