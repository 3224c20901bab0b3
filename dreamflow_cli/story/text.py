"""Story text: the user's words made safe for a prompt, and what the model wrote made into clean
sentences — whole, never cut mid-word, without preambles, afterwords or repeats.

Everything here is a pure function of its inputs, so every branch is unit-testable.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

from dreamflow_cli.errors import UsageError

MAX_PROMPT_CHARS = 300


MAX_NAME_CHARS = 40


MAX_THEME_CHARS = 80


MAX_MORAL_CHARS = 120


MAX_TITLE_CHARS = 60


# Chat-template control sequences of the model families we run (ChatML, Zephyr, Llama 2/3,
# Gemma, Mistral, Phi). User text must never be able to open a turn of its own.
_TEMPLATE_MARKERS = re.compile(
    r"<\|[^<>]{0,40}?\|>"                  # <|im_start|>, <|eot_id|>, <|user|>, …
    r"|<{1,2}/?[A-Za-z_][\w:.|-]{0,40}>{1,2}"  # </s>, <s>, <<SYS>>, <start_of_turn>, <file_sep>, …
    r"|\[/?[A-Z][A-Z_]{1,30}\]",           # [INST], [/INST], [SYSTEM_PROMPT], [TOOL_CALLS], …
)


# Whatever the patterns above miss, no special token can be spelled without these.
_MARKER_CHARS = re.compile(r"[<>]|\|(?=\S*\|)")


_CLOSERS = "\"'”’)]»"


_TERMINALS = ".!?"


_ELLIPSIS = re.compile(r"(?:\.\s*){2,}$|…$")


# A sentence ends at . ! or ?, then any closing quotes/brackets, then space or end. An ellipsis
# ("...") trails off rather than ends, so it is excluded where the match is used.
_SENTENCE_END_AT = re.compile(rf"[{_TERMINALS}…]+[{re.escape(_CLOSERS)}]*(?=\s|$)")


_DANGLING = re.compile(r"(?:\s+(?:and|but|or|so|the|a|an|to|of|with|in|on|at|for|as|her|his|their|its|"
                       r"that|who|which|was|were|is|then))+$", re.IGNORECASE)


_DANGLING_PUNCT = ",;:-–— "


_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "mt.", "vs.", "etc.", "e.g.", "i.e.")


@dataclass(frozen=True)
class Story:
    title: str
    scenes: tuple[str, ...]
    captions: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.scenes)

    def markdown(self) -> str:
        parts = [f"# {self.title}", ""]
        for i, scene in enumerate(self.scenes, 1):
            if len(self.scenes) > 1:
                parts += [f"## Scene {i}", ""]
            parts += [scene, ""]
        return "\n".join(parts)

    def all_text(self) -> str:
        """Everything that ends up on disk or on a picture: what the guard must check."""
        return "\n".join((self.title, self.text, *self.captions))


def neutralize_markers(text: str) -> str:
    """Remove chat-template control sequences, repeatedly: removing one must not join the
    pieces around it into another (``<|im_<|x|>start|>``)."""
    previous = None
    while previous != text:
        previous = text
        text = _TEMPLATE_MARKERS.sub(" ", text)
    return _MARKER_CHARS.sub(" ", text)


def sanitize_text(text: str, *, what: str, limit: int) -> str:
    """Drop control characters and template markers; refuse (never silently cut) over ``limit``."""
    # NFKC first, so fullwidth lookalikes (＜｜im_start｜＞) become the markers they imitate.
    text = unicodedata.normalize("NFKC", text)
    # Format characters (zero-width joiners) vanish so they cannot split a marker; the other
    # control characters (newlines, tabs, escapes) become spaces so words stay apart.
    text = "".join("" if unicodedata.category(ch) == "Cf" else
                   " " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    cleaned = re.sub(r"\s+", " ", neutralize_markers(text)).strip()
    if not cleaned:
        example = 'e.g. dreamflow generate "a sleepy dragon"' if what == "prompt" else f"or leave the {what} out"
        raise UsageError(f"the {what} is empty (after removing control characters and markup)",
                         f"give a {what} in plain words, {example}")
    if len(cleaned) > limit:
        raise UsageError(f"the {what} is {len(cleaned)} characters long; the limit is {limit}",
                         f"shorten the {what} to at most {limit} characters")
    return cleaned


def sanitize_name(name: str) -> str:
    cleaned = sanitize_text(name, what="name", limit=MAX_NAME_CHARS)
    if not re.fullmatch(r"[^\W\d_]+(?:[ '’.-]+[^\W\d_]+)*\.?", cleaned):
        raise UsageError(f"the name {cleaned!r} is not a name", "use letters only, e.g. --name Mia or --name \"Mary-Jane\"")
    return cleaned


def story_subject(prompt: str) -> str:
    """The prompt as the subject of "a bedtime story about …": people often type the request
    itself ("tell me a story about a fox."), which would otherwise be doubled."""
    subject = re.sub(r"^(?:please\s+)?(?:(?:write|tell)(?:\s+me)?\s+)?(?:an?\s+)?(?:bedtime\s+)?"
                     r"(?:story|tale)\s+(?:about|of)\s+", "", prompt.strip(), flags=re.IGNORECASE)
    return subject.strip().rstrip(".!?;:, ") or prompt.strip()


_TITLE_LINE = re.compile(r"^\s*(?:#+\s*)?(?:[*_]+\s*)?(?:story\s+)?title\s*[:\-–]", re.IGNORECASE)


# Assistant chatter around the story ("Sure! Here is a story:", "I hope you enjoyed it!").
_PREAMBLE = re.compile(r"(?:(?:sure|of course|certainly|okay|absolutely)[,!.]?\s*)?(?:here(?:'s| is)|this is)\b"
                       r"[^.:!\n]{0,80}\b(?:story|tale)\b[^.:!\n]{0,60}[.:!]\s*", re.IGNORECASE)


_AFTERWORD = re.compile(r"^(?:i hope|hope you|the end[.!]?$|\(?word count|note:)", re.IGNORECASE)


def _is_preamble(line: str) -> bool:
    return bool(_PREAMBLE.fullmatch(line.strip()))


def clean_body(text: str) -> str:
    """Drop markdown noise, scene labels, template leftovers and assistant chatter."""
    text = neutralize_markers(text)
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        line = re.sub(r"^#+\s*", "", line)
        line = re.sub(r"\*\*|__|(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w)", "", line)
        line = re.sub(r'""|“”', "", line)  # an empty quotation is a slip, and would unbalance the rest
        line = re.sub(r"^(?:scene|paragraph|part|chapter)\s*\d+\s*[:.\-–]\s*", "", line, flags=re.IGNORECASE)
        if re.fullmatch(r"(?:scene|paragraph|part|chapter)\s*\d+\.?|[-*=_~]{3,}", line, re.IGNORECASE):
            line = ""
        if not any(out):
            if _is_preamble(line):
                continue
            line = _PREAMBLE.sub("", line, count=1) if _PREAMBLE.match(line) else line
        elif _TITLE_LINE.match(line):
            break  # a title in the middle of the text: the model is starting over
        out.append(line)
    while out and (not out[-1] or _AFTERWORD.match(out[-1])):
        out.pop()
    body = "\n".join(out)
    return re.sub(r"\n\s*\n\s*(?:\n\s*)+", "\n\n", body).strip()


def _quote_open(text: str) -> str | None:
    """The opening double quote left unclosed at the end of ``text``, if any."""
    opener: str | None = None
    for ch in text:
        if ch == '"':
            opener = None if opener else '"'
        elif ch == "“":
            opener = "“"
        elif ch == "”":
            opener = None
    return opener


def _sentence_end_positions(text: str) -> list[int]:
    ends = []
    for match in _SENTENCE_END_AT.finditer(text):
        marks = match.group(0).rstrip(_CLOSERS)
        if ".." in marks or "…" in marks:
            continue
        words = text[: match.start() + 1].split()
        if words and words[-1].lower().lstrip(_CLOSERS + "(") in _ABBREVIATIONS:
            continue
        ends.append(match.end())
    return ends


def is_complete(text: str) -> bool:
    """Ends on a full sentence: . ! or ? (not an ellipsis), closing quotes after it, no quote left open."""
    text = text.rstrip()
    ends = _sentence_end_positions(text)
    return bool(ends) and ends[-1] == len(text) and _quote_open(text) is None


def trim_to_sentence(text: str) -> str:
    """Cut a story that ran out of budget back to its last complete sentence. A quotation left
    open is closed when it holds a finished sentence, and cut away when it does not."""
    text = text.strip()
    if not text or is_complete(text):
        return text
    for end in reversed(_sentence_end_positions(text)):
        head = text[:end].rstrip()
        opener = _quote_open(head)
        if opener is None:
            return head
        return head + ("”" if opener == "“" else '"')
    # Not one full sentence: end the fragment cleanly rather than lose the whole story.
    fragment = _ELLIPSIS.sub("", text)
    opener = _quote_open(fragment)
    if opener is not None:
        fragment = fragment[: fragment.rfind(opener)] or fragment.replace(opener, "")
    fragment = _DANGLING.sub("", fragment.rstrip(_DANGLING_PUNCT)).rstrip(_DANGLING_PUNCT)
    return fragment + "." if fragment else ""


def paragraphs(text: str) -> list[str]:
    paras = [re.sub(r"\s*\n\s*", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return [p for p in paras if p]


def sentences(text: str) -> list[str]:
    """Split at sentence ends (closing quotes stay with their sentence); never at an ellipsis or
    after a common abbreviation."""
    text = text.strip()
    if not text:
        return []
    parts, start = [], 0
    for end in _sentence_end_positions(text):
        piece = text[start:end].strip()
        if piece:
            parts.append(piece)
        start = end
    rest = text[start:].strip()
    if rest:
        parts.append(rest)
    return parts


def _fingerprint(sentence: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", sentence.casefold()))


def _near_duplicate(a: str, b: str) -> bool:
    # Long sentences that differ in a word or two ("…into a pink dreamscape" / "…into a vibrant
    # rainbow") are the loop small models fall into; short ones repeat legitimately less often.
    if min(len(a.split()), len(b.split())) < 6:
        return False
    return SequenceMatcher(None, a.split(), b.split()).ratio() >= 0.8


def remove_repeats(text: str) -> tuple[str, int]:
    """Drop every sentence that repeats (or nearly repeats) an earlier one, and paragraphs left
    empty. Returns the text and how many sentences went."""
    seen: list[str] = []
    kept_paras: list[str] = []
    removed = 0
    for para in paragraphs(text):
        kept = []
        for sentence in sentences(para):
            mark = _fingerprint(sentence)
            if not mark:
                continue
            if mark in seen or any(_near_duplicate(mark, s) for s in seen):
                removed += 1
                continue
            seen.append(mark)
            kept.append(sentence)
        if kept:
            para_text = " ".join(kept)
            # A repeat cut from inside a quotation must not leave it open (the rest of the story
            # would read as speech): the paragraph closes it.
            kept_paras.append(trim_to_sentence(para_text) if _quote_open(para_text) else para_text)
    return "\n\n".join(kept_paras), removed


def repeated_ratio(text: str) -> float:
    """Share of sentences that repeat an earlier one: the bench's measure of looping."""
    prints = [_fingerprint(s) for p in paragraphs(text) for s in sentences(p)]
    prints = [p for p in prints if p]
    if not prints:
        return 0.0
    seen: list[str] = []
    repeats = 0
    for p in prints:
        if p in seen or any(_near_duplicate(p, s) for s in seen):
            repeats += 1
        else:
            seen.append(p)
    return repeats / len(prints)
