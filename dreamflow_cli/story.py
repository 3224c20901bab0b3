"""Story text: the prompt we send, and turning what the model wrote into a titled, scened story.

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


# --- the user's text -------------------------------------------------------------------------

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


# --- the prompt ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgeBand:
    name: str
    listener: str
    style: str
    max_words: int  # the most words a story for this age should have, however big the budget


AGE_BANDS = {
    "0-4": AgeBand("0-4", "a toddler", "Use very short sentences of five to eight words and only simple, "
                   "familiar words a toddler knows.", 120),
    "5-8": AgeBand("5-8", "a young child", "Use short, clear sentences and simple words.", 220),
    "9-12": AgeBand("9-12", "an older child", "Use gentle, vivid language and varied sentences "
                    "for a reader of nine to twelve.", 320),
}


def age_band(age: int | None) -> AgeBand:
    if age is not None and age <= 4:
        return AGE_BANDS["0-4"]
    if age is not None and age >= 9:
        return AGE_BANDS["9-12"]
    return AGE_BANDS["5-8"]


SYSTEM_PROMPT = (
    "You write calm, warm bedtime stories for young children. "
    "Stories are gentle and cosy: soft sounds, warm light, kind friends. "
    "Never include violence, danger, fear, sadness or harsh words. "
    "The story slowly winds down and ends with the hero falling peacefully asleep."
)

# SmolLM2 writes about 1.3 tokens a word, and small models overshoot the length they are asked
# for; without the slack the budget runs out long before the sleepy ending.
TOKENS_PER_WORD = 1.3
LENGTH_SLACK = 0.6
MIN_WORDS = 25


def word_target(max_tokens: int, age: int | None = None) -> int:
    """Words to ask for: what fits the token budget with room to spare, capped by the age band."""
    fits = int(max_tokens / TOKENS_PER_WORD * LENGTH_SLACK)
    return max(MIN_WORDS, min(age_band(age).max_words, fits))


def paragraph_count(words: int, scenes: int) -> int:
    # One paragraph per scene gives the splitter natural cut points; tiny stories get fewer.
    return max(1, min(scenes, words // 20 or 1))


def build_prompt(
    prompt: str,
    *,
    name: str | None,
    age: int | None,
    max_tokens: int,
    theme: str | None = None,
    moral: str | None = None,
    scenes: int = 3,
) -> tuple[str, str]:
    """Return (system, user) messages for the model's chat template."""
    band = age_band(age)
    words = word_target(max_tokens, age)
    paras = paragraph_count(words, scenes)
    listener = f"a {age}-year-old" if age else band.listener
    subject = story_subject(prompt)
    lines = [f"Write a bedtime story for {listener} about {subject}."]
    if name:
        lines.append(f"The main character is a child called {name}.")
    if theme:
        lines.append(f"The story takes place here: {theme}.")
    if moral:
        lines.append(f"Gently show this lesson without preaching: {moral}.")
    lines.append(band.style)
    shape = "one short paragraph" if paras == 1 else f"{paras} short paragraphs"
    lines.append(f"Write {shape}, about {words} words in all. End with {name or 'everyone'} falling asleep.")
    return SYSTEM_PROMPT, " ".join(lines)


# Small models drift away from the child they were told about, and title lines derail them;
# starting the answer for them keeps the child at the centre from the first word. Picked by
# seed, so a seed still means one story.
_OPENINGS = ("Once upon a time, {name}", "One quiet evening, {name}", "One starry night, {name}",
             "In a cosy little house, {name}", "As the sun went down, {name}")
_OPENINGS_NAMELESS = ("Once upon a time,", "One quiet evening,", "One starry night,",
                      "In a cosy little house,", "As the sun went down,")
# The cue for a story that ran out of budget (or never got sleepy): the model finishes it, and
# the cue points it towards bed.
_CLOSINGS = ("Soon, {name}'s eyes grew heavy", "At last, {name} snuggled into bed",
             "Before long, {name} gave a big, sleepy yawn")
_CLOSINGS_NAMELESS = ("Soon, everyone's eyes grew heavy", "At last, it was time for bed",
                      "Before long, everyone gave a big, sleepy yawn")
MAX_ENDING_SENTENCES = 3


def subject_sentence(prompt: str) -> str:
    """A first sentence that names what the story is about: the start of a base model's page, and
    of a chat model's draft after one that wandered off subject. The on-subject check does not
    count it: the model has to keep to the subject itself."""
    subject = story_subject(prompt)
    return f"Once upon a time, there was {subject[:1].lower() + subject[1:]}."


def base_model_opening(prompt: str, *, name: str | None, theme: str | None, seed: int) -> tuple[str, str]:
    """(title, opening) for a template-less (base) model, which continues text instead of
    following instructions: sent instructions, it writes more instructions. So it is given what
    a picture book's first page looks like — the title, the hero, a first calm sentence — and
    continues the story. The opening (not the title) becomes the story's first lines."""
    title = title_from_prompt(prompt)
    lines = [subject_sentence(prompt)]
    if theme:
        lines.append(f"It all happened in {theme[:1].lower() + theme[1:]}.")
    # Not the "Once upon a time" opening twice.
    lines.append(story_opening(name, seed % (len(_OPENINGS) - 1) + 1))
    return title, " ".join(lines)


def story_opening(name: str | None, seed: int) -> str:
    choices = _OPENINGS if name else _OPENINGS_NAMELESS
    return choices[seed % len(choices)].format(name=name)


def closing_cue(name: str | None, seed: int) -> str:
    choices = _CLOSINGS if name else _CLOSINGS_NAMELESS
    return choices[seed % len(choices)].format(name=name)


_SLEEPY = re.compile(r"\b(?:asleep|sleep\w*|slept|dream\w*|good ?night|bed ?time|snooz\w*|slumber\w*|"
                     r"(?:closed?|closing|shut) (?:her|his|their|its|my) eyes|eyes (?:grew|were|felt) heavy|"
                     r"yawn\w*|tucked|snuggl\w*|into bed|drift\w* off)\b", re.IGNORECASE)


def ends_sleepily(text: str) -> bool:
    """Whether the last two sentences wind down to sleep."""
    return bool(_SLEEPY.search(" ".join(sentences(text)[-2:])))


def ending_from(continuation: str) -> str:
    """The closing passage: complete sentences up to the first sleepy one, three at most, so the
    model's habit of starting a new day ("The next morning…") is cut off."""
    kept: list[str] = []
    for sentence in sentences(trim_to_sentence(clean_body(continuation).replace("\n", " "))):
        kept.append(sentence)
        if _SLEEPY.search(sentence) or len(kept) == MAX_ENDING_SENTENCES:
            break
    return trim_to_sentence(" ".join(kept))


# --- the title -------------------------------------------------------------------------------

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
_TITLE_LINE = re.compile(r"^\s*(?:#+\s*)?(?:[*_]+\s*)?(?:story\s+)?title\s*[:\-–]", re.IGNORECASE)


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


# --- the body --------------------------------------------------------------------------------

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
            kept_paras.append(" ".join(kept))
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


# --- scenes ----------------------------------------------------------------------------------

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


# --- putting it together ---------------------------------------------------------------------

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
