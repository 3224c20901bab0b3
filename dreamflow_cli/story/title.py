"""The story's title: the model's own when it gave a whole one, else one made from the prompt;
always whole words, at most eight, never ending on a word that needs more after it.

A title is *whole* when it does not stop where its phrase goes on: not on an article, preposition,
conjunction or auxiliary ("… Afraid of the"), and not on a describing word whose noun was cut
("… Looking for a Warm", "… See the Northern", "… Stuck in an Old", "… Mia's"). A title made from
a long prompt is the prompt's own subject phrase whenever it fits in eight words, cut only where
one phrase ends and the next begins (issue 26).
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


DEFAULT_TITLE = "A Bedtime Story"


# A title never ends on one of these: it would read as cut off ("… Afraid of the").
TITLE_DANGLING = frozenset("""
a an the of to in on at for with from by into onto over under through about near inside outside
around across behind beside between without toward towards up down off and or but nor so yet as
than is are was were be been being am has have had do does did will would can could shall should
may might must who whom that which whose where when while his her their its my your our this these
those very too not
""".split())


# Describing words that stand before a noun: after "a", "the", a preposition or a possessive, a
# title ending on one of them has lost its noun ("… for a Warm"). Words that are just as often
# nouns themselves ("the Dark", "the Cold", "the Deep", "the Quiet", "a Giant", "a Baby", "an
# Orange", "the Gold") are left out.
NEEDS_NOUN = frozenset("""
little tiny small big large huge enormous great tall short long wide narrow high low
old young new ancient
sleepy tired drowsy shy brave kind gentle happy glad merry jolly sad lonely lost
friendly curious clever wise silly funny grumpy busy lazy slow fast quick proud lucky
snowy sunny rainy windy misty foggy cloudy stormy frosty icy starry moonlit starlit
warm hot cool chilly frozen
cosy cozy soft fluffy furry fuzzy woolly smooth rough bumpy prickly spiky shiny sparkly
sparkling glittering glowing twinkling bright pale golden silver wooden silken
pink red yellow green purple violet white black brown grey gray
magical enchanted mysterious hidden faraway distant nearby
beautiful pretty lovely wonderful marvellous marvelous special favourite favorite perfect
northern southern eastern western
flying singing dancing talking sleeping dreaming wandering floating shining humming whispering
noisy loud
""".split())


# Counting words: "The Three" has lost its noun too ("Counting to Ten" has not: see below).
NUMBER_WORDS = frozenset("""
one two three four five six seven eight nine ten eleven twelve twenty hundred thousand
first second third fourth fifth sixth seventh eighth ninth tenth next last both several many
""".split())


# Where a noun phrase begins: a describing word right after one of these has lost its noun.
PHRASE_STARTS = frozenset("""
a an the his her their its my your our this that these those some every each no any
of to in on at for with from by into onto over under through about near inside outside around
across behind beside between without toward towards beneath below above along past like
""".split())


# Words that may stand between a describing word and the start of its phrase ("a *very* sleepy").
_SKIPPABLE = frozenset("very so too quite rather really extra super and or".split())


# Where a prompt stops naming its subject and starts describing it ("a boat *that* is afraid").
_INCOMPLETE_VERBS = frozenset("come go get find see look be make take put give turn bring keep let".split())


_DESCRIBING = frozenset("who that which where whose when while".split())


# Where a long prompt's phrase ends and the next begins: a title may be cut right before one of
# these (and only there), so what it keeps is a whole phrase.
_PREPOSITIONS = frozenset("""
of to in on at for with from by into onto over under through about near inside outside around
across behind beside between without toward towards beneath below above along past up down out
off away like
""".split())
_CONJUNCTIONS = frozenset("and or but because so while when until before after as if whenever than".split())
_TIME_WORDS = frozenset("""
tonight today tomorrow yesterday early late again now soon together forever always please every
instead
""".split())
# "-ing" words that are things, not doings: "the forest *clearing*" goes on, it does not end.
_ING_NOUNS = frozenset("""
morning evening ceiling building painting clearing pudding stuffing wedding offspring lightning
during something nothing everything anything king ring wing thing string spring swing
""".split())
# Doings that need nothing after them: "The Star That Fell", "The Sleepy Fox Who Naps".
_WHOLE_DOINGS = frozenset("""
fell falls sleeps naps snores dreams waits wonders glows shines twinkles flies swims hides grows
wakes dances sings smiles laughs yawns rests listens whispers hums giggles cries sneezes
""".split())
PHRASE_BOUNDARIES = _PREPOSITIONS | _CONJUNCTIONS | _DESCRIBING | _TIME_WORDS


# A cut title must not stop on a word that asks for more: a verb that takes an object ("The
# Penguin Who Wants"), a feeling that takes a cause ("… That Is Afraid").
NEEDS_MORE = frozenset("""
want wants wanted wish wishes wished need needs needed try tries tried hope hopes hoped love
loves loved like likes liked find finds found get gets got make makes made take takes took bring
brings brought meet meets met visit visits visited save saves saved count counts counted keep
keeps kept give gives gave see sees saw look looks looked learn learns learned share shares
shared help helps helped collect collects collected fix fixes fixed build builds built watch
watches watched follow follows followed hear hears heard search searches searched
afraid scared frightened fond full ready sure able unable eager keen proud ashamed aware
how what why whether instead it he she they we i you
""".split())


_AUX_BE = frozenset("is are was were".split())


_POSSESSIVE = re.compile(r"^[^\W\d_]+(?:['’]s|s['’])$")


def _bare(word: str) -> str:
    return word.lower().strip(",;:!?.\"“”")


def lost_its_noun(words: list[str]) -> bool:
    """Whether the last word describes a noun that is not there: a possessive ("Mia's"), or a
    describing or counting word after the start of its phrase ("for a Warm", "the Three"). After a
    verb it is whole ("The Moon Who Is Too Shy"), and so is a number after "to" ("Counting to Ten")."""
    if not words:
        return False
    last = _bare(words[-1])
    if _POSSESSIVE.match(last):
        return True
    if last == "one":
        return False  # "the Last One", "a New One": "one" stands for the noun
    if last not in NEEDS_NOUN and last not in NUMBER_WORDS:
        return False
    i = len(words) - 2
    while i >= 0 and (_bare(words[i]) in _SKIPPABLE or _bare(words[i]) in NEEDS_NOUN
                      or _bare(words[i]) in NUMBER_WORDS):
        i -= 1
    if i < 0:
        return False  # a title that is all description ("Warm and Cosy") stands on its own
    before = _bare(words[i])
    if last in NUMBER_WORDS and before in ("to", "until", "past"):
        return False
    return before in PHRASE_STARTS or bool(_POSSESSIVE.match(before))


def trim_title(title: str) -> str:
    """The title without the dangling words at its end, nor a describing word whose noun is gone."""
    words = title.split()
    while words and (_bare(words[-1]).strip(",;:") in TITLE_DANGLING or lost_its_noun(words)):
        words.pop()
    return " ".join(words).rstrip(",;:-–— ")


def is_whole_title(title: str) -> bool:
    """At most eight words, not ending on an article, preposition, conjunction or auxiliary, nor on
    a describing word whose noun was cut."""
    words = title.split()
    return (0 < len(words) <= MAX_TITLE_WORDS and words[-1].lower().strip(",;:") not in TITLE_DANGLING
            and not lost_its_noun(words))


# --- a title from the prompt -----------------------------------------------------------------

def _base_of_ing(word: str) -> str | None:
    """"looking" → "look", "sharing" → "share", "sitting" → "sit"; None when unsure."""
    irregular = {"lying": "lie", "dying": "die", "tying": "tie", "being": "be", "seeing": "see", "going": "go",
                 "flying": "fly", "doing": "do", "skiing": "ski"}
    if word in irregular:
        return irregular[word]
    if not word.endswith("ing") or len(word) < 6:
        return None
    stem = word[:-3]
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslzf":
        return stem[:-1]  # sitting, swimming (but falling, kissing keep theirs)
    one_syllable = len(re.findall(r"[aeiouy]+", stem)) == 1
    if stem.endswith(("c", "v", "u")) or (one_syllable and re.search(r"[^aeiou][aeiou][^aeiouwxy]$", stem)):
        return stem + "e"  # dancing, loving, taking, sharing, hoping
    return stem


def _third_person(verb: str) -> str:
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def compact(words: list[str]) -> list[str]:
    """"who is looking for" → "who looks for": the same phrase in fewer words, so more of it fits."""
    out: list[str] = []
    i = 0
    while i < len(words):
        lower = [w.lower() for w in words]
        if (out and lower[i] in ("is", "are") and i + 1 < len(words) and out[-1].lower() in _DESCRIBING):
            base = _base_of_ing(lower[i + 1])
            if base is not None:
                verb = _third_person(base) if lower[i] == "is" else base
                out.append(verb.capitalize() if words[i][:1].isupper() else verb)
                i += 2
                continue
        out.append(words[i])
        i += 1
    return out


def _looks_like_verb(word: str, before: str) -> bool:
    # "a penguin *looking* for…", "a lost kitten *finds* home": a verb right after the noun.
    if before in PHRASE_STARTS or before in NEEDS_NOUN or before in NUMBER_WORDS or before in _SKIPPABLE:
        return False
    third = word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3
    return third or (word.endswith("ing") and len(word) > 5)


_TIME_NOUNS = frozenset("morning afternoon evening night day week winter summer spring autumn".split())


def boundaries(words: list[str]) -> list[int]:
    """The indices where a new phrase begins (never 0): a title may end right before them. A word
    ending in -s counts as a verb only right after the hero ("a lost kitten *finds* home"): later
    on it is as often a plural ("the forest *animals*")."""
    lower = [_bare(w) for w in words]
    found: list[int] = []
    for i in range(1, len(words)):
        word = lower[i]
        verb = word not in _ING_NOUNS and _looks_like_verb(word, lower[i - 1]) and (
            not found or word.endswith("ing"))
        when = word == "one" and bool(_TIME_NOUNS & set(lower[i + 1:i + 3]))  # "one quiet evening"
        if word in PHRASE_BOUNDARIES or verb or when:
            found.append(i)
    return found


def _complete(words: list[str]) -> bool:
    """A cut that reads whole: not ending on a word that asks for more."""
    lower = [_bare(w) for w in words]
    if not lower or not is_whole_title(" ".join(words)):
        return False
    last = lower[-1]
    if last in NEEDS_MORE or last in _PREPOSITIONS:
        return False
    before = lower[-2] if len(lower) >= 2 else ""
    if (before in _DESCRIBING and last not in _WHOLE_DOINGS) or (before in _AUX_BE and last.endswith("ing")):
        return False  # "The Penguin Who Wants", "… Who Is Looking"
    if before == "and" and last.endswith("s") and last not in _WHOLE_DOINGS and _looks_like_verb(last, "x"):
        return False  # "… Lost Her Sparkle and Goes": a second doing, cut
    return not (len(lower) >= 2 and lower[-2] == "to" and last in _INCOMPLETE_VERBS)


_DETERMINERS = frozenset("a an the some his her their its my your our".split())


def _content_words(words: list[str]) -> int:
    return sum(_bare(w) not in TITLE_DANGLING for w in words)


def _last_thing(words: list[str], start: int) -> list[str]:
    """The last noun phrase after ``start`` that begins with a determiner: "the northern lights"."""
    lower = [_bare(w) for w in words]
    for d in range(len(words) - 1, start - 1, -1):
        if lower[d] not in _DETERMINERS:
            continue
        end = next((i for i in range(d + 1, len(words)) if i in set(boundaries(words))), len(words))
        phrase = words[d + 1:end]
        if phrase and not lost_its_noun(["the", *phrase]) and _bare(phrase[-1]) not in TITLE_DANGLING:
            return phrase
    return []


def title_candidates(prompt: str) -> list[list[str]]:
    """Titles for a prompt, best first: the whole subject phrase; the same in fewer words ("who
    is looking" → "who looks"); the longest cut at a phrase boundary; the hero and the last thing
    named ("The Penguin and the Northern Lights"); the hero alone."""
    words = clean_title(story_subject(prompt)).split()
    if not words:
        return []
    out = [words]
    if words[0].lower() in ("a", "an") and len(words) > 1:
        words = ["The", *words[1:]]  # a cut title names one particular hero
        first_clause = next((i for i, w in enumerate(words) if _bare(w) in _DESCRIBING), len(words))
        words = ["the" if i < first_clause and _bare(w) in ("a", "an") and _bare(words[i - 1]) == "and" else w
                 for i, w in enumerate(words)]  # "The Cat and the Mouse", not "… and a Mouse"
    short = compact(words)
    out.append(short)
    cuts = boundaries(short)
    hero_end = cuts[0] if cuts else len(short)
    for k in sorted(cuts, reverse=True):
        # The hero alone only when it says more than one word ("The Little Boat").
        if k <= MAX_TITLE_WORDS and (k > hero_end or _content_words(short[:k]) >= 2):
            out.append(short[:k])
    hero = short[:hero_end]
    thing = _last_thing(short, hero_end)
    if thing and len(hero) + 2 + len(thing) <= MAX_TITLE_WORDS:
        out.append([*hero, "and", "the", *thing])
    out.append(hero)
    return out


def title_from_prompt(prompt: str) -> str:
    """A whole title for the story's subject: the prompt itself when it is short; else the longest
    whole part of it ("a little boat that is afraid of the dark at night" → "The Little Boat"); never
    a prompt cut mid-phrase."""
    candidates = title_candidates(prompt)
    if not candidates:
        return DEFAULT_TITLE
    whole, *cuts = candidates
    if len(whole) <= MAX_TITLE_WORDS and is_whole_title(" ".join(whole)):
        return title_case(" ".join(whole))
    for words in cuts:
        if len(words) <= MAX_TITLE_WORDS and _complete(words):
            return title_case(" ".join(words))
    hero = trim_title(" ".join(cuts[-1][:MAX_TITLE_WORDS]))
    return title_case(hero) if is_whole_title(hero) else DEFAULT_TITLE


def ends_mid_phrase(title: str, prompt: str) -> bool:
    """Whether ``title`` is the prompt's subject cut where its phrase goes on ("The Kite That Gets
    Stuck in an Old Oak" from "…an old oak tree"): the bench's check of titles made from prompts,
    which sees noun-before-noun cuts that the title alone cannot show."""
    title_words = [_bare(w) for w in title.split()]
    subject = [_bare(w) for w in clean_title(story_subject(prompt)).split()]
    for source in (subject, [w.lower() for w in compact(subject)]):
        a = title_words[1:] if title_words[:1] and title_words[0] in ("a", "an", "the") else title_words
        b = source[1:] if source[:1] and source[0] in ("a", "an", "the") else source
        if a and len(a) < len(b) and b[:len(a)] == a:
            return len(a) not in boundaries(b)
    return False


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
