"""Terminal rendering (the UI layer, with cli.py): consoles, the live status line, error lines."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Iterator, cast

from rich.console import Console
from rich.text import Text

from dreamflow_cli.units import human_bytes

if TYPE_CHECKING:  # the run's machinery (psutil, estimates) loads when a command runs, not for --help
    from dreamflow_cli.config import Settings
    from dreamflow_cli.monitor import Status, Watch
    from dreamflow_cli.preflight import MemoryDecision


def plain_terminal() -> bool:
    return os.environ.get("TERM") == "dumb"


def stderr_console() -> Console:
    # Bound to the stderr object of this moment: llama-cpp-python swaps sys.stderr while it
    # loads, and our display must not follow it into a sink.
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def status_line(status: Status) -> Text:
    text = Text()
    if status.batch_total:
        eta = status.batch_eta_seconds()
        text.append(f"story {min(status.batch_done + 1, status.batch_total)}/{status.batch_total}", style="bold")
        text.append(f" (ETA {_duration(eta)})  " if eta is not None else "  ")
    text.append(f"{status.phase:<16}", style="bold cyan")
    if status.stories:
        text.append(f"  {status.in_flight} in flight")
        text.append(f"  tokens {sum(story.tokens for story in list(status.stories))}")
        text.append(f"  {status.tokens_per_second():5.1f} tok/s")
    elif status.max_tokens:
        text.append(f"  tokens {status.tokens}/{status.max_tokens}")
        text.append(f"  {status.tokens_per_second():5.1f} tok/s")
    if status.server:  # a server's memory is not ours to watch
        text.append(f"  {status.server}", style="green")
        return text
    text.append(f"  RSS {human_bytes(status.rss)}", style="magenta")
    text.append(f"  available {human_bytes(status.available)}", style="green")
    return text


class Progress:
    """Shows a run's Status: live on a terminal, a line per phase on TERM=dumb, else nothing."""

    def __init__(self, console: Console, *, quiet: bool):
        from dreamflow_cli.monitor import Status

        self.console = console
        self.quiet = quiet
        self.status = Status()
        if quiet or not console.is_terminal:
            self.mode = "off"
        elif plain_terminal() or console.is_dumb_terminal:
            self.mode = "plain"
        else:
            self.mode = "live"
        self._last_phase = ""

    def on_update(self, status: Status) -> None:
        if self.mode == "plain" and status.phase != self._last_phase:
            self._last_phase = status.phase
            self.console.print(f"dreamflow: {status.phase}…")

    def watch(self, settings: Settings) -> Watch:
        from dreamflow_cli.monitor import Thresholds, Watch

        return Watch(self.status, on_update=self.on_update, on_warning=self.warn,
                     thresholds=Thresholds.from_settings(settings))

    def memory_note(self, decision: MemoryDecision) -> None:
        """Say which profile an automatic choice picked and why (and always when it won't fit)."""
        if not decision.fits:
            self.warn(decision.reason)
        elif decision.mode == "auto" and not self.quiet:
            self.console.print(f"Memory: {decision.reason}")

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]Warning:[/] {message}" if self.console.color_system else f"Warning: {message}")

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


def error_line(console: Console, message: str, hint: str | None) -> None:
    text = Text()
    text.append("Error: ", style="bold red")
    text.append(message.rstrip("."))
    if hint:
        text.append(". Hint: ", style="bold")
        text.append(hint.rstrip(".") + ".")
    console.print(text, soft_wrap=True)
