"""Running the installed `dreamflow` as a real process, for signal and exit-code tests."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path


def dreamflow_script() -> str:
    script = Path(sys.executable).parent / ("dreamflow.exe" if os.name == "nt" else "dreamflow")
    found = str(script) if script.exists() else shutil.which("dreamflow")
    assert found, "the dreamflow console script is not installed"
    return found


class Child:
    """A dreamflow process whose stderr is read line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None):
        full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        self.proc = subprocess.Popen([dreamflow_script(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=cwd, env=full_env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.stdout_lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_stdout, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")  # end of stream

    def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_lines.append(line)

    def wait_for_stdout_lines(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.stdout_lines) < count:
            assert self.proc.poll() is None and time.monotonic() < deadline, self.stdout_lines
            time.sleep(0.02)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line == "":
                raise AssertionError(f"process ended before {text!r}: {''.join(self.seen)}")
            self.seen.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {timeout} s: {''.join(self.seen)}")

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)
        while True:
            line = self.lines.get(timeout=timeout)
            if line == "":
                break
            self.seen.append(line)
        time.sleep(0.1)  # the stdout reader's last lines
        return code, "".join(self.stdout_lines), "".join(self.seen)


