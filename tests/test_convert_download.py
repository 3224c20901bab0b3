"""download/convert.py: a catalog model installed in its converted form — fetched from a real HTTP
server on 127.0.0.1, converted by a stand-in child (tests/helpers/fake_quantize_child.py, whose output
the test entry pins as the catalog pins SmolLM2's Q8_0). The real SmolLM2 conversion through the CLI
is in test_download_cli.py (model tier)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dreamflow_cli.download.api import DownloadOptions, download_catalog_model
from dreamflow_cli.download.lock import FileLock
from dreamflow_cli.download.target import SPACE_MARGIN, lock_path
from dreamflow_cli.errors import DownloadError, ModelError, NoSpaceError, UsageError
from dreamflow_cli.model import quantize
from dreamflow_cli.model.catalog import CatalogEntry, DerivedForm
from dreamflow_cli.model.file import manifest_path, read_manifest
from tests.helpers.download_server import CONTENT, sha256
from tests.helpers.fake_quantize_child import converted

ROOT = Path(__file__).resolve().parent.parent
CONVERTED = converted(CONTENT)
FORM = DerivedForm("Q8_0", "tiny.Q8_0.gguf", len(CONVERTED), sha256(CONVERTED), "0.3.36", "batches faster")
ENTRY = CatalogEntry("tiny-fake", "tiny.Q4_1.gguf", len(CONTENT), sha256(CONTENT), "Apache-2.0", "a test server",
                     "a stand-in", hf_repo="org/repo", derived=FORM)


@pytest.fixture(autouse=True)
def fake_child(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(quantize, "CHILD_MODULE", "tests.helpers.fake_quantize_child")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("FAKE_QUANTIZE", "ok")
    return monkeypatch


class Run:
    def __init__(self, server, dest: Path, **option_overrides) -> None:
        self.server, self.dest = server, dest
        self.notices: list[str] = []
        self.events: list = []
        self.options = DownloadOptions(endpoint=server.base, lock_wait=0.3, backoff=0.01, sleep=lambda s: None,
                                       **option_overrides)

    def __call__(self, entry: CatalogEntry = ENTRY, **kwargs):
        return download_catalog_model(entry, self.dest, options=self.options, on_progress=self.events.append,
                                      on_notice=self.notices.append, **kwargs)

    def phases(self) -> list[str]:
        seen: list[str] = []
        for event in self.events:
            if not seen or seen[-1] != event.phase:
                seen.append(event.phase)
        return seen


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_fresh_install_is_fetched_verified_converted_recorded_and_the_original_removed(server, dest):
    run = Run(server, dest)
    result = run()
    final = dest / FORM.filename
    assert (result.path, result.size, result.sha256, result.sha256_from) == (final, FORM.size, FORM.sha256, "catalog")
    assert final.read_bytes() == CONVERTED and result.downloaded
    assert listing(dest) == [FORM.filename, FORM.filename + ".manifest.json"]  # no original, no lock, no .part
    manifest = read_manifest(final)
    assert (manifest["name"], manifest["size"], manifest["sha256"]) == ("tiny-fake", FORM.size, FORM.sha256)
    assert manifest["derived_from"] == {"file": ENTRY.filename, "size": ENTRY.size, "sha256": ENTRY.sha256,
                                        "source": f"{server.base}/org/repo/resolve/main/tiny.Q4_1.gguf",
                                        "kept": False}
    assert manifest["source"] == f"converted from tiny.Q4_1.gguf ({server.base}/org/repo/resolve/main/tiny.Q4_1.gguf)"
    assert manifest["derivation"]["tool"] == "llama_model_quantize" and manifest["derivation"]["quant"] == "Q8_0"
    summary = result.summary()
    assert summary["conversion"]["converted"] is True and summary["conversion"]["original"]["kept"] is False
    assert summary["conversion"]["original"]["downloaded"] is True
    assert run.phases() == ["downloading", "converting"]
    converting = [e for e in run.events if e.phase == "converting"]
    assert converting[0].done == 0 and converting[-1].done == converting[-1].total == FORM.size
    assert all(e.filename == FORM.filename for e in converting)


def test_keep_original_keeps_the_download_and_its_manifest(server, dest):
    result = Run(server, dest)(keep_original=True)
    assert listing(dest) == sorted([ENTRY.filename, ENTRY.filename + ".manifest.json", FORM.filename,
                                    FORM.filename + ".manifest.json"])
    assert (dest / ENTRY.filename).read_bytes() == CONTENT
    assert read_manifest(dest / FORM.filename)["derived_from"]["kept"] is True
    assert result.conversion["original"]["kept"] is True


def test_a_second_run_verifies_the_converted_file_and_fetches_nothing(server, dest):
    Run(server, dest)()
    requests = len(server.requests)
    run = Run(server, dest)
    again = run()
    assert len(server.requests) == requests
    assert (again.downloaded, again.conversion["converted"], again.sha256_from) == (False, False, "catalog")
    assert run.phases() == ["checking"]  # hashed against its manifest


def test_an_install_from_before_the_conversion_is_converted_without_fetching(server, dest):
    Run(server, dest)(convert=False)  # what download-model did before: the original only
    assert listing(dest) == [ENTRY.filename, ENTRY.filename + ".manifest.json"]
    requests = len(server.requests)
    result = Run(server, dest)()
    assert len(server.requests) == requests  # the original was verified by its sha256, not fetched again
    assert result.conversion["original"]["downloaded"] is False
    assert listing(dest) == [FORM.filename, FORM.filename + ".manifest.json"]


def test_a_damaged_conversion_is_found_and_redone(server, dest):
    Run(server, dest)(keep_original=True)
    final = dest / FORM.filename
    final.write_bytes(CONVERTED[: len(CONVERTED) // 2])  # partial
    run = Run(server, dest)
    result = run()
    assert final.read_bytes() == CONVERTED and result.conversion["converted"] is True
    assert any("failed verification" in n and "converting again" in n for n in run.notices)


def test_force_fetches_and_converts_again(server, dest):
    Run(server, dest)()
    requests = len(server.file_requests())
    result = Run(server, dest)(force=True)
    assert len(server.file_requests()) == requests + 1
    assert result.conversion["converted"] is True and result.conversion["original"]["downloaded"] is True
    assert listing(dest) == [FORM.filename, FORM.filename + ".manifest.json"]


def test_a_failed_conversion_keeps_the_verified_download_and_nothing_else(server, dest, fake_child):
    fake_child.setenv("FAKE_QUANTIZE", "input")
    with pytest.raises(ModelError) as caught:
        Run(server, dest)()
    assert caught.value.exit_code == 3 and "could not convert tiny.Q4_1.gguf" in caught.value.message
    assert listing(dest) == [ENTRY.filename, ENTRY.filename + ".manifest.json"]  # the next run need not fetch
    fake_child.setenv("FAKE_QUANTIZE", "ok")
    requests = len(server.requests)
    Run(server, dest)()
    assert len(server.requests) == requests


def test_other_bytes_from_the_reference_version_are_refused(server, dest):
    other = CatalogEntry(**{**ENTRY.__dict__, "derived": DerivedForm("Q8_0", FORM.filename, FORM.size, "0" * 64,
                                                                    "0.3.36")})
    with pytest.raises(ModelError, match="not what llama-cpp-python 0.3.36 writes"):
        Run(server, dest)(other)
    assert listing(dest) == [ENTRY.filename, ENTRY.filename + ".manifest.json"]


def test_other_bytes_from_another_version_are_recorded_with_a_notice(server, dest, fake_child):
    fake_child.setenv("FAKE_QUANTIZE_VERSION", "0.3.40")
    other = CatalogEntry(**{**ENTRY.__dict__, "derived": DerivedForm("Q8_0", FORM.filename, FORM.size, "0" * 64,
                                                                    "0.3.36")})
    run = Run(server, dest)
    result = run(other)
    assert result.sha256_from == "computed" and result.sha256 == FORM.sha256
    assert any("llama-cpp-python 0.3.40 wrote other bytes" in n for n in run.notices)
    manifest = read_manifest(dest / FORM.filename)
    assert (manifest["sha256"], manifest["sha256_from"]) == (FORM.sha256, "computed")
    assert manifest["derivation"]["llama_cpp_python"] == "0.3.40"
    assert Run(server, dest)(other).downloaded is False  # checked against its own record from then on


def test_not_enough_space_for_both_files_is_refused_before_any_request(server, dest):
    free = ENTRY.size + FORM.size + SPACE_MARGIN - 1
    with pytest.raises(NoSpaceError) as caught:
        Run(server, dest, free_space=lambda path: free)()
    assert caught.value.exit_code == 8
    assert "the Q8_0 form and the download it is made from" in caught.value.message
    assert server.requests == [] and listing(dest) == []


def test_someones_own_file_under_the_converted_name_is_never_replaced_unasked(server, dest):
    dest.mkdir()
    (dest / FORM.filename).write_bytes(b"GGUF my own conversion")
    with pytest.raises(UsageError) as caught:
        Run(server, dest)()
    assert "was not made by dreamflow" in caught.value.message and "--force" in (caught.value.hint or "")
    assert (dest / FORM.filename).read_bytes() == b"GGUF my own conversion"
    assert server.requests == []


def test_the_exact_converted_bytes_found_in_place_are_accepted_and_recorded(server, dest):
    dest.mkdir()
    (dest / FORM.filename).write_bytes(CONVERTED)  # copied from another machine, say
    result = Run(server, dest)()
    assert (result.downloaded, result.sha256_from) == (False, "catalog") and server.requests == []
    assert read_manifest(dest / FORM.filename)["sha256"] == FORM.sha256


def test_a_conversion_running_elsewhere_is_waited_for_then_refused(server, dest):
    dest.mkdir()
    with FileLock(lock_path(dest / FORM.filename), wait=0, what=FORM.filename):
        started = time.monotonic()
        with pytest.raises(DownloadError, match=f"another download of {FORM.filename} is running"):
            Run(server, dest)()
        assert time.monotonic() - started < 5
    assert server.requests == []


def test_an_interrupted_conversion_leaves_the_download_and_no_part(server, dest, fake_child):
    fake_child.setenv("FAKE_QUANTIZE", "slow")
    run = Run(server, dest)
    events = run.events

    class Stop(list):
        def append(self, event) -> None:
            events.append(event)
            if event.phase == "converting" and event.done:
                raise KeyboardInterrupt

    run.events = Stop()
    with pytest.raises(KeyboardInterrupt):
        run()
    assert listing(dest) == [ENTRY.filename, ENTRY.filename + ".manifest.json"]
    assert not quantize.part_path(dest / FORM.filename).exists()
    assert json.loads(manifest_path(dest / ENTRY.filename).read_text())["sha256"] == ENTRY.sha256
