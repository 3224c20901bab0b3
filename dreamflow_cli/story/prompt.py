"""The prompt we send: the instructions for a calm bedtime story fitted to the child's age, the
openings dreamflow writes for the model to continue, and the sleepy ending cue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from dreamflow_cli.story.text import clean_body, is_complete, sentences, story_subject, trim_to_sentence
from dreamflow_cli.story.title import NEEDS_NOUN, PHRASE_BOUNDARIES, PHRASE_STARTS, boundaries, title_from_prompt

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
    extra: Sequence[str] = (),
) -> tuple[str, str]:
    """Return (system, user) messages for the model's chat template. ``extra``: more instruction
    lines (saved characters, a sequel: story/continuity.prompt_lines)."""
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
    lines.extend(extra)
    shape = "one short paragraph" if paras == 1 else f"{paras} short paragraphs"
    # What a batch's stories share (the age band's style, the length) comes first and what differs
    # (subject, child, age, theme) after it: the engines reuse the longest common token prefix, so
    # a shared start is decoded once per batch instead of once per story (issue 24).
    shared = [band.style, f"Write {shape}, about {words} words in all. End with {name or 'everyone'} falling asleep."]
    return SYSTEM_PROMPT, " ".join(shared + lines)


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
    """A first sentence that names what the story is about: the start of a base model's page, of a
    scaffolded draft, and of a chat model's draft after one that wandered off subject. The
    on-subject check does not count it: the model has to keep to the subject itself. A prompt that
    says what its hero does gets a "who" ("there was a lost kitten who finds home")."""
    subject = with_who(story_subject(prompt))
    many = subject.split()[0].lower() in ("two", "three", "four", "five", "six", "some", "many", "several")
    return f"Once upon a time, there {'were' if many else 'was'} {subject[:1].lower() + subject[1:]}."


# Doings that follow a hero without an -s ("a fox and a badger *become* friends").
_PLAIN_VERBS = frozenset("""
become find go meet learn share play make help sing dance fly sleep visit build count look want love
""".split())


def with_who(subject: str) -> str:
    """"a lost kitten finds home" → "a lost kitten who finds home": the prompt's first doing, right
    after its hero, made a describing clause, so "there was …" reads as a sentence."""
    words = subject.split()
    lower = [w.lower().strip(",.;:") for w in words]
    for i in range(1, len(words)):
        if lower[i] in PHRASE_BOUNDARIES or lower[i - 1] in PHRASE_STARTS or lower[i - 1] in NEEDS_NOUN:
            if lower[i] in PHRASE_BOUNDARIES and lower[i] not in ("and", "or"):
                break  # "a dragon *who* counts", "a trip *to* the moon": already reads on
            continue
        verb = lower[i] in _PLAIN_VERBS or (lower[i].endswith("s") and i in boundaries(words)[:1])
        if verb and not lower[i].endswith("ing"):
            return " ".join([*words[:i], "who", *words[i:]])
    return subject


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


# --- the beat scaffold (issue 26) -----------------------------------------------------------------
# Small models keep a sentence together and lose the story. With the scaffold, a story is written as
# a calm arc, one beat (one paragraph) at a time, and each beat begins with words dreamflow writes
# that name the child and the hero by kind, so the model always continues from the right place.
# Every opener is story text, never an instruction: nothing to echo, no headings to remove.

BEATS = ("setting", "wish", "try", "comfort", "sleep")


# Fewer beats when the budget is small: the arc keeps its start, its try and its sleep.
BEATS_BY_COUNT = {5: BEATS, 4: ("setting", "wish", "try", "sleep"), 3: ("setting", "try", "sleep")}


# The first words of each beat. {who}: the child and the hero(es) ("Mia and the dragon"); {hero}:
# the hero(es) by kind, or the child when the prompt has no creature ("the dragon", "Mia"); {name}:
# the child. A template needing a name is used only when there is one. Picked by seed.
BEAT_OPENERS: dict[str, tuple[str, ...]] = {
    "setting": ("One quiet evening, {who}", "One starry night, {who}", "In a cosy little house, {who}",
                "As the sun went down, {who}"),
    # A wish that is small and happy: the words lead into what it is, not into a worry.
    "wish": ("More than anything, {hero} wanted to", "{hero} had one small, happy wish: to",
             "That night, {hero} dreamed of"),
    "try": ("So, with a gentle smile, {who}", "Together, {who} gently", "Step by step, {who} happily"),
    "comfort": ("{name} gave {hero} a warm hug, and", "{hero} smiled at {name}, feeling safe and",
                "{hero} smiled, feeling safe and", "Soon {hero} felt warm and"),
    # Every sleep opener is already sleepy, so the last beat winds down whatever follows it.
    "sleep": ("At last, {who} snuggled down, closed their eyes and", "Soon, {who} gave a big, sleepy yawn and",
              "Before long, {who} snuggled under a soft blanket and"),
}


# When the prompt's subject is a place or a thing, not a creature ("a garden where the flowers
# whisper", "a trip to the moon"), the child is the hero and these beats name the {thing} too, so it
# stays in every scene.
THING_OPENERS: dict[str, tuple[str, ...]] = {
    "wish": ("{hero} had one small, happy wish about the {thing}: to", "That night, {hero} dreamed of the {thing} and"),
    "comfort": ("{hero} smiled at the {thing}, feeling safe and", "Near the {thing}, {hero} felt warm and"),
    "sleep": ("At last, {who} said goodnight to the {thing}, closed their eyes and",
              "Soon, {who} whispered goodnight to the {thing} and"),
}


# Family words read as names ("Grandpa"), not as kinds ("the grandpa").
_FAMILY = {"grandma": "Grandma", "grandpa": "Grandpa", "granny": "Granny", "grandmother": "Grandmother",
           "grandfather": "Grandfather", "mum": "Mum", "mom": "Mom", "dad": "Dad", "nana": "Nana"}


# A hero that is the child: "a girl who finds a door" with --name Lily is Lily.
_CHILD_KINDS = frozenset("girl boy child kid baby toddler".split())


@dataclass(frozen=True)
class Cast:
    """Who the beats name: the child, and the prompt's heroes by kind ("dragon"; "fox", "badger";
    "lighthouse keeper")."""

    name: str | None
    kinds: tuple[str, ...] = ()
    thing: str | None = None  # the subject when it is a place or a thing ("garden"), named by some beats

    @property
    def heroes(self) -> tuple[str, ...]:
        kinds = [k for k in self.kinds if not (self.name and k.split()[-1] in _CHILD_KINDS)]
        return tuple(_FAMILY.get(k, f"the {k}") for k in kinds)

    @property
    def hero(self) -> str:
        return _join(self.heroes) if self.heroes else (self.name or "")

    @property
    def who(self) -> str:
        return _join(tuple(w for w in (self.name, *self.heroes) if w))

    @property
    def usable(self) -> bool:
        """A beat can name someone: the child, or a hero with a kind."""
        return bool(self.who)


def _join(parts: tuple[str, ...]) -> str:
    if not parts:
        return ""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def beat_plan(budget: int, *, min_tokens: int) -> tuple[str, ...]:
    """The beats a budget has room for (each at least ``min_tokens``); () when fewer than three fit."""
    fits = min(len(BEATS), budget // max(1, min_tokens))
    return BEATS_BY_COUNT.get(fits, ())


def beat_opener(beat: str, cast: Cast, seed: int) -> str:
    """The words that begin a beat: story text naming the child and the hero."""
    templates = THING_OPENERS.get(beat) if cast.thing and not cast.heroes else None
    choices = [t for t in templates or BEAT_OPENERS[beat] if cast.name or "{name}" not in t]
    if not (cast.name and cast.heroes):  # "{hero} smiled at {name}" needs both to be two people
        choices = [t for t in choices if "{name}" not in t] or choices
    text = choices[seed % len(choices)].format(who=cast.who, hero=cast.hero, name=cast.name or "",
                                               thing=cast.thing or "")
    return text[:1].upper() + text[1:]


def first_beat_opener(prompt: str, cast: Cast, seed: int, theme: str | None = None) -> str:
    """The first beat's words: a sentence naming the subject ("Once upon a time, there was a sleepy
    dragon who counts the stars."), where it happens for a base model (which has no instructions),
    then the setting beat's opener."""
    lines = [subject_sentence(prompt)]
    if theme:
        lines.append(f"It all happened in {theme[:1].lower() + theme[1:]}.")
    lines.append(beat_opener("setting", cast, seed))
    return " ".join(lines)


MAX_BEAT_SENTENCES = 4


def beat_from(opener: str, continuation: str, *, last: bool) -> str | None:
    """One beat's paragraph: the opener and what the model wrote after it, up to the first paragraph
    break, in whole sentences (four at most; the sleep beat ends at its first sleepy sentence). None
    when not one whole sentence came of it: the beat is left out rather than end on a fragment."""
    text = (opener + continuation).strip()
    first = re.split(r"\n\s*\n", text, maxsplit=1)[0]
    body = clean_body(first).replace("\n", " ")
    if not body or not any(s for s in sentences(body) if is_complete(s)):
        return None
    kept: list[str] = []
    for sentence in sentences(trim_to_sentence(body)):
        kept.append(sentence)
        if len(kept) == MAX_BEAT_SENTENCES or (last and _SLEEPY.search(sentence)):
            break
    return trim_to_sentence(" ".join(kept))  # a quotation the cut left open is closed
