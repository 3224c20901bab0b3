"""The live display: when it shows, what it shows, and when it stays plain or silent."""

from __future__ import annotations

import io
import time

from rich.console import Console

from dreamflow_cli.monitor import Status
from dreamflow_cli.ui import Progress, human_bytes, status_line
from tests.conftest import invoke


def console(terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal, width=120)


def test_display_mode_follows_the_terminal_quiet_and_term_dumb(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    assert Progress(console(terminal=False), quiet=False).mode == "off"
    assert Progress(console(terminal=True), quiet=True).mode == "off"
    assert Progress(console(terminal=True), quiet=False).mode == "live"
    monkeypatch.setenv("TERM", "dumb")
    plain = Progress(console(terminal=True), quiet=False)
    assert plain.mode == "plain"
    plain.on_update(Status(phase="loading model"))
    plain.on_update(Status(phase="loading model"))
    plain.on_update(Status(phase="writing story"))
    assert plain.console.file.getvalue().splitlines() == ["dreamflow: loading model…", "dreamflow: writing story…"]


def test_status_line_shows_phase_tokens_speed_rss_and_available():
    status = Status(phase="writing story", tokens=120, max_tokens=256, rss=190_000_000, available=3_100_000_000)
    status.generation_started = time.perf_counter() - 2.0
    text = status_line(status).plain
    assert "writing story" in text and "tokens 120/256" in text and "tok/s" in text
    assert "RSS 190 MB" in text and "available 3.1 GB" in text
    status.batch_total, status.batch_done = 20, 5
    status.batch_started = time.perf_counter() - 10
    assert "story 6/20 (ETA 30s)" in status_line(status).plain


def test_human_bytes():
    assert [human_bytes(n) for n in (512, 190_000_000, 3_100_000_000)] == ["512 B", "190 MB", "3.1 GB"]


def test_verbose_lets_llama_cpp_log_lines_through(runner, models_dir, isolated):
    args = ("generate", "a fox", "--models-dir", str(models_dir), "--no-images", "--max-tokens", "32", "--json")
    quiet = invoke(runner, *args)
    loud = invoke(runner, *args, "--verbose")
    assert quiet.exit_code == loud.exit_code == 0
    assert "llama_model_loader" not in quiet.stderr
    assert "llama_model_loader" in loud.stderr
    assert loud.stdout.count("\n") == 1  # the logs never reach stdout
