"""book.pdf per story (issue 21): at most 1 s. Needs a quiet machine (it measures time).

    python bench/book.py [--runs 10] [--scenes 5]

Draws one story's pictures once (not timed), then makes its book ``--runs`` times in this process
and once in a fresh process (reportlab's import and font registration included, as the first story
of a `dreamflow generate` pays), and prints wall and CPU time with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCENES = ["Mia and a sleepy dragon lived in a deep green forest. \u201cGoodnight,\u201d he\u2019d say to the stars.",
          "One evening he met a small fox carrying a lantern, and an owl who had lost her way home.",
          "They walked to the pond, where the frogs sang a lullaby, and rested on a mossy rock.",
          "Back in his cave, the dragon curled up with a book, and the fox curled up beside him.",
          "Outside, snow fell softly on the mountain, and everyone in the forest fell asleep."]

COLD = r"""
import json, sys, time
sys.path.insert(0, %r)
from bench.book import story_pngs
pngs = story_pngs(%d)
c, t = time.process_time(), time.perf_counter()
from dreamflow_cli.output.book.pdf import make_book
from bench.book import SCENES
make_book("The Sleepy Dragon", SCENES[:%d], pngs, name="Mia", age=5, art_credit="x")
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c}))
"""


def story_pngs(scenes: int) -> list[bytes | None]:
    from dreamflow_cli.output.pictures import draw
    from dreamflow_cli.output.pictures.plain import png_bytes

    pictures = draw.draw_story("a sleepy dragon", "T", SCENES[:scenes], [""] * scenes, 7, child="Mia")
    return [png_bytes(p.image) for p in pictures]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--scenes", type=int, default=5, choices=range(1, 6))
    args = ap.parse_args()
    before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    cold = json.loads(subprocess.run([sys.executable, "-c", COLD % (str(ROOT), args.scenes, args.scenes)],
                                     capture_output=True, text=True, check=True).stdout)
    from dreamflow_cli.output.book.pdf import make_book

    pngs = story_pngs(args.scenes)
    wall, cpu, size = [], [], 0
    for _ in range(args.runs):
        c, t = time.process_time(), time.perf_counter()
        size = len(make_book("The Sleepy Dragon", SCENES[:args.scenes], pngs, name="Mia", age=5, art_credit="x").data)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(f"book.pdf, {args.scenes} scenes + cover + The End, {size / 1024:.0f} KB")
    print(f"first book of a process (import + fonts): wall {cold['wall']:.2f} s, CPU {cold['cpu']:.2f} s")
    print(f"later books: wall median {statistics.median(wall):.2f} s, max {max(wall):.2f} s; "
          f"CPU median {statistics.median(cpu):.2f} s ({args.runs} runs)")
    worst = max(wall + [cold["wall"]])
    print(f"slowest: {worst:.2f} s -> {'PASS' if worst <= 1.0 else 'FAIL'} (target <= 1 s)")
    print(f"load before: {before}; after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
