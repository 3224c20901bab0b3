"""Reading level: how hard a draft is to follow, measured with textstat, against the range that
fits the child's age band.

Two numbers per draft: a US school **grade** (the Automated Readability Index: characters per word
and words per sentence) and **words per sentence**. The judge (checks.judge) prefers drafts inside
the age band's range and penalises ones far outside it (:func:`penalty`); story.json records both
numbers and the range (README, "Reading level").

Why ARI and not Flesch-Kincaid: syllable counts need a pronouncing dictionary (textstat fetches
NLTK's CMU dictionary from the internet on first use); dreamflow runs offline, so it uses the
character-based formula. The three counts are textstat's own definitions, written out here: textstat
imports NLTK, 32 MB of memory and ~0.4 s for three regular expressions (tests/test_readability.py
checks the numbers against textstat's, which stays a test dependency).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Read aloud to a child at a calm pace (the length a parent plans for with --minutes).
WORDS_PER_MINUTE = 130


@dataclass(frozen=True)
class Band:
    """The reading level that fits an age band: a grade range and the longest average sentence."""

    name: str
    max_grade: float
    max_words_per_sentence: float
    min_grade: float = float("-inf")  # a story can hardly be too simple, except for the oldest

    def as_dict(self) -> dict[str, Any]:
        return {"band": self.name, "max_grade": self.max_grade, "max_words_per_sentence": self.max_words_per_sentence,
                **({"min_grade": self.min_grade} if self.min_grade > float("-inf") else {})}


# ≤4: very short sentences and simple words; 5-8: short, clear sentences; 9-12: richer, but still
# a bedtime story read aloud. Grades are ARI's; see README for the distribution these came from.
BANDS = {
    "0-4": Band("0-4", max_grade=3.0, max_words_per_sentence=10.0),
    "5-8": Band("5-8", max_grade=5.5, max_words_per_sentence=14.0),
    "9-12": Band("9-12", max_grade=8.5, max_words_per_sentence=20.0, min_grade=2.0),
}
# "Far outside": more than this many grades, or words a sentence, beyond the range.
FAR_GRADES = 2.0
FAR_WORDS = 4.0
# Score points (checks.judge starts at 100): a draft a little outside loses a little; one far
# outside falls below checks.STOP_SCORE, so the composer writes another draft (while it has
# candidates left) and keeps the one that fits. At 12 points a far-outside draft still stopped the
# writing and the judge's preference changed almost nothing (bench/quality.py: 12 of 32 stories in
# range against 13 without it, SmolLM2).
PENALTY_NEAR = 3
PENALTY_FAR = 16


def band_for(age: int | None) -> Band:
    """The same bands as the prompt's (story.prompt.age_band): 4 and under, 5-8 (and no age), 9-12."""
    if age is not None and age <= 4:
        return BANDS["0-4"]
    if age is not None and age >= 9:
        return BANDS["9-12"]
    return BANDS["5-8"]


@dataclass(frozen=True)
class Reading:
    """A text's measured reading level."""

    grade: float  # ARI, a US school grade (may be below 0 for the simplest texts)
    words_per_sentence: float
    words: int

    @property
    def minutes(self) -> float:
        return self.words / WORDS_PER_MINUTE

    def as_dict(self) -> dict[str, Any]:
        return {"grade": round(self.grade, 1), "words_per_sentence": round(self.words_per_sentence, 1),
                "words": self.words}


# textstat's definitions: a word is a whitespace-separated token once punctuation is removed
# (apostrophes of contractions kept); a sentence is a run up to . ! or ?, and runs of two words or
# fewer do not count as sentences; characters are everything but whitespace.
_SENTENCE = re.compile(r"\b[^.!?]+[.!?]*")
_APOSTROPHE_NOT_CONTRACTION = re.compile(r"'(?![tsd]|ve|ll|re)")
_PUNCTUATION = re.compile(r"[^\w\s']")


def _words(text: str) -> int:
    return len(_PUNCTUATION.sub("", _APOSTROPHE_NOT_CONTRACTION.sub("", text)).split())


def _sentences(text: str) -> int:
    runs = _SENTENCE.findall(text)
    return max(1, len(runs) - sum(_words(run) <= 2 for run in runs)) if text else 0


def measure(text: str) -> Reading:
    """Grade and words per sentence of ``text`` (blank lines between scenes are fine)."""
    flat = " ".join(text.split())
    if not flat:
        return Reading(0.0, 0.0, 0)
    words = _words(flat)
    per_sentence = words / _sentences(flat)
    tokens = len(flat.split())  # characters per word counts punctuation-only tokens as words
    per_word = len(re.sub(r"\s", "", flat)) / tokens
    grade = 4.71 * per_word + 0.5 * per_sentence - 21.43 if per_word and per_sentence else 0.0
    return Reading(grade, per_sentence, words)


def distance(reading: Reading, band: Band) -> tuple[float, float]:
    """How far outside the band the reading is: (grades, words a sentence), 0 when inside."""
    grades = max(0.0, reading.grade - band.max_grade, band.min_grade - reading.grade)
    wps = max(0.0, reading.words_per_sentence - band.max_words_per_sentence)
    return grades, wps


def in_range(reading: Reading, band: Band) -> bool:
    return distance(reading, band) == (0.0, 0.0)


def penalty(reading: Reading, band: Band) -> int:
    grades, wps = distance(reading, band)
    if grades == 0 and wps == 0:
        return 0
    return PENALTY_FAR if grades > FAR_GRADES or wps > FAR_WORDS else PENALTY_NEAR


def describe(reading: Reading, band: Band) -> str:
    where = "inside" if in_range(reading, band) else "outside"
    low = f"{band.min_grade:g}-" if band.min_grade > float("-inf") else "up to "
    return (f"grade {reading.grade:.1f}, {reading.words_per_sentence:.1f} words a sentence: {where} the {band.name} "
            f"range (grade {low}{band.max_grade:g}, up to {band.max_words_per_sentence:g} words a sentence)")


def reading_minutes(words: int) -> float:
    """Read-aloud time at WORDS_PER_MINUTE, to a tenth of a minute."""
    return round(words / WORDS_PER_MINUTE, 1)
