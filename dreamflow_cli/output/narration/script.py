"""What the narrator says, and when: the spoken script of a story and its timeline.

Pure Python (no numpy, no piper) so the parent process can build the script, estimate a silent
video's timing and write subtitles without loading anything heavy.

The script is a list of segments, one per sentence, each followed by a pause:
the title first (a longer pause after it, so it sounds like a title), then every scene's sentences
(a pause after each sentence, a longer one between scenes). The narrator synthesises each segment
on its own so that the pauses are exactly what is written here, not whatever the voice's
sentence splitter decides.

The child's name is never rewritten: it is spoken as written (espeak-ng knows many names, e.g.
"Siobhan", "Aoife", "Saoirse"; see ``unspeakable_letters`` for names an English voice cannot
say). It is passed in only so that the sentence splitter never cuts a sentence inside it ("J.J.").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Abbreviations whose full stop does not end a sentence (lower-cased, without the stop).
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "mt",
        "jr",
        "sr",
        "prof",
        "capt",
        "sgt",
        "lt",
        "col",
        "gen",
        "rev",
        "fr",
        "no",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "approx",
    }
)
# A quoted question or exclamation followed by one of these stays one sentence:
# '"Where shall we go?" Mia whispered.' is read as one sentence with a short breath inside.
_SPEECH_VERBS = (
    "said|says|asked|asks|whispered|whispers|murmured|murmurs|called|calls|replied|replies|"
    "answered|answers|cried|cries|sang|sings|laughed|laughs|yawned|yawns|giggled|giggles|"
    "shouted|shouts|sighed|sighs|smiled|smiles|added|adds|wondered|wonders"
)
_CLOSERS = "\"'”’)]»"
# Candidate sentence ends: terminal punctuation, optional closing quotes, then whitespace.
_END = re.compile(r"([.!?…]+[" + re.escape(_CLOSERS) + r"]*)(\s+)")
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


@dataclass(frozen=True)
class Pacing:
    """Pauses of a bedtime reading, in seconds (the narrator adds lead-in and tail silence)."""

    after_title: float = 1.5
    after_sentence: float = 0.7
    between_scenes: float = 2.0


DEFAULT_PACING = Pacing()


@dataclass(frozen=True)
class Segment:
    """One spoken unit (a sentence, or the title) and the silence that follows it."""

    text: str
    scene: int  # 0 = the title, 1..n = the scene it belongs to
    pause_after: float


@dataclass(frozen=True)
class TimedSegment:
    text: str
    scene: int
    start: float
    end: float


@dataclass(frozen=True)
class Timeline:
    """When each segment is heard; the narrator returns one, ``estimate_timeline`` guesses one."""

    seconds: float
    segments: tuple[TimedSegment, ...]

    def scene_times(self) -> tuple[tuple[float, float], ...]:
        """(start, end) of each scene 1..n: from its first sentence's start to its last one's end."""
        scenes = sorted({s.scene for s in self.segments if s.scene > 0})
        times = []
        for number in scenes:
            own = [s for s in self.segments if s.scene == number]
            times.append((own[0].start, own[-1].end))
        return tuple(times)

    def to_json(self) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 3),
            "scenes": [{"start": round(a, 3), "end": round(b, 3)} for a, b in self.scene_times()],
            "segments": [
                {"text": s.text, "scene": s.scene, "start": round(s.start, 3), "end": round(s.end, 3)}
                for s in self.segments
            ],
        }

    @staticmethod
    def from_json(data: dict[str, object]) -> Timeline:
        raw = data["segments"]
        assert isinstance(raw, list)
        segments = tuple(TimedSegment(str(s["text"]), int(s["scene"]), float(s["start"]), float(s["end"])) for s in raw)
        return Timeline(float(data["seconds"]), segments)  # type: ignore[arg-type]


def count_words(text: str) -> int:
    """Words as a listener hears them ("don't" and "half-asleep" count once)."""
    return len(_WORD.findall(text))


def _normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _protected_spans(text: str, name: str) -> list[tuple[int, int]]:
    if not name.strip():
        return []
    return [(m.start(), m.end()) for m in re.finditer(re.escape(name.strip()), text)]


def _is_abbreviation(before: str) -> bool:
    """True when the full stop at the end of ``before`` belongs to an abbreviation or initial."""
    match = re.search(r"([\w.]+)\.$", before)
    if not match:
        return False
    token = match.group(1).lower()
    if token in _ABBREVIATIONS:
        return True
    # A single capital letter ("J. Smith") is an initial, not a sentence end.
    return len(token) == 1 and before[-2].isupper() and (len(before) < 3 or not before[-3].isalnum())


def split_sentences(text: str, name: str = "") -> list[str]:
    """Split prose into sentences for reading aloud.

    A sentence ends at ``. ! ? …`` (with any closing quotes) followed by a space and a capital,
    a digit or an opening quote. Not at abbreviations ("Mr."), initials ("J."), inside the child's
    name, or between a quoted question and its speech tag ('"Hello?" Mia asked.').
    """
    text = _normalise_space(text)
    if not text:
        return []
    protected = _protected_spans(text, name)
    sentences: list[str] = []
    start = 0
    for match in _END.finditer(text):
        cut = match.end(1)
        rest = text[match.end() :]
        if not rest:
            break
        if any(a < cut <= b for a, b in protected):
            continue
        first = rest[0]
        if not (first.isupper() or first.isdigit() or first in "\"'“‘(["):
            continue
        punct = match.group(1)
        if punct.rstrip(_CLOSERS).endswith(".") and not punct.rstrip(_CLOSERS).endswith(".."):
            if _is_abbreviation(text[: match.start(1) + 1]):
                continue
        if (
            punct[-1] in _CLOSERS
            and punct.rstrip(_CLOSERS)[-1] in "!?"
            and re.match(r"[^\s]+(?: [^\s]+)? (?:" + _SPEECH_VERBS + r")\b", rest)
        ):
            continue
        sentences.append(text[start:cut].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if count_words(s) > 0]


def build_script(
    title: str, scenes: list[str] | tuple[str, ...], name: str = "", pacing: Pacing = DEFAULT_PACING
) -> tuple[Segment, ...]:
    """The spoken script: title, then each scene's sentences, with bedtime pauses.

    The text is kept exactly as written (the name above all); only whitespace is tidied.
    The last segment has no pause after it: the narrator ends with its own tail of silence.
    """
    segments: list[Segment] = []
    spoken_title = _normalise_space(title)
    if count_words(spoken_title):
        segments.append(Segment(spoken_title, 0, pacing.after_title))
    for number, scene in enumerate(scenes, start=1):
        sentences = split_sentences(scene, name)
        for i, sentence in enumerate(sentences):
            last_of_scene = i == len(sentences) - 1
            pause = pacing.between_scenes if last_of_scene else pacing.after_sentence
            segments.append(Segment(sentence, number, pause))
    if segments:
        segments[-1] = Segment(segments[-1].text, segments[-1].scene, 0.0)
    return tuple(segments)


def script_words(script: tuple[Segment, ...]) -> int:
    return sum(count_words(s.text) for s in script)


def estimate_timeline(
    script: tuple[Segment, ...],
    words_per_minute: float = 130.0,
    lead_in: float = 0.5,
    tail: float = 1.5,
    min_segment: float = 1.2,
) -> Timeline:
    """A timeline without narration (a silent video): the story held for its reading time.

    The whole script, pauses included, takes its words at ``words_per_minute`` (so each scene
    is on screen about as long as it takes to read it aloud calmly); the pauses stay where the
    narration would put them and the rest is shared among the segments by their words (at least
    ``min_segment`` each, so a short title can still be read).
    """
    if words_per_minute <= 0:
        raise ValueError("words_per_minute must be positive")
    words = [count_words(s.text) for s in script]
    pauses = sum(s.pause_after for s in script)
    reading = max(sum(words) * 60.0 / words_per_minute - pauses, 0.5 * sum(words) * 60.0 / words_per_minute)
    t = lead_in
    timed: list[TimedSegment] = []
    for segment, n in zip(script, words):
        length = max(min_segment, reading * n / max(1, sum(words)))
        timed.append(TimedSegment(segment.text, segment.scene, t, t + length))
        t += length + segment.pause_after
    return Timeline(t + tail, tuple(timed))


# The voice's memory grows with the length of what it says in one call (measured with the joe
# voice: peak RSS ~160 MB + ~22 MB per second of audio in the call: 5 s -> 270 MB, 31 s -> 850 MB),
# so a long sentence is spoken in pieces of at most this many words, split at clause boundaries.
MAX_WORDS_PER_CALL = 18
_CLAUSE_PUNCT = re.compile(r"[,;:\u2014\u2013]['\"\u201d\u2019)]*$")
_CONJUNCTIONS = frozenset(
    {"and", "but", "so", "then", "while", "until", "because", "when", "as", "or", "where", "who", "which"}
)


def synthesis_chunks(sentence: str, max_words: int = MAX_WORDS_PER_CALL) -> list[str]:
    """Pieces of a sentence for separate synthesis calls, each at most ``max_words`` words.

    Cuts after clause punctuation (a comma...) if there is one in the latter two thirds of the
    window, else before a conjunction ("and", "but"...), else at the limit. A piece that does not
    end in punctuation gets a comma *for the voice only*, so it keeps a rising, unfinished tone
    instead of sounding like the end of a sentence. Subtitles keep the sentence as written.
    """
    words = sentence.split()
    if len(words) <= max_words:
        return [sentence.strip()] if words else []
    chunks: list[list[str]] = []
    current: list[str] = []
    for word in words:
        current.append(word)
        if len(current) < max_words:
            continue
        lowest = max(1, max_words // 3)
        cut = next((i + 1 for i in range(len(current) - 2, lowest - 2, -1) if _CLAUSE_PUNCT.search(current[i])), 0)
        if not cut:
            cut = next(
                (
                    i
                    for i in range(len(current) - 1, lowest - 1, -1)
                    if current[i].lower() in _CONJUNCTIONS
                    # not inside a repetition: "higher and higher", "round and round"
                    and not (i + 1 < len(current) and current[i - 1].lower() == current[i + 1].lower())
                ),
                0,
            )
        cut = cut or len(current)
        chunks.append(current[:cut])
        current = current[cut:]
    if current:
        if len(current) < 3 and chunks and len(chunks[-1]) + len(current) <= max_words + 3:
            chunks[-1] += current  # no dangling one- or two-word piece
        else:
            chunks.append(current)
    pieces = [" ".join(c) for c in chunks]
    return [p if re.search(r"[^\w\s]$", p) or i == len(pieces) - 1 else p + "," for i, p in enumerate(pieces)]


def unspeakable_letters(name: str) -> str:
    """Letters of ``name`` an English espeak voice reads as "Chinese letter" and the like.

    Returns them (empty when the name is speakable), so the caller can warn the user; the name
    itself is never changed. Latin letters with accents (é, ö, ł) are fine: espeak says them.
    """
    odd = []
    for ch in name:
        if ch.isalpha() and "LATIN" not in unicodedata.name(ch, ""):
            odd.append(ch)
    return "".join(dict.fromkeys(odd))


# The longest story the preflight plans narration for, in words: the oldest age band's 320 words
# plus room for a title and a gentle ending; the narrator's memory grows only slowly with it.
STORY_WORDS_BOUND = 400


def narrator_memory_bytes(words: int, sample_rate: int = 22_050) -> int:
    """Peak RSS of the narrator child, for the preflight: measured plus 10% headroom.

    Measured with the joe voice (medium, 63 MB): 325 MB for a 148 s story, 368 MB for 436 s.
    The voice, onnxruntime and one clause-sized call (``synthesis_chunks``) take ~330 MB; the
    track adds two float32 copies while it is assembled, at most as long as the words spoken
    at the slowest pace the tests accept (110 a minute).
    """
    seconds = words * 60 / 110 + 10
    return int((330 * 2**20 + 8 * sample_rate * seconds) * 1.1)
