"""Converting a verified model file into another quantization with llama.cpp's own quantizer.

``quantize(src, dst, "Q8_0")`` converts ``src`` (already verified by its sha256: the quantizer
checks shapes and file bounds, not the weights — a flipped bit converts without a word) into
``dst`` with ``llama_model_quantize`` through llama-cpp-python. The output gets its final name only
when it is complete and accepted: llama.cpp writes ``<dst>.part``, we hash and fsync it, the
caller's ``accept`` judges it, then it is renamed. A failed or interrupted conversion leaves nothing.

Why a child process (model/quantize_child.py) and not a call in this process (measured, issue 24):

* ``llama_model_quantize`` is one C call, and llama.cpp calls back into Python only through its
  log hook, where ctypes prints and drops an exception: Ctrl-C in this process was lost until the
  whole conversion ended (10 s for a 660 MB model). A child is killed at once (0.05 s) and its
  ``.part`` removed.
* llama.cpp stops the process (``GGML_ABORT``/``GGML_ASSERT``: abort()) on some malformed inputs.
  In a child that is an error message; here it would be a core dump of dreamflow.
* The quantizer's buffers and the mapped source go away with the child. It costs ~0.2 s.

No llama_cpp import in this process: only the child imports it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dreamflow_cli.errors import DreamflowError, ModelError, NoSpaceError, UsageError

# llama.cpp's ``enum llama_ftype`` values (include/llama.h; stable since GGUF began).
FTYPES: dict[str, int] = {"Q4_0": 2, "Q8_0": 7}
CHILD_MODULE = "dreamflow_cli.model.quantize_child"
HASH_CHUNK = 1 << 20
GGUF_MAGIC = b"GGUF"
# When the caller does not know the output's size: Q8_0 stores 34 bytes per 32 weights, the
# smallest type it may come from (Q4_0) 18, so the output is at most ~1.9x its source.
SIZE_FACTOR = {"Q4_0": 1.0, "Q8_0": 1.9}
SPACE_MARGIN = 16 * 1024 * 1024  # the file system's own needs, the manifest
TAIL_LINES = 20
SPACE_HINT = "free some space, or choose another folder with --dir"

ProgressCallback = Callable[[int, int], None]  # (tensors written, tensors in all)
# Called with (size, sha256, llama-cpp-python version) before the rename; raises to refuse.
AcceptCallback = Callable[[int, str, str | None], None]


@dataclass(frozen=True)
class QuantizeResult:
    path: Path
    size: int
    sha256: str
    quant: str
    seconds: float
    tensors: int
    llama_cpp_python: str | None


def part_path(dst: Path) -> Path:
    """Where the conversion is written until it is complete (the downloads' own convention)."""
    return dst.with_name(dst.name + ".part")


def needed_space(src_size: int, quant: str, expected_size: int | None = None) -> int:
    """Bytes to have free before converting: the output's size when known, else an upper bound
    from the source's, plus a margin."""
    out = expected_size if expected_size is not None else int(src_size * SIZE_FACTOR[quant])
    return out + SPACE_MARGIN


def quantize(src: Path, dst: Path, quant: str = "Q8_0", *, expected_size: int | None = None,
             accept: AcceptCallback | None = None, on_progress: ProgressCallback | None = None,
             threads: int = 0, name: str | None = None, free_space: Callable[[Path], int] | None = None,
             module: str | None = None, python: str | None = None) -> QuantizeResult:
    """Convert ``src`` into ``dst`` as ``quant``, atomically; return what was written.

    The caller holds the lock on ``dst`` (download/lock.FileLock): ``<dst>.part`` has one writer.
    ``expected_size``: what the output should need on disk, for the free-space check.
    ``threads`` 0: llama.cpp's default (every core). ``name``: the catalog name, for hints.
    ``module``/``python``: the child to run (tests use a stand-in). Raises ModelError,
    NoSpaceError or UsageError; on any failure or interrupt no ``.part`` is left."""
    if quant not in FTYPES:
        raise UsageError(f"cannot convert to {quant!r}", f"choose one of {', '.join(sorted(FTYPES))}")
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise ModelError(f"cannot convert {src}: it does not exist", _again(name))
    part = part_path(dst)
    need = needed_space(src.stat().st_size, quant, expected_size)
    free = (free_space or _free_bytes)(dst.parent)
    if free < need:
        raise NoSpaceError(f"no space left in {dst.parent} to convert the model: need {need / 1e6:.0f} MB, "
                           f"{free / 1e6:.0f} MB free", SPACE_HINT)
    started = time.monotonic()
    _unlink(part)  # a leftover of a killed run (we hold the lock: nobody else writes it)
    request = {"source": str(src), "part": str(part), "ftype": FTYPES[quant], "threads": threads}
    try:
        tensors, version = _run_child(request, python or sys.executable, module or CHILD_MODULE, on_progress, src,
                                      name)
        size, digest = _hash_and_sync(part)
        if accept is not None:
            accept(size, digest, version)
        _install(part, dst)
    except BaseException:
        _unlink(part)
        raise
    return QuantizeResult(dst, size, digest, quant, time.monotonic() - started, tensors, version)


def _again(name: str | None) -> str:
    return f"run `dreamflow download-model {name} --force`" if name else "download the model file again"


# ---------------------------------------------------------------- the child


def _run_child(request: dict[str, Any], python: str, module: str, on_progress: ProgressCallback | None,
               src: Path, name: str | None) -> tuple[int, str | None]:
    """Run the conversion in a child; return (tensors written, llama-cpp-python version)."""
    proc = subprocess.Popen([python, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # one pipe: nothing to deadlock on
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    tensors = 0
    try:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died at once; its exit code says why
        for raw in proc.stdout:
            message = _message(raw)
            if message is None:
                tail.append(raw.decode("utf-8", "replace").rstrip())
            elif "done" in message:
                tensors = int(message["total"])
                if on_progress is not None:
                    on_progress(int(message["done"]), tensors)
            elif "result" in message:
                result = message["result"]
            elif "error" in message:
                error = message
        code = proc.wait()
    finally:
        # Ctrl-C, SIGTERM (signals.Interrupted) or any error here: the child must not go on
        # writing the .part the caller is about to remove.
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    if code == 0 and result is not None:
        version = result.get("llama_cpp_python")
        return tensors, version if isinstance(version, str) else None
    raise child_error(code, error, list(tail), src, name)


def _message(raw: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def child_error(code: int, error: dict[str, Any] | None, tail: list[str], src: Path,
                name: str | None) -> DreamflowError:
    """The error a user can act on, for a child that ended with ``code`` and ``error``."""
    said = str(error["error"]) if error else (tail[-1] if tail else "")
    kind = str(error.get("kind", "")) if error else ""
    if kind == "disk":
        return NoSpaceError(f"no space left while converting {src.name}: {said}", SPACE_HINT)
    if kind == "package":
        return ModelError(f"cannot convert {src.name}: {said}",
                          "install llama-cpp-python in dreamflow's environment (see README, Quick start)")
    if kind == "input":
        return ModelError(f"llama.cpp could not convert {src.name}: {said}", f"the file may be damaged: {_again(name)}")
    if code < 0 or code > 128:  # a signal: abort() from GGML_ASSERT is SIGABRT, a kill SIGKILL
        signum = -code if code < 0 else code - 128
        return ModelError(f"llama.cpp stopped while converting {src.name} (signal {signum})"
                          f"{': ' + said if said else ''}", f"the file may be damaged: {_again(name)}")
    return ModelError(f"the conversion of {src.name} failed (exit code {code}){': ' + said if said else ''}",
                      "run the command again; if it fails the same way, report it with `dreamflow doctor --json`")


# ---------------------------------------------------------------- the output


def _hash_and_sync(part: Path) -> tuple[int, str]:
    """fsync and hash the finished ``.part`` in one read; refuse anything that is not a GGUF."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(part, "r+b") as fh:  # r+: Windows fsyncs only files open for writing
            head = fh.read(len(GGUF_MAGIC))
            if head != GGUF_MAGIC:
                raise ModelError(f"the converted model {part.name} is not a GGUF file",
                                 "report this as a bug, with `dreamflow doctor --json`")
            digest.update(head)
            size = len(head)
            while chunk := fh.read(HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(fh.fileno())
    except OSError as exc:
        raise _os_error(exc, part) from None
    return size, digest.hexdigest()


def _install(part: Path, dst: Path) -> None:
    try:
        os.replace(part, dst)
        _fsync_dir(dst.parent)
    except OSError as exc:
        raise _os_error(exc, dst) from None


def _os_error(exc: OSError, path: Path) -> DreamflowError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return NoSpaceError(f"no space left in {path.parent} while converting the model", SPACE_HINT)
    return ModelError(f"cannot write the converted model {path}: {exc.strerror or exc}",
                      "check the folder's permissions, close programs using the model, then run the command again")


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open a folder for this)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
