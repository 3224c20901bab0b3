"""Story text: the prompt we send, and turning what the model wrote into a titled, scened story.

Everything here is a pure function of its inputs, so every branch is unit-testable.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from dreamflow_cli.errors import UsageError

MAX_PROMPT_CHARS = 300
MAX_NAME_CHARS = 40

# Chat-template control sequences of the model families we run (ChatML, Zephyr, Llama 2/3,
# Gemma, Mistral). User text must never be able to open a turn of its own.
_TEMPLATE_MARKERS = re.compile(
    r"<\|[^|>]{0,30}\|>|</?s>|\[/?INST\]|<</?SYS>>|<start_of_turn>|<end_of_turn>|<bos>|<eos>",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"""[.!?…]["'”’)\]]*$""")
_SENTENCE_SPLIT = re.compile(r"""(?<=[.!?…])["'”’)\]]*\s+""")


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


def sanitize_text(text: str, *, what: str, limit: int) -> str:
    """Drop control characters and template markers; refuse (never silently cut) over ``limit``."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    cleaned = _TEMPLATE_MARKERS.sub(" ", cleaned)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    if not cleaned:
        raise UsageError(f"the {what} is empty", f"give a {what}, e.g. dreamflow generate \"a sleepy dragon\"")
    if len(cleaned) > limit:
        raise UsageError(f"the {what} is {len(cleaned)} characters long; the limit is {limit}",
                         f"shorten the {what}")
    return cleaned


def age_band(age: int | None) -> str:
    if age is None:
        return "5-8"
    if age <= 4:
        return "0-4"
    if age <= 8:
        return "5-8"
    return "9-12"


_BAND_STYLE = {
    "0-4": "Use very short sentences and simple, familiar words a toddler knows.",
    "5-8": "Use short, clear sentences and simple words.",
    "9-12": "Use gentle, vivid language suitable for a 9 to 12 year old.",
}

SYSTEM_PROMPT = (
    "You write calm, warm bedtime stories for young children. "
    "Stories are gentle and cosy: soft sounds, warm light, kind friends. "
    "Never include violence, danger, fear, sadness or harsh words. "
    "The story slowly winds down and ends with the hero falling peacefully asleep."
)


def word_target(max_tokens: int) -> int:
    # About 0.75 words a token, less a margin for the title, so the story ends before the budget.
    return max(40, int(max_tokens * 0.6))


def build_prompt(prompt: str, *, name: str | None, age: int | None, max_tokens: int) -> tuple[str, str]:
    """Return (system, user) messages for the model's chat template."""
    hero = f"The hero is a child named {name}. " if name else ""
    band = age_band(age)
    listener = f"The listener is {age} years old. " if age else ""
    user = (
        f"Write a bedtime story about {prompt}. {hero}{listener}{_BAND_STYLE[band]} "
        f"Write about {word_target(max_tokens)} words in a few short paragraphs. "
        f"Start with a line 'Title: ' and a short title."
    )
    return SYSTEM_PROMPT, user


def title_from_prompt(prompt: str) -> str:
    words = prompt.strip().rstrip(".!?").split()[:8]
    small = {"a", "an", "the", "of", "and", "who", "to", "in", "on", "at", "for", "with"}
    titled = [w if (i and w.lower() in small) else w[:1].upper() + w[1:] for i, w in enumerate(words)]
    return " ".join(titled) or "A Bedtime Story"


def clean_title(line: str) -> str:
    title = re.sub(r"^\s*(#+\s*)?(\*\*)?\s*title\s*:\s*", "", line, flags=re.IGNORECASE)
    title = title.strip().strip("*#_\"'“”‘’` ").strip()
    return title[:80]


def split_title(text: str, prompt: str) -> tuple[str, str]:
    """Take a 'Title:' (or markdown heading) first line as the title; else derive one from the prompt."""
    lines = text.strip().splitlines()
    if lines:
        first = lines[0].strip()
        if re.match(r"^(#+\s*|\*\*)?\s*title\s*:", first, re.IGNORECASE) or first.startswith("#"):
            title = clean_title(first)
            if title:
                return title, "\n".join(lines[1:]).strip()
    return title_from_prompt(prompt), text.strip()


def trim_to_sentence(text: str) -> str:
    """Cut a story that ran out of budget back to its last complete sentence."""
    text = text.strip()
    if not text or _SENTENCE_END.search(text):
        return text
    matches = list(re.finditer(r"""[.!?…]["'”’)\]]*(?=\s|$)""", text))
    if not matches:
        return text.rstrip(",;:- ") + "."
    return text[: matches[-1].end()].rstrip()


def paragraphs(text: str) -> list[str]:
    paras = [re.sub(r"\s*\n\s*", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return [p for p in paras if p]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def split_scenes(text: str, count: int) -> list[str]:
    """Split into ``count`` contiguous parts, in order, at paragraph (else sentence) boundaries.
    Returns fewer parts when the text has fewer sentences than ``count``."""
    units = paragraphs(text)
    joiner = "\n\n"
    if len(units) < count:
        units = sentences(" ".join(units))
        joiner = " "
    count = max(1, min(count, len(units)))
    cumulative = [0]
    for unit in units:
        cumulative.append(cumulative[-1] + len(unit))
    cuts = [0]
    for k in range(1, count):
        # Cut nearest to an even share of characters, leaving at least one unit per later scene.
        target = cumulative[-1] * k / count
        options = range(cuts[-1] + 1, len(units) - (count - k) + 1)
        cuts.append(min(options, key=lambda c: abs(cumulative[c] - target)))
    cuts.append(len(units))
    return [joiner.join(units[a:b]) for a, b in zip(cuts, cuts[1:])]


def caption_for(scene: str, limit: int = 70) -> str:
    first = sentences(scene)[0] if scene.strip() else ""
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def slugify(text: str, limit: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "story"


def assemble(generated: str, prompt: str, scenes: int) -> Story:
    title, body = split_title(generated, prompt)
    body = trim_to_sentence(body)
    if not body:
        body = trim_to_sentence(generated) or "The end."
    parts = split_scenes(body, scenes)
    return Story(title=title, scenes=tuple(parts), captions=tuple(caption_for(p) for p in parts))
