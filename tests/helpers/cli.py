"""Running the CLI in tests, and what a refused run must look like."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dreamflow_cli.cli.app import app


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
