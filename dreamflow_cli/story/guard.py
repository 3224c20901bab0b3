"""The content guard: frightening, violent or harsh words a bedtime story must not contain.

Terms match whole words only (so "skill" is not "kill" and "grapes" is not "rape"), in any case,
with their simple inflections ("monsters", "killing", "scared", "knives"). Levels nest: each
one blocks everything the level before it does, and more. Pure functions only; the composer
decides what a hit means (a refused prompt, or another attempt at the story).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable

from dreamflow_cli.settings.keys import fold
from dreamflow_cli.settings.table import DEFAULT_GUARD_LEVEL, GUARD_LEVELS

# relaxed: violence, weapons, death, cruelty and swearing: never in a story for a child.
_RELAXED = (
    "kill", "murder", "slaughter", "slay", "slain", "massacre", "blood", "bloody", "bleed", "bled", "gore", "gory",
    "gun", "shoot", "rifle", "pistol", "bullet", "stab", "knife", "dagger", "bomb",
    "explode", "explosion", "weapon", "war", "dead", "death", "die", "corpse", "torture",
    "strangle", "drown", "suicide", "poison", "behead", "decapitate", "wound", "injure", "injury",
    "assault", "abuse", "beat up", "punch", "kidnap", "rape", "hate", "stupid", "idiot", "shut up",
    "damn", "hell", "crap", "fuck", "shit", "bitch", "bastard", "cunt", "whore", "slut", "piss",
)
# standard adds the stuff of nightmares: horror figures, fright and cruelty in milder words.
_STANDARD = _RELAXED + (
    "scary", "scare", "frighten", "frightening", "terrify", "terror", "horror", "horrible",
    "horrify", "nightmare", "monster", "ghost", "zombie", "demon", "devil", "vampire", "werewolf",
    "skeleton", "skull", "haunt", "creepy", "scream", "shriek", "evil", "curse", "panic",
    "graveyard", "coffin", "hurt", "attack", "choke", "cruel",
)
# strict adds anything that might unsettle a sensitive listener right before sleep.
_STRICT = _STANDARD + (
    "fear", "afraid", "worry", "danger", "dangerous", "fight", "cry", "sob", "tears", "sad",
    "lonely", "alone", "lost", "angry", "witch", "storm", "thunder", "lightning", "sword", "hunt",
    "trap", "sick", "wolf",
)
# Keyed by the settings table's GUARD_LEVELS, which the guard_level key accepts.
TERMS_BY_LEVEL: dict[str, tuple[str, ...]] = dict(zip(GUARD_LEVELS, (_RELAXED, _STANDARD, _STRICT)))
# Being frightened is the subject of many bedtime stories ("a boat that is afraid of the dark").
# At relaxed and standard, a request may name such a feeling in any of these words, whichever level
# lists them (standard has "scared", "frightened" and "terrified" as forms of "scare", "frighten"
# and "terrify"; strict adds the rest); a request that does is about a fear. At strict they are
# blocked like any other term, in the request and in the story.
FEELING_WORDS = ("scared", "frightened", "terrified", "afraid", "fear", "fears", "feared", "fearing",
                 "worry", "worries", "worried", "worrying")
# When the request is about a fear, these words (and FEELING_WORDS) in the story are left to the
# calm-tone check (checks.py), which keeps a worry only when it is soothed and never in the last scene.
FEAR_TERMS = ("scare", "scary", "frighten", "frightening", "afraid", "fear", "worry")
# The levels where the two rules above apply: strict is for the listener no fear suits.
FEAR_LEVELS = ("relaxed", "standard")
_FEELING = re.compile(r"\b(?:" + "|".join(FEELING_WORDS) + r")\b")


def fear_words() -> frozenset[str]:
    """Every written form of FEAR_TERMS, and FEELING_WORDS, as Guard.find reports them."""
    return frozenset(form for term in FEAR_TERMS for form in word_forms(term)) | frozenset(FEELING_WORDS)


def names_a_feeling(*texts: str | None) -> bool:
    """Whether any of the texts says someone is frightened or worried (FEELING_WORDS)."""
    return any(text and _FEELING.search(fold(text)) for text in texts)


_VOWELS = "aeiou"


def word_forms(word: str) -> set[str]:
    """The word and its simple inflections: plural, -ing, -ed, -er(s), and the spelling changes
    English makes on the way (scare→scaring, die→dying, stab→stabbing, knife→knives)."""
    forms = {word}
    for suffix in ("s", "ed", "ing", "er", "ers"):
        forms.add(word + suffix)
    if word.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.add(word + "es")  # only here: "war" + "es" would be "wares"
    if word.endswith("e"):
        stem = word[:-1]
        forms |= {stem + "ing", word + "d", word + "r", word + "rs"}
    if word.endswith("ie"):
        forms.add(word[:-2] + "ying")
    if len(word) > 2 and word.endswith("y") and word[-2] not in _VOWELS:
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if word.endswith("fe"):
        forms.add(word[:-2] + "ves")
    elif word.endswith("f"):
        forms.add(word[:-1] + "ves")
    if len(word) >= 3 and word[-1] not in _VOWELS + "wxy" and word[-2] in _VOWELS and word[-3] not in _VOWELS:
        forms |= {word + word[-1] + suffix for suffix in ("ing", "ed", "er", "ers")}
    return forms


def _term_pattern(term: str) -> str:
    # Inflect only the last word of a phrase ("beat up" → "beating up" is not covered, but
    # "shut up" needs no forms); words are joined by any whitespace or hyphen.
    words = re.split(r"[\s-]+", term)
    head = [re.escape(w) for w in words[:-1]]
    tail = "(?:" + "|".join(sorted(map(re.escape, word_forms(words[-1])), key=len, reverse=True)) + ")"
    return r"[\s-]+".join(head + [tail])


@dataclass(frozen=True)
class Guard:
    level: str
    terms: tuple[str, ...]
    pattern: re.Pattern[str]
    # What the fear rules exempt at this level (none at strict, nor a word the user added):
    feelings: frozenset[str] = frozenset()  # in the request: the FEELING_WORDS
    soothable: frozenset[str] = frozenset()  # in the story of a request about a fear: fear_words()

    def find(self, text: str) -> list[str]:
        """The blocked words in ``text`` as written there (lower-cased), each once, in order."""
        found: list[str] = []
        for match in self.pattern.finditer(fold(text)):
            word = re.sub(r"[\s-]+", " ", match.group(0))
            if word not in found:
                found.append(word)
        return found

    def find_in_request(self, text: str) -> list[str]:
        """The blocked words in a prompt, name, theme or moral: a feeling may be named."""
        return [w for w in self.find(text) if w not in self.feelings]

    def find_in_story(self, text: str, *, about_a_fear: bool) -> list[str]:
        """The blocked words in a story; the fear words are the calm-tone check's when the
        request was about a fear."""
        return [w for w in self.find(text) if not (about_a_fear and w in self.soothable)]


@functools.lru_cache(maxsize=16)
def build_guard(level: str = DEFAULT_GUARD_LEVEL, extra_terms: tuple[str, ...] = ()) -> Guard:
    """``level`` is one of GUARD_LEVELS and ``extra_terms`` came through ``parse_terms``: the settings
    table checked both when the settings were loaded."""
    terms = tuple(dict.fromkeys(TERMS_BY_LEVEL[level] + tuple(extra_terms)))
    body = "|".join(_term_pattern(t) for t in sorted(terms, key=len, reverse=True))
    # Whole words only: "skill" must not count as "kill", nor "Scunthorpe" as what it contains.
    pattern = re.compile(rf"\b(?:{body})\b")
    if level not in FEAR_LEVELS:
        return Guard(level, terms, pattern)
    added = {form for term in extra_terms for form in word_forms(term)}
    return Guard(level, terms, pattern, feelings=frozenset(FEELING_WORDS) - added,
                 soothable=fear_words() - added)


def describe(words: Iterable[str]) -> str:
    return ", ".join(f'"{w}"' for w in words)
