"""One story, end to end: check inputs, load, write, draw, save. No UI here: progress is shared
through a ``Status`` object and an ``on_update`` callback fired at each phase change."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from dreamflow_cli import __version__
from dreamflow_cli.config import Settings
from dreamflow_cli.engine import Generation, LoadedModel, Profile, choose_profile, llama_cpp_version, load_model
from dreamflow_cli.images import draw_scene, png_bytes
from dreamflow_cli.models import ResolvedModel, check_model_file, resolve_model
from dreamflow_cli.monitor import MemorySampler, Status
from dreamflow_cli.storage import StoryFolder, ensure_writable_dir
from dreamflow_cli.story import MAX_NAME_CHARS, MAX_PROMPT_CHARS, Story, assemble, build_prompt, sanitize_text, slugify

PHASES = ("loading model", "writing story", "drawing pictures", "saved")


@dataclass(frozen=True)
class StoryRequest:
    prompt: str
    name: str | None = None
    age: int | None = None
    scenes: int = 3
    images: bool = True
    seed: int | None = None


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
            "tokens_generated": meta["generated_tokens"],
            "tokens_per_second": meta["tokens_per_second"],
            "peak_rss_bytes": meta["peak_rss_bytes"],
            "model_path": meta["model"]["path"],
            "seed": meta["seed"],
        }


@dataclass(frozen=True)
class Plan:
    """Everything decided before the model is touched."""

    request: StoryRequest
    model: ResolvedModel
    model_size: int
    profile: Profile
    seed: int


def plan_story(request: StoryRequest, settings: Settings, cores: int | None = None) -> Plan:
    prompt = sanitize_text(request.prompt, what="prompt", limit=MAX_PROMPT_CHARS)
    name = sanitize_text(request.name, what="name", limit=MAX_NAME_CHARS) if request.name else None
    request = StoryRequest(prompt, name, request.age, request.scenes, request.images, request.seed)
    model = resolve_model(settings)
    size = check_model_file(model)
    profile = choose_profile(settings.low_memory, cores or os.cpu_count() or 1,
                             settings.profile_config, settings.profile_flags)
    ensure_writable_dir(settings.out_dir, "output folder")
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    return Plan(request, model, size, profile, seed)


def folder_name(request: StoryRequest, now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{slugify(request.prompt)}"


def write_story(
    plan: Plan,
    settings: Settings,
    *,
    status: Status | None = None,
    on_update: Callable[[Status], None] | None = None,
    verbose: bool = False,
) -> StoryResult:
    status = status or Status()

    def phase(name: str) -> None:
        status.phase = name
        if on_update is not None:
            on_update(status)

    request, profile = plan.request, plan.profile
    with MemorySampler(status) as sampler, StoryFolder(settings.out_dir) as folder:
        phase("loading model")
        model = load_model(plan.model.path, profile, seed=plan.seed, verbose=verbose)
        try:
            phase("writing story")
            generation = _generate(model, plan, settings, status)
        finally:
            model.close()  # free the weights before drawing: pictures need none of them
        story = assemble(generation.text, request.prompt, request.scenes)

        phase("drawing pictures")
        image_names = []
        if request.images:
            for i, caption in enumerate(story.captions, 1):
                image_names.append(f"scene-{i}.png")
                folder.write(image_names[-1], png_bytes(draw_scene(story.title, caption, i, len(story.scenes))))
        folder.write("story.md", story.markdown().encode("utf-8"))

        now = datetime.now()
        metadata = _metadata(plan, settings, story, generation, model, sampler.peak(), image_names, now)
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


def _generate(model: LoadedModel, plan: Plan, settings: Settings, status: Status) -> Generation:
    request = plan.request
    system, user = build_prompt(request.prompt, name=request.name, age=request.age,
                                max_tokens=plan.profile.max_tokens)
    status.max_tokens = plan.profile.max_tokens
    status.tokens = 0

    def on_token(count: int) -> None:
        if count == 1:
            status.generation_started = time.perf_counter()
        status.tokens = count

    return model.generate(model.chat_prompt(system, user), max_tokens=plan.profile.max_tokens,
                          sampling=settings.sampling(), seed=plan.seed, on_token=on_token)


def _metadata(plan: Plan, settings: Settings, story: Story, gen: Generation, model: LoadedModel,
              peak_rss: int, image_names: list[str], now: datetime) -> dict[str, Any]:
    request = plan.request
    return {
        "title": story.title,
        "prompt": request.prompt,
        "name": request.name,
        "age": request.age,
        "scenes": len(story.scenes),
        "scenes_requested": request.scenes,
        "captions": list(story.captions),
        "files": {"story": "story.md", "images": image_names},
        "model": {"path": str(plan.model.path.resolve()), "size_bytes": plan.model_size,
                  "name": plan.model.entry.name if plan.model.entry else None, "source": plan.model.source},
        "profile": plan.profile.as_dict(),
        "profile_source": settings.sources.get("low_memory", "default"),
        "max_tokens_effective": gen.max_tokens,
        "sampling": settings.sampling(),
        "seed": plan.seed,
        "prompt_tokens": gen.prompt_tokens,
        "generated_tokens": gen.generated_tokens,
        "finish_reason": gen.finish_reason,
        "load_seconds": round(model.load_seconds, 3),
        "generation_seconds": round(gen.seconds, 3),
        "first_token_seconds": round(gen.first_token_seconds, 3),
        "tokens_per_second": round(gen.tokens_per_second, 2),
        "peak_rss_bytes": peak_rss,
        "dreamflow_version": __version__,
        "llama_cpp_python_version": llama_cpp_version(),
        "created_utc": now.astimezone(timezone.utc).isoformat(timespec="seconds"),
    }
