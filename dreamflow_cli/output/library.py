"""The library page: ``<out>/index.html``, one card per finished story, newest first.

Plain HTML and CSS, relative links, no script and no network, so the page works from ``file://``,
from a USB stick or any folder a tablet can open. Dark and calm for the bedside, one column on a
phone. Each child gets a colour (a stripe and a name chip) and, with two or more children, a
filter row made of radio buttons and CSS only; a story that belongs to a series says which part it
is and links to the part before.

Folders whose name starts with "." (a story still being written, our own temp file) never appear;
a folder with a broken story.json is skipped and reported as a warning, never an exception.
Everything shown that came from story.json is escaped, and only links that stay inside the story's
own folder are kept. The page is rebuilt after every story and after a batch (``refresh``): a
failure there is a warning, never a lost story.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from dreamflow_cli.files import atomic_write

INDEX = "index.html"
WORDS_PER_MINUTE = 130  # a calm read-aloud pace (issue 23 uses the same)
# Card colours per child: calm hues that read on the dark page and differ for colour-blind eyes
# in lightness as well as hue.
CHILD_COLOURS = ("#f2b84b", "#7cc4f2", "#f28db2", "#8fd694", "#b79cf2", "#f29a6b", "#6fd6c8", "#e6e07a")
NO_NAME_COLOUR = "#9aa0c8"


@dataclass(frozen=True)
class Entry:
    folder: str
    title: str
    name: str | None
    created: datetime | None
    created_utc: str | None
    prompt: str | None
    age: int | None
    minutes: int | None
    files: dict[str, object]      # as in story.json, links checked
    cover: str | None             # relative path of the card picture
    series: dict[str, object] | None = None
    story_id: str | None = None
    parent_note: str | dict[str, object] | None = None  # issue 23's note for the parent, when present

    def as_json(self) -> dict[str, object]:
        """``dreamflow library --json``: one item per story."""
        out: dict[str, object] = {"folder": self.folder, "title": self.title, "name": self.name,
                                  "date": self.created_utc, "files": self.files}
        if self.minutes is not None:
            out["reading_minutes"] = self.minutes
        if self.series:
            out["series"] = self.series
        return out


@dataclass(frozen=True)
class Scan:
    entries: list[Entry]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Built:
    path: Path
    entries: list[Entry]
    warnings: list[str]

    @property
    def stories(self) -> int:
        return len(self.entries)


# --- reading the folders -------------------------------------------------------------------------

def scan(out_dir: Path) -> Scan:
    """Every finished story under ``out_dir``, newest first, and a warning per broken one."""
    entries: list[Entry] = []
    warnings: list[str] = []
    try:
        children = sorted(os.scandir(out_dir), key=lambda d: d.name)
    except FileNotFoundError:
        return Scan([], [])
    for child in children:
        if child.name.startswith(".") or not child.is_dir():
            continue
        meta_path = Path(child.path) / "story.json"
        try:
            raw = meta_path.read_bytes()
        except FileNotFoundError:
            continue  # not a story folder (or one that is still being renamed into place)
        except OSError as exc:
            warnings.append(f"{child.name}: cannot read story.json ({exc.strerror or exc})")
            continue
        try:
            meta = json.loads(raw.decode("utf-8"))
            entry = _entry(child.name, Path(child.path), meta)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            warnings.append(f"{child.name}: story.json is not valid JSON ({exc}); skipped")
            continue
        except ValueError as exc:
            warnings.append(f"{child.name}: {exc}; skipped")
            continue
        entries.append(entry)
    entries.sort(key=_newest_first)
    return Scan(entries, warnings)


def stories(out_dir: Path) -> list[dict[str, object]]:
    """The list ``dreamflow library --json`` prints (warnings go to stderr via :func:`scan`)."""
    return [e.as_json() for e in scan(out_dir).entries]


def _newest_first(e: Entry) -> tuple[float, str]:
    stamp = e.created.timestamp() if e.created else float("-inf")
    return (-stamp, _reverse(e.folder))


def _reverse(text: str) -> str:
    # Sort key that orders strings descending inside an ascending sort.
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def _entry(folder: str, path: Path, meta: object) -> Entry:
    """One card's facts from a story.json, read defensively: a missing or odd field is left out
    (older dreamflow versions, other issues' fields), only a missing title or a non-object skips it."""
    if not isinstance(meta, dict):
        raise ValueError("story.json is not an object")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("story.json has no title")
    files = _files(meta.get("files"))
    images = files.get("images")
    first = images[0] if isinstance(images, list) and images else None
    cover = files["cover"] if isinstance(files.get("cover"), str) else first
    created_utc = _text(meta.get("created_utc"))
    age = meta.get("age")
    series, note = meta.get("series"), meta.get("parent_note")
    return Entry(folder, title.strip(), _text(meta.get("name")), _parse_time(created_utc), created_utc,
                 _text(meta.get("prompt")), age if isinstance(age, int) and not isinstance(age, bool) else None,
                 _minutes(meta, path, files), files, cover if isinstance(cover, str) else None,
                 series if isinstance(series, dict) else None, _text(meta.get("story_id")),
                 note if isinstance(note, (str, dict)) and note else None)


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _files(raw: object) -> dict[str, object]:
    """story.json ``files`` with every link that would leave the story's folder dropped."""
    files: dict[str, object] = {}
    for kind, value in (raw.items() if isinstance(raw, dict) else ()):
        if kind == "images" and isinstance(value, list):
            files["images"] = [v for v in value if isinstance(v, str) and _safe(v)]
        elif isinstance(value, str) and _safe(value):
            files[str(kind)] = value
    return files


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _safe(link: str) -> bool:
    """A file name inside the story folder: relative, no "..", no scheme, no backslash."""
    if not link or "\\" in link or ":" in link or link.startswith("/"):
        return False
    return ".." not in link.split("/")


def _minutes(meta: Mapping[str, object], path: Path, files: Mapping[str, object]) -> int | None:
    for key in ("reading_minutes", "minutes"):
        value = meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return max(1, round(value))
    words = meta.get("words")
    if not (isinstance(words, int) and words > 0):
        story = files.get("story")
        if not isinstance(story, str):
            return None
        try:
            words = len((path / story).read_text(encoding="utf-8", errors="replace").split())
        except OSError:
            return None
    return max(1, round(words / WORDS_PER_MINUTE))


# --- the page --------------------------------------------------------------------------------------

_BUILDING = threading.Lock()  # a parallel batch finishes stories on several threads at once
_SAID: set[str] = set()  # warnings already given in this process: a batch says each one once


def build(out_dir: Path, *, tz: tzinfo | None = None) -> Built:
    """Write ``out_dir/index.html`` atomically and return what went in it. One build at a time in a
    process, so the last one to run has seen every story committed before it started."""
    with _BUILDING:
        result = scan(out_dir)
        page = render(result.entries, tz=tz)
        path = Path(out_dir) / INDEX
        # atomic_write's temp file has a dot name: never a story, and never a half-written page.
        atomic_write(path, page.encode("utf-8"))
    return Built(path, result.entries, result.warnings)


def refresh(out_dir: Path, warn: Callable[[str], None] | None) -> Built | None:
    """Rebuild the page after a story or a batch. Never raises (an interrupt aside): the story is
    already saved, so a page that cannot be written is a warning, and so is each folder skipped
    (said once per process)."""
    try:
        built = build(out_dir)
    except Exception as exc:  # noqa: BLE001 - the story is saved; the page is only its index
        if warn is not None:
            warn(f"the library page {Path(out_dir) / INDEX} was not updated: {getattr(exc, 'message', exc)}")
        return None
    for warning in built.warnings:
        key = f"{Path(out_dir).absolute()}\0{warning}"
        if warn is not None and key not in _SAID:
            _SAID.add(key)
            warn(f"library: {warning}")
    return built


def child_colours(entries: Sequence[Entry]) -> dict[str, str]:
    """A colour per child's name: a slot from the name's hash, the next free slot on a clash,
    children taken oldest story first so adding a new child never recolours an older one."""
    names: list[str] = []
    for e in sorted(entries, key=lambda e: -_newest_first(e)[0]):
        if e.name and e.name.casefold() not in {n.casefold() for n in names}:
            names.append(e.name)
    taken: dict[int, str] = {}
    out: dict[str, str] = {}
    for name in names:
        slot = int.from_bytes(hashlib.sha256(name.casefold().encode()).digest()[:4], "big") % len(CHILD_COLOURS)
        for step in range(len(CHILD_COLOURS)):
            if (slot + step) % len(CHILD_COLOURS) not in taken:
                slot = (slot + step) % len(CHILD_COLOURS)
                break
        taken.setdefault(slot, name)
        out[name.casefold()] = CHILD_COLOURS[slot]
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "x"


def _url(folder: str, file: str) -> str:
    return quote(f"{folder}/{file}", safe="/")


def render(entries: Sequence[Entry], *, tz: tzinfo | None = None) -> str:
    colours = child_colours(entries)
    by_id = {e.story_id: e for e in entries if e.story_id}
    by_folder = {e.folder: e for e in entries}
    filters, filter_css = _filters(entries, colours)
    cards = [_card(e, colours, by_id, by_folder, tz) for e in entries]
    count = f"{len(entries)} stor{'y' if len(entries) == 1 else 'ies'}"
    empty = '<p class="empty">No stories yet. Make one with <code>dreamflow generate</code>.</p>' if not entries else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<title>Bedtime stories</title>
<style>
{_CSS}{filter_css}</style>
</head>
<body>
{filters}<header><h1>Bedtime stories</h1><p class="count">{count}, newest first</p></header>
<main>
{empty}{''.join(cards)}</main>
</body>
</html>
"""


def _child_class(key: str) -> str:
    return f"who-{_slug(key)}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def _filters(entries: Sequence[Entry], colours: Mapping[str, str]) -> tuple[str, str]:
    """With two or more children: a row of radio buttons that shows one child's cards, CSS only."""
    children = sorted({e.name.casefold(): e.name for e in entries if e.name}.items())
    if len(children) < 2:
        return "", ""
    radios = ['<input type="radio" name="who" id="who-all" checked>']
    labels = ['<label for="who-all">Everyone</label>']
    css = ""
    for key, name in children:
        cid = _child_class(key)
        radios.append(f'<input type="radio" name="who" id="{cid}">')
        labels.append(f'<label for="{cid}" style="--c:{colours[key]}">{html.escape(name)}</label>')
        css += f"#{cid}:checked ~ main .card:not(.{cid}){{display:none}}\n"
        css += f"#{cid}:checked ~ nav label[for={cid}]{{background:var(--chip-on);color:#0b1030}}\n"
    return "".join(radios) + '<nav class="who" aria-label="Show stories for">' + "".join(labels) + "</nav>", css


def _card(e: Entry, colours: Mapping[str, str], by_id: Mapping[str, Entry], by_folder: Mapping[str, Entry],
          tz: tzinfo | None) -> str:
    key = e.name.casefold() if e.name else None
    colour = colours.get(key, NO_NAME_COLOUR) if key else NO_NAME_COLOUR
    who = f" {_child_class(key)}" if key else ""
    parts = [f'<article class="card{who}" id="s-{_slug(e.folder)}" style="--c:{colour}">']
    if e.cover:
        story = e.files.get("story")
        img = (f'<img src="{_url(e.folder, e.cover)}" alt="Picture from {html.escape(e.title)}" '
               f'width="768" height="512" loading="lazy">')
        parts.append(f'<a class="cover" href="{_url(e.folder, story)}">{img}</a>' if isinstance(story, str) else img)
    parts.append(f"<h2>{html.escape(e.title)}</h2>")
    parts.append(_meta(e, tz))
    parts.append(_series(e, by_id, by_folder))
    parts.append(_links(e))
    parts.append(_media(e))
    parts.append(_note(e.parent_note))
    parts.append("</article>\n")
    return "".join(parts)


def _meta(e: Entry, tz: tzinfo | None) -> str:
    meta = []
    if e.name:
        meta.append(f'<span class="chip">for {html.escape(e.name)}</span>')
    if e.created:
        local = e.created.astimezone(tz) if tz else e.created.astimezone()
        meta.append(f'<time datetime="{html.escape(e.created_utc or "")}">{local.day} {local:%b %Y}</time>')
    if e.minutes:
        meta.append(f"<span>{e.minutes} min read</span>")
    return f'<p class="meta">{" · ".join(meta)}</p>' if meta else ""


def _series(e: Entry, by_id: Mapping[str, Entry], by_folder: Mapping[str, Entry]) -> str:
    """"Part 2 · before: <the part before>", linking to that card when it is on the page."""
    if not e.series:
        return ""
    part = e.series.get("part")
    label = f"Part {part}" if isinstance(part, int) and not isinstance(part, bool) else "Part of a series"
    previous = e.series.get("previous")
    before = None
    if isinstance(previous, str):
        before = by_folder.get(previous) or by_id.get(previous) or by_folder.get(PurePosixPath(previous).name)
    link = f' · <a href="#s-{_slug(before.folder)}">before: {html.escape(before.title)}</a>' if before else ""
    return f'<p class="series">{html.escape(label)}{link}</p>'


def _links(e: Entry) -> str:
    links = []
    for kind, label in (("story", "Read"), ("book", "Picture book"), ("epub", "EPUB")):
        file = e.files.get(kind)
        if isinstance(file, str):
            links.append(f'<a href="{_url(e.folder, file)}">{label}</a>')
    return f'<p class="links">{"".join(links)}</p>' if links else ""


def _media(e: Entry) -> str:
    """The narration and the video play in the page (no script: the browser's own controls)."""
    parts = []
    audio, video, subtitles = e.files.get("audio"), e.files.get("video"), e.files.get("subtitles")
    if isinstance(audio, str):
        parts.append(f'<audio controls preload="none" src="{_url(e.folder, audio)}"></audio>')
    if isinstance(video, str):
        poster = f' poster="{_url(e.folder, e.cover)}"' if e.cover else ""
        track = (f'<track kind="captions" srclang="en" label="Story" src="{_url(e.folder, subtitles)}">'
                 if isinstance(subtitles, str) else "")
        parts.append(f'<video controls preload="none" playsinline{poster} '
                     f'src="{_url(e.folder, video)}">{track}</video>')
    return "".join(parts)


def _note(note: str | dict[str, object] | None) -> str:
    """The parent's note (issue 23), folded away: a sentence, or a few labelled facts. Only plain
    values (text, numbers, lists of them) are shown; anything else in it is left out."""
    if not note:
        return ""
    if isinstance(note, str):
        body = f"<p>{html.escape(note)}</p>"
    else:
        rows = []
        for key, value in note.items():
            shown = _plain(value)
            if shown:
                label = str(key).replace("_", " ").capitalize()
                rows.append(f"<dt>{html.escape(label)}</dt><dd>{html.escape(shown)}</dd>")
        if not rows:
            return ""
        body = f"<dl>{''.join(rows)}</dl>"
    return f'<details class="note"><summary>Parent\'s note</summary>{body}</details>'


def _plain(value: object) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int, float)):
        return str(value).strip() or None
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    return None


_CSS = """:root{--bg:#0b1030;--card:#151b45;--ink:#e6e8ff;--soft:#a9aed6;--link:#ffd58a;--chip-on:#ffd58a}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--ink);font:17px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0 auto;max-width:1200px;padding:16px}
header h1{font-size:1.6rem;margin:.2rem 0 0;font-weight:600;letter-spacing:.01em}
.count{color:var(--soft);margin:.1rem 0 1rem}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:18px}
.card{background:var(--card);border-radius:14px;overflow:hidden;border-top:6px solid var(--c);padding-bottom:12px}
.card img{display:block;width:100%;height:auto;aspect-ratio:3/2;background:#10153a}
.card h2{font-size:1.15rem;margin:.7rem 14px .2rem;line-height:1.25}
.card p{margin:.25rem 14px}
.meta{color:var(--soft);font-size:.9rem}
.chip{color:#0b1030;background:var(--c);border-radius:999px;padding:0 .55em;font-weight:600}
.series{font-size:.88rem;color:var(--c)}
.links a{display:inline-block;margin:.35rem .9rem .1rem 0;color:var(--link);font-weight:600;text-decoration:none;padding:.2rem 0}
.links a:hover,.links a:focus{text-decoration:underline}
a{color:var(--link)}
audio,video{display:block;width:calc(100% - 28px);margin:.5rem 14px 0}
video{border-radius:8px;background:#000}
input[name=who]{position:absolute;opacity:0;pointer-events:none}
.who{display:flex;flex-wrap:wrap;gap:8px;margin:.3rem 0 .8rem}
.who label{cursor:pointer;border:2px solid var(--c,#9aa0c8);border-radius:999px;padding:.2rem .8rem;color:var(--ink)}
#who-all:checked ~ nav label[for=who-all]{background:var(--chip-on);color:#0b1030}
.empty{color:var(--soft)}
.note{margin:.4rem 14px 0;font-size:.88rem;color:var(--soft)}
.note summary{cursor:pointer;color:var(--ink)}
.note dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem .8rem;margin:.3rem 0}
.note dt{color:var(--soft)}
.note dd{margin:0;color:var(--ink)}
@media (max-width:480px){body{padding:10px}main{gap:12px}html{font-size:16px}}
@media (prefers-reduced-motion:reduce){*{scroll-behavior:auto}}
"""
