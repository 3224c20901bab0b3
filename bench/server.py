"""Batches against model servers, in one run (issues 12 and 25):

1. speed: the same N-story batch (same seeds) written by two local server processes (each
   `python -m llama_cpp.server … --n_threads 1 --interrupt_requests False`) with `--parallel 2`,
   by one of them alone (same flags), and in process (`--backend local`, one story at a time)
   beside them. Target: two servers >= 1.6x one server.
   Then the same batch against servers started the way a new user starts them (no
   --interrupt_requests flag: a second request stops the story in progress) with dreamflow's
   default --parallel (2 per server): one server, and two. Target: every story written (before
   issue 25: 1 of 8), in about the time the queueing servers take.
2. memory: dreamflow's own peak RSS (sampled every 50 ms) during an M-story batch, pictures
   included, against a scripted fast server (tests/helpers/scripted_server.py, in this process);
   the model's memory is the server's, not ours. Target: < 120 MB.

    python bench/server.py                         # 20-story speed runs + 100-story memory run
    python bench/server.py --stories 2 --rss-stories 5 --max-tokens 48     # proves it works, ~2 min

Every run is a fresh `dreamflow generate --prompts-file … --json` process; wall time is the
whole command (server start-up excluded: servers are up and warm before the clock starts). The
load average is printed before and after each run, since other jobs on the machine skew the
ratios. A run that does not write every story says which lines failed and why (each failed
line's error from --json), and what dreamflow learned about the servers (its stderr notes).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
SMOL_CANDIDATES = (Path.home() / ".cache/dreamflow-tests/SmolLM2-135M-Instruct.Q4_1.gguf",
                   Path("/work/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
PROMPTS = ("a sleepy dragon who counts the stars", "a little owl who is afraid of the dark",
           "a teddy bear's picnic under the moon", "a cloud that wants to rain lemonade",
           "a kitten who lost her mitten", "a snail who races the sunset")
SEED = 11
TARGET_RATIO = 1.6
TARGET_RSS = 120e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except (OSError, AttributeError):
        return "n/a"


# llama-cpp-python's server stops a running stream when a second request arrives, unless this:
QUEUE = ("--interrupt_requests", "False")


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server in a child process, one thread; ``extra``:
    more flags (QUEUE), none for the server as a new user starts it."""

    def __init__(self, model: Path, log: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [PY, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2", "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server on port {self.port} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise SystemExit(f"server on port {self.port} did not start within {seconds:.0f} s")

    def warm(self) -> None:
        """One tiny request, so no timed run pays for a cold server (first-use setup, page cache)."""
        body = json.dumps({"model": "smollm2", "messages": [{"role": "user", "content": "Say goodnight."}],
                           "max_tokens": 8, "seed": 1}).encode()
        request = urllib.request.Request(self.url + "/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as reply:
            reply.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def write_prompts(path: Path, n: int) -> Path:
    path.write_text("".join(PROMPTS[i % len(PROMPTS)] + f" (night {i + 1})\n" for i in range(n)), encoding="utf-8")
    return path


def peak_rss_of(proc: subprocess.Popen[bytes], stop: threading.Event, out: list[int]) -> None:
    import psutil

    try:
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            out[0] = max(out[0], p.memory_info().rss)
            stop.wait(0.05)
    except psutil.Error:
        pass


def run_batch(label: str, prompts: Path, out_dir: Path, flags: list[str], env: dict[str, str],
              images: bool = False) -> dict[str, Any]:
    argv = [PY, "-m", "dreamflow_cli", "generate", "--prompts-file", str(prompts), "--out", str(out_dir),
            "--seed", str(SEED), "--images" if images else "--no-images", "--json", "--quiet", *flags]
    before = load()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=out_dir.parent)
    peak = [0]
    stop = threading.Event()
    sampler = threading.Thread(target=peak_rss_of, args=(proc, stop, peak), daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    records = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [r for r in records if r.get("status") != "ok"]
    tokens = sum(int(r.get("tokens_generated") or r.get("generated_tokens") or 0) for r in ok)
    lines = stderr.decode(errors="replace").strip().splitlines()
    result = {"label": label, "rc": proc.returncode, "wall": wall, "stories": len(ok), "failed": len(failed),
              "tokens": tokens, "peak_rss": peak[0], "load_before": before, "load_after": load(),
              "servers": ok[-1].get("servers") if ok else None,
              "learned": [line for line in lines if "at a time" in line],
              "failures": [{"line": r.get("line"), "error": r.get("error")} for r in failed],
              "stderr_tail": lines[-3:]}
    print(f"  {label:<40} rc {proc.returncode}  {len(ok):>3} of {len(records):>3} stories  {wall:7.1f} s  "
          f"{tokens / wall if wall else 0:6.1f} tok/s  peak RSS {peak[0] / 1e6:5.0f} MB  "
          f"load {before} -> {result['load_after']}", flush=True)
    for note in result["learned"]:
        print(f"    learned: {note}", flush=True)
    for failure in result["failures"]:  # every line that was not written, and why
        print(f"    line {failure['line']} failed: {failure['error']}", flush=True)
    if proc.returncode not in (0, 7) or not records:
        print("    " + "\n    ".join(result["stderr_tail"]), flush=True)
    return result


def _serve(args: argparse.Namespace, work: Path, name: str, *extra: str) -> list[LlamaServer]:
    servers = [LlamaServer(args.model, work / f"{name}{i}.log", *extra) for i in range(2)]
    try:
        for s in servers:
            s.wait()
        for s in servers:
            s.warm()
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return servers


def speed(args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, Any]:
    prompts = write_prompts(work / "prompts.txt", args.stories)
    common = ["--max-tokens", str(args.max_tokens), "--backend", "openai", "--model", "smollm2"]
    servers = _serve(args, work, "queue", *QUEUE)
    try:
        runs = {
            "two": run_batch("two servers, --parallel 2", prompts, work / "two",
                             [*common, "--base-url", servers[0].url, "--base-url", servers[1].url, "--parallel", "2"],
                             env),
            "one": run_batch("one server, --parallel 2", prompts, work / "one",
                             [*common, "--base-url", servers[0].url, "--parallel", "2"], env),
        }
    finally:
        for s in servers:
            s.stop()
    servers = _serve(args, work, "default")  # as a new user starts them: a second request cuts the first
    try:
        runs["two_default"] = run_batch("two default servers, default --parallel", prompts, work / "two-default",
                                        [*common, "--base-url", servers[0].url, "--base-url", servers[1].url], env)
        runs["one_default"] = run_batch("one default server, default --parallel", prompts, work / "one-default",
                                        [*common, "--base-url", servers[0].url], env)
    finally:
        for s in servers:
            s.stop()
    runs["local"] = run_batch("in process (--backend local)", prompts, work / "local",
                              ["--max-tokens", str(args.max_tokens), "--backend", "local", "--model", str(args.model)],
                              env)
    failed = [r["label"] for r in runs.values() if r["rc"] != 0 or r["stories"] != args.stories]
    if failed:
        print(f"  not every story was written in: {', '.join(failed)} (see the failed lines above)")
    out: dict[str, Any] = {"runs": runs, "ratio_two_vs_one": None, "ratio_two_vs_local": None,
                           "ratio_default_vs_queue": None, "all_written": not failed}
    complete = {key for key, r in runs.items() if r["rc"] == 0 and r["stories"] == args.stories}
    wall = {key: runs[key]["wall"] for key in complete}
    if {"two", "one", "local"} <= complete:
        ratio = wall["one"] / wall["two"]
        out.update(ratio_two_vs_one=ratio, ratio_two_vs_local=wall["local"] / wall["two"])
        print(f"  two servers vs one: {ratio:.2f}x faster (target >= {TARGET_RATIO}x: "
              f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}); two servers vs in process: "
              f"{wall['local'] / wall['two']:.2f}x")
    if {"one", "one_default"} <= complete:
        out["ratio_default_vs_queue"] = wall["one_default"] / wall["one"]
        print(f"  one default server vs one queueing server: {out['ratio_default_vs_queue']:.2f}x the wall time "
              "(the default one costs a cut story before dreamflow learns it writes one at a time)")
    return out


def memory(args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.helpers.scripted_server import Script, ScriptedServer

    prompts = write_prompts(work / "prompts-rss.txt", args.rss_stories)
    with ScriptedServer(Script(models=("fast",))) as server:
        run = run_batch(f"{args.rss_stories} stories + pictures, scripted", prompts, work / "rss",
                        ["--backend", "openai", "--base-url", server.url, "--model", "fast", "--max-tokens", "128"],
                        env, images=True)
    ok = run["peak_rss"] < TARGET_RSS and run["stories"] == args.rss_stories
    print(f"  dreamflow's peak RSS {run['peak_rss'] / 1e6:.0f} MB over {run['stories']} stories "
          f"(target < {TARGET_RSS / 1e6:.0f} MB: {'met' if ok else 'NOT met'})")
    return {"run": run, "met": ok}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stories", type=int, default=20, help="stories in the speed batch")
    ap.add_argument("--rss-stories", type=int, default=100, help="stories in the memory batch")
    ap.add_argument("--max-tokens", type=int, default=160, help="story budget for the speed batch (>= 32)")
    ap.add_argument("--model", type=Path, default=next((p for p in SMOL_CANDIDATES if p.is_file()), None))
    ap.add_argument("--only", choices=("speed", "memory"), default=None)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.only != "memory" and (args.model is None or not args.model.is_file()):
        ap.error("no SmolLM2 GGUF found; pass --model PATH")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    for var in [v for v in env if v.startswith("DREAMFLOW_")]:
        env.pop(var)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_start": load()}
    with tempfile.TemporaryDirectory(prefix="dreamflow-bench-server-") as tmp:
        work = Path(tmp)
        if args.only in (None, "speed"):
            print(f"speed: {args.stories} stories, max {args.max_tokens} tokens, seed {SEED}, "
                  f"{os.cpu_count()} CPUs, load {load()}", flush=True)
            results["speed"] = speed(args, work, env)
        if args.only in (None, "memory"):
            print(f"memory: {args.rss_stories} stories against a scripted server", flush=True)
            results["memory"] = memory(args, work, env)
    results["load_end"] = load()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
