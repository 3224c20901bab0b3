"""book.epub: the same picture book for e-readers, written with zipfile and xml.etree.

Why by hand: the EPUB library on PyPI (ebooklib) is AGPL, and the format is a zip of a few small XML
files. EPUB 3 with an EPUB 2 table of contents for older readers: ``mimetype`` stored first and
uncompressed, ``META-INF/container.xml``, a package document, a navigation document, one XHTML page
per scene (picture, then text) plus a cover and a closing page with the credits. Every XML part is
built with xml.etree, so escaping is never done by hand; :func:`check` re-reads the archive the way
a reading system does, and epubcheck (the W3C's validator) accepts the output (tests/test_book.py).
"""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from dreamflow_cli.output.book.pdf import age_band, credits_lines

XHTML, OPF, DC, CONTAINER, EPUB_NS, NCX = (
    "http://www.w3.org/1999/xhtml", "http://www.idpf.org/2007/opf", "http://purl.org/dc/elements/1.1/",
    "urn:oasis:names:tc:opendocument:xmlns:container", "http://www.idpf.org/2007/ops",
    "http://www.daisy.org/z3986/2005/ncx/")
_CSS = """body{font-family:sans-serif;line-height:1.5;margin:0 5%}
h1{text-align:center;margin-top:1em}
p.for{text-align:center;font-style:italic}
img{display:block;width:100%;height:auto;border-radius:10px;margin:1em 0}
p.credits{font-size:.8em;text-align:center}
.end{text-align:center;font-size:2em;margin-top:30%}
"""
EPUB_SIZES = {"4": "1.6em", "8": "1.3em", "12": "1.1em"}  # the PDF's age bands, relative to the reader's size
_FIXED = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class _Parts:
    """The files of the book's OEBPS folder, in reading order where it matters."""
    files: list[tuple[str, str, bytes, str | None]] = field(default_factory=list)  # href, media, data, properties
    spine: list[tuple[str, str]] = field(default_factory=list)  # href, label

    def add(self, href: str, media: str, data: bytes, properties: str | None = None) -> None:
        self.files.append((href, media, data, properties))

    def page(self, href: str, label: str, data: bytes) -> None:
        self.add(href, "application/xhtml+xml", data)
        self.spine.append((href, label))


def make_epub(title: str, scenes: Sequence[str], pictures: Sequence[bytes | None], *, name: str | None = None,
              age: int | None = None, cover: bytes | None = None, art_credit: str | None = None,
              identifier: str | None = None, modified: datetime | None = None) -> bytes:
    """The EPUB as bytes. ``identifier`` should be stable per story so the book keeps its identity
    in a reader's library; ``modified`` defaults to a fixed date (same story, same bytes)."""
    ident = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, identifier or title)}"
    parts = _Parts()
    cover_png = cover if cover is not None else next((p for p in pictures if p), None)
    _cover_page(parts, title, name, cover_png)
    size = EPUB_SIZES[age_band(age)]
    for i, scene in enumerate(scenes, 1):
        body = []
        png = pictures[i - 1] if i - 1 < len(pictures) else None
        if png:
            parts.add(f"scene-{i}.png", "image/png", png)
            body.append(_el("img", src=f"scene-{i}.png", alt=f"Picture for part {i}"))
        for para in [p.strip() for p in scene.split("\n\n") if p.strip()] or [""]:
            body.append(_el("p", " ".join(para.split())))
        parts.page(f"scene-{i}.xhtml", f"Part {i}", _page(f"{title} — {i}", body, size))
    ends = [_el("p", "The End", class_="end")]
    ends += [_el("p", line, class_="credits") for line in credits_lines(art_credit, fonts=False)]
    parts.page("end.xhtml", "The End", _page("The End", ends))
    parts.add("style.css", "text/css", _CSS.encode())
    parts.add("nav.xhtml", "application/xhtml+xml", _nav(parts.spine), "nav")
    parts.add("toc.ncx", "application/x-dtbncx+xml", _ncx(parts.spine, title, ident))
    stamp = (modified or _FIXED).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    package = _package(parts, title, ident, stamp, art_credit=bool(art_credit), cover=cover_png is not None)
    return _zip(package, parts)


def _cover_page(parts: _Parts, title: str, name: str | None, cover: bytes | None) -> None:
    body = [_el("h1", title)]
    if name:
        body.append(_el("p", f"a story for {name}", class_="for"))
    if cover:
        parts.add("cover.png", "image/png", cover, "cover-image")
        body.append(_el("img", src="cover.png", alt=f"Cover picture of {title}"))
    parts.page("cover.xhtml", title, _page(title, body))


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _page(title: str, body: list[ET.Element], size: str | None = None) -> bytes:
    ET.register_namespace("", XHTML)
    ET.register_namespace("epub", EPUB_NS)
    html = ET.Element(f"{{{XHTML}}}html", {"lang": "en", "xml:lang": "en"})
    head = ET.SubElement(html, f"{{{XHTML}}}head")
    ET.SubElement(head, f"{{{XHTML}}}title").text = title
    ET.SubElement(head, f"{{{XHTML}}}link", {"rel": "stylesheet", "type": "text/css", "href": "style.css"})
    attrs = {"style": f"font-size:{size}"} if size else {}
    ET.SubElement(html, f"{{{XHTML}}}body", attrs).extend(body)
    return b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n' + ET.tostring(html, encoding="utf-8")


def _el(tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.Element(f"{{{XHTML}}}{tag}", {k.rstrip("_"): v for k, v in attrs.items()})
    e.text = text
    return e


def _nav(spine: list[tuple[str, str]]) -> bytes:
    """The EPUB 3 navigation document."""
    ol = _el("ol")
    for href, label in spine:
        ET.SubElement(ol, f"{{{XHTML}}}li").append(_el("a", label, href=href))
    nav = ET.Element(f"{{{XHTML}}}nav", {f"{{{EPUB_NS}}}type": "toc", "id": "toc"})
    nav.append(_el("h1", "Contents"))
    nav.append(ol)
    return _page("Contents", [nav])


def _ncx(spine: list[tuple[str, str]], title: str, ident: str) -> bytes:
    """The EPUB 2 table of contents, for older readers."""
    ET.register_namespace("", NCX)
    ncx = ET.Element(f"{{{NCX}}}ncx", {"version": "2005-1"})
    ET.SubElement(ET.SubElement(ncx, f"{{{NCX}}}head"), f"{{{NCX}}}meta", {"name": "dtb:uid", "content": ident})
    ET.SubElement(ET.SubElement(ncx, f"{{{NCX}}}docTitle"), f"{{{NCX}}}text").text = title
    navmap = ET.SubElement(ncx, f"{{{NCX}}}navMap")
    for n, (href, label) in enumerate(spine, 1):
        point = ET.SubElement(navmap, f"{{{NCX}}}navPoint", {"id": f"p{n}", "playOrder": str(n)})
        ET.SubElement(ET.SubElement(point, f"{{{NCX}}}navLabel"), f"{{{NCX}}}text").text = label
        ET.SubElement(point, f"{{{NCX}}}content", {"src": href})
    return _xml(ncx)


def _package(parts: _Parts, title: str, ident: str, stamp: str, *, art_credit: bool, cover: bool) -> bytes:
    """The package document: metadata, the manifest of every file, the reading order."""
    ET.register_namespace("", OPF)
    ET.register_namespace("dc", DC)
    package = ET.Element(f"{{{OPF}}}package", {"version": "3.0", "unique-identifier": "id", "xml:lang": "en"})
    meta = ET.SubElement(package, f"{{{OPF}}}metadata")
    ET.SubElement(meta, f"{{{DC}}}identifier", {"id": "id"}).text = ident
    ET.SubElement(meta, f"{{{DC}}}title").text = title
    ET.SubElement(meta, f"{{{DC}}}language").text = "en"
    ET.SubElement(meta, f"{{{DC}}}creator").text = "dreamflow"
    if art_credit:
        ET.SubElement(meta, f"{{{DC}}}rights").text = "Illustrations: OpenMoji, CC BY-SA 4.0"
    ET.SubElement(meta, f"{{{OPF}}}meta", {"property": "dcterms:modified"}).text = stamp
    if cover:
        ET.SubElement(meta, f"{{{OPF}}}meta", {"name": "cover", "content": "cover-png"})
    manifest = ET.SubElement(package, f"{{{OPF}}}manifest")
    for href, media, _, props in parts.files:
        attrs = {"id": _id(href), "href": href, "media-type": media}
        if props:
            attrs["properties"] = props
        ET.SubElement(manifest, f"{{{OPF}}}item", attrs)
    spine = ET.SubElement(package, f"{{{OPF}}}spine", {"toc": _id("toc.ncx")})
    for href, _ in parts.spine:
        ET.SubElement(spine, f"{{{OPF}}}itemref", {"idref": _id(href)})
    return _xml(package)


def _id(href: str) -> str:
    return href.replace(".", "-")


def _zip(package: bytes, parts: _Parts) -> bytes:
    ET.register_namespace("", CONTAINER)
    container = ET.Element(f"{{{CONTAINER}}}container", {"version": "1.0"})
    ET.SubElement(ET.SubElement(container, f"{{{CONTAINER}}}rootfiles"), f"{{{CONTAINER}}}rootfile",
                  {"full-path": "OEBPS/content.opf", "media-type": "application/oebps-package+xml"})
    buf = io.BytesIO()
    fixed = (2026, 1, 1, 0, 0, 0)  # zip timestamps fixed too: same story, same bytes
    entries = [("META-INF/container.xml", _xml(container)), ("OEBPS/content.opf", package)]
    entries += [(f"OEBPS/{href}", data) for href, _, data, _ in parts.files]
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype", fixed), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, fixed), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def check(data: bytes) -> list[str]:
    """Problems a reading system would trip over; [] when the EPUB is sound."""
    z = zipfile.ZipFile(io.BytesIO(data))
    problems: list[str] = []
    first = z.infolist()[0]
    if first.filename != "mimetype" or first.compress_type != zipfile.ZIP_STORED \
            or z.read("mimetype") != b"application/epub+zip":
        problems.append("mimetype must be the first entry, stored, 'application/epub+zip'")
    names = set(z.namelist())
    broken = []
    for n in sorted(names):
        if n.endswith((".xml", ".opf", ".xhtml", ".ncx")):
            try:
                ET.fromstring(z.read(n))
            except ET.ParseError as exc:
                broken.append(f"{n}: not well-formed XML ({exc})")
    if broken:  # the checks below read these files
        return problems + broken
    rootfile = ET.fromstring(z.read("META-INF/container.xml")).find(f".//{{{CONTAINER}}}rootfile")
    opf_path = rootfile.get("full-path", "") if rootfile is not None else ""
    if opf_path not in names:
        return problems + ["container.xml names no package document in the archive"]
    return problems + _check_package(z, names, opf_path)


def _check_package(z: zipfile.ZipFile, names: set[str], opf_path: str) -> list[str]:
    problems: list[str] = []
    opf = ET.fromstring(z.read(opf_path))
    base = opf_path.rsplit("/", 1)[0] + "/"
    items = {i.get("id"): i for i in opf.iter(f"{{{OPF}}}item")}
    hrefs = {base + (i.get("href") or "") for i in items.values()}
    problems += [f"manifest item missing from the archive: {h[len(base):]}" for h in sorted(hrefs - names)]
    if not any("nav" in (i.get("properties") or "").split() for i in items.values()):
        problems.append("no navigation document")
    problems += [f"spine refers to an unknown item {ref.get('idref')}"
                 for ref in opf.iter(f"{{{OPF}}}itemref") if ref.get("idref") not in items]
    problems += [f"file not in the manifest: {n}"
                 for n in sorted(names - hrefs - {"mimetype", "META-INF/container.xml", opf_path})]
    for item in items.values():  # every picture a page shows is in the archive
        if item.get("media-type") == "application/xhtml+xml" and base + (item.get("href") or "") in names:
            page = ET.fromstring(z.read(base + (item.get("href") or "")))
            problems += [f"{item.get('href')}: picture {img.get('src')} is missing"
                         for img in page.iter(f"{{{XHTML}}}img") if base + (img.get("src") or "") not in names]
    return problems
