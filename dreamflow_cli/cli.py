"""The command line: parse options, call the core, render results. Nothing else lives here."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from dreamflow_cli import __version__, signals
from dreamflow_cli.config import AUTO, KEYS, Settings, default_help, load_settings, starter_config, user_config_dir
from dreamflow_cli.endpoints import shown_setting
from dreamflow_cli import profiles
from dreamflow_cli.errors import (EXIT_BATCH_PARTIAL, EXIT_BROKEN_PIPE, EXIT_NO_SPACE, EXIT_UNEXPECTED, EXIT_USAGE, DreamflowError,
                                  UsageError)
from dreamflow_cli.storage import atomic_write, ensure_writable_dir, file_problem
from dreamflow_cli.ui import Output, Progress, error_line, stderr_console

if TYPE_CHECKING:
    from dreamflow_cli.composer import StoryRequest


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
        return getattr(exc, "exit_code", EXIT_UNEXPECTED) if isinstance(exc, DreamflowError) else EXIT_UNEXPECTED


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
        return EXIT_BROKEN_PIPE
    if isinstance(exc, TyperException):  # Typer's usage errors: bad option, bad value, missing argument
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "dreamflow"
        format_message = getattr(exc, "format_message", None)
        message = " ".join((format_message() if format_message else str(exc)).split())  # may span lines
        error_line(console, message, f"see `{command} --help`")
        return EXIT_USAGE
    if isinstance(exc, DreamflowError):
        error_line(console, exc.message, exc.hint)
        return exc.exit_code
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        # A write the storage layer does not wrap (a library's own file): still the disk, not a bug.
        where = f" in {Path(exc.filename).parent}" if exc.filename else ""
        error_line(console, f"no space left{where}", "free some space, or choose another folder")
        return EXIT_NO_SPACE
    error_line(console, f"unexpected {type(exc).__name__}: {exc}",
               "run again with DREAMFLOW_DEBUG=1 for a traceback, and report it")
    return EXIT_UNEXPECTED


app = typer.Typer(
    cls=DreamflowGroup,
    help="Calm, child-safe bedtime stories from a small local language model. No cloud.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Create or inspect the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")

ConfigOption = typer.Option(None, "--config", help="Config file to use (else $DREAMFLOW_CONFIG, "
                            "./dreamflow.toml, the user config dir).", dir_okay=False)


def _version(value: bool) -> None:
    if value:
        print(f"dreamflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Calm, child-safe bedtime stories from a small local language model. No cloud."""


@app.command()
def generate(
    prompt: Optional[str] = typer.Argument(None, help="What the story is about, e.g. \"a sleepy dragon\"."),
    name: Optional[str] = typer.Option(None, "--name", help="The child's name: they become the hero."),
    age: Optional[int] = typer.Option(None, "--age", help="The child's age (1-12)."),
    theme: Optional[str] = typer.Option(None, "--theme", help="Where it happens, e.g. \"a snowy forest\"."),
    moral: Optional[str] = typer.Option(None, "--moral", help="A lesson to show gently, e.g. \"sharing\"."),
    candidates: Optional[int] = typer.Option(None, "--candidates", min=1, max=8,
                                             help="Drafts to write at most; the best by the content checks is kept "
                                                  f"{default_help('candidates')}."),
    scenes: Optional[int] = typer.Option(None, "--scenes", help=f"Scenes and pictures (1-8) {default_help('scenes')}."),
    images: Optional[bool] = typer.Option(None, "--images/--no-images", help=f"Draw a picture per scene {default_help('images')}."),
    seed: Optional[int] = typer.Option(None, "--seed",
                                       help="Seed for a repeatable story (in a batch: the base of each line's seed)."),
    out: Optional[Path] = typer.Option(None, "--out", help=f"Output folder {default_help('out_dir')}."),
    model: Optional[str] = typer.Option(None, "--model", help="Model file or catalog name (--backend openai: the "
                                        "server's model name)."),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help=f"Where models live {default_help('models_dir')}."),
    backend: Optional[str] = typer.Option(None, "--backend", metavar="local|openai",
                                          help="local: llama.cpp in this process; openai: an OpenAI-compatible "
                                          f"server {default_help('backend')}."),
    base_url: Optional[list[str]] = typer.Option(None, "--base-url", metavar="URL",
                                                 help="Model-server URL, e.g. http://127.0.0.1:8080/v1; "
                                                 "repeat for several servers."),
    low_memory: Optional[bool] = typer.Option(None, "--low-memory/--standard",
                                              help=f"Memory profile {default_help('low_memory')}."),
    auto_memory: bool = typer.Option(False, "--auto-memory",
                                     help="Standard when it fits with headroom, else low-memory."),
    memory_check: Optional[bool] = typer.Option(None, "--memory-check/--no-memory-check",
                                                help=f"Refuse a model that does not fit in memory {default_help('memory_check')}."),
    ctx: Optional[int] = typer.Option(None, "--ctx", help="Override the context size."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Override the batch size."),
    threads: Optional[int] = typer.Option(None, "--threads",
                                          help="A fixed thread count \\[default: cores idle now, fewer if they get busy]."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Override the story's token budget."),
    repack: Optional[bool] = typer.Option(None, "--repack/--no-repack",
                                          help="llama.cpp weight repacking: faster, more memory."),
    prompts_file: Optional[str] = typer.Option(None, "--prompts-file", metavar="FILE",
                                               help="Many stories: a prompt per line, or JSON Lines; - reads stdin."),
    parallel: Optional[str] = typer.Option(None, "--parallel", metavar="N|auto",
                                           help="In a batch, stories written at once; auto: as many as memory "
                                                "allows \\[default: 1 locally]."),
    gpu_layers: Optional[str] = typer.Option(None, "--gpu-layers", metavar="N|auto",
                                             help="Layers on the GPU, if llama.cpp has GPU support; 0: CPU only "
                                                  f"{default_help('gpu_layers')}."),
    skip_existing: bool = typer.Option(False, "--skip-existing",
                                       help="In a batch, skip stories already in the output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (a batch: one object per line)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    verbose: bool = typer.Option(False, "--verbose", help="Show llama.cpp's own log lines."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """Write a bedtime story and its pictures into a new folder (or many, with --prompts-file)."""
    output = Output.detect(as_json=as_json, quiet=quiet)
    from dreamflow_cli.composer import StoryRequest
    from dreamflow_cli.pipeline import plan_story, prepare, write_story

    if (prompt is None) == (prompts_file is None):
        raise UsageError("give either a prompt or --prompts-file, not both and not neither",
                         'e.g. dreamflow generate "a sleepy dragon", or --prompts-file prompts.txt')
    if auto_memory and low_memory is not None:
        chosen = "--low-memory" if low_memory else "--standard"
        raise UsageError(f"--auto-memory and {chosen} contradict each other",
                         "give one of them: --auto-memory lets dreamflow choose, "
                         "--low-memory/--standard choose yourself")
    settings = load_settings(
        {"name": name, "age": age, "theme": theme, "moral": moral, "scenes": scenes, "images": images, "seed": seed, "out_dir": out,
         "model": model, "models_dir": models_dir, "low_memory": AUTO if auto_memory else low_memory,
         "memory_check": memory_check, "n_ctx": ctx, "n_batch": batch,
         "n_threads": threads, "max_tokens": max_tokens, "repack": repack, "parallel": parallel,
         "gpu_layers": gpu_layers, "backend": backend, "base_url": ",".join(base_url) if base_url else None,
         "candidates": candidates},
        config_path=config,
    )
    request = StoryRequest(prompt=prompt or "", name=settings.name, age=settings.age, scenes=settings.scenes,
                           images=settings.images, seed=settings.seed, theme=settings.theme, moral=settings.moral)
    if prompts_file is not None:
        raise typer.Exit(_generate_batch(prompts_file, request, settings, output, skip_existing=skip_existing,
                                         verbose=verbose))
    setup = prepare(settings)
    progress = Progress(output)
    _setup_notes(progress, setup)
    plan = plan_story(request, settings, setup)
    with progress.running():
        result = write_story(plan, settings, watch=_watch(progress, settings), verbose=verbose)

    if output.as_json:
        output.emit(result.summary())
    elif sys.stdout is None:  # closed (>&-): the story is saved; the note below says where
        pass
    elif output.stdout_terminal:
        from rich.markdown import Markdown

        output.out().print(Markdown(result.story.markdown()), soft_wrap=False)
    else:
        sys.stdout.write(f"{result.story.title}\n\n{result.story.text}\n")
    meta = result.metadata
    output.note(f"Saved to {result.story_dir} ({meta['generated_tokens']} tokens, "
                f"{meta['tokens_per_second']:.1f} tok/s, {meta['profile']['name']} profile)")


def _watch(progress: Progress, settings):
    """The run's Watch, with every phase change also a signal checkpoint (signals.reached)."""
    watch = progress.watch(settings)
    show = watch.on_update

    def on_update(status) -> None:
        signals.reached(status.phase)
        if show is not None:
            show(status)

    watch.on_update = on_update
    return watch


def _setup_notes(progress: Progress, setup) -> None:
    if setup.memory is not None:  # None: a model server, whose memory is not ours to check
        progress.memory_note(setup.memory)
    asked = setup.profile.threads_capped_from
    if asked:
        progress.warn(f"{asked} threads asked for, but this machine has {setup.profile.n_threads} cores; "
                      f"using {setup.profile.n_threads} (more threads than cores only slows llama.cpp down)")


def _parallel(settings, setup, stories: int, progress: Progress) -> int | None:
    """Stories in flight for a batch. Locally every story in flight holds its own KV cache, so
    the count is checked against memory (auto picks it), and said."""
    if settings.backend != "local":
        return None if settings.parallel == AUTO else settings.parallel
    if settings.parallel is None:
        return None
    from dreamflow_cli.local import batch_parallel

    choice = batch_parallel(settings.parallel, setup, stories)
    if settings.parallel not in (AUTO, choice.stories) and choice.stories < min(int(settings.parallel), stories):
        progress.warn(f"Parallel: {choice.reason}")
    else:
        progress.output.note(f"Parallel: {choice.reason}")
    return choice.stories


def _read_prompts(source: str) -> str:
    name = "standard input" if source == "-" else f"prompts file {source}"
    try:
        if source == "-":
            if sys.stdin is None:  # closed (<&-), not merely empty
                raise UsageError("--prompts-file - reads standard input, but it is closed",
                                 "pipe the prompts in (… | dreamflow generate --prompts-file -) or name a file")
            # Bytes, decoded strictly: the text layer may be set to replace or escape bad bytes.
            stream = getattr(sys.stdin, "buffer", None)
            return stream.read().decode("utf-8") if stream is not None else sys.stdin.read()
        problem = file_problem(Path(source))
        if problem is not None:
            raise UsageError(f"prompts file {source} {problem}", "check the path")
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}", "check the path and its permissions") from None
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text", "save the prompts as UTF-8 text") from None


def _generate_batch(source: str, defaults: StoryRequest, settings: Settings, output: Output, *,
                    skip_existing: bool, verbose: bool) -> int:
    import time
    from dataclasses import replace

    from dreamflow_cli.batch import Summary, parse_prompts, run_batch
    from dreamflow_cli.pipeline import prepare

    # --seed is the base each line's own seed derives from, not the seed of every line.
    items = parse_prompts(_read_prompts(source), replace(defaults, seed=None), settings.seed)
    if not items:
        where = "standard input" if source == "-" else source
        raise UsageError(f"no prompts in {where}: it holds only blank lines and # comments",
                         "write one prompt a line, or one JSON object a line")
    setup = prepare(settings)
    progress = Progress(output)
    _setup_notes(progress, setup)
    parallel = _parallel(settings, setup, sum(item.request is not None for item in items), progress)
    summary = Summary()
    started = time.perf_counter()
    try:
        with progress.running():
            for outcome in run_batch(items, settings, setup, skip_existing=skip_existing,
                                     watch=_watch(progress, settings), verbose=verbose,
                                     parallel=parallel):
                summary.count(outcome)
                if outcome.status == "failed":  # a failure is a warning: --quiet does not hide it
                    progress.console.print(f"Failed (line {outcome.item.line}): {outcome.error}",
                                           markup=False, highlight=False)
                if output.as_json:
                    output.emit(outcome.record())
                elif outcome.status == "ok":
                    output.result_line(str(outcome.story_dir))
    finally:
        summary.seconds = time.perf_counter() - started
        if summary.failed:
            progress.console.print(summary.text(), markup=False, highlight=False)
        else:
            output.note(summary.text())
    return EXIT_BATCH_PARTIAL if summary.failed else 0


def _profile_defaults(profile: str) -> dict[str, int | bool]:
    return profiles.default_values(profile, os.cpu_count() or 1)


@config_app.command("init")
def config_init(
    path: Optional[Path] = typer.Option(None, "--path", help="Where to write \\[default: the user config dir]."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write a starting config file with every key at its default."""
    import tomli_w

    target = path or user_config_dir() / "config.toml"
    if target.is_dir():  # --force replaces a file, never a folder
        raise UsageError(f"{target} is a directory", "give --path the name of the file to write, e.g. "
                         f"{target / 'config.toml'}")
    ensure_writable_dir(target.parent, "config folder", "--path")
    data = tomli_w.dumps(starter_config(_profile_defaults)).encode("utf-8")
    try:
        atomic_write(target, b"# dreamflow configuration; see config.example.toml for every key.\n" + data,
                     overwrite=force, option="--path")
    except FileExistsError:
        raise UsageError(f"{target} already exists", "pass --force to replace it") from None
    Output.detect().result_line(str(target))


@config_app.command("show")
def config_show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    low_memory: Optional[bool] = typer.Option(None, "--low-memory/--standard", help="Show this profile."),
    config: Optional[Path] = ConfigOption,
) -> None:
    """Show the effective settings and where each came from."""
    output = Output.detect(as_json=as_json)
    settings = load_settings({"low_memory": low_memory}, config_path=config)
    # With "auto" the run decides; show the values of the profile it starts from.
    profile = profiles.choose_profile(settings.low_memory, os.cpu_count() or 1, settings.profile_config,
                                      settings.profile_flags)
    rows = []
    for spec in KEYS:
        value = shown_setting(spec.name, getattr(settings, spec.name))
        rows.append((spec.name, None if value is None else str(value) if isinstance(value, Path) else value,
                     settings.sources.get(spec.name, "default")))
    for field_name in profiles.VALUE_KEYS:
        name = f"profile.{profiles.PROFILES[profile.name].table}.{field_name}"
        rows.append((name, getattr(profile, field_name), settings.sources.get(name, "default")))
    if output.as_json:
        output.emit({"config_file": str(settings.config_path) if settings.config_path else None,
                     "profile": profile.name,
                     "settings": {k: {"value": v, "source": s} for k, v, s in rows}})
        return
    from rich.table import Table

    table = Table(title=f"config file: {settings.config_path or 'none'}", title_justify="left")
    for column in ("key", "value", "source"):
        table.add_column(column)
    for key, value, source in rows:
        table.add_row(key, "" if value is None else str(value), source)
    output.out().print(table)



# Commands that live in their own modules register here (one line each).
from dreamflow_cli.cli_download import download_model  # noqa: E402
app.command("download-model")(download_model)
from dreamflow_cli.cli_doctor import doctor  # noqa: E402
app.command("doctor")(doctor)


def main() -> None:
    app()
