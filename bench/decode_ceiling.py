"""The decoder alone: aggregate tokens/s of N stories in one llama.cpp context, no story pipeline.

    python bench/decode_ceiling.py MODEL.gguf --slots 4 [--stories 16] [--tokens 96] [--threads 2]

Runs ``--stories`` real story prompts (dreamflow's own system and user messages) through
``decoder.load_parallel`` with ``--slots`` sequences, one caller thread per slot, continuous
refill, every story exactly ``--tokens`` long (end-of-text is ignored, so every run decodes
the same number of tokens), and prints one JSON line. bench/parallel.py runs it in a fresh
process per (model, slots): two contexts in one process disturb each other's threads.

What it shows: the most a batch can gain from ``--parallel`` with this model, build and
machine. Everything else a batch does (prompts, checks, files, the last story's tail) only
dilutes that ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from dreamflow_cli.backend.seam import Prompt
from dreamflow_cli.engine.parallel import load_parallel
from dreamflow_cli.settings.profiles import MemoryMode, choose_profile
from dreamflow_cli.story.prompt import SYSTEM_PROMPT, build_prompt, story_opening

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BATCH_PROMPTS  # noqa: E402 (after the path insert above)

SAMPLING = {"temperature": 0.6, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--slots", type=int, required=True)
    ap.add_argument("--stories", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    args = ap.parse_args()
    profile = choose_profile(MemoryMode.STANDARD, args.threads, None, {"n_threads": args.threads})
    backend = load_parallel(Path(args.model), profile, args.slots)
    loop = backend.loop
    loop.governor = None  # fixed threads: this measures the decoder, not the thread policy
    prompts = []
    for i in range(args.stories):
        _, user = build_prompt(BATCH_PROMPTS[i % len(BATCH_PROMPTS)], name=None, age=None, max_tokens=args.tokens)
        prompt = Prompt(SYSTEM_PROMPT, user, story_opening(None, i))
        prompts.append(backend.tokenize(backend.render(prompt)))
    model_is_end = loop._is_end
    loop._is_end = lambda token: False  # every story runs its whole budget
    lock, queue, tokens = threading.Lock(), list(range(args.stories)), [0]

    def caller() -> None:
        while True:
            with lock:
                if not queue:
                    return
                i = queue.pop(0)
            request = loop.submit(prompts[i], args.tokens, SAMPLING, 1000 + i)
            while True:
                kind, value = request.events.get()
                if kind == "error":
                    raise value
                if kind == "done":
                    break
            with lock:
                tokens[0] += len(request.out)

    callers = [threading.Thread(target=caller) for _ in range(args.slots)]
    started = time.perf_counter()
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    wall = time.perf_counter() - started
    loop._is_end = model_is_end
    backend.close()
    print(json.dumps({"slots": args.slots, "threads": args.threads, "stories": args.stories, "tokens": tokens[0],
                      "wall": wall, "tokens_per_second": tokens[0] / wall, "steps": loop.steps,
                      "load1": os.getloadavg()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
