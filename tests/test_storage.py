"""Atomic files and story folders: nothing half-written, nothing overwritten."""

from __future__ import annotations

import pytest

from dreamflow_cli.errors import UsageError
from dreamflow_cli.files import atomic_write
from dreamflow_cli.output.folder import STAGING_PREFIX, StoryFolder


def test_atomic_write_never_overwrites_unless_asked(isolated):
    target = isolated / "a.toml"
    atomic_write(target, b"one", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write(target, b"two", overwrite=False)
    assert target.read_bytes() == b"one"
    atomic_write(target, b"three")
    assert target.read_bytes() == b"three"
    assert [p.name for p in isolated.iterdir()] == ["a.toml"]  # no temp files left behind


def test_story_folder_is_invisible_until_commit_and_never_reuses_a_name(isolated):
    (isolated / "20260101-000000-owl").mkdir()  # an earlier story with the same name
    with StoryFolder(isolated) as folder:
        folder.write("story.md", b"# Owl\n")
        assert [p.name.startswith(STAGING_PREFIX) for p in isolated.iterdir()].count(True) == 1
        final = folder.commit("20260101-000000-owl")
    assert final.name == "20260101-000000-owl-2"
    assert (final / "story.md").read_bytes() == b"# Owl\n"
    assert sorted(p.name for p in isolated.iterdir()) == ["20260101-000000-owl", "20260101-000000-owl-2"]


def test_an_interrupted_story_leaves_nothing(isolated):
    with pytest.raises(KeyboardInterrupt):
        with StoryFolder(isolated) as folder:
            folder.write("scene-1.png", b"png")
            raise KeyboardInterrupt
    assert list(isolated.iterdir()) == []


def test_output_folder_that_cannot_be_created(isolated):
    (isolated / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot create|not a directory"):
        StoryFolder(isolated / "file" / "stories")
