"""A stand-in for model/quantize_child.py: the same protocol, no llama.cpp. Its output is a
function of the source's bytes (``converted``), so a test can pin its size and sha256 as the
catalog pins the real Q8_0. ``FAKE_QUANTIZE`` (inherited from the test) picks a misbehaviour:
ok, slow (a tenth of a second per tensor: time to interrupt), input, disk, abort, crash, not-gguf, package."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

TENSORS = 8


def converted(source: bytes) -> bytes:
    return b"GGUF" + hashlib.sha256(source).digest() * 1024


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as the real child: Ctrl-C ends it at once
    mode = os.environ.get("FAKE_QUANTIZE", "ok")
    request = json.loads(sys.stdin.read())
    if mode == "package":
        send({"error": "cannot import llama_cpp: ModuleNotFoundError: No module named 'llama_cpp'", "kind": "package"})
        return 12
    if mode == "input":
        send({"error": "tensor 'blk.16.ffn_down.weight' data is not within the file bounds, model is corrupted or "
                       "incomplete", "kind": "input"})
        return 11
    data = converted(Path(request["source"]).read_bytes())
    if mode == "not-gguf":
        data = b"<html>" + data[6:]
    step = len(data) // TENSORS + 1
    with open(request["part"], "wb") as out:
        for k in range(TENSORS):
            out.write(data[k * step:(k + 1) * step])
            out.flush()
            print(f"[{k + 1:4d}/{TENSORS:4d}] a llama.cpp log line that is not JSON")  # free text is ignored
            send({"done": k + 1, "total": TENSORS})
            if mode == "slow":
                time.sleep(0.1)
            if k == 2 and mode == "abort":
                os.abort()
            if k == 2 and mode == "crash":
                raise RuntimeError("boom")
            if k == 2 and mode == "disk":
                send({"error": "the disk filled up (basic_ios::clear: iostream error)", "kind": "disk"})
                return 13
    send({"result": {"llama_cpp_python": os.environ.get("FAKE_QUANTIZE_VERSION", "0.3.36")}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
