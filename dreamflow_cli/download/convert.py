"""A catalog model installed in a converted form (catalog.DerivedForm): SmolLM2 ships as Q4_1,
which llama.cpp's CPU backend has no batched kernel for, and dreamflow uses it as Q8_0.

``install_converted`` holds the converted file's lock (and the download's, once it needs that
file), then: a converted file that checks out against its own manifest is used as it is; otherwise the
download is fetched or verified as any download is (its sha256 must match: the quantizer does not
notice a flipped bit in the weights), converted in a child process (model/quantize.py), judged
(model/derived.judge_output), recorded in a manifest, and only then — unless ``keep_original`` —
the downloaded file is removed. A crash in between leaves both files, never neither.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dreamflow_cli.download.fetch import fetch_locked
from dreamflow_cli.download.lock import FileLock
from dreamflow_cli.download.target import (
    DownloadOptions, DownloadResult, NoticeCallback, ProgressCallback, Reporter, Target, check_free_space, lock_path,
    unlink_quietly,
)
from dreamflow_cli.errors import UsageError
from dreamflow_cli.files import ensure_writable_dir
from dreamflow_cli.model.catalog import CatalogEntry, DerivedForm
from dreamflow_cli.model.derived import Verdict, derivation_record, judge_output, made_by_us
from dreamflow_cli.model.file import Expected, inspect, manifest_path, read_manifest, write_manifest
from dreamflow_cli.model.quantize import part_path, quantize


def install_converted(entry: CatalogEntry, target: Target, dest_dir: Path, *, force: bool = False,
                      keep_original: bool = False, options: DownloadOptions,
                      on_progress: ProgressCallback | None = None,
                      on_notice: NoticeCallback | None = None) -> DownloadResult:
    """Make sure ``entry``'s converted form is in ``dest_dir``; its result describes that file."""
    form = entry.derived
    assert form is not None
    started = time.monotonic()
    dest_dir = ensure_writable_dir(Path(dest_dir), "models directory", "--dir")
    original, final = dest_dir / entry.filename, dest_dir / form.filename
    report = Reporter(form.filename, on_progress, on_notice)
    # The converted file's lock first, then the download's, always in that order: a plain
    # download takes only the latter, so a check of an installed model never holds it up.
    with FileLock(lock_path(final), wait=options.lock_wait, what=form.filename):
        present = None if force else _verified_converted(final, entry, form, report)
        if present is not None:
            size, digest, sha_from = present
            conversion = {"original": {"path": str(original), "kept": original.is_file()}, "quant": form.quant,
                          "converted": False}
            return DownloadResult(final, size, digest, f"converted from {entry.filename}",
                                  time.monotonic() - started, False, sha_from, conversion=conversion)
        with FileLock(lock_path(original), wait=options.lock_wait, what=entry.filename):
            unlink_quietly(part_path(final))  # an interrupted conversion's (we hold the lock)
            fetching = force or not original.is_file()
            check_free_space(dest_dir, form.size + ((entry.size or 0) if fetching else 0), options,
                             f"the {form.quant} form" + (" and the download it is made from" if fetching else ""))
            source = fetch_locked(target, original, force=force, options=options,
                                  report=Reporter(entry.filename, on_progress, on_notice))
            return _convert(entry, form, source, final, keep_original, options, report, started)


def _convert(entry: CatalogEntry, form: DerivedForm, source: DownloadResult, final: Path, keep_original: bool,
             options: DownloadOptions, report: Reporter, started: float) -> DownloadResult:
    verdicts: list[Verdict] = []

    def accept(size: int, digest: str, version: str | None) -> None:
        verdicts.append(judge_output(size, digest, form, version))

    report.progress("converting", 0, form.size)
    made = quantize(source.path, final, form.quant, expected_size=form.size, accept=accept, name=entry.name,
                    free_space=options.free_space,
                    # Tensors written, shown as the share of the output's bytes (the display counts bytes).
                    on_progress=lambda done, total: report.progress("converting", form.size * done // max(1, total),
                                                                    form.size))
    verdict = verdicts[-1]
    if verdict.notice:
        report.notice(verdict.notice)
    origin = f"converted from {entry.filename} ({source.source})"
    extra = derivation_record(source=source.path, source_size=source.size, source_sha256=source.sha256,
                              source_origin=source.source, kept=keep_original, form=form,
                              llama_cpp_python=made.llama_cpp_python, seconds=made.seconds)
    write_manifest(final, name=entry.name, source=origin, url=None, size=made.size, sha256=made.sha256,
                   sha256_from=verdict.sha256_from, extra=extra)
    if not keep_original:  # only now: the converted file and its record are in place
        unlink_quietly(source.path, manifest_path(source.path))
    conversion: dict[str, Any] = {
        "original": {"path": str(source.path), "size": source.size, "sha256": source.sha256,
                     "downloaded": source.downloaded, "kept": keep_original},
        "quant": form.quant, "converted": True, "seconds": round(made.seconds, 3),
        "llama_cpp_python": made.llama_cpp_python}
    return DownloadResult(final, made.size, made.sha256, origin, time.monotonic() - started, True,
                          verdict.sha256_from, source.resumed_from, conversion)


def _verified_converted(final: Path, entry: CatalogEntry, form: DerivedForm,
                        report: Reporter) -> tuple[int, str, str] | None:
    """(size, sha256, where the sha256 came from) when the converted file is present and checks
    out against its manifest (or, without one, is exactly the catalog's bytes)."""
    if not final.is_file():
        return None
    manifest = read_manifest(final)
    total, hashed = final.stat().st_size, [0]

    def on_chunk(n: int) -> None:
        hashed[0] += n
        report.progress("checking", hashed[0], total)

    if made_by_us(manifest, entry):
        assert manifest is not None
        expected = Expected(manifest.get("size"), manifest.get("sha256"), "manifest", entry.name)
        problems = inspect(final, expected, verify=True, on_chunk=on_chunk)
        if problems:
            said = "; ".join(f"it {p.reason}" for p in problems)
            report.notice(f"{final.name} is present but failed verification ({said}); converting again")
            return None
        return total, str(manifest["sha256"]), str(manifest.get("sha256_from") or "manifest")
    problems = inspect(final, Expected(form.size, form.sha256, "catalog", entry.name), verify=True, on_chunk=on_chunk)
    if problems:  # someone's own file under this name: never replaced unasked
        said = "; ".join(f"it {p.reason}" for p in problems)
        raise UsageError(f"{final} already exists and was not made by dreamflow ({said})", "pass --force to replace it")
    write_manifest(final, name=entry.name, source="found in the models directory", url=None, size=total,
                   sha256=form.sha256, sha256_from="catalog")
    return total, form.sha256, "catalog"
