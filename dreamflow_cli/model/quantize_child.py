"""The child side of a model conversion: ``python -m dreamflow_cli.model.quantize_child``.

It runs llama.cpp's own quantizer (``llama_model_quantize``, what the ``llama-quantize`` tool
calls) through llama-cpp-python; model/quantize.py is the parent side and says why it is a child.

Protocol, in the style of the media children (output/child/protocol.py), stdlib and llama_cpp only:
- stdin: one JSON object ``{"source": PATH, "part": PATH, "ftype": N, "threads": N}``.
- stdout: JSON lines. ``{"done": k, "total": n}`` per tensor written, then exactly one of
  ``{"result": {"tensors": n, "llama_cpp_python": VERSION}}`` or ``{"error": "one line", "kind": K}``.
  Anything else on stdout or stderr is free text (the parent keeps its tail for an error message).
- exit code: 0, or EXIT_* below; killed by a signal, the negative signal number.
- files: it writes ``part`` only; the parent checks, hashes and renames it, or removes it.

Ctrl-C and SIGTERM end the child at once (the default action): the conversion is one C call that
Python could interrupt only after it returns, and the parent removes the ``.part``.
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_BAD_REQUEST = 10  # the request is malformed: a bug in the parent
EXIT_BAD_INPUT = 11  # llama.cpp refused the source file (damaged, not a model)
EXIT_MISSING_PACKAGE = 12  # llama-cpp-python is not installed in this environment
EXIT_NO_SPACE = 13  # the disk filled up while writing
KIND_BY_EXIT = {EXIT_CRASH: "crash", EXIT_BAD_REQUEST: "request", EXIT_BAD_INPUT: "input",
                EXIT_MISSING_PACKAGE: "package", EXIT_NO_SPACE: "disk"}

# llama.cpp's quantizer logs one line per tensor: "[  12/ 272]  blk.0.attn_k.weight - [...]".
PROGRESS_LINE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")
GGML_LOG_LEVEL_ERROR = 4
# After a failed write, less free space than this in the output's folder means the disk filled up:
# llama.cpp reports it as a bare C++ "iostream error", without errno.
FULL_DISK_SLACK = 1024 * 1024


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def read_request(text: str) -> tuple[str, str, int, int]:
    """(source, part, ftype, threads) from the request, or ValueError naming what is wrong."""
    request = json.loads(text)
    if not isinstance(request, dict):
        raise ValueError("the request must be a JSON object")
    source, part, ftype, threads = (request.get(k) for k in ("source", "part", "ftype", "threads"))
    if not (isinstance(source, str) and isinstance(part, str)):
        raise ValueError("the request needs 'source' and 'part' paths")
    if not (isinstance(ftype, int) and isinstance(threads, int)) or isinstance(ftype, bool):
        raise ValueError("the request needs integer 'ftype' and 'threads'")
    return source, part, ftype, threads


def reason(errors: list[str]) -> str:
    """The most specific thing llama.cpp said: the text after "failed to quantize: ", unless that
    only says the loader failed, in which case the loader's own complaint before it."""
    marker = "failed to quantize: "
    for i in range(len(errors) - 1, -1, -1):
        if marker in errors[i]:
            said = errors[i].split(marker, 1)[1].strip()
            if said.startswith("llama_model_loader: failed to load model") and i > 0:
                return strip_function(errors[i - 1])
            return said
    return strip_function(errors[-1]) if errors else "no reason given"


def strip_function(line: str) -> str:
    """ "gguf_init_from_reader: invalid magic…" → "invalid magic…" (the C function's name adds nothing)."""
    head, sep, rest = line.partition(": ")
    return rest.strip() if sep and head.replace("_", "").isalnum() else line.strip()


def disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < FULL_DISK_SLACK
    except OSError:
        return False


def convert(source: str, part: str, ftype: int, threads: int) -> int:
    """Run the quantizer; report progress and the outcome on stdout; return the exit code."""
    try:
        import llama_cpp
    except Exception as exc:  # noqa: BLE001 - a missing or broken native build fails in many ways
        send({"error": f"cannot import llama_cpp: {type(exc).__name__}: {exc}", "kind": "package"})
        return EXIT_MISSING_PACKAGE
    errors: list[str] = []

    def on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        match = PROGRESS_LINE.match(line)
        if match:
            send({"done": int(match.group(1)), "total": int(match.group(2))})
        elif level == GGML_LOG_LEVEL_ERROR and line.strip():
            errors.append(" ".join(line.split()))

    # Replaces llama-cpp-python's own callback, which would print ~300 lines on stderr; the
    # ctypes object must stay referenced while llama.cpp may call it (a collected one crashes).
    callback = llama_cpp.llama_log_callback(on_log)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.allow_requantize = True  # the source is already quantized (Q4_1): that is the point
    code = llama_cpp.llama_model_quantize(source.encode(), part.encode(), ctypes.byref(params))
    if code == 0:
        send({"result": {"llama_cpp_python": getattr(llama_cpp, "__version__", None)}})
        return EXIT_OK
    said = reason(errors)
    if disk_full(Path(part).parent):
        send({"error": f"the disk filled up ({said})", "kind": "disk"})
        return EXIT_NO_SPACE
    send({"error": said, "kind": "input"})
    return EXIT_BAD_INPUT


def main() -> NoReturn:
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        source, part, ftype, threads = read_request(sys.stdin.read())
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        send({"error": f"bad request: {exc}", "kind": "request"})
        sys.exit(EXIT_BAD_REQUEST)
    sys.exit(convert(source, part, ftype, threads))


if __name__ == "__main__":
    main()
