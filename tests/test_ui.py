"""The live display: when it shows, what it shows, and when it stays plain or silent."""

from __future__ import annotations

import io
import json
import time

from rich.console import Console

from dreamflow_cli.run.monitor import Status
from dreamflow_cli.cli.ui import LIVE, OFF, PLAIN, Output, Progress, human_bytes, status_line
from tests.helpers.cli import invoke


def console(terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal, width=120)


def test_one_output_mode_rule_for_every_command():
    decide = Output.decide
    assert decide(stderr_terminal=True).progress == LIVE
    assert decide(stderr_terminal=True, dumb=True).progress == PLAIN
    assert decide(stderr_terminal=False).progress == OFF  # piped or redirected: no progress
    assert decide(stderr_terminal=True, quiet=True).progress == OFF
    assert decide(stderr_terminal=True, as_json=True).progress == OFF  # --json implies no progress
    assert [decide(as_json=True, quiet=True).mode, decide(quiet=True).mode,
            decide(stderr_terminal=True, dumb=True).mode, decide().mode] == ["json", "quiet", "plain", "human"]


def test_output_detects_the_terminal_and_term_dumb(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TTY_COMPATIBLE", "0")  # whatever runs the tests, this is no terminal
    assert Output.detect().progress == OFF and not Output.detect().stdout_terminal
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # Rich's own switch: treat the streams as terminals
    assert Output.detect().progress == LIVE and Output.detect().stdout_terminal
    monkeypatch.setenv("TERM", "dumb")
    assert Output.detect().progress == PLAIN
    assert Output.detect(quiet=True).progress == OFF


def test_notes_steps_warnings_and_json_each_follow_their_rule(capsys):
    for output in (Output.decide(stderr_terminal=True), Output.decide(stderr_terminal=True, quiet=True)):
        output.note("a note")
        output.step("a step")
        output.warn("a [bold]warning[/bold]")
        output.emit({"title": "Zoë's 🌙", "n": 1})
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["a note", "a step", "Warning: a [bold]warning[/bold]",
                                         "Warning: a [bold]warning[/bold]"]
    lines = captured.out.splitlines()
    assert lines[0] == lines[1] and lines[0].isascii()  # one writer, one encoding choice
    assert json.loads(lines[0]) == {"title": "Zoë's 🌙", "n": 1}


def test_progress_on_term_dumb_prints_a_line_per_phase():
    plain = Progress(Output.decide(stderr_terminal=True, dumb=True), console(terminal=True))
    assert plain.mode == PLAIN
    plain.on_update(Status(phase="loading model"))
    plain.on_update(Status(phase="loading model"))
    plain.on_update(Status(phase="writing story"))
    assert plain.console.file.getvalue().splitlines() == ["dreamflow: loading model…", "dreamflow: writing story…"]
    assert Progress(Output.decide(stderr_terminal=False), console(terminal=False)).mode == OFF


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


def test_doctor_progress_lines_follow_the_same_rules(runner, models_dir):
    args = ("doctor", "--models-dir", str(models_dir), "--verify")
    terminal = {"TTY_COMPATIBLE": "1", "TERM": "dumb"}
    shown = invoke(runner, *args, env=terminal)
    assert "Recomputing the model's sha256…" in shown.stderr and "Recomputing" not in shown.stdout
    for extra in ("--quiet", "--json"):
        hidden = invoke(runner, *args, extra, env=terminal)
        assert hidden.exit_code == shown.exit_code
        assert "Recomputing" not in hidden.stderr, extra
    piped = invoke(runner, *args)  # stderr is no terminal: no progress
    assert piped.stderr == "" and piped.exit_code == shown.exit_code
