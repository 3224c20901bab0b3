"""The library page in a real browser: Debian's Chromium, headless, from file://, on a library of
three stories written by `dreamflow generate` (pictures, book) and rebuilt by `dreamflow library`."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image

from tests.helpers.cli import invoke
from tests.helpers.fakes import FAKE_ENTRY
from tests.helpers.stories import tiny_wav
from tests.helpers.tools import chromium
from tests.test_library import parse

pytestmark = pytest.mark.model

T0 = datetime(2026, 12, 1, 19, 0, tzinfo=timezone.utc)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio"]
STORIES = [("a sleepy dragon", "Mia"), ("a whale who sings lullabies", "Leo"), ("a little owl in the snow", "Mia")]


def browse(args: list[str], profile: Path, timeout: int = 180) -> str:
    run = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                         capture_output=True, text=True, timeout=timeout, check=True)
    return run.stdout


@pytest.fixture(scope="module")
def shelf(tmp_path_factory):
    """Three stories, oldest first, the first with a narration as issue 20's output would add."""
    from dreamflow_cli.backend import registry
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("library") / "stories"
    runner = CliRunner()
    registry.register(FAKE_ENTRY)
    try:
        for i, (prompt, name) in enumerate(STORIES):
            result = invoke(runner, "generate", prompt, "--backend", "fake", "--name", name, "--scenes", "2",
                            "--seed", str(i), "--out", str(out), "--json")
            assert result.exit_code == 0, result.stderr
            story_dir = Path(json.loads(result.stdout)["story_dir"])
            meta = json.loads((story_dir / "story.json").read_text())
            meta["created_utc"] = (T0 + timedelta(days=i)).isoformat()
            if i == 0:
                (story_dir / "narration.wav").write_bytes(tiny_wav())
                meta["files"]["audio"] = "narration.wav"
            (story_dir / "story.json").write_text(json.dumps(meta))
    finally:
        registry.unregister(FAKE_ENTRY.name)
    result = invoke(runner, "library", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return out


def test_one_card_per_story_and_every_link_resolves(shelf, tmp_path):
    dom = parse(browse(["--dump-dom", "--virtual-time-budget=3000", (shelf / "index.html").as_uri()], tmp_path))
    assert dom.cards == 3
    assert len(dom.titles) == 3 and "Owl" in dom.titles[0] and "Dragon" in dom.titles[2]  # newest first
    assert len(dom.refs) == 3 * 4 + 1  # per card: cover link, cover picture, Read, Picture book; one narration
    for ref in dom.refs:
        assert (shelf / unquote(ref)).is_file(), ref


HARNESS = """<!doctype html><meta charset="utf-8"><pre id="result">pending</pre>
<iframe id="f" src="%s" style="width:1200px;height:3000px"></iframe>
<script>
document.getElementById('f').addEventListener('load', () => {
  const d = document.getElementById('f').contentDocument;
  // The frame's load event waits for its pictures (all in view in this tall frame), so each is
  // decoded or broken by now: checked at once, so the answer is in the DOM dump.
  const sizes = [...d.images].map(i => [i.getAttribute('src'), i.complete ? i.naturalWidth : -1]);
  const shown = () => [...d.querySelectorAll('article')].filter(a => a.offsetParent !== null)
                        .map(a => a.querySelector('h2').textContent);
  const visible = shown().length;
  const media = [...d.querySelectorAll('audio,video')].map(m => m.getAttribute('src'));
  const perChild = {};
  for (const label of d.querySelectorAll('nav.who label')) {   // the CSS-only filter, per child
    d.getElementById(label.htmlFor).checked = true;
    perChild[label.textContent] = shown().length;
  }
  document.getElementById('result').textContent = JSON.stringify({sizes, visible, media, perChild});
});
</script>"""


def test_every_picture_decodes_and_each_child_can_be_shown_alone(shelf, tmp_path):
    harness = shelf / ".harness.html"  # a dot name: never listed as a story
    harness.write_text(HARNESS % "index.html", encoding="utf-8")
    try:
        page = browse(["--allow-file-access-from-files", "--dump-dom", "--virtual-time-budget=8000",
                       harness.as_uri()], tmp_path)
    finally:
        harness.unlink()
    found = re.search(r'<pre id="result">(.*?)</pre>', page, re.S)
    assert found, page[:2000]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["visible"] == 3
    assert len(result["sizes"]) == 3 and all(width == 768 for _, width in result["sizes"]), result
    assert result["perChild"] == {"Everyone": 3, "Leo": 1, "Mia": 2}
    assert len(result["media"]) == 1 and result["media"][0].endswith("/narration.wav")


@pytest.mark.parametrize("size", ["1280,900", "390,1400"])
def test_screenshot(shelf, tmp_path, size):
    shot = tmp_path / f"library-{size.replace(',', 'x')}.png"
    browse([f"--screenshot={shot}", f"--window-size={size}", "--virtual-time-budget=5000",
            (shelf / "index.html").as_uri()], tmp_path / "profile")
    image = Image.open(shot).convert("RGB")
    assert image.size == tuple(int(v) for v in size.split(","))
    # The page background is the dark bedtime blue, and the pictures add many colours to it.
    assert image.getpixel((3, image.height - 3))[2] < 80
    assert len(image.resize((64, 64)).getcolors(1 << 16)) > 200
