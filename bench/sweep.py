"""A hostile sweep of the installed `dreamflow` (issue 13): bad values, options, environment,
config files, inputs, output folders, full disks, signals and downloads, tried the way a new user
would. Each case must end with an expected exit code, no traceback, one error line, no staging
folder left, no unexpected story, and every file that was there before untouched.

    python bench/sweep.py [--model PATH] [--only WORD]

Prints one line per case and a summary; exits 1 if any case failed. Runs cases one at a time with
--threads 1 (a few load the real model), ~1-2 minutes on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

DEFAULT_MODEL = Path.home() / ".cache" / "dreamflow-tests" / "SmolLM2-135M-Instruct.Q4_1.gguf"
STAGING = ".dreamflow-tmp-"


@dataclass
class Case:
    name: str
    args: list[str]
    codes: tuple[int, ...]  # acceptable exit codes
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    stdin: bytes | None = None
    close_fd: int | None = None
    signal_at: tuple[str, int] | None = None  # (phase, signal): sent when the run pauses there
    needs_root: bool = False
    not_as_root: bool = False  # root may write anywhere: the case means nothing then
    story_expected: bool = False
    quiet_stdout: bool = False  # nothing may reach stdout


def dreamflow() -> list[str]:
    script = Path(sys.executable).parent / ("dreamflow.exe" if os.name == "nt" else "dreamflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dreamflow_cli"]


def snapshot(root: Path) -> dict[str, str]:
    state = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            state[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode())
    return make


def steps(*makers: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        for maker in makers:
            maker(work)
    return make


def mkdir(rel: str, mode: int | None = None) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        (work / rel).mkdir(parents=True, exist_ok=True)
        if mode is not None:
            (work / rel).chmod(mode)
    return make


def symlink_loop(rel: str) -> Callable[[Path], None]:
    return lambda work: (work / rel).symlink_to(work / rel)


def small_fs(rel: str, kb: int) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        (work / rel).mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(work / rel)], check=True)
    return make


def cases(model: str) -> list[Case]:
    m = ["--model", model, "--threads", "1", "--max-tokens", "40", "--seed", "1"]
    gen = ["generate", "a calm bear", *m]
    return [*value_cases(m, gen), *file_cases(m, gen)]


def value_cases(m: list[str], gen: list[str]) -> list[Case]:
    """Bad values in flags, the environment and config files."""
    return [
        # values: flags
        *[Case(f"flag {' '.join(a)}", [*gen, *a], (2,)) for a in (
            ["--ctx", "0"], ["--ctx", "99999999"], ["--ctx", "abc"], ["--batch", "-1"], ["--age", "200"],
            ["--age", "0"], ["--scenes", "9"], ["--seed", "-5"], ["--max-tokens", "0"], ["--threads", "-3"],
            ["--threads", "0"], ["--no-such-flag"], ["--age"], ["--auto-memory", "--low-memory"],
            ["--auto-memory", "--standard"], ["--parallel", "-1"], ["--parallel", "lots"])],
        Case("prompt and --prompts-file", [*gen, "--prompts-file", "p.txt"], (2,), setup=write("p.txt", "a fox\n")),
        Case("no prompt", ["generate", *m], (2,)),
        Case("unknown command", ["tell-a-story"], (2,)),
        Case("download --timeout nan", ["download-model", "--url", "http://127.0.0.1:9/x.gguf", "--timeout", "nan"], (2,)),
        Case("download --timeout inf", ["download-model", "--url", "http://127.0.0.1:9/x.gguf", "--timeout", "inf"], (2,)),
        # values: environment
        *[Case(f"env {k}={v}", gen, (2,), env={k: v}) for k, v in (
            ("DREAMFLOW_TEMPERATURE", "nan"), ("DREAMFLOW_TEMPERATURE", "inf"), ("DREAMFLOW_TEMPERATURE", "-1"),
            ("DREAMFLOW_SCENES", "nan"), ("DREAMFLOW_AGE", "1e3"), ("DREAMFLOW_SEED", "x"),
            ("DREAMFLOW_LOW_MEMORY", "maybe"), ("DREAMFLOW_MEMORY_CHECK", "2"))],
        # values: config file
        *[Case(f"config {line!r}", gen, (2,), setup=write("dreamflow.toml", line)) for line in (
            "temperature = nan\n", "top_p = inf\n", "scenes = 3.5\n", "age = \"five\"\n", "nosuchkey = 1\n",
            "[profile.standard]\nn_ctx = 0\n", "[profile.standard]\nn_threads = 0\n", "[profile.turbo]\nn_ctx = 512\n",
            "this is not toml\n")],
        Case("config not UTF-8", gen, (2,), setup=write("dreamflow.toml", b"name = \"Zo\xe9\"\n")),
        Case("DREAMFLOW_CONFIG is a folder", gen, (2,), env={"DREAMFLOW_CONFIG": "conf"}, setup=mkdir("conf")),
        Case("DREAMFLOW_CONFIG loops", gen, (2,), env={"DREAMFLOW_CONFIG": "loop.toml"}, setup=symlink_loop("loop.toml")),
        Case("--config missing", [*gen, "--config", "nope.toml"], (2,)),
        Case("doctor with nan config", ["doctor", "--json"], (1,), setup=write("dreamflow.toml", "top_p = nan\n")),
        Case("config init into a folder --force", ["config", "init", "--path", "conf", "--force"], (2,), setup=mkdir("conf")),
        Case("config init below a file", ["config", "init", "--path", "afile/c.toml"], (2,), setup=write("afile", "x")),
        Case("config init over a file", ["config", "init", "--path", "c.toml"], (2,), setup=write("c.toml", "mine")),
    ]


def file_cases(m: list[str], gen: list[str]) -> list[Case]:
    """Models, inputs, output folders, downloads and signals; and ordinary runs that still work."""
    return [
        # models
        Case("model missing", ["generate", "x", "--model", "nope.gguf"], (3,)),
        Case("model is a folder", ["generate", "x", "--model", "adir"], (3,), setup=mkdir("adir")),
        Case("model loops", ["generate", "x", "--model", "loop.gguf"], (3,), setup=symlink_loop("loop.gguf")),
        Case("model is html", ["generate", "x", "--model", "m.gguf"], (3,), setup=write("m.gguf", "<html>404</html>")),
        Case("model is GGUF garbage", ["generate", "x", "--model", "g.gguf"], (3,),
             setup=write("g.gguf", b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 16)),
        # inputs
        Case("prompts file empty", ["generate", "--prompts-file", "p.txt", *m], (2,), setup=write("p.txt", "")),
        Case("prompts file comments only", ["generate", "--prompts-file", "p.txt", *m], (2,),
             setup=write("p.txt", "# one\n\n# two\n")),
        Case("prompts file is a folder", ["generate", "--prompts-file", "pdir", *m], (2,), setup=mkdir("pdir")),
        Case("prompts file loops", ["generate", "--prompts-file", "p.txt", *m], (2,), setup=symlink_loop("p.txt")),
        Case("prompts file not UTF-8", ["generate", "--prompts-file", "p.txt", *m], (2,), setup=write("p.txt", b"\xff\xfe\n")),
        Case("prompts stdin closed", ["generate", "--prompts-file", "-", *m], (2,), close_fd=0),
        Case("prompts stdin not UTF-8", ["generate", "--prompts-file", "-", *m], (2,), stdin=b"\xff\xfe fox\n"),
        Case("prompts only bad lines", ["generate", "--prompts-file", "p.txt", *m], (7,),
             setup=write("p.txt", '[1, 2]\n{"prompt": "a fox", "age": 200}\n{broken\n')),
        Case("prompt too long", ["generate", "dragon " * 100, *m], (2,)),
        Case("--json with stdout closed", [*gen, "--json"], (2,), close_fd=1),
        Case("config show --json, stdout closed", ["config", "show", "--json"], (2,), close_fd=1),
        Case("bad flag with stderr closed", [*gen, "--ctx", "0"], (2,), close_fd=2, quiet_stdout=True),
        Case("a story with stderr closed", [*gen, "--no-images", "--json"], (0,), close_fd=2, story_expected=True),
        # output folders
        Case("--out is a file", [*gen, "--out", "afile"], (2,), setup=write("afile", "x")),
        Case("--out read-only", [*gen, "--out", "ro"], (2,), setup=mkdir("ro", 0o555), not_as_root=True),
        Case("--out below a file", [*gen, "--out", "afile/stories"], (2,), setup=write("afile", "x")),
        Case("--out nearly full disk", [*gen, "--out", "disk/stories"], (8,), setup=small_fs("disk", 1024),
             needs_root=True),
        Case("config init on a full disk", ["config", "init", "--path", "disk/c.toml"], (8,),
             setup=steps(small_fs("disk", 8), write("disk/fill", b"x" * 8192)), needs_root=True),
        # downloads
        Case("download over an unrelated file", ["download-model", "--url", "http://127.0.0.1:9/small.gguf",
                                                 "--dir", "models"], (2,), setup=write("models/small.gguf", "GGUF mine")),
        Case("download --dir is a file", ["download-model", "--dir", "afile"], (2,), setup=write("afile", "x")),
        Case("download unknown model", ["download-model", "no-such-model"], (2,)),
        Case("download bad url", ["download-model", "--url", "ftp://x/y.gguf"], (2,)),
        Case("download nothing listening", ["download-model", "--url", "http://127.0.0.1:9/x.gguf", "--dir", "models"],
             (5,)),
        # signals, each in a known phase (the test hook pauses there)
        *[Case(f"{signal.Signals(sig).name} while {phase}", gen, (128 + sig,), signal_at=(phase, sig))
          for phase, sig in (("loading model", signal.SIGINT), ("writing story", signal.SIGINT),
                             ("writing story", signal.SIGTERM), ("drawing pictures", signal.SIGTERM),
                             ("drawing pictures", signal.SIGHUP), ("loading model", signal.SIGHUP))],
        # and the ordinary run still works
        Case("a plain story", [*gen, "--no-images"], (0,), story_expected=True),
        Case("--threads 64 is capped", [*gen, "--no-images", "--threads", "64"], (0,), story_expected=True),
    ]


def run_case(case: Case, root: Path) -> tuple[bool, str]:
    work = Path(tempfile.mkdtemp(prefix="sweep-", dir=root))
    if case.needs_root and (not hasattr(os, "geteuid") or os.geteuid() != 0 or sys.platform != "linux"):
        return True, "skipped (needs root on Linux)"
    if case.not_as_root and hasattr(os, "geteuid") and os.geteuid() == 0:
        return True, "skipped as root (tests/test_fault_disk.py runs it as an unprivileged user)"
    try:
        if case.setup:
            case.setup(work)
        before = snapshot(work)
        env = {**os.environ, "NO_COLOR": "1", "HOME": str(work / "home"), "XDG_CONFIG_HOME": str(work / "home" / ".c"),
               **case.env}
        env.pop("DREAMFLOW_TEST_PAUSE_AT", None)
        if case.signal_at:
            env["DREAMFLOW_TEST_PAUSE_AT"] = case.signal_at[0]
        preexec = (lambda: os.close(case.close_fd)) if case.close_fd is not None else None
        proc = subprocess.Popen([*dreamflow(), *case.args], cwd=work, env=env, preexec_fn=preexec,
                                stdin=subprocess.PIPE if case.stdin is not None else None,
                                stdout=subprocess.DEVNULL if case.close_fd == 1 else subprocess.PIPE,
                                stderr=subprocess.DEVNULL if case.close_fd == 2 else subprocess.PIPE)
        err_lines: list[bytes] = []
        paused = threading.Event()

        def pump() -> None:
            for line in proc.stderr or []:
                err_lines.append(line)
                if b"paused at" in line:
                    paused.set()
        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        if case.stdin is not None:
            proc.stdin.write(case.stdin)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        if case.signal_at:
            if not paused.wait(120):
                proc.kill()
                return False, "never reached the phase"
            proc.send_signal(case.signal_at[1])
        stdout = proc.stdout.read() if proc.stdout else b""
        code = proc.wait(timeout=300)
        reader.join(5)
        stderr = b"".join(err_lines).decode(errors="replace")
        problems = []
        if code not in case.codes:
            problems.append(f"exit {code}, expected {'/'.join(map(str, case.codes))}")
        if "Traceback" in stderr or "Exception ignored" in stderr:
            problems.append("traceback on stderr")
        noise = ("Memory: ", "Parallel: ", "Warning: ", "dreamflow: ", "Batch: ", "Failed (line")
        lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]
        if case.quiet_stdout and stdout:
            problems.append(f"stdout got: {stdout[:80]!r}")
        if case.close_fd == 2:
            lines = ["Error: (stderr closed)"] if code else []
        if code not in (0, 1) and code < 128 and code != 7 and (len(lines) != 1 or not lines[0].startswith("Error: ")):
            problems.append(f"not one error line: {lines[:3]}")
        if code >= 128 and not any(line.startswith("Interrupted (") for line in lines):
            problems.append("no 'Interrupted' line")
        after = snapshot(work)
        changed = [p for p, digest in before.items() if after.get(p) != digest]
        if changed:
            problems.append(f"changed or lost: {changed}")
        staging = [str(p.relative_to(work)) for p in work.rglob(f"{STAGING}*")]
        if staging:
            problems.append(f"staging left: {staging}")
        stories = [p for p in work.rglob("story.json")]
        if stories and not case.story_expected:
            problems.append(f"story written: {stories[0]}")
        if case.story_expected and not stories:
            problems.append("no story written")
        first = lines[0][:110] if lines else (stdout.decode(errors="replace")[:60] if stdout else "")
        return not problems, "; ".join(problems) or f"exit {code}: {first}"
    finally:
        for mount in list(work.rglob("*")):
            if mount.is_dir() and os.path.ismount(mount):
                subprocess.run(["umount", "-l", str(mount)], check=False)
        for p in work.rglob("*"):
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="a small GGUF model (SmolLM2-135M)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    opts = parser.parse_args()
    model = str(Path(opts.model).resolve())
    root = Path(tempfile.mkdtemp(prefix="dreamflow-sweep-"))
    failures = 0
    selected = [c for c in cases(model) if opts.only in c.name]
    started = time.monotonic()
    for case in selected:
        ok, detail = run_case(case, root)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {case.name:<42} {detail}", flush=True)
    shutil.rmtree(root, ignore_errors=True)
    print(f"\n{len(selected) - failures} of {len(selected)} cases clean, {failures} failed "
          f"({time.monotonic() - started:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
