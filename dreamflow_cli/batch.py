"""Many stories from one prompts file, one model load, resumable.

Input: plain text (a prompt a line; blank lines and `#` comments skipped) or JSON Lines (objects
with `prompt` and optional story options). Each story gets a deterministic id from its prompt,
options, seed, model and profile, recorded in story.json, so `--skip-existing` can tell which
stories a rerun still owes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from dreamflow_cli.composer import StoryRequest
from dreamflow_cli.config import KEY_BY_NAME, Settings
from dreamflow_cli.errors import DreamflowError
from dreamflow_cli.monitor import Watch
from dreamflow_cli.pipeline import Setup, StoryResult, open_model, plan_story, story_id, write_story

# Options a JSON line may set, with the config key that validates each value.
LINE_OPTIONS = ("name", "age", "scenes", "seed", "images", "theme", "moral")
_VALIDATED = {"name", "age", "scenes", "seed", "images"}


@dataclass(frozen=True)
class BatchItem:
    line: int  # 1-based line number in the input, for messages a person can find
    request: StoryRequest | None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    item: BatchItem
    index: int  # 1-based position among the stories of the batch
    status: str  # "ok", "skipped" or "failed"
    story_id: str | None = None
    result: StoryResult | None = None
    story_dir: Path | None = None
    error: str | None = None


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def per_minute(self) -> float:
        return self.done * 60 / self.seconds if self.seconds > 0 else 0.0


def derive_seed(base: int, line: int) -> int:
    """A per-line seed from the batch seed, so a batch is reproducible line by line."""
    digest = hashlib.sha256(f"{base}:{line}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31)


def _request_from_json(obj: Any, defaults: StoryRequest) -> StoryRequest:
    if not isinstance(obj, dict):
        raise ValueError("a JSON line must be an object with a \"prompt\"")
    unknown = sorted(set(obj) - {"prompt", *LINE_OPTIONS})
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; accepted: prompt, {', '.join(LINE_OPTIONS)}")
    if not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
        raise ValueError("missing \"prompt\" (a non-empty string)")
    values: dict[str, Any] = {"prompt": obj["prompt"]}
    for key in LINE_OPTIONS:
        if key in obj:
            value = obj[key]
            if key in _VALIDATED:
                value = KEY_BY_NAME[key].coerce(value, key)
            elif not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            values[key] = value
    fields = {k: v for k, v in values.items() if k in StoryRequest.__dataclass_fields__}
    return replace(defaults, **fields)


def parse_prompts(text: str, defaults: StoryRequest, base_seed: int | None) -> list[BatchItem]:
    """Turn a prompts file into items; a bad line becomes an item with an error, not an exception."""
    items: list[BatchItem] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"invalid JSON ({exc.msg})") from None
                request = _request_from_json(obj, defaults)
            else:
                request = replace(defaults, prompt=line)
        except (ValueError, DreamflowError) as exc:
            items.append(BatchItem(number, None, getattr(exc, "message", None) or str(exc)))
            continue
        if request.seed is None and base_seed is not None:
            request = replace(request, seed=derive_seed(base_seed, number))
        items.append(BatchItem(number, request))
    return items


def finished_stories(out_dir: Path) -> dict[str, Path]:
    """story_id → folder, for every complete story already in ``out_dir``."""
    found: dict[str, Path] = {}
    if not out_dir.is_dir():
        return found
    for meta_path in out_dir.glob("*/story.json"):
        try:
            sid = json.loads(meta_path.read_text(encoding="utf-8")).get("story_id")
        except (OSError, ValueError):
            continue  # not ours, or damaged: it does not count as done
        if sid:
            found[sid] = meta_path.parent
    return found


def run_batch(
    items: list[BatchItem],
    settings: Settings,
    setup: Setup,
    *,
    skip_existing: bool,
    watch: Watch,
    verbose: bool = False,
) -> Iterator[Outcome]:
    """Yield one Outcome per item as it finishes; the model loads once, on the first story owed."""
    done = finished_stories(settings.out_dir) if skip_existing else {}
    status = watch.status
    status.batch_total = len(items)
    status.batch_done = 0
    status.batch_started = time.perf_counter()
    model = None
    try:
        for index, item in enumerate(items, 1):
            status.batch_done = index - 1
            if item.request is None:
                yield Outcome(item, index, "failed", error=item.error)
                continue
            try:
                plan = plan_story(item.request, settings, setup)
            except DreamflowError as exc:
                yield Outcome(item, index, "failed", error=exc.message)
                continue
            sid = story_id(plan.request, setup, settings)
            if sid in done:
                yield Outcome(item, index, "skipped", story_id=sid, story_dir=done[sid])
                continue
            if model is None:
                watch.phase("loading model")
                with watch.sampler():
                    model = open_model(setup, verbose=verbose)
            try:
                result = write_story(plan, settings, model=model, watch=watch, verbose=verbose,
                                     extra_metadata={"batch_line": item.line})
            except DreamflowError as exc:
                if exc.exit_code == 4:  # out of memory: the next story would fare no better
                    raise
                yield Outcome(item, index, "failed", story_id=sid, error=exc.message)
                continue
            done[sid] = result.story_dir
            yield Outcome(item, index, "ok", story_id=sid, result=result, story_dir=result.story_dir)
        status.batch_done = len(items)
    finally:
        if model is not None:
            model.close()
