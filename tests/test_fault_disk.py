"""Full disks and folders that cannot be written (issue 13): one line naming the folder, a documented
exit code (8 for a full disk, 2 for a folder the user cannot write), and nothing half-written.

A real small file system is used where the machine allows it (root on Linux: a tmpfs of a few
KB); the same paths are also driven through a fault hook so they are covered everywhere."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dreamflow_cli import files as storage
from dreamflow_cli.errors import ExitStatus, NoSpaceError, UsageError
from dreamflow_cli.files import MIN_FREE_BYTES, atomic_write, ensure_writable_dir
from dreamflow_cli.output.folder import StoryFolder
from tests.helpers.cli import invoke
from tests.helpers.cli import assert_refused

ROOT_ON_LINUX = sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def small_fs(tmp_path: Path):
    """Mount a tiny tmpfs; yields a function that mounts one of a given size (in KB)."""
    if not ROOT_ON_LINUX:
        pytest.skip("a real small file system needs root on Linux; test_*_fault_hook covers the same path")
    mounted: list[Path] = []

    def mount(kb: int) -> Path:
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(point)], check=True)
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def story(models_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "a calm bear", "--models-dir", str(models_dir), "--threads", "1", "--max-tokens", "40",
            "--seed", "1", "--out", str(out), *extra]


def test_a_nearly_full_output_disk_is_refused_before_the_model_loads(runner, isolated, models_dir, small_fs):
    disk = small_fs(1024)  # 1 MB: less than the 4 MB dreamflow wants free before it starts
    result = invoke(runner, *story(models_dir, disk / "stories"))
    assert_refused(result, ExitStatus.NO_SPACE, "no space left in", str(disk / "stories"), "--out")
    assert list((disk / "stories").iterdir()) == []


def test_a_disk_that_fills_up_while_the_story_is_written(runner, isolated, models_dir, small_fs, monkeypatch):
    """ENOSPC from a real file system in the middle of the story's files: exit 8, nothing kept."""
    disk = small_fs(8)  # two pages: the first picture (~16 KB) does not fit
    monkeypatch.setattr(storage, "free_space", lambda path: 10**9)  # the up-front check is passed
    result = invoke(runner, *story(models_dir, disk / "stories"))
    assert_refused(result, ExitStatus.NO_SPACE, "no space left in", str(disk / "stories"))
    assert "unexpected" not in result.stderr and "Errno" not in result.stderr
    assert list((disk / "stories").iterdir()) == []  # no half-written story, no staging folder


def test_config_init_on_a_full_disk(runner, isolated, small_fs, monkeypatch):
    disk = small_fs(4)
    (disk / "filler").write_bytes(b"x" * 4096)  # the one page is taken
    monkeypatch.setattr(storage, "free_space", lambda path: 10**9)
    result = invoke(runner, "config", "init", "--path", str(disk / "config.toml"))
    assert_refused(result, ExitStatus.NO_SPACE, "no space left in", "--path")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # no temp file left either


def test_full_disk_fault_hook(runner, isolated, monkeypatch):
    """The same refusal without a real small disk: the free-space reading says 1 MB."""
    monkeypatch.setattr(storage, "free_space", lambda path: 1_000_000)
    result = invoke(runner, "config", "init")
    assert_refused(result, ExitStatus.NO_SPACE, "no space left in", "1.0 MB free")


def test_enospc_during_a_write_fault_hook(isolated, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(NoSpaceError) as stopped:
        with StoryFolder(isolated / "out") as folder:
            folder.write("story.md", b"text")
    assert stopped.value.exit_code == 8 and str(isolated / "out") in stopped.value.message
    assert list((isolated / "out").iterdir()) == []


def test_atomic_write_leaves_the_old_file_whole_when_the_disk_is_full(isolated, monkeypatch):
    target = isolated / "config.toml"
    target.write_bytes(b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(NoSpaceError):
        atomic_write(target, b"new", option="--path")
    assert target.read_bytes() == b"old"
    assert [p.name for p in isolated.iterdir()] == ["config.toml"]


def test_one_check_for_every_folder_dreamflow_writes(isolated, monkeypatch):
    monkeypatch.setattr(storage, "free_space", lambda path: MIN_FREE_BYTES - 1)
    for what, option in (("output folder", "--out"), ("models directory", "--dir"), ("config folder", "--path")):
        with pytest.raises(NoSpaceError) as stopped:
            ensure_writable_dir(isolated / what.replace(" ", "-"), what, option)
        assert option in stopped.value.hint


# --- folders the user cannot write -----------------------------------------------------------------

def test_config_init_into_an_existing_directory_even_with_force(runner, isolated):
    (isolated / "conf").mkdir()
    result = invoke(runner, "config", "init", "--path", str(isolated / "conf"), "--force")
    assert_refused(result, 2, "is a directory", "config.toml")
    assert list((isolated / "conf").iterdir()) == []


def test_config_init_below_a_file_is_a_usage_error(runner, isolated):
    (isolated / "afile").write_text("keep me")
    result = invoke(runner, "config", "init", "--path", str(isolated / "afile" / "config.toml"))
    assert_refused(result, 2, "not a directory", "--path")
    assert (isolated / "afile").read_text() == "keep me"


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs POSIX users")
def test_config_init_into_an_unwritable_folder_as_a_normal_user(tmp_path):
    """As an ordinary user (uid 65534), `config init` into a read-only folder: exit 2, one line."""
    if os.geteuid() != 0:
        folder = Path(tempfile.mkdtemp())
        folder.chmod(0o555)
        as_user = ""
    else:
        # A folder the unprivileged user can reach but not write; the interpreter imports all it
        # needs as root first (the venv may live where that user cannot read), then drops to it.
        folder = Path(tempfile.mkdtemp())
        folder.chmod(0o755)
        as_user = "os.setgid(65534); os.setuid(65534)"
    script = f"""
import os, sys
from dreamflow_cli.cli.app import app
try:
    app(["config", "init", "--path", {str(tmp_path / "warm.toml")!r}])  # every import done as root
except SystemExit:
    pass
{as_user}
app(["config", "init", "--path", {str(folder / "sub" / "config.toml")!r}])
"""
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                                   "NO_COLOR": "1"})
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--path" in lines[0], proc.stderr
    assert "Permission denied" in lines[0] and "Traceback" not in proc.stderr
    assert list(folder.iterdir()) == []
    folder.rmdir()


def test_a_read_only_output_disk_is_a_usage_error(isolated, monkeypatch):
    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "write_bytes", read_only)
    with pytest.raises(UsageError) as stopped:
        with StoryFolder(isolated / "out") as folder:
            folder.write("story.md", b"text")
    assert "cannot write in" in stopped.value.message and "--out" in stopped.value.hint
    assert list((isolated / "out").iterdir()) == []


def test_download_dir_on_a_full_disk_is_refused(runner, isolated, monkeypatch):
    monkeypatch.setattr(storage, "free_space", lambda path: 1_000)
    result = invoke(runner, "download-model", "--url", "http://127.0.0.1:9/m.gguf", "--dir", str(isolated / "m"))
    assert_refused(result, ExitStatus.NO_SPACE, "no space left in", "--dir")
    assert json.dumps(result.stdout) == '""'
