"""`dreamflow generate` end to end on the real SmolLM2-135M model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dreamflow_cli.output.pictures.plain import HEIGHT, WIDTH
from tests.helpers.cli import invoke

# A small budget keeps the suite fast; the profile's other values are what we check.
FAST = ("--max-tokens", "64")


def story_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir())


@pytest.mark.parametrize(
    "flag, expected",
    [
        ("--standard", {"name": "standard", "n_ctx": 1024, "n_batch": 256, "repack": True}),
        ("--low-memory", {"name": "low-memory", "n_ctx": 512, "n_batch": 128, "repack": False}),
    ],
)
def test_both_profiles_write_story_pictures_and_metadata(runner, models_dir, isolated, flag, expected):
    result = invoke(runner, "generate", "a sleepy dragon who counts the stars", "--name", "Mia", "--age", "5",
                    "--models-dir", str(models_dir), "--seed", "7", flag, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)  # exactly one JSON object, nothing else on stdout
    story_dir = Path(summary["story_dir"])
    assert story_dir.parent == isolated / "stories"
    assert story_dirs(isolated / "stories") == [story_dir]
    assert sorted(p.name for p in story_dir.iterdir()) == [
        "book.pdf", "scene-1.png", "scene-2.png", "scene-3.png", "story.json", "story.md"]
    for image_path in summary["image_paths"]:
        with Image.open(image_path) as image:
            image.load()
            assert image.size == (WIDTH, HEIGHT)
        assert 5_000 < Path(image_path).stat().st_size < 200_000

    meta = json.loads(Path(summary["metadata_path"]).read_text())
    for key, value in expected.items():
        assert meta["profile"][key] == value
        if key != "repack":
            assert summary["profile"][key] == value
    assert meta["profile"]["use_mmap"] is True and meta["profile"]["use_mlock"] is False
    assert meta["seed"] == 7 and meta["name"] == "Mia" and meta["age"] == 5
    assert meta["model"]["size_bytes"] == 144_811_072  # the Q8_0 download-model installs
    assert 0 < meta["generated_tokens"] <= meta["profile"]["max_tokens"]
    assert meta["prompt_tokens"] + meta["max_tokens_effective"] <= meta["profile"]["n_ctx"]
    assert meta["tokens_per_second"] > 0 and meta["load_seconds"] > 0
    assert meta["peak_rss_bytes"] > 50_000_000
    # One name in --json and story.json; the old --json name stays as an alias for one release.
    assert summary["generated_tokens"] == summary["tokens_generated"] == meta["generated_tokens"]
    assert summary["title"] == meta["title"]
    md = Path(summary["story_path"]).read_text()
    assert md.startswith(f"# {meta['title']}\n")
    assert md.count("## Scene ") == 3


def test_plain_stdout_is_the_story_and_stderr_the_rest(runner, models_dir, isolated):
    result = invoke(runner, "generate", "a lost kitten finds home", "--models-dir", str(models_dir),
                    "--low-memory", "--seed", "3", "--no-images", *FAST)
    assert result.exit_code == 0, result.stderr
    (story_dir,) = story_dirs(isolated / "stories")
    meta = json.loads((story_dir / "story.json").read_text())
    assert result.stdout.startswith(meta["title"] + "\n\n")
    assert "Saved to" not in result.stdout and "tok/s" not in result.stdout
    assert "Saved to" in result.stderr
    assert not list(story_dir.glob("*.png"))
    assert meta["profile"]["max_tokens"] == 64


def test_same_second_runs_never_collide(runner, models_dir, isolated):
    args = ("generate", "a quiet owl", "--models-dir", str(models_dir), "--seed", "1", "--no-images",
            "--scenes", "1", "--json", *FAST)
    first = json.loads(invoke(runner, *args).stdout)["story_dir"]
    second = json.loads(invoke(runner, *args).stdout)["story_dir"]
    assert first != second
    assert len(story_dirs(isolated / "stories")) == 2
    # Same seed, same settings: the same story.
    assert Path(first, "story.md").read_text() == Path(second, "story.md").read_text()
