"""From a clean draft to a ``Story``: the title split off, the body trimmed and cleaned, and the
text cut in order into the scenes asked for (at paragraph, sentence or clause boundaries), each
with its picture caption.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from dreamflow_cli.story.text import (Story, _quote_open, clean_body, paragraphs, remove_repeats, repeated_ratio,
                                      sentences, trim_to_sentence)
from dreamflow_cli.story.title import split_title

def _clauses(sentence: str) -> list[str]:
    """A long sentence cut at commas/semicolons into parts of at least four words each."""
    pieces = re.split(r"(?<=[,;:])\s+", sentence)
    parts: list[str] = []
    for piece in pieces:
        if parts and (len(parts[-1].split()) < 4 or len(piece.split()) < 4):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


def _balanced_cuts(sizes: list[int], count: int) -> list[int]:
    """Indices that cut ``sizes`` into ``count`` contiguous, non-empty runs of similar weight."""
    total = sum(sizes)
    cumulative = [0]
    for size in sizes:
        cumulative.append(cumulative[-1] + size)
    cuts = [0]
    for k in range(1, count):
        target = total * k / count
        options = range(cuts[-1] + 1, len(sizes) - (count - k) + 1)
        cuts.append(min(options, key=lambda c: abs(cumulative[c] - target)))
    return cuts + [len(sizes)]


def split_scenes(text: str, count: int) -> list[str]:
    """Split into ``count`` contiguous parts, in order, of similar length.

    Cuts fall between paragraphs when there are enough of them and the parts come out even;
    else between sentences (a paragraph break stays a paragraph break inside a scene); else, for
    a very short story, between clauses of a sentence. Only a story with fewer clauses than
    ``count`` yields fewer scenes; story.json records both numbers."""
    count = max(1, count)
    paras = paragraphs(text)
    if not paras:
        return []
    if len(paras) >= count:
        by_paragraph = _join_runs(paras, ["\n\n"] * len(paras), count)
        if _unevenness(by_paragraph) <= MAX_SCENE_UNEVENNESS:
            return by_paragraph
    units, joiners = [], []
    for para in paras:
        for i, sentence in enumerate(sentences(para)):
            units.append(sentence)
            joiners.append("\n\n" if i == 0 else " ")
    if len(units) < count:
        units, joiners = _split_clauses(units, joiners, count)
    by_sentence = _join_runs(units, joiners, min(count, len(units)))
    if len(paras) >= count and _unevenness(by_paragraph) <= _unevenness(by_sentence):
        return by_paragraph
    return by_sentence


# A picture per scene should follow the story evenly; one scene holding most of the text
# (a model that writes one long paragraph and two short ones) would leave the rest unillustrated.
MAX_SCENE_UNEVENNESS = 1.6


def _unevenness(parts: list[str]) -> float:
    """Longest part over the average part, in characters (1.0 = perfectly even)."""
    sizes = [len(p) for p in parts]
    return max(sizes) * len(sizes) / sum(sizes) if sum(sizes) else 1.0


def _join_runs(units: list[str], joiners: list[str], count: int) -> list[str]:
    cuts = _balanced_cuts([len(u) for u in units], count)
    runs = []
    for a, b in zip(cuts, cuts[1:]):
        run = units[a]
        for unit, joiner in zip(units[a + 1:b], joiners[a + 1:b]):
            run += joiner + unit
        runs.append(run)
    return runs


def _split_clauses(units: list[str], joiners: list[str], count: int) -> tuple[list[str], list[str]]:
    # Split the longest sentences first, only as far as needed to reach ``count`` parts.
    units, joiners = list(units), list(joiners)
    while len(units) < count:
        order = sorted(range(len(units)), key=lambda i: -len(units[i]))
        for i in order:
            parts = _clauses(units[i])
            if len(parts) > 1:
                need = count - len(units) + 1
                if len(parts) > need:
                    parts = parts[: need - 1] + [" ".join(parts[need - 1:])]
                units[i:i + 1] = parts
                joiners[i:i + 1] = [joiners[i]] + [" "] * (len(parts) - 1)
                break
        else:
            break
    return units, joiners


def caption_for(scene: str, limit: int = 70) -> str:
    """A short caption for the scene's picture: its first sentence, shortened at a word."""
    first = sentences(scene)[0] if scene.strip() else ""
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0].rstrip(",;:-–— ") + "…"
    opener = _quote_open(first)
    if opener is not None:  # the sentence, or the cut, left a quotation open
        first += "”" if opener == "“" else '"'
    return first


def slugify(text: str, limit: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "story"


@dataclass(frozen=True)
class TextReport:
    """What the clean-up did to the model's text (recorded in story.json, used by the bench)."""

    title_source: str  # "model" (a title line it wrote), "prompt", or "opening" (a base model's page)
    repeats_removed: int  # sentences dropped as repeats
    repeated_ratio: float  # share of repeated sentences in the model's text before that


def draft(text: str) -> str:
    """The model's text as far as it is usable: no chatter or markup, ending on a full sentence."""
    return trim_to_sentence(clean_body(text))


def assemble(generated: str, prompt: str, scenes: int, title: str | None = None) -> tuple[Story, TextReport]:
    """Title, clean body without repeats, scenes and captions. A story with no words at all
    comes back with no scenes; the caller decides what that means. ``title``: the one the story
    was opened with (a base model's), used as it is."""
    if title:
        body, source = generated, "opening"
    else:
        title, body, source = split_title(generated, prompt)
    body = draft(body)
    ratio = repeated_ratio(body)
    body, removed = remove_repeats(body)
    parts = split_scenes(body, scenes)
    story = Story(title=title, scenes=tuple(parts), captions=tuple(caption_for(p) for p in parts))
    return story, TextReport(source, removed, round(ratio, 3))
