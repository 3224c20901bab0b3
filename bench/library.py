"""The library page for 1,000 stories (issue 21): rebuilt in at most 2 s. Needs a quiet machine.

    python bench/library.py [--stories 1000] [--dir /tmp/dreamflow-library-bench]

Writes the story folders once (tiny stand-in pictures and books: the page reads story.json and
story.md, never the pictures), plus a staging folder and five broken story.json files that must be
skipped, then rebuilds index.html five times and lists the stories as `dreamflow library --json`
does. The first build reads a cold page cache only if the folders were just written elsewhere.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMES = ["Mia", "Leo", "Ava", None, "Noah"]
PROMPTS = ["a sleepy dragon", "a little owl", "a whale who sings", "a brave boat", "a bunny"]


def make_shelf(out: Path, stories: int) -> None:
    from tests.helpers.stories import make_story_folder

    if out.exists():
        shutil.rmtree(out)
    t0 = datetime(2026, 1, 1, 19, 0, tzinfo=timezone.utc)
    for i in range(stories):
        series = {"id": "s", "part": 2, "previous": f"{i - 1:05d}-story"} if i % 10 == 1 else None
        make_story_folder(out, f"{i:05d}-story", title=f"Story number {i}", prompt=PROMPTS[i % 5],
                          scenes=["A calm scene with some words in it."] * 4, name=NAMES[i % 5],
                          created=t0 + timedelta(hours=7 * i), audio=i % 3 == 0,
                          **({"series": series} if series else {}))
    (out / ".dreamflow-tmp-1-abcd").mkdir()
    for k in range(5):
        (out / f"broken-{k}").mkdir()
        (out / f"broken-{k}" / "story.json").write_text("{oops")


def main() -> None:
    from dreamflow_cli.output import library

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stories", type=int, default=1000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/dreamflow-library-bench"))
    args = ap.parse_args()
    started = time.perf_counter()
    make_shelf(args.dir, args.stories)
    print(f"made {args.stories} story folders in {time.perf_counter() - started:.1f} s")
    before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        built = library.build(args.dir)
        runs.append(time.perf_counter() - started)
    started = time.perf_counter()
    items = [e.as_json() for e in library.scan(args.dir).entries]
    listed = time.perf_counter() - started
    print(f"build: median {statistics.median(runs):.3f} s, max {max(runs):.3f} s (5 runs) -> "
          f"{'PASS' if max(runs) <= 2.0 else 'FAIL'} (target <= 2 s); {built.stories} cards, "
          f"{len(built.warnings)} warnings, page {built.path.stat().st_size / 1024:.0f} KB")
    print(f"the --json list: {listed:.3f} s, {len(items)} stories")
    print(f"load before: {before}; after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; cores: {os.cpu_count()}")
    shutil.rmtree(args.dir)


if __name__ == "__main__":
    main()
