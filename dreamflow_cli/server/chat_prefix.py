"""Starting the answer for a model behind a chat API, which has no prefill.

In process, ``Prompt.prefix`` is written into the answer and the model continues it. The OpenAI
chat API offers no portable way to do that (a trailing assistant message is continued by some
servers and closed as a finished turn by others), so the prefix is asked for in words instead:

* the part of the prefix before its last paragraph (the story so far, for an ending) becomes an
  assistant turn of its own, followed by a user turn asking to continue it;
* the last paragraph (the opening line, or the closing cue) is what the answer must begin with.

Models mostly obey and echo that text, sometimes only its last words, sometimes not at all;
``strip_echo`` removes whatever part of it the reply repeats, so the caller gets what follows the
prefix either way, just like a prefilled answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Characters per token for English prose, used where the server's tokenizer is out of reach.
# BPE tokenizers of current small models measure ~3.8-4.3 on our stories; 3.5 over-counts a
# little, which keeps prompt + story inside the context rather than just over it.
CHARS_PER_TOKEN = 3.5
# Chat templates add a few tokens of role markers around each message.
MESSAGE_OVERHEAD_TOKENS = 4

BEGIN_WITH = "Begin your answer with exactly these words, then continue: "
CONTINUE = "Continue the story from exactly where it stops, without repeating any of it. "
_QUOTES = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u00ab": '"', "\u00bb": '"'}


def estimate(text: str) -> int:
    """Tokens ``text`` would take, estimated from its length (rounded up)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class SplitPrefix:
    before: str  # already written: sent as an assistant turn ("" for a plain opening)
    tail: str  # what the answer is asked to begin with


def split_prefix(prefix: str) -> SplitPrefix:
    head, sep, tail = prefix.rstrip().rpartition("\n\n")
    if not sep or not tail.strip():
        return SplitPrefix("", prefix.strip())
    return SplitPrefix(head.rstrip(), tail.strip())


def chat_messages(system: str, user: str, prefix: str) -> list[dict[str, str]]:
    """The messages that ask for an answer continuing ``prefix``."""
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    if not prefix:
        messages.append({"role": "user", "content": user or "Continue."})
        return messages
    split = split_prefix(prefix)
    ask = f'{BEGIN_WITH}"{split.tail}"'
    if split.before:
        messages.append({"role": "user", "content": user or "Write a story."})
        messages.append({"role": "assistant", "content": split.before})
        messages.append({"role": "user", "content": CONTINUE + ask})
    else:
        messages.append({"role": "user", "content": f"{user}\n\n{ask}" if user else ask})
    return messages


def count_message_tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages) + 2


def _norm(ch: str) -> str:
    return _QUOTES.get(ch, ch).lower()


def match_length(reply: str, target: str) -> int | None:
    """If ``reply`` begins with ``target`` (ignoring case, curly vs straight quotes and how
    whitespace is laid out), the length of that beginning in ``reply``; else None."""
    i = j = 0
    while j < len(target):
        if target[j].isspace():
            j += 1
            while i < len(reply) and reply[i].isspace():
                i += 1
            continue
        while i < len(reply) and reply[i].isspace():
            i += 1
        if i >= len(reply) or _norm(reply[i]) != _norm(target[j]):
            return None
        i += 1
        j += 1
    return i


def _word_suffixes(text: str) -> list[str]:
    """``text`` and each shorter tail of it that starts at a word, longest first."""
    words = text.split()
    return [" ".join(words[k:]) for k in range(len(words))]


# Words a reply may start a sentence with that still read right after an opening phrase ending
# in a comma ("Once upon a time," + "the moon rose…"), once lower-cased.
_JOINABLE = frozenset("the a an in on at as under there it its when after with every all by far high deep "
                      "she he they we her his their little soft gentle".split())
_SENTENCE_END = ".!?\"'”’"
_FIRST_SENTENCE_CHARS = 160


def _after_echo(body: str, candidates: list[str]) -> tuple[str, str] | None:
    """The reply after the longest candidate it begins with, a quoted echo included."""
    quoted = body[:1] in ("\"", "'", "“", "‘", "*")
    for start in ((body, body[1:].lstrip("*")) if quoted else (body,)):
        for candidate in candidates:
            n = match_length(start, candidate)
            if n is not None:
                rest = start[n:]
                if start is not body:  # "…the opening…" quoted: drop the closing quote too
                    rest = rest[1:] if rest[:1] in ("\"", "'", "”", "’") else rest
                    rest = rest.lstrip("*")
                return rest, start[:n]
    return None


def _after_name(body: str, tail: str) -> tuple[str, str] | None:
    """An opening ending in a name ("One starry night, Mia") that the reply did not echo but
    whose first sentence names the same child ("In the meadow, Mia lay…"): continue from the
    name, so the story still starts with the opening."""
    words = tail.split()
    name = words[-1] if len(words) > 1 else ""
    if not (name[:1].isupper() and name.isalpha()):
        return None
    first = body[:_FIRST_SENTENCE_CHARS]
    end = min((first.find(c) for c in ".!?\n" if c in first), default=len(first))
    found = re.search(rf"\b{re.escape(name)}\b", first[:end + 1])
    if found is None:
        return None
    return body[found.end():], body[:found.end()]


def _title_line(line: str) -> bool:
    text = line.strip()
    if text.startswith("#") or (text.startswith("**") and text.endswith("**")):
        return True
    return 0 < len(text) <= 80 and text[-1] not in ".!?,;:\"\u201d" and not text[0].islower()


def drop_title(body: str) -> str:
    """A title line (or two) the model put before the story: in process the answer is already
    under way after the opening, so no title comes; here one often does."""
    for _ in range(2):
        first, sep, rest = body.partition("\n")
        if not sep or not rest.strip() or not _title_line(first):
            break
        if not first.strip().startswith(("#", "**")) and not rest.startswith("\n"):
            break  # a short plain line is a title only when a blank line follows it
        body = rest.lstrip()
    return body


def strip_echo(reply: str, prefix: str) -> tuple[str, str]:
    """(continuation, dropped): what follows ``prefix`` in the reply, and the start of the reply
    that was dropped (a title line, the repeated words). In order:

    1. the reply begins with the whole prefix, or a tail of it that starts at a word (asked to
       begin with "Once upon a time, Mia", a small model may write just "Mia was…");
    2. the prefix ends with a name and the reply's first sentence has it: continue after it;
    3. no repeat: a comma-ended opening joins a reply starting with a common word lower-cased
       ("Once upon a time," + "the moon…"); a cue that is a whole clause ("Soon, Mia's eyes grew
       heavy") is ended with a full stop before the reply's own sentence; anything else follows
       after a space. Models that follow instructions take branch 1."""
    if not prefix.strip():
        return reply, ""
    body = drop_title(reply.lstrip())
    tail = split_prefix(prefix).tail
    found = _after_echo(body, [prefix.strip(), *_word_suffixes(tail)]) or _after_name(body, tail)
    if found is not None:
        rest = found[0]  # always a tail of the reply
        return rest, reply[:len(reply) - len(rest)]
    dropped = reply[:len(reply) - len(body)]
    if not body or body[0] in ",.;:!?'" or prefix[-1:].isspace():
        return body, dropped
    first_word = re.match(r"[A-Za-z]+", body)
    if tail.endswith(","):
        if first_word and first_word.group(0).lower() in _JOINABLE and first_word.group(0) != "I":
            return " " + body[0].lower() + body[1:], dropped
        return " " + body, dropped
    if body[0].isupper() and tail[-1:] not in _SENTENCE_END and len(tail.split()) >= 4:
        return ". " + body, dropped
    return " " + body, dropped
