"""llama-cpp-python's own OpenAI-compatible server in a child process, on 127.0.0.1, one thread:
the real server the model-tier tests write stories against.

``LlamaServer(model, log)`` starts it with its defaults, as a new user would (a second request
interrupts the story in progress); ``LlamaServer(model, log, "--interrupt_requests", "False")``
makes a second request wait instead.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    def __init__(self, model: Path, log: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.address = f"127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2",
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "1",
             "--n_threads_batch", "1", *extra],
            stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 120) -> "LlamaServer":
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"llama_cpp.server exited ({self._log.name})"
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"llama_cpp.server did not answer within {seconds:.0f} s")

    def stop(self) -> None:
        """Kill it (as a crash would): connections in flight are cut."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if not self._log.closed:
            self._log.close()

    def __enter__(self) -> "LlamaServer":
        return self.wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def json_lines(stdout: str) -> list[dict]:
    """The records of a `generate --json` batch, one per line."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def batch_losing_a_server(cmd: list[str], env: dict[str, str], doomed: LlamaServer,
                          timeout: float) -> tuple[str, str, int]:
    """Run a batch (``cmd``, with --json) and stop ``doomed`` as soon as the first story is
    reported, mid-batch. Returns the batch's stdout, stderr and exit code."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        doomed.stop()
        rest, stderr = proc.communicate(timeout=timeout)
    finally:
        doomed.stop()
        if proc.poll() is None:
            proc.kill()
    return first + rest, stderr, proc.returncode
