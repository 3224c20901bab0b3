"""Whether a download may stand: a present file checked before fetching, a finished ``.part``
checked before it takes the model's name, and the manifest written for what was verified. The
checks themselves are ``modelfile.inspect``'s, the same ones `generate` and `doctor` apply."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from dreamflow_cli.download.target import Reporter, Target
from dreamflow_cli.errors import DownloadError, UsageError
from dreamflow_cli.model.file import Expected, Problem, inspect, read_manifest, write_manifest


def verified_existing(final: Path, target: Target, report: Reporter) -> tuple[int, str, str] | None:
    """(size, sha256, where the sha256 came from) when ``final`` is present and checks out."""
    if not final.is_file():
        return None
    manifest = read_manifest(final) or {}
    ours = _describes(manifest, target)  # our own earlier download of this very target
    if not ours:
        manifest = {}
    expected_sha, sha_from = target.sha256, target.sha256_from or ""
    if expected_sha is None and isinstance(manifest.get("sha256"), str):
        expected_sha, sha_from = manifest["sha256"], "manifest"
    size_from, expected_size = "catalog", target.size
    if expected_size is None and isinstance(manifest.get("size"), int):
        size_from, expected_size = "manifest", manifest["size"]
    if expected_sha is None:
        raise _not_ours(final, target, "there is no checksum to tell whether it is this model")
    hashed = [0]
    total = final.stat().st_size

    def on_chunk(n: int) -> None:
        hashed[0] += n
        report.progress("checking", hashed[0], total)

    expected = Expected(expected_size, expected_sha, size_from, target.name)
    problems = inspect(final, expected, verify=True, on_chunk=on_chunk)
    if problems and not ours:
        raise _not_ours(final, target, f"it is not this model ({_said(problems)})")
    if problems:
        report.notice(f"{final.name} is present but failed verification ({_said(problems)}); "
                      "downloading it again")
        return None
    if manifest.get("sha256") != expected_sha:  # none yet, or a stale one: record what was verified
        _write_manifest(final, target, total, expected_sha, sha_from)
    return total, expected_sha, sha_from


def _said(problems: list[Problem]) -> str:
    return "; ".join(f"it {p.reason}" for p in problems)


def _not_ours(final: Path, target: Target, why: str) -> UsageError:
    """A file we did not download is never replaced without --force: it may be someone's only copy."""
    other_name = " or --filename NAME to save the download under another name" if target.name is None else ""
    return UsageError(f"{final} already exists and was not downloaded by dreamflow from this source; {why}",
                      f"pass --force to replace it{other_name}")


def _write_manifest(final: Path, target: Target, size: int, digest: str, sha256_from: str) -> None:
    write_manifest(final, name=target.name, source=target.source, url=target.url, size=size, sha256=digest,
                   sha256_from=sha256_from)


def _describes(manifest: Mapping[str, Any], target: Target) -> bool:
    """Whether a manifest is about this target: the same catalog model (from any mirror), or the
    same URL. A file of the same name fetched from elsewhere proves nothing about this one."""
    if target.name is not None:
        return manifest.get("name") == target.name
    return manifest.get("source") == target.source


def verify_and_install(part: Path, final: Path, target: Target, *, size: int, digest: str,
                       advertised_sha: str | None, on_bad: Callable[[], None]) -> str:
    """Check the finished ``.part``, then give it its final name. Returns where the sha256 came from."""
    expected_sha, sha_from = target.sha256, target.sha256_from
    if expected_sha is None and advertised_sha is not None:
        expected_sha, sha_from = advertised_sha, "server"
    expected = Expected(target.size, expected_sha, "catalog", target.name, target.filename)
    problems = inspect(part, expected, verify=True, actual_sha256=digest)
    if problems:
        on_bad()
        where = f" (the sha256 came from the {sha_from})" if sha_from in ("catalog", "server") else ""
        raise DownloadError(
            f"{target.filename} failed verification: {_said(problems)}{where}; the download was removed",
            "try again; if it fails the same way, the source has changed or is not a GGUF model")
    try:
        os.replace(part, final)
    except OSError as exc:
        raise DownloadError(f"cannot move the verified download into place as {final}: {exc.strerror}",
                            "close programs using the model (Windows keeps open files locked), then run "
                            "the command again") from None
    _write_manifest(final, target, size, digest, sha_from or "computed")
    return sha_from or "computed"
