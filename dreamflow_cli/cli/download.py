"""`dreamflow download-model`: options, the progress display and the output (core: download.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import typer

from dreamflow_cli.model.catalog import CATALOG, DEFAULT_MODEL, DEFAULT_VOICE, VOICES, CatalogEntry, find_entry
from dreamflow_cli.settings.keys import Key
from dreamflow_cli.settings.load import load_settings
from dreamflow_cli.errors import ExitStatus, UsageError
from dreamflow_cli.cli.ui import LIVE, PLAIN, Output
from dreamflow_cli.units import human_bytes

if TYPE_CHECKING:  # the download machinery (ssl, http) loads only when a download runs: --help stays fast
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from dreamflow_cli.download.api import DownloadProgress, DownloadResult, Target

TIMEOUT_KEY = Key("timeout", float, None, (), 0.1, 86400)
PLAIN_STEP_PERCENT = 10
PLAIN_STEP_BYTES = 100_000_000  # when the size is unknown
PHASE_WORDS = {"checking": "Checking", "downloading": "Downloading", "fetching": "Fetching with pip",
               "extracting": "Extracting", "converting": "Converting to"}


class DownloadDisplay:
    """As ``output.progress`` says: a Rich progress bar, a line every 10% (TERM=dumb), or nothing.
    Notices (retries, restarts) are notes: they explain a slow or restarted download even where
    no progress shows, and --quiet hides them."""

    def __init__(self, output: Output, console: Console | None = None):
        self.output = output
        self.console = console or output.err()
        self.mode = output.progress
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._phase = ""
        self._next_mark = 0

    @contextlib.contextmanager
    def running(self) -> Iterator["DownloadDisplay"]:
        if self.mode != LIVE:
            yield self
            return
        from rich.progress import (BarColumn, DownloadColumn, Progress, TaskProgressColumn, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TaskProgressColumn(),
                             TransferSpeedColumn(), TimeRemainingColumn(), console=self.console, transient=True)
        with self._bar:
            yield self
        self._bar = None

    def on_progress(self, event: DownloadProgress) -> None:
        if self.mode == LIVE:
            self._live(event)
        elif self.mode == PLAIN:
            self._plain(event)

    def notice(self, message: str) -> None:
        if self.output.quiet:
            return
        console = self._bar.console if self._bar is not None else self.console
        console.print(f"dreamflow: {message}", markup=False, highlight=False)

    def _live(self, event: DownloadProgress) -> None:
        assert self._bar is not None
        if event.phase != self._phase:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._phase = event.phase
            self._task = self._bar.add_task(f"{PHASE_WORDS.get(event.phase, event.phase)} {event.filename}",
                                            total=event.total, completed=event.done)
        else:
            self._bar.update(self._task, completed=event.done, total=event.total)  # type: ignore[arg-type]

    def _plain(self, event: DownloadProgress) -> None:
        if event.phase != self._phase:
            self._phase = event.phase
            self._next_mark = PLAIN_STEP_PERCENT if event.total else PLAIN_STEP_BYTES
            self.console.print(f"dreamflow: {PHASE_WORDS.get(event.phase, event.phase).lower()} {event.filename}"
                               + (f" ({human_bytes(event.total)})" if event.total else "") + "…",
                               markup=False, highlight=False)
        if event.phase in ("fetching", "checking"):
            return  # pip reports nothing we could show; a local check is over in seconds
        position = event.done * 100 // event.total if event.total else event.done
        step = PLAIN_STEP_PERCENT if event.total else PLAIN_STEP_BYTES
        if position < self._next_mark:
            return
        self._next_mark = (position // step + 1) * step
        if event.total:
            line = f"  {position}% ({human_bytes(event.done)} of {human_bytes(event.total)})"
        else:
            line = f"  {human_bytes(event.done)}"
        self.console.print(line, markup=False, highlight=False)


def as_installed(entry: CatalogEntry) -> CatalogEntry:
    """The entry as the file download-model leaves: a converted model's own name and size (its
    memory need follows the weights it will load)."""
    if entry.derived is None:
        return entry
    return dataclasses.replace(entry, filename=entry.derived.filename, size=entry.derived.size,
                               sha256=entry.derived.sha256)


def _choose_target(name: Optional[str], url: Optional[str], sha256: Optional[str], filename: Optional[str],
                   endpoint: str) -> Target:
    from dreamflow_cli.download.api import target_for_entry, target_for_url

    if url is not None:
        if name is not None:
            raise UsageError("give either a model name or --url, not both",
                             "drop the name to fetch the URL, or drop --url")
        return target_for_url(url, sha256, filename)
    if sha256 is not None or filename is not None:
        raise UsageError("--sha256 and --filename only apply to --url",
                         "catalog models have their names and checksums pinned")
    entry = find_entry(name or DEFAULT_MODEL)
    if entry is None:
        raise UsageError(f"no model or voice called {name!r} in the catalog",
                         f"choose one of {', '.join(e.name for e in (*CATALOG, *VOICES))} (see --list), or use --url")
    return target_for_entry(entry, endpoint)


def _warn_if_too_big(target: Target, output: Output) -> None:
    entry = find_entry(target.name) if target.name else None
    if entry is None:
        return
    from dreamflow_cli.settings import profiles
    from dreamflow_cli.plan.memory import memory_readings
    from dreamflow_cli.plan import preflight
    from dreamflow_cli.plan.preflight import download_warning

    from dreamflow_cli.plan.estimate import estimate_ram_bytes

    smallest = preflight.smallest()
    need = estimate_ram_bytes(as_installed(entry), profiles.PROFILES[smallest].values, profile=smallest)
    warning = download_warning(entry.name, need, memory_readings().usable_total)
    if warning:
        output.warn(warning)


def _list_catalog(output: Output) -> None:
    from dreamflow_cli.plan.estimate import estimate_ram_bytes

    from dreamflow_cli.model.catalog import recommend_model
    from dreamflow_cli.output.narration.script import STORY_WORDS_BOUND, narrator_memory_bytes
    from dreamflow_cli.plan.memory import memory_readings

    choice = recommend_model(memory_readings().usable)
    rows: list[dict[str, Any]] = []
    for entry in CATALOG:
        installed = as_installed(entry)
        rows.append({"name": entry.name, "kind": entry.kind, "file": installed.filename,
                     "size": installed.size or entry.approx_size,
                     "ram": estimate_ram_bytes(installed) or entry.ram_low_memory,  # None when unknown
                     "license": entry.license, "source": entry.source, "default": entry.name == DEFAULT_MODEL,
                     "description": entry.description, "recommended": entry is choice.entry,
                     **({"downloaded_as": entry.filename} if entry.derived else {})})
    for entry in VOICES:
        rows.append({"name": entry.name, "kind": entry.kind, "file": entry.filename, "size": entry.size,
                     "ram": narrator_memory_bytes(STORY_WORDS_BOUND), "license": entry.license, "source": entry.source,
                     "default": entry.name == DEFAULT_VOICE, "description": entry.description, "card": entry.card,
                     "recommended": False})
    if choice.entry is not None:  # advice, not a result: stdout stays one model a line
        output.note(f"Best for this machine: {choice.entry.name} ({choice.why})")
    if output.as_json:
        output.emit(rows)
        return
    columns = ["name", "file", "size", "RAM needed", "license", "source"]
    cells = [[row["name"] + (" (default)" if row["default"] else ""), row["file"],
              human_bytes(row["size"]) if row["size"] else "?", human_bytes(row["ram"]) if row["ram"] else "?",
              row["license"], row["source"]] for row in rows]
    if not output.stdout_terminal:  # scripts and pipes get every value whole, one model a line
        widths = [max(len(c[i]) for c in [columns, *cells]) for i in range(len(columns))]
        for line in [columns, *cells]:
            output.result_line("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
        for entry in VOICES:
            output.note(f"{entry.name}: {entry.card}")
        return
    from rich.table import Table

    table = Table(title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in ("size", "RAM needed") else "left")
    for line in cells:
        table.add_row(*line)
    output.out().print(table)
    for entry in VOICES:  # a voice's card: where it comes from, which a licence column cannot say
        output.out().print(f"{entry.name}: {entry.card}", markup=False, highlight=False, soft_wrap=True)


HOW_CHECKED = {"catalog": "the catalog's sha256", "--sha256": "the given sha256", "server": "the server's sha256",
               "manifest": "its manifest", "computed": "its size and GGUF header (no published sha256; the computed "
                                                       "one is in the manifest)"}


def _report(result: DownloadResult, output: Output) -> None:
    if output.as_json:
        output.emit(result.summary())
    elif sys.stdout is None:  # closed (>&-): the model is in place; say where on stderr instead
        output.warn(f"standard output is closed; the model is {result.path}")
    else:
        output.result_line(str(result.path))
    if result.conversion is not None:
        _report_conversion(result, result.conversion, output)
        return
    checked = HOW_CHECKED.get(result.sha256_from, "its checksum")
    if not result.downloaded:
        output.note(f"Already present and verified against {checked}: {result.path.name}")
        return
    resumed = f", resumed at {human_bytes(result.resumed_from)}" if result.resumed_from else ""
    output.note(f"Downloaded {result.path.name} ({human_bytes(result.size)} in {result.seconds:.1f} s{resumed}); "
                f"verified against {checked}")


def _report_conversion(result: DownloadResult, conversion: dict[str, Any], output: Output) -> None:
    original = Path(conversion["original"]["path"]).name
    if not conversion["converted"]:
        kept = f"; the original {original} is kept beside it" if conversion["original"]["kept"] else ""
        output.note(f"Already present and verified against {HOW_CHECKED.get(result.sha256_from, 'its manifest')}: "
                    f"{result.path.name}{kept}")
        return
    if conversion["original"]["downloaded"]:
        output.note(f"Downloaded {original} ({human_bytes(conversion['original']['size'])}); verified against "
                    "the catalog's sha256")
    checked = "verified against the catalog's sha256" if result.sha256_from == "catalog" else \
        "its sha256 is recorded in the manifest"
    kept = "kept the original" if conversion["original"]["kept"] else \
        f"removed {original} (pass --keep-original to keep it)"
    output.note(f"Converted it to {conversion['quant']} with llama.cpp in {conversion['seconds']:.1f} s: "
                f"{result.path.name} ({human_bytes(result.size)}), {checked}; {kept}")


def download_model(
    name: Optional[str] = typer.Argument(None, help=f"Catalog model to fetch (see --list) \\[default: {DEFAULT_MODEL}]."),
    url: Optional[str] = typer.Option(None, "--url", help="Fetch this .gguf URL instead of a catalog model."),
    sha256: Optional[str] = typer.Option(None, "--sha256", help="Expected sha256 of the --url file."),
    filename: Optional[str] = typer.Option(None, "--filename", help="Save the --url file under this name."),
    directory: Optional[Path] = typer.Option(None, "--dir", file_okay=False,
                                             help="Models directory \\[default: models_dir, ./models]."),
    force: bool = typer.Option(False, "--force", help="Download (and convert) again even if a verified copy is present."),
    keep_original: bool = typer.Option(False, "--keep-original",
                                       help="Keep the downloaded file of a model dreamflow converts (smollm2-135m: "
                                            "the Q4_1 beside the Q8_0)."),
    list_models: bool = typer.Option(False, "--list", help="Show the catalog and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the path."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    timeout: Optional[float] = typer.Option(None, "--timeout",
                                            help="Seconds without data before retrying \\[default: 60]."),
    config: Optional[Path] = typer.Option(None, "--config", dir_okay=False,
                                          help="Config file to use (else $DREAMFLOW_CONFIG, ./dreamflow.toml, "
                                               "the user config dir)."),
) -> None:
    """Download a model into the models directory: resumable, checked, never half-written."""
    output = Output.detect(as_json=as_json, quiet=quiet)
    if list_models:
        if sys.stdout is None:  # closed (>&-): the listing is the whole result
            raise UsageError("standard output is closed, so the catalog listing would be lost",
                             "redirect stdout to a file instead of closing it")
        _list_catalog(output)
        return
    from dreamflow_cli.download.api import DownloadOptions, download, download_catalog_model, part_path

    if timeout is not None:
        timeout = TIMEOUT_KEY.coerce(timeout, "--timeout")
    options = DownloadOptions.from_env(None, **({"read_timeout": timeout} if timeout is not None else {}))
    target = _choose_target(name, url, sha256, filename, options.endpoint)
    converted = find_entry(target.name) if target.name else None
    if converted is not None and converted.derived is None:
        converted = None
    if keep_original and converted is None:
        raise UsageError("--keep-original only applies to a model dreamflow converts after downloading it",
                         f"models it converts: {', '.join(e.name for e in CATALOG if e.derived)}")
    dest_dir = load_settings({"models_dir": directory}, config_path=config).models_dir
    display = DownloadDisplay(output)
    _warn_if_too_big(target, output)
    try:
        with display.running():
            if converted is not None:
                result = download_catalog_model(converted, dest_dir, force=force, keep_original=keep_original,
                                                options=options, on_progress=display.on_progress,
                                                on_notice=display.notice)
            else:
                result = download(target, dest_dir, force=force, options=options,
                                  on_progress=display.on_progress, on_notice=display.notice)
    except KeyboardInterrupt as exc:  # SIGINT, SIGTERM or SIGHUP (signals.Interrupted)
        output.err().print(f"Interrupted: {_kept(dest_dir, target, converted, part_path)}.", markup=False,
                           highlight=False)
        raise typer.Exit(getattr(exc, "exit_code", ExitStatus.INTERRUPTED)) from None
    _report(result, output)


def _kept(dest_dir: Path, target: Target, converted: CatalogEntry | None, part_path: Any) -> str:
    """What an interrupted download-model leaves, in words."""
    part = part_path(dest_dir / target.filename)
    if part.exists():
        return f"the partial download is kept in {part}; run the same command again to resume"
    if converted is not None and converted.derived is not None and (dest_dir / converted.filename).is_file() \
            and not (dest_dir / converted.derived.filename).is_file():
        return (f"the conversion was stopped and nothing of it kept; the verified download {converted.filename} is "
                "kept, so the same command again only converts it")
    return "nothing was kept"
