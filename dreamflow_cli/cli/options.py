"""Options more than one command takes, each declared once (help text, metavar, defaults shown
from the settings table), so `generate`, `doctor` and `config show` never drift apart."""

from __future__ import annotations

from pathlib import Path

import typer

from dreamflow_cli.settings.table import DEFAULTS


def default_help(name: str) -> str:
    """"\\[default: 3]" for a flag's help, read from the table (the backslash escapes Rich markup)."""
    value = getattr(DEFAULTS, name)
    if isinstance(value, bool):
        shown = "on" if value else "off"
    elif isinstance(value, Path):
        shown = f"./{value}"
    else:
        shown = str(value)
    return f"\\[default: {shown}]"


CONFIG = typer.Option(None, "--config", help="Config file to use (else $DREAMFLOW_CONFIG, ./dreamflow.toml, "
                      "the user config dir).", dir_okay=False)
MODEL = typer.Option(None, "--model", help="Model file or catalog name (--backend openai: the server's model name).")
MODELS_DIR = typer.Option(None, "--models-dir", help=f"Where models live {default_help('models_dir')}.")
OUT = typer.Option(None, "--out", help=f"Output folder {default_help('out_dir')}.")
LOW_MEMORY = typer.Option(None, "--low-memory/--standard",
                          help="Memory profile \\[default: auto: standard when it fits with headroom].")
REPACK = typer.Option(None, "--repack/--no-repack", help="llama.cpp weight repacking: faster, more memory.")
BACKEND = typer.Option(None, "--backend", metavar="local|openai",
                       help="local: llama.cpp in this process; openai: an OpenAI-compatible server "
                            f"{default_help('backend')}.")
BASE_URL = typer.Option(None, "--base-url", metavar="URL",
                        help="Model-server URL, e.g. http://127.0.0.1:8080/v1; repeat for several servers.")
CA_BUNDLE = typer.Option(None, "--ca-bundle", metavar="PATH", dir_okay=False,
                         help="PEM file to check an https model server's certificate against (its own "
                              "certificate or its CA) \\[default: the system's, or $SSL_CERT_FILE].")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress display.")


def joined(urls: list[str] | None) -> str | None:
    """Repeated --base-url values as the one comma-separated setting."""
    return ",".join(urls) if urls else None
