"""Terminal rendering (the UI layer, with cli.py): the output mode, consoles, the live status
line, error lines.

Every command builds one ``Output`` from its --json/--quiet flags and the terminal, and speaks
only through it. The rules, the same for every command:

- stdout carries the result only: human text (Rich on a terminal, plain when piped) or, with
  --json, JSON (one object, or one per line for a batch), written by ``Output.emit``.
- progress (a live display, or one line per step on TERM=dumb) goes to stderr, and only when
  stderr is a terminal and neither --quiet nor --json was given.
- notes (what was chosen, where the result went, a batch summary) go to stderr unless --quiet.
- warnings and errors always go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, cast

from rich.console import Console
from rich.text import Text

from dreamflow_cli.units import human_bytes

if TYPE_CHECKING:  # the run's machinery (psutil, estimates) loads when a command runs, not for --help
    from dreamflow_cli.settings.table import Settings
    from dreamflow_cli.run.monitor import Status, Watch
    from dreamflow_cli.plan.preflight import MemoryDecision


def plain_terminal(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("TERM") == "dumb"


def stderr_console() -> Console:
    # Bound to the stderr object of this moment: llama-cpp-python swaps sys.stderr while it
    # loads, and our display must not follow it into a sink.
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


LIVE, PLAIN, OFF = "live", "plain", "off"


@dataclass(frozen=True)
class Output:
    """How this invocation talks: decided once from the flags and the terminal (see the rules
    in this module's docstring)."""

    as_json: bool = False
    quiet: bool = False
    progress: str = OFF  # LIVE, PLAIN (one line per step) or OFF
    stdout_terminal: bool = False

    @classmethod
    def decide(cls, *, as_json: bool = False, quiet: bool = False, stderr_terminal: bool = False,
               stdout_terminal: bool = False, dumb: bool = False) -> "Output":
        if quiet or as_json or not stderr_terminal:
            progress = OFF
        else:
            progress = PLAIN if dumb else LIVE
        return cls(as_json, quiet, progress, stdout_terminal)

    @classmethod
    def detect(cls, *, as_json: bool = False, quiet: bool = False) -> "Output":
        err = stderr_console()
        # A closed stream (`>&-`) is None, not a terminal.
        return cls.decide(as_json=as_json, quiet=quiet, stderr_terminal=sys.stderr is not None and err.is_terminal,
                          stdout_terminal=sys.stdout is not None and stdout_console().is_terminal,
                          dumb=plain_terminal() or err.is_dumb_terminal)

    @property
    def mode(self) -> str:
        """In one word: json, quiet, plain (TERM=dumb) or human."""
        if self.as_json:
            return "json"
        if self.quiet:
            return "quiet"
        return "plain" if self.progress == PLAIN else "human"

    def err(self) -> Console:
        return stderr_console()

    def out(self) -> Console:
        return stdout_console()

    def emit(self, obj: Any) -> None:
        """The one JSON writer for stdout. ASCII-only (non-ASCII as \\u escapes): valid JSON that
        survives any console encoding, e.g. a Windows pipe in a legacy code page."""
        self.result_line(json.dumps(obj, ensure_ascii=True))

    def result_line(self, text: str) -> None:
        """One line of a result on stdout (a path, a story folder, a JSON object)."""
        if sys.stdout is None:  # closed (>&-): the caller has said on stderr where the result went
            return
        sys.stdout.write(f"{text}\n")
        sys.stdout.flush()

    def note(self, message: str) -> None:
        if not self.quiet:
            self.err().print(message, markup=False, highlight=False)

    def step(self, message: str) -> None:
        """A progress line ("Recomputing the sha256…"): only where progress shows."""
        if self.progress != OFF:
            self.err().print(message, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        warning_line(self.err(), message)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_bar(fraction: float, width: int = 12) -> str:
    """ "[#####-------]  42%": plain characters, so it reads the same on any terminal."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {fraction:4.0%}"


def status_line(status: Status) -> Text:
    text = Text()
    if status.batch_total:
        eta = status.batch_eta_seconds()
        text.append(f"story {min(status.batch_done + 1, status.batch_total)}/{status.batch_total}", style="bold")
        text.append(f" (ETA {_duration(eta)})  " if eta is not None else "  ")
    text.append(f"{status.phase:<16}", style="bold cyan")
    if status.phase_done is not None:  # narrating, encoding, drawing: how far this phase is
        text.append(f"  {progress_bar(status.phase_done)}")
    elif status.stories:
        text.append(f"  {status.in_flight} in flight")
        text.append(f"  tokens {sum(story.tokens for story in list(status.stories))}")
        text.append(f"  {status.tokens_per_second():5.1f} tok/s")
    elif status.max_tokens:
        text.append(f"  tokens {status.tokens}/{status.max_tokens}")
        text.append(f"  {status.tokens_per_second():5.1f} tok/s")
    if status.server and status.phase_done is None:  # a server's memory is not ours to watch
        text.append(f"  {status.server}", style="green")
        return text
    text.append(f"  RSS {human_bytes(status.rss)}", style="magenta")
    text.append(f"  available {human_bytes(status.available)}", style="green")
    return text


class Progress:
    """Shows a run's Status as ``output.progress`` says: live, a line per phase, or nothing."""

    def __init__(self, output: Output, console: Console | None = None):
        from dreamflow_cli.run.monitor import Status

        self.output = output
        self.console = console or output.err()
        self.status = Status()
        self.mode = output.progress
        self._last_phase = ""

    def on_update(self, status: Status) -> None:
        if self.mode == "plain" and status.phase != self._last_phase:
            self._last_phase = status.phase
            self.console.print(f"dreamflow: {status.phase}…")

    def watch(self, settings: Settings) -> Watch:
        from dreamflow_cli.run.monitor import Thresholds, Watch

        return Watch(self.status, on_update=self.on_update, on_warning=self.warn,
                     thresholds=Thresholds.from_settings(settings))

    def memory_note(self, decision: MemoryDecision) -> None:
        """Say which profile an automatic choice picked and why (and always when it won't fit)."""
        if not decision.fits:
            self.warn(decision.reason)
        elif decision.mode == "auto" and not self.output.quiet:
            self.console.print(f"Memory: {decision.reason}", markup=False, highlight=False)

    def warn(self, message: str) -> None:
        warning_line(self.console, message)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        if self.mode != "live":
            yield
            return
        from rich.console import Group
        from rich.live import Live
        from rich.spinner import Spinner

        spinner = Spinner("dots", style="cyan")

        def render() -> Group:
            frame = cast(Text, spinner.render(self.console.get_time()))  # a Text, though typed wider
            return Group(Text.assemble(frame, " ", status_line(self.status)))

        with Live(get_renderable=render, console=self.console, refresh_per_second=4, transient=True):
            yield


def warning_line(console: Console, message: str) -> None:
    console.print(Text.assemble(("Warning:", "yellow"), " ", message), soft_wrap=True)


def error_line(console: Console, message: str, hint: str | None) -> None:
    text = Text()
    text.append("Error: ", style="bold red")
    text.append(message.rstrip("."))
    if hint:
        text.append(". Hint: ", style="bold")
        text.append(hint.rstrip(".") + ".")
    console.print(text, soft_wrap=True)
