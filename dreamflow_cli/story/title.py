"""The story's title: the model's own when it gave a whole one, else one made from the prompt;
always whole words, at most eight, never ending on a word that needs more after it.
"""

from __future__ import annotations

import re

from dreamflow_cli.story.text import (MAX_TITLE_CHARS, _is_preamble, neutralize_markers, story_subject,
                                      _TITLE_LINE)

_SMALL_WORDS = {"a", "an", "the", "of", "and", "or", "to", "in", "on", "at", "for", "with", "from", "by"}


def title_case(text: str) -> str:
    words = text.split()
    return " ".join(w if (i and w.lower() in _SMALL_WORDS) else w[:1].upper() + w[1:] for i, w in enumerate(words))


MAX_TITLE_WORDS = 8


# A title never ends on one of these: it would read as cut off ("… Afraid of the").
TITLE_DANGLING = frozenset("""
a an the of to in on at for with from by into onto over under through about near inside outside
around across behind beside between without toward towards up down off and or but nor so yet as
than is are was were be been being am has have had do does did will would can could shall should
may might must who whom that which whose where when while his her their its my your our this these
those very too not
""".split())


# Where a prompt stops naming its subject and starts describing it ("a boat *that* is afraid").
_INCOMPLETE_VERBS = frozenset("come go get find see look be make take put give turn bring keep let".split())


_DESCRIBING = frozenset("who that which where whose when while".split())


def trim_title(title: str) -> str:
    """The title without the dangling words at its end."""
    words = title.split()
    while words and words[-1].lower().strip(",;:") in TITLE_DANGLING:
        words.pop()
    return " ".join(words).rstrip(",;:-–— ")


def is_whole_title(title: str) -> bool:
    """At most eight words, and not ending on an article, preposition, conjunction or auxiliary."""
    words = title.split()
    return 0 < len(words) <= MAX_TITLE_WORDS and words[-1].lower().strip(",;:") not in TITLE_DANGLING


def title_from_prompt(prompt: str) -> str:
    """A whole title for the story's subject: the prompt itself when it is short; else the thing
    it is about ("a little boat that is afraid of the dark at night" → "The Little Boat"); never a
    prompt cut mid-phrase."""
    words = clean_title(story_subject(prompt)).split()
    if not words:
        return "A Bedtime Story"
    if len(words) <= MAX_TITLE_WORDS and is_whole_title(" ".join(words)):
        return title_case(" ".join(words))
    if words[0].lower() in ("a", "an") and len(words) > 1:
        words = ["The", *words[1:]]  # a cut title names one particular hero
    cut = next((i for i, w in enumerate(words) if i and w.lower() in _DESCRIBING), None)
    if cut is not None and cut <= MAX_TITLE_WORDS:
        head = trim_title(" ".join(words[:cut]))
        if len([w for w in head.split() if w.lower() not in TITLE_DANGLING]) >= 2:  # "The Little Boat"
            return title_case(head)
    cut_words = trim_title(" ".join(words[:MAX_TITLE_WORDS])).split()
    # "… Too Shy to Come" (out): a verb that needs the words that were cut away.
    while len(cut_words) > 2 and cut_words[-2].lower() == "to" and cut_words[-1].lower() in _INCOMPLETE_VERBS:
        cut_words = trim_title(" ".join(cut_words[:-2])).split()
    return title_case(" ".join(cut_words)) or "A Bedtime Story"


def clean_title(line: str) -> str:
    """The title without its label, markdown, quotes, trailing punctuation or stray markers."""
    title = neutralize_markers(line)
    title = re.sub(r"^\s*(?:#+\s*)?(?:[*_]+\s*)?(?:story\s+)?title\s*[:\-–]\s*", "", title, flags=re.IGNORECASE)
    title = re.sub(r"[*_`#\"“”«»]+", "", title)  # markdown and double quotes anywhere; apostrophes stay
    title = re.sub(r"\s+", " ", title).strip()
    title = title.strip("\"'“”‘’«» ").rstrip(".,;:-–— ").strip("\"'“”‘’«» ").strip()
    if len(title) > MAX_TITLE_CHARS:
        title = trim_title(title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:-–— "))
    return title


# A "title" that repeats the request ("A Bedtime Story for a 5-Year-Old") names no story.
_TITLE_ECHO = re.compile(r"\bstory for\b|\byear[- ]old|\bbedtime story\b|\bshort story\b", re.IGNORECASE)


def split_title(text: str, prompt: str) -> tuple[str, str, str]:
    """(title, body, source): a 'Title:' line or a markdown heading among the first lines is the
    title ("model"); otherwise one is made from the prompt ("prompt")."""
    lines = text.strip().splitlines()
    for i, line in enumerate(lines[:3]):
        stripped = line.strip()
        if not stripped:
            continue
        if _TITLE_LINE.match(stripped) or stripped.startswith("#") or re.fullmatch(r"\*\*[^*]{2,80}\*\*", stripped):
            title = trim_title(clean_title(stripped))
            body = "\n".join(lines[:i] + lines[i + 1:]).strip()
            if title and is_whole_title(title) and not _TITLE_ECHO.search(title):
                return title, body, "model"
            return title_from_prompt(prompt), body, "prompt"  # a sentence or our own words, not a title
        if i == 0 and not _is_preamble(stripped):
            break
    return title_from_prompt(prompt), text.strip(), "prompt"
