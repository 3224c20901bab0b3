"""One story, end to end: write the text, make its artifacts, save the folder. No UI here:
progress is shared through a ``Status`` object and an ``on_update`` callback fired at each phase.

Everything a story becomes on disk is an artifact (output/artifacts.py); this module only runs
them in order inside one staging folder and writes story.json from what they made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

from dreamflow_cli import __version__
from dreamflow_cli.backend.seam import Backend
from dreamflow_cli.output import artifacts, library
from dreamflow_cli.output.artifacts import Work
from dreamflow_cli.output.folder import StoryFolder
from dreamflow_cli.run.monitor import Watch
from dreamflow_cli.run.setup import RunPlan, StoryPlan, story_id
from dreamflow_cli.story.composer import Composed, compose
from dreamflow_cli.story.note import story_metadata
from dreamflow_cli.story.request import StoryRequest
from dreamflow_cli.story.scenes import slugify
from dreamflow_cli.story.text import Story

# `generate --json` said "tokens_generated" where story.json says "generated_tokens"; both now say
# the latter, and the old key stays in --json for one release (README, JSON output).
TOKENS_ALIAS = "tokens_generated"
METADATA_FILE = "story.json"


@dataclass(frozen=True)
class StoryResult:
    story_dir: Path
    story: Story
    metadata: dict[str, Any] = field(repr=False)
    paths: dict[str, Any] = field(default_factory=dict)  # every artifact's --json keys, absolute paths

    @property
    def metadata_path(self) -> Path:
        return self.story_dir / METADATA_FILE

    def summary(self) -> dict[str, Any]:
        """The object `generate --json` prints."""
        meta = self.metadata
        return {
            "story_dir": str(self.story_dir),
            **self.paths,
            "metadata_path": str(self.metadata_path),
            "title": self.story.title,
            "profile": {k: meta["profile"][k] for k in ("name", "n_ctx", "n_batch", "n_threads", "max_tokens")},
            "generated_tokens": meta["generated_tokens"],  # story.json's name for it
            TOKENS_ALIAS: meta["generated_tokens"],  # the old name; removed in the next release
            "tokens_per_second": meta["tokens_per_second"],
            "peak_rss_bytes": meta["peak_rss_bytes"],
            "model_path": meta["model"]["path"],
            "seed": meta["seed"],
            "checks": meta.get("checks"),  # the content checks of the kept draft, and its score
            "candidates": meta.get("candidates"),  # drafts written, which one was kept, every score
            # Model servers: per URL, the stories asked of it at once and what it turned out to
            # take (the backend's learned capacity); None in process.
            "servers": meta["backend"].get("servers") if isinstance(meta.get("backend"), dict) else None,
        }


def open_backend(run: RunPlan, *, verbose: bool = False, parallel: int | None = 1,
                 on_warning: Callable[[str], None] | None = None) -> Backend:
    """The backend that writes this run's stories, ready for up to ``parallel`` concurrent
    generate() calls (None: as many as it does well). ``on_warning`` hears about model servers
    that fail."""
    return run.backend.open(run.prepared, run.settings, parallel=parallel, verbose=verbose, on_warning=on_warning)


def folder_name(request: StoryRequest, now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{slugify(request.prompt)}"


@dataclass(frozen=True)
class Drafted:
    """A story whose text is written and checked, before any of its files exist: what a batch
    hands from the model to the media lane (output/artifacts: narration, video)."""

    plan: StoryPlan
    composed: Composed
    backend: dict[str, Any]  # the backend's record for story.json, taken while it was open
    load_seconds: float
    peak_rss: int


def write_story(plan: StoryPlan, *, backend: Backend | None = None, watch: Watch | None = None,
                verbose: bool = False, extra_metadata: dict[str, Any] | None = None,
                before_commit: Callable[[], None] | None = None) -> StoryResult:
    """Write one story. With ``backend`` (a batch) the caller owns it; without it the model is
    loaded here and freed before any artifact is made. The staging folder exists from the start,
    so a story under way is visible as one (and a stale one from a killed run is swept first)."""
    with StoryFolder(plan.run.settings.out_dir) as folder:
        drafted = draft_story(plan, backend=backend, watch=watch, verbose=verbose)
        return finish_story(drafted, watch=watch, extra_metadata=extra_metadata, folder=folder,
                            before_commit=before_commit)


def draft_story(plan: StoryPlan, *, backend: Backend | None = None, watch: Watch | None = None,
                verbose: bool = False) -> Drafted:
    """The text: drafts written and judged, the best kept. Without ``backend`` the model is loaded
    here and closed again before this returns."""
    watch = watch or Watch()
    watch.status.server = plan.run.prepared.label
    with watch.sampler() as sampler:
        composed, record, load_seconds = _compose(plan, backend, watch, verbose)
        return Drafted(plan, composed, record, load_seconds, sampler.peak())


def finish_story(drafted: Drafted, *, watch: Watch | None = None, extra_metadata: dict[str, Any] | None = None,
                 folder: StoryFolder | None = None, before_commit: Callable[[], None] | None = None) -> StoryResult:
    """Every artifact of a written story, made in order in one staging folder (``folder``, else a
    new one), then story.json, then the folder committed in one rename: all of it, or nothing.
    ``before_commit`` may raise to abandon the story at the last moment (a batch being stopped
    reports every story it saved, so none may be saved after the stop)."""
    watch = watch or Watch()
    plan, composed = drafted.plan, drafted.composed
    run, request = plan.run, plan.request
    with watch.sampler() as sampler, (folder or StoryFolder(run.settings.out_dir)) as folder:
        work = Work(composed.story, request, run.settings, plan.seed, folder)
        for artifact in artifacts.wanted(request, run.settings):
            if artifact.phase:
                watch.phase(artifact.phase)
            work.progress = watch.progress
            work.made[artifact.name] = artifact.produce(work)
        now = datetime.now()
        metadata = _metadata(drafted, max(drafted.peak_rss, sampler.peak()), work.made.values(), now)
        metadata.update(extra_metadata or {})
        folder.write(METADATA_FILE, (json.dumps(metadata, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        if before_commit is not None:
            before_commit()
        story_dir = folder.commit(folder_name(request, now))
    watch.phase("saved")
    library.refresh(run.settings.out_dir, watch.on_warning)  # the story is saved: a failure here only warns
    return StoryResult(story_dir, composed.story, metadata, _paths(story_dir, work.made.values()))


def _compose(plan: StoryPlan, backend: Backend | None, watch: Watch,
             verbose: bool) -> tuple[Composed, dict[str, Any], float]:
    """The kept draft, the backend's record for story.json and its load time."""
    own = backend is None
    if backend is None:
        watch.phase("loading model")
        backend = open_backend(plan.run, verbose=verbose, on_warning=watch.on_warning)
    try:
        watch.phase("writing story")
        composed = compose(backend, plan.request, plan.run.settings, plan.seed, watch.status,
                           on_retry=_retry_notice(watch))
        return composed, backend.describe(), backend.load_seconds
    finally:
        if own:
            backend.close()  # free the weights before the artifacts: none of them needs the model


def _paths(story_dir: Path, made: Any) -> dict[str, Any]:
    """Every artifact's --json keys: absolute paths for what was made, the not-made value else."""
    paths = artifacts.absent_keys()
    for one in made:
        for key, names in one.json.items():
            paths[key] = None if names is None else \
                [str(story_dir / n) for n in names] if isinstance(names, list) else str(story_dir / names)
    return paths


def _retry_notice(watch: Watch) -> Callable[[int, list[str]], None]:
    """Each guard retry is said on stderr, so a slow story explains itself."""
    def notice(number: int, words: list[str]) -> None:
        if watch.on_warning is not None:
            watch.on_warning(f"the story contained {', '.join(repr(w) for w in words)}; "
                             f"writing it again with a new seed (retry {number})")
    return notice


def installed_version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _metadata(drafted: Drafted, peak_rss: int, made: Any, now: datetime) -> dict[str, Any]:
    plan, composed = drafted.plan, drafted.composed
    run, request, story, gen = plan.run, plan.request, composed.story, composed.generation
    made = list(made)
    files: dict[str, Any] = {"story": "story.md", "images": []}
    for one in made:
        files.update(one.files)
    return {
        "story_id": story_id(request, run),
        "title": story.title,
        "prompt": request.prompt,
        "name": request.name,
        "age": request.age,
        "scenes": len(story.scenes),
        "scenes_requested": request.scenes,
        "captions": list(story.captions),
        "files": files,
        **{key: value for one in made for key, value in one.metadata.items()},
        "model": dict(run.prepared.model),
        "profile": run.profile.as_dict(),
        "profile_source": run.settings.sources.get("low_memory", "default"),
        "memory": run.memory.as_dict() if run.memory else None,
        "max_tokens_effective": gen.max_tokens,
        "sampling": run.settings.sampling(),
        "seed": plan.seed,
        **composed.metadata(),
        # Saved characters, a sequel's series, the reading level and time, and the parent's note.
        **story_metadata(request, story, composed.verdict.checks if composed.verdict else ()),
        "prompt_tokens": gen.prompt_tokens,
        "generated_tokens": gen.generated_tokens,
        "finish_reason": gen.finish_reason,
        "backend": drafted.backend,
        **({"endpoint": gen.endpoint} if gen.endpoint else {}),
        **({"server_usage": dict(gen.usage)} if gen.usage else {}),
        "load_seconds": round(drafted.load_seconds, 3),
        "generation_seconds": round(gen.seconds, 3),
        "first_token_seconds": round(gen.first_token_seconds, 3),
        "tokens_per_second": round(gen.tokens_per_second, 2),
        "peak_rss_bytes": peak_rss,
        "dreamflow_version": __version__,
        "llama_cpp_python_version": installed_version("llama_cpp_python"),
        "created_utc": now.astimezone(timezone.utc).isoformat(timespec="seconds"),
    }
