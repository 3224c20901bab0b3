"""The pictures (issue 21): do they show their subject, how fast are they, what PNG saving costs.

    python bench/pictures.py --only rate     # 32 prompts through `dreamflow generate` (real SmolLM2); fine under load
    python bench/pictures.py --only speed    # ms a picture at 768x512, fresh processes; needs a quiet machine
    python bench/pictures.py --only png      # optimize=True against compress_level=6: size (and time: quiet machine)

rate: writes the 32 prompts of PROMPTS as one batch with the real model (one draft each, 3 scenes,
no book), then reads each story.json ``illustrations``: a story counts when every scene picture
shows the subject its prompt names (the hand-written answer beside each prompt), and its hero is the
same in every scene. Target: at least 90% of stories.

speed: each run is a fresh process, as `dreamflow generate` is: import, then a five-scene story's
pictures, timing the first picture (glyphs rasterized cold) and the later ones (cache warm), each
with its PNG encoding. Target: at most 150 ms a picture. CPU time is printed beside the wall time
because a busy machine stretches wall time; the load average is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# 32 ordinary bedtime prompts and the subject a picture of each must show (the vocabulary's name).
PROMPTS: list[tuple[str, str]] = [
    ("a sleepy dragon", "dragon"), ("a little owl who is afraid of the dark", "owl"),
    ("a bunny who can't fall asleep", "bunny"), ("a kitten looking for the moon", "cat"),
    ("a brave little boat on the sea", "boat"), ("a whale who sings lullabies", "whale"),
    ("a teddy bear's picnic in the garden", "teddy bear"), ("a tiny mouse in a big house", "mouse"),
    ("a penguin who wants to fly", "penguin"), ("a fox cub in the snowy forest", "fox"),
    ("a train that travels through the night", "train"), ("a rocket going to the moon", "rocket"),
    ("a unicorn in the meadow", "unicorn"), ("a puppy's first night at home", "dog"),
    ("a hedgehog collecting autumn leaves", "hedgehog"), ("a little robot who learns to dream", "robot"),
    ("a polar bear under the northern lights", "polar bear"), ("a turtle at the beach", "turtle"),
    ("a dinosaur who loves to count stars", "dinosaur"), ("a princess who lives in a castle", "princess"),
    ("a fire truck that helps the town sleep", "fire engine"), ("a butterfly in the garden", "butterfly"),
    ("an elephant who is too big for bed", "elephant"), ("a little tractor on the farm", "tractor"),
    ("a frog on a lily pad at the pond", "frog"), ("a sloth in the jungle", "sloth"),
    ("a kite that flew above the clouds", "kite"), ("a duckling lost in the rain", "duck"),
    ("an astronaut's trip to the stars", "astronaut"), ("a lion cub learning to roar softly", "lion"),
    ("a koala who couldn't find her blanket", "koala"), ("a hot air balloon over the mountains", "balloon"),
]

SPEED_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from dreamflow_cli.output.pictures import draw, vocabulary
from dreamflow_cli.output.pictures.plain import png_bytes
t1 = time.perf_counter()
scenes = ["Mia and a sleepy dragon lived in a deep green forest and watched the stars and the moon.",
          "He met a small fox with a lantern and an owl.", "They walked to the pond where frogs sang.",
          "Back in his cave he curled up with a book.", "He dreamed of snow on the mountain."]
cast = draw.plan("a sleepy dragon", scenes, 7)
showings = vocabulary.story_showings("a sleepy dragon", scenes, cast.hero, child="Mia")
wall, cpu = [], []
for i, showing in enumerate(showings, 1):
    c, t = time.process_time(), time.perf_counter()
    png_bytes(draw.draw(cast, showing, "", index=i, total=5, title="T").image)
    wall.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
print(json.dumps({"import": t1 - t0, "wall": wall, "cpu": cpu}))
"""


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"


def speed(runs: int) -> None:
    before = load()
    results = [json.loads(subprocess.run([sys.executable, "-c", SPEED_CHILD], capture_output=True, text=True,
                                         check=True, cwd=ROOT).stdout) for _ in range(runs)]
    first = [r["wall"][0] for r in results]
    later = [x for r in results for x in r["wall"][1:]]
    print(f"{runs} fresh processes, 5 pictures each, 768x512, PNG encoding included")
    print(f"import (Pillow, art, vocabulary): {ms([r['import'] for r in results])}")
    print(f"first picture (cold glyphs): {ms(first)}; CPU {ms([r['cpu'][0] for r in results])}")
    print(f"later pictures (warm): {ms(later)}; CPU {ms([x for r in results for x in r['cpu'][1:]])}")
    worst = max(first + later)
    print(f"slowest picture: {worst * 1000:.0f} ms -> {'PASS' if worst <= 0.150 else 'FAIL'} (target <= 150 ms)")
    print(f"load before: {before}; after: {load()}; cores: {os.cpu_count()}")


def png(pictures: int = 16) -> None:
    """optimize=True (what the plain picture used to save with) against compress_level=6 (now)."""
    import io

    from dreamflow_cli.output.pictures import draw

    images = [p.image for prompt, _ in PROMPTS[:pictures]
              for p in draw.draw_story(prompt, "T", [f"{prompt} in the forest"], [""], 1)]
    rows = {}
    for label, options in (("compress_level=6", {"compress_level": 6}), ("optimize=True", {"optimize": True})):
        sizes, times = [], []
        for image in images:
            buffer = io.BytesIO()
            started = time.perf_counter()
            image.save(buffer, format="PNG", **options)
            times.append(time.perf_counter() - started)
            sizes.append(len(buffer.getvalue()))
        rows[label] = statistics.mean(sizes)
        print(f"{label:17} mean {statistics.mean(sizes) / 1024:.1f} KB, {ms(times)} ({len(images)} pictures)")
    saved = 1 - rows["optimize=True"] / rows["compress_level=6"]
    print(f"optimize=True saves {saved:.1%} of the size; load {load()} (times need a quiet machine)")


def rate(model: Path | None, limit: int) -> None:
    """The 32 prompts as one batch with the real model, then every story.json's illustrations."""
    prompts = PROMPTS[:limit]
    if model is None:
        from tests.helpers.model import CACHE_DIR, fetch_test_model

        model = fetch_test_model(CACHE_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "prompts.txt").write_text("".join(f"{p}\n" for p, _ in prompts), encoding="utf-8")
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "dreamflow_cli", "generate", "--prompts-file", "prompts.txt",
                              "--model", str(model), "--out", "stories", "--candidates", "1", "--scenes", "3",
                              "--no-book", "--seed", "1", "--json"], cwd=tmp, capture_output=True, text=True)
        records = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        print(f"{len(records)} stories written in {time.perf_counter() - started:.0f} s (exit {run.returncode})")
        report([(prompts[r["index"] - 1], r) for r in records])


def report(done: list[tuple[tuple[str, str], dict]]) -> None:
    ok = same = fallbacks = total = 0
    for (prompt, subject), record in done:
        if record.get("status") != "ok":
            print(f"FAIL {prompt!r}: {record.get('error')}")
            continue
        meta = json.loads(Path(record["metadata_path"]).read_text(encoding="utf-8"))
        scenes = [i for i in meta.get("illustrations", []) if i["file"].startswith("scene-")]
        shows = all(subject in i["shows"] for i in scenes) and bool(scenes)
        ok += shows
        same += len({i["shows"][0] if i["shows"] else None for i in scenes}) == 1
        fallbacks += sum(i["credit"] is None for i in scenes)
        total += len(scenes)
        print(f"{'ok  ' if shows else 'MISS'} {prompt!r:45} " + " | ".join(",".join(i["shows"]) for i in scenes))
    n = len(done)
    print(f"\nstories whose every picture shows the subject: {ok}/{n} = {ok / max(n, 1):.0%} (target >= 90%)")
    print(f"hero the same in every scene: {same}/{n}; plain fallback pictures: {fallbacks}/{total}; load {load()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("rate", "speed", "png"), action="append")
    ap.add_argument("--runs", type=int, default=5, help="fresh processes for --only speed")
    ap.add_argument("--model", type=Path, help="GGUF for --only rate [default: the test model, SmolLM2-135M]")
    ap.add_argument("--limit", type=int, default=len(PROMPTS), help="first N prompts for --only rate")
    args = ap.parse_args()
    parts = args.only or ["rate", "speed", "png"]
    if "rate" in parts:
        rate(args.model, args.limit)
    if "png" in parts:
        png()
    if "speed" in parts:
        speed(args.runs)


if __name__ == "__main__":
    main()
