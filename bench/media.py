"""Narration and video on this machine (issue 20): how fast, how much memory, how long.

    python bench/media.py                 # everything (~5 minutes on 2 quiet cores)
    python bench/media.py --only speed    # the narrator's and the encoder's real-time factors
    python bench/media.py --only memory   # low-memory --narrate --video vs text only: peak RSS
                                          # of dreamflow and its children, sampled at 20 Hz

Speed: a fixed 359-word, 3-scene story (tests/data/media_story.json) is read by the real narrator
(the pip-shipped voice) and encoded by the real encoder at both qualities; a ratio is seconds of
work per second of media (targets: narration <= 0.2, fast video <= 0.3, high <= 1.5). Memory and
the end-to-end story use `dreamflow generate` on SmolLM2, as a user runs it. Run on a quiet machine
(`uptime` below 0.5); the load is recorded with every number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dreamflow_cli.output.child.runner import run_child  # noqa: E402
from dreamflow_cli.output.narration.script import build_script  # noqa: E402
from tests.helpers.model import CACHE_DIR, fetch_test_model, fetch_test_voice  # noqa: E402

STORY = json.loads((ROOT / "tests" / "data" / "media_story.json").read_text())
PROMPT = "a sleepy dragon who counts the stars"


def load() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else -1.0


def narrate(folder: Path) -> dict[str, Any]:
    voice = fetch_test_voice(CACHE_DIR)
    script = build_script(STORY["title"], STORY["scenes"], STORY["name"])
    request = {"voice_model": str(voice), "voice_config": str(voice) + ".json", "threads": 1,
               "segments": [{"text": s.text, "scene": s.scene, "pause_after": s.pause_after} for s in script],
               "audio_path": str(folder / "narration.mp3"), "wav_path": str(folder / "narration.wav")}
    before = load()
    outcome = run_child("dreamflow_cli.output.narration.narrator", request)
    seconds = outcome.result["seconds"]
    return {"step": "narration", "media_seconds": seconds, "wall": round(outcome.wall_seconds, 2),
            "ratio": round(outcome.wall_seconds / seconds, 3), "peak_rss_mb": _mb(outcome.peak_rss_bytes),
            "load": before, "result": outcome.result}


def encode(folder: Path, narrated: dict[str, Any], quality: str) -> dict[str, Any]:
    from dreamflow_cli.output.pictures.plain import draw_scene, png_bytes

    pictures = []
    for i, scene in enumerate(STORY["scenes"], 1):
        path = folder / f"scene-{i}.png"
        path.write_bytes(png_bytes(draw_scene(STORY["title"], scene[:60], i, len(STORY["scenes"]))))
        pictures.append(str(path))
    result = narrated["result"]
    request = {"pictures": pictures, "scenes": result["scenes"], "seconds": result["seconds"],
               "audio_wav": str(folder / "narration.wav"), "video_path": str(folder / f"story-{quality}.mp4"),
               "quality": quality}
    before = load()
    outcome = run_child("dreamflow_cli.output.video.encoder", request)
    seconds = outcome.result["seconds"]
    return {"step": f"video {quality}", "media_seconds": seconds, "wall": round(outcome.wall_seconds, 2),
            "ratio": round(outcome.wall_seconds / seconds, 3), "peak_rss_mb": _mb(outcome.peak_rss_bytes),
            "load": before, "size": [outcome.result["width"], outcome.result["height"]]}


def generate(out: Path, models: Path, *extra: str) -> dict[str, Any]:
    """`dreamflow generate` as a user runs it, its peak RSS with every child sampled at 20 Hz."""
    command = [sys.executable, "-m", "dreamflow_cli", "generate", PROMPT, "--name", "Mia", "--seed", "3",
               "--models-dir", str(models), "--out", str(out), "--json", *extra]
    before = load()
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    sampler = threading.Thread(target=_sample, args=(proc.pid, peak), daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    sampler.join(timeout=1)
    if proc.returncode != 0:
        raise SystemExit(f"generate failed ({proc.returncode}): {stderr.strip()}")
    summary = json.loads(stdout)
    meta = json.loads(Path(summary["metadata_path"]).read_text())
    return {"run": " ".join(extra) or "text only", "wall": round(wall, 1), "peak_rss_mb": _mb(peak[0]),
            "story_json_peak_mb": _mb(meta["peak_rss_bytes"]), "profile": meta["profile"]["name"],
            "load": before, "narration_seconds": (meta.get("narration") or {}).get("seconds"),
            "video_seconds": (meta.get("video") or {}).get("seconds"),
            "words_per_minute": (meta.get("narration") or {}).get("words_per_minute")}


def _sample(pid: int, peak: list[int]) -> None:
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
        total = 0
        for proc in (root, *root.children(recursive=True)):
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        peak[0] = max(peak[0], total)
        time.sleep(0.05)


def _mb(n: int | None) -> float | None:
    return None if n is None else round(n / 1e6, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("speed", "memory"))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dreamflow-media-bench-") as tmp:
        work = Path(tmp)
        if args.only in (None, "speed"):
            narrated = narrate(work)
            rows += [narrated, encode(work, narrated, "fast"), encode(work, narrated, "high")]
        if args.only in (None, "memory"):
            models = work / "models"
            models.mkdir()
            for source in (fetch_test_model(CACHE_DIR), fetch_test_voice(CACHE_DIR)):
                for path in (source, source.with_name(source.name + ".json")):
                    if path.exists():
                        os.link(path, models / path.name)
            rows.append(generate(work / "a", models, "--low-memory"))
            rows.append(generate(work / "b", models, "--low-memory", "--narrate", "--video"))
            rows.append(generate(work / "c", models, "--narrate", "--video"))
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k != "result"}))
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "result"} for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
