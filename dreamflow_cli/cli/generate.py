"""`dreamflow generate`: one story, or a batch from a prompts file. Options in, results out."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from dreamflow_cli import signals
from dreamflow_cli.cli import options
from dreamflow_cli.cli.options import default_help
from dreamflow_cli.cli.ui import Output, Progress
from dreamflow_cli.errors import ExitStatus, UsageError
from dreamflow_cli.files import file_problem
from dreamflow_cli.settings.keys import AUTO
from dreamflow_cli.settings.load import load_settings

if TYPE_CHECKING:  # the run's machinery loads when a story is written, not for --help
    from dreamflow_cli.run.monitor import Status, Watch
    from dreamflow_cli.run.setup import RunPlan
    from dreamflow_cli.settings.table import Settings
    from dreamflow_cli.story.request import StoryRequest


def generate(
    prompt: Optional[str] = typer.Argument(None, help="What the story is about, e.g. \"a sleepy dragon\"."),
    name: Optional[str] = typer.Option(None, "--name", help="The child's name: they become the hero."),
    age: Optional[int] = typer.Option(None, "--age", help="The child's age (1-12)."),
    theme: Optional[str] = typer.Option(None, "--theme", help="Where it happens, e.g. \"a snowy forest\"."),
    moral: Optional[str] = typer.Option(None, "--moral", help="A lesson to show gently, e.g. \"sharing\"."),
    with_names: Optional[list[str]] = typer.Option(None, "--with", metavar="NAME",
                                                   help="A saved character in the story (dreamflow characters add); "
                                                        "repeat for more."),
    continue_from: Optional[str] = typer.Option(None, "--continue", metavar="STORY",
                                                help="Write the next part of a story (its folder or story_id): the "
                                                     "same child and friends, a new small adventure (the prompt, if given)."),
    minutes: Optional[float] = typer.Option(None, "--minutes", metavar="N",
                                            help="Read-aloud minutes (at 130 words a minute), within the profile's "
                                                 "max_tokens."),
    candidates: Optional[int] = typer.Option(None, "--candidates", min=1, max=8,
                                             help="Drafts to write at most; the best by the content checks is kept "
                                                  f"{default_help('candidates')}."),
    scenes: Optional[int] = typer.Option(None, "--scenes", help=f"Scenes and pictures (1-8) {default_help('scenes')}."),
    images: Optional[bool] = typer.Option(None, "--images/--no-images", help=f"Draw a picture per scene {default_help('images')}."),
    captions: Optional[bool] = typer.Option(None, "--captions/--no-captions",
                                            help=f"Print each scene's caption on its picture {default_help('captions')}."),
    book: Optional[bool] = typer.Option(None, "--book/--no-book", help=f"Write book.pdf, a picture book {default_help('book')}."),
    epub: Optional[bool] = typer.Option(None, "--epub/--no-epub", help=f"Also write book.epub for e-readers {default_help('epub')}."),
    narrate: Optional[bool] = typer.Option(None, "--narrate/--no-narrate",
                                           help=f"Read the story aloud into narration.mp3 {default_help('narrate')}."),
    voice: Optional[str] = typer.Option(None, "--voice", metavar="NAME|PATH",
                                        help="The narrator's voice: a catalog name or a .onnx file "
                                             "\\[default: the first installed]."),
    video: Optional[bool] = typer.Option(None, "--video/--no-video",
                                         help=f"Make story.mp4 with the narration and subtitles {default_help('video')}."),
    video_quality: Optional[str] = typer.Option(None, "--video-quality", metavar="fast|high",
                                                help=f"Video size and smoothness {default_help('video_quality')}."),
    seed: Optional[int] = typer.Option(None, "--seed",
                                       help="Seed for a repeatable story (in a batch: the base of each line's seed)."),
    out: Optional[Path] = options.OUT,
    model: Optional[str] = options.MODEL,
    models_dir: Optional[Path] = options.MODELS_DIR,
    backend: Optional[str] = options.BACKEND,
    base_url: Optional[list[str]] = options.BASE_URL,
    ca_bundle: Optional[Path] = options.CA_BUNDLE,
    low_memory: Optional[bool] = options.LOW_MEMORY,
    auto_memory: bool = typer.Option(False, "--auto-memory",
                                     help="Standard when it fits with headroom, else low-memory."),
    memory_check: Optional[bool] = typer.Option(None, "--memory-check/--no-memory-check",
                                                help=f"Refuse a model that does not fit in memory {default_help('memory_check')}."),
    ctx: Optional[int] = typer.Option(None, "--ctx", help="Override the context size."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Override the batch size."),
    threads: Optional[int] = typer.Option(None, "--threads",
                                          help="A fixed thread count \\[default: cores idle now, fewer if they get busy]."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Override the story's token budget."),
    repack: Optional[bool] = options.REPACK,
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
    quiet: bool = options.QUIET,
    verbose: bool = typer.Option(False, "--verbose", help="Show llama.cpp's own log lines."),
    config: Optional[Path] = options.CONFIG,
) -> None:
    """Write a bedtime story, its pictures and a picture book into a new folder (or many, with --prompts-file)."""
    flags = dict(locals())
    output = Output.detect(as_json=as_json, quiet=quiet)
    settings, request = _settings_and_request(flags)
    if prompts_file is not None:
        raise typer.Exit(_generate_batch(prompts_file, request, settings, output, skip_existing=skip_existing,
                                         verbose=verbose))
    _generate_one(request, settings, output, verbose=verbose)


def _settings_and_request(flags: dict[str, Any]) -> tuple[Settings, StoryRequest]:
    from dreamflow_cli.story.request import StoryRequest

    prompt, source = flags["prompt"], flags["prompts_file"]
    if (prompt is not None and source is not None) or (prompt is None and source is None
                                                       and flags["continue_from"] is None):  # a sequel needs none
        raise UsageError("give either a prompt or --prompts-file, not both and not neither",
                         'e.g. dreamflow generate "a sleepy dragon", or --prompts-file prompts.txt')
    low_memory = flags["low_memory"]
    if flags["auto_memory"] and low_memory is not None:
        chosen = "--low-memory" if low_memory else "--standard"
        raise UsageError(f"--auto-memory and {chosen} contradict each other",
                         "give one of them: --auto-memory lets dreamflow choose, "
                         "--low-memory/--standard choose yourself")
    given = {key: flags[key] for key in ("name", "age", "theme", "moral", "scenes", "images", "seed", "model",
                                         "models_dir", "memory_check", "repack", "parallel", "gpu_layers", "backend",
                                         "candidates", "max_tokens", "captions", "book", "epub", "narrate", "voice", "video",
                                         "video_quality", "minutes")}
    settings = load_settings(
        {**given, "out_dir": flags["out"], "low_memory": AUTO if flags["auto_memory"] else low_memory,
         "n_ctx": flags["ctx"], "n_batch": flags["batch"], "n_threads": flags["threads"],
         "base_url": options.joined(flags["base_url"]),
         "ca_bundle": str(flags["ca_bundle"]) if flags["ca_bundle"] else None},
        config_path=flags["config"],
    )
    request = StoryRequest(prompt=flags["prompt"] or "", name=settings.name, age=settings.age, scenes=settings.scenes,
                           images=settings.images, seed=settings.seed, theme=settings.theme, moral=settings.moral,
                           minutes=settings.minutes, with_names=tuple(flags["with_names"] or ()),
                           continue_from=flags["continue_from"])
    return settings, request


def _generate_one(request: StoryRequest, settings: Settings, output: Output, *, verbose: bool) -> None:
    from dreamflow_cli.run.pipeline import write_story
    from dreamflow_cli.run.setup import plan_story, prepare

    run = prepare(settings)
    progress = Progress(output)
    _setup_notes(progress, run)
    _minutes_note(progress, run, request)
    plan = plan_story(request, run)
    with progress.running():
        result = write_story(plan, watch=_watch(progress, settings), verbose=verbose)

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


def _watch(progress: Progress, settings: Settings) -> Watch:
    """The run's Watch, with every phase change also a signal checkpoint (signals.reached)."""
    watch = progress.watch(settings)
    show = watch.on_update

    def on_update(status: Status) -> None:
        signals.reached(status.phase)
        if show is not None:
            show(status)

    watch.on_update = on_update
    return watch


def _setup_notes(progress: Progress, run: RunPlan) -> None:
    if run.memory is not None:  # None: a model server, whose memory is not ours to check
        progress.memory_note(run.memory)
    asked = run.profile.threads_capped_from
    if asked:
        progress.warn(f"{asked} threads asked for, but this machine has {run.profile.n_threads} cores; "
                      f"using {run.profile.n_threads} (more threads than cores only slows llama.cpp down)")
    choice = run.parallel
    if choice is not None and choice.reason:
        if choice.lowered:
            progress.warn(f"Parallel: {choice.reason}")
        else:
            progress.output.note(f"Parallel: {choice.reason}")


def _minutes_note(progress: Progress, run: RunPlan, request: StoryRequest) -> None:
    """Say when the profile cannot fit the --minutes asked for (the story is shorter, not refused)."""
    from dreamflow_cli.story.request import minutes_note

    note = minutes_note(request.minutes, run.profile.max_tokens, run.profile.name)
    if note:
        progress.warn(note)


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
    from dreamflow_cli.run.batch import Summary, parse_prompts, run_batch
    from dreamflow_cli.run.setup import prepare

    # --seed is the base each line's own seed derives from, not the seed of every line.
    items = parse_prompts(_read_prompts(source), replace(defaults, seed=None), settings.seed)
    if not items:
        where = "standard input" if source == "-" else source
        raise UsageError(f"no prompts in {where}: it holds only blank lines and # comments",
                         "write one prompt a line, or one JSON object a line")
    run = prepare(settings, stories=sum(item.request is not None for item in items))
    progress = Progress(output)
    _setup_notes(progress, run)
    _minutes_note(progress, run, defaults)
    summary = Summary()
    started = time.perf_counter()
    try:
        with progress.running():
            for outcome in run_batch(items, run, skip_existing=skip_existing, watch=_watch(progress, settings),
                                     verbose=verbose):
                summary.count(outcome)
                if outcome.status == "failed":  # a failure is a warning: --quiet does not hide it
                    progress.console.print(f"Failed (line {outcome.item.line}): {outcome.error}",
                                           markup=False, highlight=False)
                if output.as_json:
                    output.emit(outcome.record())
                elif outcome.status == "ok":
                    output.result_line(str(outcome.story_dir))
        if summary.done:  # a batch that wrote nothing leaves the folder as it was
            from dreamflow_cli.output.library import refresh

            refresh(settings.out_dir, progress.warn)  # every story is in the page, whatever happened in parallel
    finally:
        summary.seconds = time.perf_counter() - started
        if summary.failed:
            progress.console.print(summary.text(), markup=False, highlight=False)
        else:
            output.note(summary.text())
    return ExitStatus.BATCH_PARTIAL if summary.failed else ExitStatus.OK
