"""The command line's root: the app, its commands (one module each), and the one error boundary
where every run ends: exceptions, Typer's usage errors and signals become one line on stderr and
a documented exit status (errors.ExitStatus)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import traceback
from pathlib import Path

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from dreamflow_cli import __version__, signals
from dreamflow_cli.cli.characters import characters_app
from dreamflow_cli.cli.config import config_app
from dreamflow_cli.cli.doctor import doctor
from dreamflow_cli.cli.download import download_model
from dreamflow_cli.cli.generate import generate
from dreamflow_cli.cli.library import library
from dreamflow_cli.cli.ui import error_line, stderr_console
from dreamflow_cli.errors import DreamflowError, ExitStatus, UsageError


class DreamflowGroup(TyperGroup):
    """The one place where a run ends: every exception, Typer's own usage errors and the
    signals (signals.py) become one line on stderr and a documented exit code (README)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,  # type: ignore[override]
             **extra):
        argv = list(args) if args is not None else sys.argv[1:]
        if sys.stderr is None:  # closed (2>&-): Rich would fall back to stdout and mix notes into results
            sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        with signals.handling():
            try:
                if sys.stdout is None and "--json" in argv:  # closed (>&-): the result would vanish
                    raise UsageError("standard output is closed, so the --json result would be lost",
                                     "redirect stdout to a file instead of closing it")
                code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            except TyperException as exc:  # Typer's (Click's) usage errors
                # Bare `dreamflow` raises NoArgsIsHelpError after Typer has printed the help.
                code = exc.exit_code if type(exc).__name__ == "NoArgsIsHelpError" else safe_render(exc)
            except typer.Abort:  # Typer's own prompt aborted: no prompts here, but keep it one line
                code = safe_render(KeyboardInterrupt())
            except (KeyboardInterrupt, DreamflowError) as exc:  # before a command runs
                code = safe_render(exc)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except BaseException as exc:  # noqa: BLE001 - the last line of defence, by design
            if isinstance(exc, (SystemExit, GeneratorExit)):
                raise
            raise typer.Exit(safe_render(exc)) from None


def safe_render(exc: BaseException) -> int:
    """render_failure, but a fault in the renderer itself (a closed stderr…) still ends quietly."""
    try:
        return render_failure(exc)
    except Exception:  # noqa: BLE001 - nothing is left to report it with
        with contextlib.suppress(Exception):
            sys.stderr.write(f"Error: {type(exc).__name__}: {exc}\n")
        return getattr(exc, "exit_code", ExitStatus.UNEXPECTED) if isinstance(exc, DreamflowError) else ExitStatus.UNEXPECTED


def render_failure(exc: BaseException) -> int:
    """Say what went wrong in one line (a traceback only with DREAMFLOW_DEBUG=1); return the exit code."""
    console = stderr_console()
    if os.environ.get("DREAMFLOW_DEBUG") == "1" and not isinstance(exc, (TyperException, KeyboardInterrupt)):
        traceback.print_exception(exc)
    if isinstance(exc, KeyboardInterrupt):
        interrupted = exc if isinstance(exc, signals.Interrupted) else \
            signals.Interrupted(signals.pending() or signal.SIGINT, signals.phase())
        where = f" while {interrupted.phase}" if interrupted.phase and interrupted.phase != "saved" else ""
        console.print(f"Interrupted ({signals.signal_name(interrupted.signum)}{where}): nothing unfinished "
                      "was kept.", markup=False, highlight=False)
        return interrupted.exit_code
    if isinstance(exc, BrokenPipeError):
        # The reader (`| head`) went away; there is no one left to tell.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.BROKEN_PIPE
    if isinstance(exc, TyperException):  # Typer's usage errors: bad option, bad value, missing argument
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "dreamflow"
        format_message = getattr(exc, "format_message", None)
        message = " ".join((format_message() if format_message else str(exc)).split())  # may span lines
        error_line(console, message, f"see `{command} --help`")
        return ExitStatus.USAGE
    if isinstance(exc, DreamflowError):
        error_line(console, exc.message, exc.hint)
        return exc.exit_code
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        # A write the storage layer does not wrap (a library's own file): still the disk, not a bug.
        where = f" in {Path(exc.filename).parent}" if exc.filename else ""
        error_line(console, f"no space left{where}", "free some space, or choose another folder")
        return ExitStatus.NO_SPACE
    error_line(console, f"unexpected {type(exc).__name__}: {exc}",
               "run again with DREAMFLOW_DEBUG=1 for a traceback, and report it")
    return ExitStatus.UNEXPECTED


app = typer.Typer(
    cls=DreamflowGroup,
    help="Calm, child-safe bedtime stories from a small local language model. No cloud.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"dreamflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Calm, child-safe bedtime stories from a small local language model. No cloud."""


# Each command lives in its own module and registers here, in the order --help lists them.
app.command("generate")(generate)
app.command("library")(library)
app.command("doctor")(doctor)
app.command("download-model")(download_model)
app.add_typer(config_app, name="config")
app.add_typer(characters_app, name="characters")


def main() -> None:
    app()
