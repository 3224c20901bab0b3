"""The library page: <out>/index.html, one card per finished story, rebuilt after every story and
batch, and `dreamflow library`. Parsed here; loaded in a real browser in test_browser.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from dreamflow_cli.output import library
from tests.helpers.cli import assert_refused, invoke
from tests.helpers.fakes import FAKE_ENTRY
from tests.helpers.stories import make_story_folder

T0 = datetime(2026, 12, 1, 19, 0, tzinfo=timezone.utc)


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.cards, self.tags, self.titles, self._h2 = [], 0, [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.cards += tag == "article"
        self._h2 = tag == "h2"
        for key in ("href", "src", "poster"):
            if a.get(key) and not a[key].startswith("#"):
                self.refs.append(a[key])

    def handle_endtag(self, tag):
        self._h2 = self._h2 and tag != "h2"

    def handle_data(self, data):
        if self._h2:
            self.titles.append(data)


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    return p


def three(out: Path) -> None:
    make_story_folder(out, "20261201-a-dragon", title="The Dragon", prompt="a dragon", scenes=["x y"],
                      name="Mia", created=T0, audio=True)
    make_story_folder(out, "20261202-an-owl", title="The Owl", prompt="an owl", scenes=["x"],
                      name="Leo", created=T0 + timedelta(days=1), video=True)
    make_story_folder(out, "20261203-a-boat", title="The Boat", prompt="a boat", scenes=["x"],
                      name=None, created=T0 + timedelta(days=2), book=False)


def test_newest_first_and_every_link_resolves(tmp_path):
    three(tmp_path)
    built = library.build(tmp_path, tz=timezone.utc)
    page = built.path.read_text(encoding="utf-8")
    assert built.stories == 3 and built.warnings == []
    p = parse(page)
    assert p.titles == ["The Boat", "The Owl", "The Dragon"] and p.cards == 3
    assert "audio" in p.tags and "video" in p.tags
    assert len(p.refs) >= 9
    for ref in p.refs:
        assert not ref.startswith(("/", "http", "file:")), ref
        assert (tmp_path / unquote(ref)).is_file(), ref
    assert "1 Dec 2026" in page and "for Mia" in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")  # no script, no network


def test_staging_and_broken_folders_are_left_out(tmp_path):
    three(tmp_path)
    make_story_folder(tmp_path, ".dreamflow-tmp-123-abcd", title="Half written", prompt="p", scenes=["x"])
    for folder, content in [("broken", b"{not json"), ("list", b"[1, 2]"), ("untitled", b'{"files": {}}'),
                            ("latin1", b'{"title": "caf\xe9"}')]:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "story.json").write_bytes(content)
    (tmp_path / "not-a-story").mkdir()
    (tmp_path / "stray.txt").write_text("hello")
    built = library.build(tmp_path)
    page = built.path.read_text()
    assert built.stories == 3 and "Half written" not in page
    assert sorted(w.split(":")[0] for w in built.warnings) == ["broken", "latin1", "list", "untitled"]


def test_untrusted_fields_are_escaped_and_links_stay_inside(tmp_path):
    path = make_story_folder(tmp_path, "s1", title="<script>alert(1)</script> & \u201cfriends\u201d",
                             prompt="p", scenes=["x"], name='Mia"><img src=x>')
    meta = json.loads((path / "story.json").read_text())
    meta["files"].update({"book": "../../etc/passwd", "audio": "http://example.com/a.mp3",
                          "video": "/abs/v.mp4", "images": ["C:\\x.png", "scene-1.png"]})
    (path / "story.json").write_text(json.dumps(meta))
    page = library.build(tmp_path).path.read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x>" not in page and "Mia&quot;&gt;&lt;img" in page
    refs = parse(page).refs
    assert refs and all((tmp_path / unquote(r)).is_file() for r in refs)
    assert not any(x in page for x in ("passwd", "example.com", "/abs/"))


def test_the_page_is_replaced_whole_and_leaves_no_temp_file(tmp_path):
    three(tmp_path)
    (tmp_path / "index.html").write_text("old")
    library.build(tmp_path)
    assert (tmp_path / "index.html").read_text().startswith("<!doctype html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_empty_folder_gets_an_empty_page(tmp_path):
    assert library.scan(tmp_path / "nope").entries == []
    page = library.build(tmp_path).path.read_text()
    assert "No stories yet" in page and parse(page).cards == 0


def test_reading_time_from_story_json_or_story_md(tmp_path):
    make_story_folder(tmp_path, "s1", title="T", prompt="p", scenes=["word " * 390])
    assert library.scan(tmp_path).entries[0].minutes == 3  # counted from story.md, at 130 a minute
    make_story_folder(tmp_path, "s1", title="T", prompt="p", scenes=["x"], reading_minutes=7)
    assert library.scan(tmp_path).entries[0].minutes == 7


def test_children_get_distinct_colours_and_a_filter(tmp_path):
    names = ["Mia", "Leo", "Ava", "Noah", "Zoe", "Sam", "Ivy", "Max"]
    for i, n in enumerate(names):
        make_story_folder(tmp_path, f"s{i}", title=f"Story {i}", prompt="p", scenes=["x"], name=n,
                          created=T0 + timedelta(hours=i))
    entries = library.scan(tmp_path).entries
    colours = library.child_colours(entries)
    assert len(set(colours.values())) == 8
    assert library.render(entries).count('type="radio" name="who"') == 9
    # A new child never recolours the older ones.
    make_story_folder(tmp_path, "s9", title="New", prompt="p", scenes=["x"], name="Eve", created=T0 + timedelta(days=9))
    again = library.child_colours(library.scan(tmp_path).entries)
    assert {k: again[k] for k in colours} == colours


def test_one_child_no_filter(tmp_path):
    make_story_folder(tmp_path, "s1", title="T", prompt="p", scenes=["x"], name="Mia")
    assert 'type="radio"' not in library.build(tmp_path).path.read_text()


def test_a_series_part_links_to_the_part_before(tmp_path):
    make_story_folder(tmp_path, "p1", title="Dragon Nights", prompt="a dragon", scenes=["x"], name="Mia",
                      created=T0, story_id="abc")
    make_story_folder(tmp_path, "p2", title="Dragon Nights Again", prompt="a dragon", scenes=["x"], name="Mia",
                      created=T0 + timedelta(days=1), series={"id": "dn", "part": 2, "previous": "abc"})
    make_story_folder(tmp_path, "p3", title="Odd", prompt="a dragon", scenes=["x"], created=T0 + timedelta(days=2),
                      series={"part": "three", "previous": ["p2"]})
    page = library.build(tmp_path).path.read_text()
    assert "Part 2" in page and 'href="#s-p1"' in page and 'id="s-p1"' in page
    assert "Part of a series" in page  # an odd series block is shown plainly, never a crash


def test_the_parents_note_is_shown_folded(tmp_path):
    make_story_folder(tmp_path, "n1", title="Noted", prompt="p", scenes=["x"], created=T0,
                      parent_note={"reading_level": "grade 1.5", "words": 240, "moral": "sharing <b>",
                                   "characters": ["Pip", "Mo"], "checks": {"nested": 1}})
    make_story_folder(tmp_path, "n2", title="Plain note", prompt="p", scenes=["x"], created=T0 + timedelta(days=1),
                      parent_note="Calm; 2 minutes.")
    make_story_folder(tmp_path, "n3", title="Odd note", prompt="p", scenes=["x"], created=T0 + timedelta(days=2),
                      parent_note=42)
    page = library.build(tmp_path).path.read_text()
    assert page.count("<details class=\"note\">") == 2
    assert "<dt>Reading level</dt><dd>grade 1.5</dd>" in page and "<dd>Pip, Mo</dd>" in page
    assert "sharing &lt;b&gt;" in page and "nested" not in page and "Calm; 2 minutes." in page


def test_the_same_folders_give_the_same_page(tmp_path):
    three(tmp_path)
    pages = [library.render(library.scan(tmp_path).entries, tz=timezone.utc) for _ in range(2)]
    assert pages[0] == pages[1]


# --- `dreamflow library` ----------------------------------------------------------------------------

def test_library_command_prints_the_page_path(runner, tmp_path):
    three(tmp_path)
    result = invoke(runner, "library", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{(tmp_path / 'index.html').absolute()}\n"
    assert "3 stories in the library" in result.stderr
    assert parse((tmp_path / "index.html").read_text()).cards == 3


def test_library_json_lists_the_stories(runner, tmp_path):
    three(tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "story.json").write_text("{oops")
    result = invoke(runner, "library", "--out", str(tmp_path), "--json")
    assert result.exit_code == 0
    items = json.loads(result.stdout)
    assert [i["title"] for i in items] == ["The Boat", "The Owl", "The Dragon"]
    assert items[2] == {"folder": str(tmp_path / "20261201-a-dragon"), "title": "The Dragon", "name": "Mia",
                        "date": "2026-12-01T19:00:00+00:00", "reading_minutes": 1,
                        "files": {"story": "story.md", "images": ["scene-1.png"], "book": "book.pdf",
                                  "audio": "narration.wav"}}
    assert "broken: story.json is not valid JSON" in result.stderr and "Traceback" not in result.stderr


def test_library_of_the_configured_folder(runner, isolated):
    three(isolated / "stories")
    result = invoke(runner, "library", "--json")
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 3


def test_library_of_a_missing_folder_is_a_usage_error(runner, tmp_path):
    result = invoke(runner, "library", "--out", str(tmp_path / "nope"))
    assert_refused(result, 2, "no stories folder", "nope")
    assert not (tmp_path / "nope").exists()


# --- rebuilt by generate ------------------------------------------------------------------------------

@pytest.fixture
def fake_backend():
    from dreamflow_cli.backend import registry

    registry.register(FAKE_ENTRY)
    yield
    registry.unregister(FAKE_ENTRY.name)


def test_every_story_updates_the_page(runner, fake_backend, isolated):
    for prompt in ("a sleepy dragon", "a little owl"):
        result = invoke(runner, "generate", prompt, "--backend", "fake", "--name", "Mia", "--scenes", "1")
        assert result.exit_code == 0, result.stderr
    page = parse((isolated / "stories" / "index.html").read_text())
    assert page.cards == 2 and len(page.titles) == 2
    assert all((isolated / "stories" / unquote(r)).is_file() for r in page.refs)
    assert any(r.endswith("/book.pdf") for r in page.refs) and any(r.endswith("/scene-1.png") for r in page.refs)


def test_a_batch_puts_every_story_in_the_page_and_warns_once(runner, fake_backend, isolated):
    (isolated / "stories" / "broken").mkdir(parents=True)
    (isolated / "stories" / "broken" / "story.json").write_text("{oops")
    (isolated / "prompts.txt").write_text("a sleepy dragon\na little owl\na brave boat\n")
    result = invoke(runner, "generate", "--prompts-file", "prompts.txt", "--backend", "fake", "--scenes", "1",
                    "--no-book")
    assert result.exit_code == 0, result.stderr
    assert parse((isolated / "stories" / "index.html").read_text()).cards == 3
    assert result.stderr.count("library: broken: story.json is not valid JSON") == 1


def test_a_page_that_cannot_be_written_never_loses_the_story(runner, fake_backend, isolated):
    (isolated / "stories" / "index.html").mkdir(parents=True)  # the page's name is taken by a folder
    (isolated / "stories" / "broken").mkdir()
    (isolated / "stories" / "broken" / "story.json").write_text("{oops")
    result = invoke(runner, "generate", "a sleepy dragon", "--backend", "fake", "--scenes", "1", "--json")
    assert result.exit_code == 0, result.stderr
    story_dir = Path(json.loads(result.stdout)["story_dir"])
    assert (story_dir / "story.md").is_file() and (story_dir / "story.json").is_file()
    assert "the library page" in result.stderr and "was not updated" in result.stderr
    assert "Traceback" not in result.stderr
