"""One story, end to end: check inputs, load, write, draw, save. No UI here: progress is shared
through a ``Status`` object and an ``on_update`` callback fired at each phase change."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dreamflow_cli import __version__
from dreamflow_cli.config import Settings
from dreamflow_cli.composer import Composed, StoryRequest, compose, prepare_request
from dreamflow_cli.backend import Backend
from dreamflow_cli import profiles
from dreamflow_cli.engine import llama_cpp_version
from dreamflow_cli.profiles import DEFAULT_HEADROOM_BYTES, Profile
from dreamflow_cli.estimate import ModelShape, estimate_profiles
from dreamflow_cli.gguf_info import read_gguf_info
from dreamflow_cli.memory import memory_readings
from dreamflow_cli.images import draw_scene, png_bytes
from dreamflow_cli.models import ResolvedModel, check_model_file, resolve_model
from dreamflow_cli.monitor import Watch
from dreamflow_cli.preflight import MemoryDecision, decide, unestimated
from dreamflow_cli.errors import UsageError
from dreamflow_cli.storage import StoryFolder, ensure_writable_dir
from dreamflow_cli.story import Story, slugify

if TYPE_CHECKING:
    from dreamflow_cli.openai_backend import ServerPlan

# `generate --json` said "tokens_generated" where story.json says "generated_tokens"; both now say
# the latter, and the old key stays in --json for one release (README, JSON output).
TOKENS_ALIAS = "tokens_generated"


@dataclass(frozen=True)
class StoryResult:
    story_dir: Path
    story_path: Path
    image_paths: tuple[Path, ...]
    metadata_path: Path
    story: Story
    metadata: dict[str, Any] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """The object `generate --json` prints."""
        meta = self.metadata
        return {
            "story_dir": str(self.story_dir),
            "story_path": str(self.story_path),
            "image_paths": [str(p) for p in self.image_paths],
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
        }


@dataclass(frozen=True)
class Setup:
    """What every story of a run shares, decided before the model is touched."""

    model: ResolvedModel | None  # None: a model server runs the model
    model_size: int
    profile: Profile
    memory: MemoryDecision | None  # None: the server's memory is not ours to check
    server: ServerPlan | None = None  # the openai backend's servers and model


@dataclass(frozen=True)
class Plan:
    setup: Setup
    request: StoryRequest
    seed: int


def prepare(settings: Settings, cores: int | None = None, available: int | None = None) -> Setup:
    """Resolve and check the model, estimate its memory need, and pick the profile: all before
    loading, so a model that cannot fit is refused instead of freezing the machine.
    With model servers: check them and settle their model instead (no memory preflight)."""
    if settings.backend == "openai":
        from dreamflow_cli.openai_backend import prepare_server  # http/ssl load only for servers

        ensure_writable_dir(settings.out_dir, "output folder")
        server = prepare_server(settings)
        return Setup(None, 0, server.profile, None, server)
    model = resolve_model(settings)
    size = check_model_file(model)
    cores = cores or os.cpu_count() or 1
    built = {p.name: p for p in profiles.build_all(cores, settings.profile_config, settings.profile_flags)}
    info = read_gguf_info(model.path, model.entry.name if model.entry else None)
    shape = ModelShape.from_info(info)
    available = memory_readings().usable if available is None else available
    if shape is None:
        decision = unestimated(settings.low_memory, available)
    else:
        estimates = estimate_profiles(shape, size, built.values())
        if settings.gpu_layers != 0 and min(e.total for e in estimates.values()) + DEFAULT_HEADROOM_BYTES > available:
            # Tight on RAM: layers a GPU will hold need VRAM, not RAM (asked only now, since
            # asking means importing llama.cpp, which a run with room to spare does later anyway).
            from dreamflow_cli.gpu import ram_estimates, read_capabilities

            estimates = ram_estimates(estimates, settings.gpu_layers, read_capabilities(), shape.n_layer)
        decision = decide(settings.low_memory, estimates, available, check=settings.memory_check)
    ensure_writable_dir(settings.out_dir, "output folder")
    return Setup(model, size, built[decision.profile], decision)


def plan_story(request: StoryRequest, settings: Settings, setup: Setup) -> Plan:
    request = prepare_request(request, settings)
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    return Plan(setup, request, seed)


def story_id(request: StoryRequest, setup: Setup, settings: Settings) -> str:
    """Same prompt, options, seed, model and profile → same id; `--skip-existing` relies on it.
    (An unseeded story has no fixed text, but a rerun still owes it only once.)"""
    identity = {
        "request": {k: getattr(request, k) for k in StoryRequest.__dataclass_fields__},
        "model": setup.model.path.name if setup.model else f"server:{setup.server.model if setup.server else ''}",
        "model_size": setup.model_size,
        "profile": setup.profile.as_dict(),
        "sampling": settings.sampling(),
    }
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def open_backend(setup: Setup, settings: Settings, *, verbose: bool = False, parallel: int | None = 1,
                 on_warning: Callable[[str], None] | None = None) -> Backend:
    """The backend that writes this run's stories (``settings.backend``), ready for up to
    ``parallel`` concurrent generate() calls (None: as many as it does well). ``on_warning``
    hears about model servers that fail."""
    if setup.server is not None:
        from dreamflow_cli.openai_backend import open_openai_backend

        return open_openai_backend(settings, plan=setup.server, parallel=parallel, on_notice=on_warning)
    if settings.backend == "local":
        from dreamflow_cli.local import open_for_run  # threads policy, GPU offload, N stories at once

        return open_for_run(setup, settings, parallel=parallel, verbose=verbose)
    raise UsageError(f"backend {settings.backend!r} is not available in this build", "use --backend local")


def folder_name(request: StoryRequest, now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{slugify(request.prompt)}"


def write_story(
    plan: Plan,
    settings: Settings,
    *,
    backend: Backend | None = None,
    watch: Watch | None = None,
    verbose: bool = False,
    extra_metadata: dict[str, Any] | None = None,
) -> StoryResult:
    """Write one story. With ``backend`` (a batch) the caller owns it; without it the model is
    loaded here and freed before the pictures are drawn."""
    watch = watch or Watch()
    status, phase = watch.status, watch.phase
    request = plan.request
    own_backend = backend is None
    if plan.setup.server is not None:
        status.server = plan.setup.server.label()
    with watch.sampler() as sampler, StoryFolder(settings.out_dir) as folder:
        if backend is None:
            phase("loading model")
            backend = open_backend(plan.setup, settings, verbose=verbose, on_warning=watch.on_warning)
        try:
            phase("writing story")
            composed = compose(backend, request, settings, plan.seed, status, on_retry=_retry_notice(watch))
        finally:
            if own_backend:
                backend.close()  # free the weights before drawing: pictures need none of them
        story = composed.story

        phase("drawing pictures")
        image_names = []
        if request.images:
            for i, caption in enumerate(story.captions, 1):
                image_names.append(f"scene-{i}.png")
                folder.write(image_names[-1], png_bytes(draw_scene(story.title, caption, i, len(story.scenes))))
        folder.write("story.md", story.markdown().encode("utf-8"))

        now = datetime.now()
        metadata = _metadata(plan, settings, composed, backend, sampler.peak(), image_names, now)
        metadata.update(extra_metadata or {})
        folder.write("story.json", (json.dumps(metadata, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        story_dir = folder.commit(folder_name(request, now))
    phase("saved")
    return StoryResult(
        story_dir=story_dir,
        story_path=story_dir / "story.md",
        image_paths=tuple(story_dir / n for n in image_names),
        metadata_path=story_dir / "story.json",
        story=story,
        metadata=metadata,
    )


def _retry_notice(watch: Watch):
    """Each guard retry is said on stderr, so a slow story explains itself."""
    def notice(number: int, words: list[str]) -> None:
        if watch.on_warning is not None:
            watch.on_warning(f"the story contained {', '.join(repr(w) for w in words)}; "
                             f"writing it again with a new seed (retry {number})")
    return notice


def _model_block(setup: Setup) -> dict[str, Any]:
    if setup.model is None:  # a server's model: its name is all we know
        return {"path": None, "size_bytes": None, "name": setup.server.model if setup.server else None,
                "source": "server"}
    return {"path": str(setup.model.path.resolve()), "size_bytes": setup.model_size,
            "name": setup.model.entry.name if setup.model.entry else None, "source": setup.model.source}


def _metadata(plan: Plan, settings: Settings, composed: Composed, backend: Backend,
              peak_rss: int, image_names: list[str], now: datetime) -> dict[str, Any]:
    request, setup, story, gen = plan.request, plan.setup, composed.story, composed.generation
    return {
        "story_id": story_id(request, setup, settings),
        "title": story.title,
        "prompt": request.prompt,
        "name": request.name,
        "age": request.age,
        "scenes": len(story.scenes),
        "scenes_requested": request.scenes,
        "captions": list(story.captions),
        "files": {"story": "story.md", "images": image_names},
        "model": _model_block(setup),
        "profile": setup.profile.as_dict(),
        "profile_source": settings.sources.get("low_memory", "default"),
        "memory": setup.memory.as_dict() if setup.memory else None,
        "max_tokens_effective": gen.max_tokens,
        "sampling": settings.sampling(),
        "seed": plan.seed,
        **composed.metadata(),
        "prompt_tokens": gen.prompt_tokens,
        "generated_tokens": gen.generated_tokens,
        "finish_reason": gen.finish_reason,
        "backend": backend.describe(),
        **({"endpoint": gen.endpoint} if gen.endpoint else {}),
        **({"server_usage": dict(gen.usage)} if gen.usage else {}),
        "load_seconds": round(backend.load_seconds, 3),
        "generation_seconds": round(gen.seconds, 3),
        "first_token_seconds": round(gen.first_token_seconds, 3),
        "tokens_per_second": round(gen.tokens_per_second, 2),
        "peak_rss_bytes": peak_rss,
        "dreamflow_version": __version__,
        "llama_cpp_python_version": llama_cpp_version(),
        "created_utc": now.astimezone(timezone.utc).isoformat(timespec="seconds"),
    }
