"""A stand-in child for protocol tests: writes its output slowly so it can be stopped mid-way."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from dreamflow_cli.output.child.protocol import EXIT_BAD_INPUT, ChildFailure, Outputs, Reporter, field, run


def work(request: dict[str, Any], reporter: Reporter, outputs: Outputs) -> dict[str, Any]:
    mode = field(request, "mode", str, "ok")
    steps = field(request, "steps", int, 5)
    delay = field(request, "delay", float, 0.0)
    tmp = outputs.add(Path(field(request, "out", str)))
    if mode == "bad-input":
        raise ChildFailure("voice file not found: nowhere.onnx", EXIT_BAD_INPUT)
    with open(tmp, "wb") as f:
        for k in range(1, steps + 1):
            f.write(b"x" * 1000)
            f.flush()
            if mode == "crash" and k == 2:
                raise RuntimeError("boom")
            if mode == "segfault" and k == 2:
                os.kill(os.getpid(), 11)
            reporter.progress(k, steps)
            time.sleep(delay)
    return {"bytes": steps * 1000, "pid": os.getpid()}


if __name__ == "__main__":
    run(work)
