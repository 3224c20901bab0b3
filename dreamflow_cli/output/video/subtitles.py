"""WebVTT subtitles from a narration timeline (pure Python; runs in the parent).

One cue per sentence as it is spoken (the title too). A sentence too long for two lines of
``LINE_CHARS`` is split into several cues at word boundaries (preferably after a comma), its time
shared out by length. Each cue stays up a little into the following pause so it can be finished
reading, but never overlaps the next one. Browsers show a ``<track kind="subtitles">`` of this
file over the ``<video>``; phones' players pick up a sidecar .vtt of the same name.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from dreamflow_cli.output.narration.script import Timeline

LINE_CHARS = 42  # the usual subtitle line length: readable on a phone held upright
MAX_LINES = 2
LINGER_SECONDS = 0.6
MIN_GAP = 0.05


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str  # plain text; lines joined with "\n"


def timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _chunks(text: str, max_chars: int) -> list[str]:
    """Split a sentence into pieces of at most ``max_chars``, preferring breaks after punctuation."""
    words = text.split()
    pieces: list[str] = []
    current: list[str] = []
    for word in words:
        candidate = " ".join(current + [word])
        if current and len(candidate) > max_chars:
            # Move back to the last comma/semicolon in the current piece if it is not too early.
            cut = next((i for i in range(len(current) - 1, 0, -1) if re.search(r"[,;:]$", current[i - 1])), 0)
            if cut and len(" ".join(current[:cut])) >= max_chars // 2:
                pieces.append(" ".join(current[:cut]))
                current = current[cut:]
            else:
                pieces.append(" ".join(current))
                current = []
        current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def cues_from_timeline(timeline: Timeline, line_chars: int = LINE_CHARS, max_lines: int = MAX_LINES) -> list[Cue]:
    cues: list[Cue] = []
    segments = timeline.segments
    for i, segment in enumerate(segments):
        next_start = segments[i + 1].start if i + 1 < len(segments) else timeline.seconds
        end = min(segment.end + LINGER_SECONDS, max(segment.end, next_start - MIN_GAP))
        pieces = _chunks(" ".join(segment.text.split()), line_chars * max_lines)
        total_chars = sum(len(p) for p in pieces)
        t = segment.start
        for j, piece in enumerate(pieces):
            last = j == len(pieces) - 1
            piece_end = end if last else t + (segment.end - segment.start) * len(piece) / total_chars
            lines = textwrap.wrap(piece, width=line_chars) or [piece]
            cues.append(Cue(round(t, 3), round(piece_end, 3), "\n".join(lines)))
            t = piece_end
    return cues


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(cues: list[Cue]) -> str:
    out = ["WEBVTT", ""]
    for n, cue in enumerate(cues, start=1):
        out += [str(n), f"{timestamp(cue.start)} --> {timestamp(cue.end)}", _escape(cue.text), ""]
    return "\n".join(out)


def webvtt(timeline: Timeline) -> str:
    """The subtitles file's text (UTF-8) for ``timeline``."""
    return render_vtt(cues_from_timeline(timeline))


def parse_vtt(text: str) -> list[Cue]:
    """Read back cues (for tests and checks): the minimal subset ``render_vtt`` writes."""
    blocks = text.replace("\r\n", "\n").strip().split("\n\n")
    if not blocks or not blocks[0].startswith("WEBVTT"):
        raise ValueError("not a WebVTT file")
    cues = []
    for block in blocks[1:]:
        lines = block.split("\n")
        timing = next(i for i, line in enumerate(lines) if "-->" in line)
        a, b = (part.strip().split(" ")[0] for part in lines[timing].split("-->"))
        body = "\n".join(lines[timing + 1 :])
        body = body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        cues.append(Cue(_seconds(a), _seconds(b), body))
    return cues


def _seconds(stamp: str) -> float:
    parts = stamp.split(":")
    value = 0.0
    for part in parts:
        value = value * 60 + float(part)
    return value
