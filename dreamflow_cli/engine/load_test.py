"""`dreamflow doctor --load-test`: load the model with each profile in a child process (a crash
or an out-of-memory kill becomes a FAIL, and each profile gets its own peak RSS), generate a few
tokens, and set the measurements beside the estimate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from dreamflow_cli.settings.table import Settings
from dreamflow_cli.doctor.checks import FAIL, PASS, SKIP, WARN, Check
from dreamflow_cli.doctor.report import Report, report_verdict
from dreamflow_cli.errors import DreamflowError
from dreamflow_cli.plan.estimate import MemoryEstimate
from dreamflow_cli.settings.profiles import Profile
from dreamflow_cli.units import human_bytes

LOAD_TEST_TOKENS = 16
LOAD_TEST_TIMEOUT = 600


def run_load_test(report: Report, *, run: Callable[..., Any] = subprocess.run) -> None:
    """Load the model with each profile in a child process (so a crash or an out-of-memory kill
    becomes a FAIL here, and each profile gets its own peak RSS) and generate a few tokens."""
    if report.model is None or report.info is None:
        report.checks.append(Check("load test", SKIP, "no readable model to load"))
        report.verdict = report_verdict(report)
        return
    for profile in report.profiles:
        result = _load_one(report.model.path, profile, report.settings, run)
        report.load_test.append(result)
        report.checks.append(load_test_check(result, report.memory.get(profile.name)))
    report.verdict = report_verdict(report)


def _load_one(path: Path, profile: Profile, settings: Settings | None, run: Callable[..., Any]) -> dict[str, Any]:
    request = {"path": str(path), "profile": profile.as_dict(), "tokens": LOAD_TEST_TOKENS,
               "sampling": (settings or Settings()).sampling()}
    code = "import sys; from dreamflow_cli.engine.load_test import load_probe; load_probe(sys.argv[1])"
    try:
        proc = run([sys.executable, "-c", code, json.dumps(request)], capture_output=True, text=True,
                   timeout=LOAD_TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"profile": profile.name, "ok": False, "error": f"no answer within {LOAD_TEST_TIMEOUT} s"}
    return parse_probe(profile.name, proc.returncode, proc.stdout, proc.stderr)


def parse_probe(profile: str, returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    if returncode == 0:
        try:
            return {"profile": profile, "ok": True, **json.loads(stdout.strip().splitlines()[-1])}
        except (ValueError, IndexError):
            pass
    return {"profile": profile, "ok": False, "error": probe_error(returncode, stderr)}


def probe_error(returncode: int, stderr: str) -> str:
    import signal

    if returncode < 0 or returncode > 128:
        number = -returncode if returncode < 0 else returncode - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        why = {"SIGKILL": " (out of memory?)", "SIGILL": " (an instruction this CPU lacks)"}.get(name, "")
        return f"the loader was killed by {name}{why}"
    last = [line for line in stderr.strip().splitlines() if line.strip()]
    return last[-1] if last else f"the loader exited with code {returncode}"


def load_test_check(result: Mapping[str, Any], est: MemoryEstimate | None) -> Check:
    name = f"load test ({result['profile']})"
    if not result.get("ok"):
        hint = "try --no-repack (weight repacking needs CPU instructions this build may lack)" \
            if "SIGILL" in result.get("error", "") else "run `dreamflow generate` with --verbose to see llama.cpp's log"
        return Check(name, FAIL, result.get("error", "failed"), hint)
    peak = result.get("peak_rss_bytes")
    detail = (f"load {result['load_seconds']:.2f} s, {result['tokens_per_second']:.1f} tok/s, "
              f"peak RSS {human_bytes(peak) if peak else '?'}")
    if est is None:
        return Check(name, PASS, detail)
    detail += f" (estimate ~{human_bytes(est.total)})"
    if peak and peak > est.total:
        return Check(name, WARN, detail + ": above the estimate",
                     "the estimate is too low for this model; keep more memory free than it says")
    return Check(name, PASS, detail)


def load_probe(request_json: str) -> None:
    """Child-process side of --load-test: load, generate, print one JSON line."""
    from dreamflow_cli.backend.seam import Prompt
    from dreamflow_cli.engine.single import load_model
    from dreamflow_cli.plan.memory import peak_rss_bytes

    request = json.loads(request_json)
    profile = Profile(**request["profile"])
    try:
        model = load_model(Path(request["path"]), profile)
        try:
            prompt = Prompt("You tell gentle bedtime stories.", "A short story about a sleepy owl.")
            gen = model.generate(prompt, max_tokens=request["tokens"], sampling=request["sampling"], seed=0)
        finally:
            model.close()
    except DreamflowError as exc:
        print(exc.message, file=sys.stderr)
        raise SystemExit(1) from None
    # Speed after the first token: the prompt's evaluation would swamp a 16-token sample.
    decoding = gen.seconds - gen.first_token_seconds
    speed = gen.tokens_per_second
    if gen.generated_tokens > 1 and decoding > 0:
        speed = (gen.generated_tokens - 1) / decoding
    print(json.dumps({"load_seconds": round(model.load_seconds, 3),
                      "prompt_seconds": round(gen.first_token_seconds, 3), "tokens": gen.generated_tokens,
                      "tokens_per_second": round(speed, 2), "peak_rss_bytes": peak_rss_bytes()}))
