"""The download core against a real HTTP server on 127.0.0.1 (tests/download_server.py)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from dreamflow_cli.model.catalog import CatalogEntry
from dreamflow_cli.download.api import (DownloadOptions, download, download_catalog_model, part_path, target_for_entry,
                                    target_for_url)
from dreamflow_cli.download.target import SPACE_MARGIN, lock_path, sidecar_path
from dreamflow_cli.model.file import manifest_path, read_manifest
from dreamflow_cli.errors import DownloadError, ExitStatus, NoSpaceError, UsageError
from tests.helpers.download_server import CONTENT, FileServer, gguf_bytes, sha256

CUT = 1_000_000



class Recorder:
    """Collects what the core reports, and the backoff waits it asked for."""

    def __init__(self) -> None:
        self.notices: list[str] = []
        self.events: list = []
        self.sleeps: list[float] = []

    def options(self, **overrides) -> DownloadOptions:
        values = dict(backoff=0.5, read_timeout=5.0, lock_wait=0.3, sleep=self.sleeps.append)
        return DownloadOptions(**{**values, **overrides})

    def run(self, target, dest: Path, **kwargs):
        options = kwargs.pop("options", None) or self.options()
        return download(target, dest, options=options, on_progress=self.events.append,
                        on_notice=self.notices.append, **kwargs)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if not p.name.endswith((".gguf", ".manifest.json")))


def test_connection_cut_mid_file_resumes_with_range_in_the_same_run(server, dest):
    server.plan = [f"cut:{CUT}"]
    rec = Recorder()
    result = rec.run(target_for_url(server.url()), dest)

    first, second = server.file_requests()
    assert "range" not in first
    assert second["range"] == f"bytes={CUT}-"
    assert second["if-range"] == '"v1"'
    assert result.downloaded and result.size == len(CONTENT)
    assert result.sha256 == sha256(CONTENT) == sha256((dest / "model.gguf").read_bytes())
    assert rec.sleeps == [0.5] and "closed early" in rec.notices[0]
    assert leftovers(dest) == []  # no .part, sidecar or lock left behind


def test_an_interrupted_run_is_resumed_by_the_next_run(server, dest):
    server.plan = [f"cut:{CUT}"]
    rec = Recorder()
    with pytest.raises(DownloadError) as failed:
        rec.run(target_for_url(server.url()), dest, options=rec.options(retries=0))
    assert failed.value.exit_code == ExitStatus.DOWNLOAD
    assert f"{CUT:,} bytes received are kept" in failed.value.message
    part = part_path(dest / "model.gguf")
    assert part.read_bytes() == CONTENT[:CUT]
    assert json.loads(sidecar_path(dest / "model.gguf").read_text())["etag"] == '"v1"'
    assert not (dest / "model.gguf").exists()

    result = Recorder().run(target_for_url(server.url()), dest)
    assert server.file_requests()[-1]["range"] == f"bytes={CUT}-"
    assert result.resumed_from == CUT
    assert result.sha256 == sha256(CONTENT) == sha256((dest / "model.gguf").read_bytes())
    assert leftovers(dest) == []


def test_keyboard_interrupt_keeps_the_partial_for_the_next_run(server, dest):
    def interrupt_after_a_megabyte(event) -> None:
        if event.phase == "downloading" and event.done >= 1 << 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(target_for_url(server.url()), dest, options=Recorder().options(),
                 on_progress=interrupt_after_a_megabyte)
    kept = part_path(dest / "model.gguf").stat().st_size
    assert kept >= 1 << 20 and sidecar_path(dest / "model.gguf").exists()
    assert not lock_path(dest / "model.gguf").exists()

    result = Recorder().run(target_for_url(server.url()), dest)
    assert server.file_requests()[-1]["range"] == f"bytes={kept}-"
    assert result.sha256 == sha256(CONTENT)


def test_server_ignoring_range_restarts_from_zero_without_splicing(dest):
    server = FileServer(CONTENT, ranges=False).start()
    try:
        server.plan = [f"cut:{CUT}"]
        rec = Recorder()
        with pytest.raises(DownloadError):
            rec.run(target_for_url(server.url()), dest, options=rec.options(retries=0))
        # A different partial than the file's real prefix would show up as a splice in the hash.
        part_path(dest / "model.gguf").write_bytes(b"GGUF" + b"\0" * (CUT - 4))

        rec = Recorder()
        result = rec.run(target_for_url(server.url()), dest)
    finally:
        server.close()
    assert server.file_requests()[-1]["range"] == f"bytes={CUT}-"  # asked, got a 200
    assert any("does not support resuming" in n for n in rec.notices)
    assert result.resumed_from == 0
    assert result.sha256 == sha256(CONTENT) == sha256((dest / "model.gguf").read_bytes())


def test_remote_changed_since_the_partial_restarts_cleanly(server, dest):
    server.plan = [f"cut:{CUT}"]
    rec = Recorder()
    with pytest.raises(DownloadError):
        rec.run(target_for_url(server.url()), dest, options=rec.options(retries=0))
    changed = gguf_bytes(seed=2)
    server.content, server.etag = changed, '"v2"'  # this server ignores If-Range: we must notice

    rec = Recorder()
    result = rec.run(target_for_url(server.url()), dest)
    resumed, restarted = server.file_requests()[-2:]
    assert resumed["range"] == f"bytes={CUT}-" and "range" not in restarted
    assert any("changed" in n and '"v1"' in n and '"v2"' in n for n in rec.notices)
    assert result.sha256 == sha256(changed) == sha256((dest / "model.gguf").read_bytes())


def test_404_fails_at_once(server, dest):
    server.plan = ["404"]
    with pytest.raises(DownloadError) as failed:
        Recorder().run(target_for_url(server.url()), dest)
    assert failed.value.exit_code == ExitStatus.DOWNLOAD
    assert "HTTP 404" in failed.value.message and "HF_ENDPOINT" in failed.value.hint
    assert len(server.file_requests()) == 1
    assert leftovers(dest) == []


@pytest.mark.parametrize("code", ["401", "403"])
def test_refused_access_fails_at_once_with_an_hf_token_hint(server, dest, code):
    server.plan = [code]
    with pytest.raises(DownloadError) as failed:
        Recorder().run(target_for_url(server.url()), dest)
    assert f"HTTP {code}" in failed.value.message and "HF_TOKEN" in failed.value.hint
    assert len(server.file_requests()) == 1


def test_500_then_200_is_retried_with_backoff(server, dest):
    server.plan = ["500", "503"]
    rec = Recorder()
    result = rec.run(target_for_url(server.url()), dest)
    assert len(server.file_requests()) == 3
    assert rec.sleeps == [0.5, 1.0]  # doubling
    assert result.sha256 == sha256(CONTENT)


def test_retries_are_bounded(server, dest):
    server.plan = ["500"] * 10
    rec = Recorder()
    with pytest.raises(DownloadError) as failed:
        rec.run(target_for_url(server.url()), dest, options=rec.options(retries=2))
    assert "HTTP 500" in failed.value.message and "after 3 attempts" in failed.value.message
    assert len(server.file_requests()) == 3


def test_sha256_mismatch_removes_the_data(server, dest):
    wrong = "0" * 64
    with pytest.raises(DownloadError) as failed:
        Recorder().run(target_for_url(server.url(), sha256=wrong), dest)
    assert f"sha256 is {sha256(CONTENT)}, expected {wrong}" in failed.value.message
    assert failed.value.exit_code == ExitStatus.DOWNLOAD
    assert list(dest.iterdir()) == []


def test_a_file_without_gguf_magic_is_refused_early(dest):
    page = b"<!DOCTYPE html>" + b" " * (3 * 1024 * 1024)
    server = FileServer(page).start()
    try:
        with pytest.raises(DownloadError) as failed:
            Recorder().run(target_for_url(server.url()), dest)
    finally:
        server.close()
    assert failed.value.message == (f"{server.url()} is not a GGUF model file (it starts with b'<!DO', "
                                    "not b'GGUF'); nothing was kept")
    assert len(server.file_requests()) == 1
    assert list(dest.iterdir()) == []


def test_a_stalled_server_hits_the_read_timeout(server, dest):
    server.plan = ["stall:100000", "stall:0", "stall:0"]
    rec = Recorder()
    with pytest.raises(DownloadError) as failed:
        rec.run(target_for_url(server.url()), dest, options=rec.options(read_timeout=0.15, retries=1))
    assert "timed out" in failed.value.message and "100,000 bytes received are kept" in failed.value.message
    assert len(server.file_requests()) == 2  # one retry after the attempt that made no progress
    assert server.file_requests()[1]["range"] == "bytes=100000-"  # the bytes before the stall were kept
    assert part_path(dest / "model.gguf").stat().st_size == 100000


def test_attempts_that_make_progress_do_not_use_up_the_retries(server, dest):
    server.plan = ["stall:100000"] * 3
    rec = Recorder()
    result = rec.run(target_for_url(server.url()), dest, options=rec.options(read_timeout=0.15, retries=1))
    assert [r.get("range") for r in server.file_requests()] == [None, "bytes=100000-", "bytes=200000-",
                                                                "bytes=300000-"]
    assert result.sha256 == sha256(CONTENT)


def test_not_enough_disk_space_is_refused_before_any_request(server, dest):
    entry = CatalogEntry("fake", "fake.gguf", 5_000_000_000, None, "MIT", "test", "test",
                         hf_repo="org/repo")
    rec = Recorder()
    options = rec.options(endpoint=server.base, free_space=lambda path: 1_000_000_000)
    with pytest.raises(NoSpaceError) as failed:  # exit 8, as for a story: the disk, not the download
        download_catalog_model(entry, dest, options=options)
    assert failed.value.exit_code == ExitStatus.NO_SPACE
    assert 5_000_000_000 + SPACE_MARGIN < 5.1e9  # so the need rounds to 5.1 GB
    assert "need 5.1 GB" in failed.value.message and "1.0 GB free" in failed.value.message
    assert server.requests == []


def test_not_enough_disk_space_for_an_unpinned_size_is_refused_before_any_byte(server, dest):
    rec = Recorder()
    with pytest.raises(NoSpaceError) as failed:
        rec.run(target_for_url(server.url()), dest, options=rec.options(free_space=lambda path: 1000))
    assert "not enough free space" in failed.value.message and "1,000 B" not in failed.value.message
    assert list(dest.iterdir()) == []


def test_a_second_download_of_the_same_file_is_turned_away(server, dest):
    server.plan = ["hold:500000"]
    first: dict = {}

    def run_first() -> None:
        try:
            first["result"] = Recorder().run(target_for_url(server.url()), dest)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            first["error"] = exc

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert server.holding.wait(20)
        with pytest.raises(DownloadError) as second:
            Recorder().run(target_for_url(server.url()), dest)
    finally:
        server.release.set()
        thread.join(30)
    assert f"another download of model.gguf is running (process {os.getpid()})" in second.value.message
    assert len(server.file_requests()) == 1  # the second never touched the network or the .part
    assert first.get("error") is None and first["result"].sha256 == sha256(CONTENT)
    assert leftovers(dest) == []


def test_a_lock_file_left_by_a_dead_process_does_not_block(server, dest):
    dest.mkdir()
    lock_path(dest / "model.gguf").write_text("999999\n")  # no lock is held on it
    result = Recorder().run(target_for_url(server.url()), dest)
    assert result.downloaded


def test_present_and_verified_file_is_not_downloaded_again(server, dest):
    Recorder().run(target_for_url(server.url()), dest)
    rec = Recorder()
    result = rec.run(target_for_url(server.url()), dest)
    assert not result.downloaded and result.sha256_from == "manifest"
    assert len(server.file_requests()) == 1


def test_a_manifest_from_another_source_proves_nothing(server, dest):
    Recorder().run(target_for_url(server.url()), dest)
    with pytest.raises(UsageError) as refused:  # not known to be this download: never replaced unasked
        Recorder().run(target_for_url(server.url() + "?mirror=2"), dest)
    assert "--force" in refused.value.hint and "--filename" in refused.value.hint
    result = Recorder().run(target_for_url(server.url() + "?mirror=2"), dest, force=True)
    assert result.downloaded and read_manifest(result.path)["source"] == server.url() + "?mirror=2"


def test_an_unrelated_file_without_a_manifest_is_never_overwritten(server, dest):
    dest.mkdir()
    (dest / "model.gguf").write_bytes(b"GGUF someone's own model")
    with pytest.raises(UsageError) as refused:
        Recorder().run(target_for_url(server.url()), dest)
    assert refused.value.exit_code == 2
    assert "already exists" in refused.value.message and "--force" in refused.value.hint
    assert (dest / "model.gguf").read_bytes() == b"GGUF someone's own model"
    assert server.file_requests() == []
    # With a checksum that the file does not match, it is still not ours to replace.
    with pytest.raises(UsageError):
        Recorder().run(target_for_url(server.url(), sha256=sha256(CONTENT)), dest)
    assert (dest / "model.gguf").read_bytes() == b"GGUF someone's own model"


def test_force_downloads_again(server, dest):
    Recorder().run(target_for_url(server.url()), dest)
    result = Recorder().run(target_for_url(server.url()), dest, force=True)
    assert result.downloaded and len(server.file_requests()) == 2


def test_a_damaged_present_file_is_replaced(server, dest):
    Recorder().run(target_for_url(server.url()), dest)
    with open(dest / "model.gguf", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"damage")
    rec = Recorder()
    result = rec.run(target_for_url(server.url()), dest)
    assert result.downloaded and "failed verification" in rec.notices[0]
    assert sha256((dest / "model.gguf").read_bytes()) == sha256(CONTENT)


def test_manifest_records_what_was_verified(server, dest):
    result = Recorder().run(target_for_url(server.url()), dest)
    manifest = read_manifest(result.path)
    assert manifest is not None
    assert manifest["url"] == manifest["source"] == server.url()
    assert (manifest["size"], manifest["sha256"], manifest["sha256_from"]) == (len(CONTENT), sha256(CONTENT), "computed")
    assert manifest["date"].startswith("20")
    assert read_manifest(dest / "absent.gguf") is None
    manifest_path(result.path).write_text("{not json")
    assert read_manifest(result.path) is None


def test_hugging_face_layout_token_and_advertised_sha256(server, dest):
    entry = CatalogEntry("fake", "fake.gguf", None, None, "MIT", "test", "test", hf_repo="org/repo")
    rec = Recorder()
    result = download_catalog_model(entry, dest, options=rec.options(endpoint=server.base + "/", token="s3cret"))
    resolve, cdn = server.requests
    assert resolve["path"] == "/org/repo/resolve/main/fake.gguf"
    assert resolve["authorization"] == "Bearer s3cret"
    assert cdn["path"] == "/cdn/fake.gguf" and "authorization" not in cdn  # never to the CDN
    assert result.sha256_from == "server" and result.sha256 == sha256(CONTENT)


def test_a_wrong_advertised_sha256_is_caught(server, dest):
    server.linked_etag = "f" * 64
    entry = CatalogEntry("fake", "fake.gguf", None, None, "MIT", "test", "test", hf_repo="org/repo")
    with pytest.raises(DownloadError) as failed:
        download_catalog_model(entry, dest, options=Recorder().options(endpoint=server.base))
    assert f"expected {'f' * 64} (the sha256 came from the server)" in failed.value.message
    assert list(dest.iterdir()) == []


def test_tokens_are_not_sent_to_other_hosts(server, dest):
    Recorder().run(target_for_url(server.url()), dest, options=Recorder().options(token="s3cret"))
    assert "authorization" not in server.file_requests()[0]


def test_pinned_size_differing_from_the_server_downloads_nothing(server, dest):
    entry = CatalogEntry("fake", "fake.gguf", 668_788_096, None, "MIT", "test", "test", hf_repo="org/repo")
    with pytest.raises(DownloadError) as failed:
        download_catalog_model(entry, dest, options=Recorder().options(endpoint=server.base))
    assert f"{len(CONTENT):,} bytes, but 668,788,096 are expected" in failed.value.message
    assert list(dest.iterdir()) == []


def test_env_gives_endpoint_and_token():
    options = DownloadOptions.from_env({"HF_ENDPOINT": "https://mirror.example/", "HF_TOKEN": "t"})
    assert (options.endpoint, options.token) == ("https://mirror.example", "t")
    entry = CatalogEntry("fake", "a b.gguf", None, None, "MIT", "test", "test", hf_repo="org/repo")
    assert target_for_entry(entry, options.endpoint).url == "https://mirror.example/org/repo/resolve/main/a%20b.gguf"
    assert DownloadOptions.from_env({}).endpoint == "https://huggingface.co"


@pytest.mark.parametrize("url, sha, name, fragment", [
    ("ftp://host/x.gguf", None, None, "http:// or https://"),
    ("https://host/x.bin", None, None, "does not end in .gguf"),
    ("https://host/x.gguf", "abc", None, "64 hexadecimal"),
    ("https://host/x.gguf", None, "../evil.gguf", "not a usable file name"),
])
def test_bad_url_targets_are_usage_errors(url, sha, name, fragment):
    with pytest.raises(UsageError) as failed:
        target_for_url(url, sha, name)
    assert fragment in failed.value.message
