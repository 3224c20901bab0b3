"""Bedtime threat scenes that name no worry word: a wolf eating their dinner, a child lost in the
woods at night, being chased, trapped or left behind, a storm or fire as a danger, and the
helplessness of "they didn't know what to do".

Each harmless word here has a harmless use ("the wolf yawned", "the fox ate a berry", "the puppy
chased the ball", "the fire crackled in the fireplace"), so a scene is a *combination*: a sentence
is a threat when one of a scene's ``marks`` is in it, with one of its ``needs`` (when it has any),
and none of its ``unless`` (the harmless readings). The scenes are data below, not code: adding a
threat or a look-alike is adding a phrase. checks.is_distressing treats a threat like any other
bedtime worry (soothed soon, never in the last scene).

Measured on sentences written for the purpose (tests/data/threat_sentences.tsv, README).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Scene:
    kind: str  # what a parent would call it: "predator", "lost", ...
    marks: tuple[str, ...]  # regular expressions, matched case-insensitively as whole words
    needs: tuple[str, ...] = ()  # one of these must be in the same sentence too (none: a mark is enough)
    unless: tuple[str, ...] = ()  # a harmless reading: the sentence is not this threat


# Creatures a bedtime story's small hero might be prey to.
_PREDATORS = (r"wol(?:f|ves)", r"fox(?:es)?", r"bears?", r"lions?", r"tigers?", r"sharks?", r"snakes?",
              r"crocodiles?", r"alligators?", r"hawks?", r"eagles?", r"(?:big |wild )?cats?", r"dogs?", r"hunters?",
              r"giants?", r"goblins?", r"trolls?", r"witch(?:es)?", r"pack of \w+", r"owls?", r"bulls?", r"bees",
              r"wasps", r"swarm of \w+", r"coyotes?", r"weasels?", r"raccoons?", r"leopards?", r"jaguars?",
              r"panthers?", r"hyenas?", r"big fish")
_PREY = (r"(?:one of |some of |all of )?(?:the |a |an |some |all the |three |two )?"
         r"(?:little |baby |tiny |small |young |poor |three )*"
         r"(?:rabbits?|bunn(?:y|ies)|mouse|mice|hens?|chicks?|chickens?|birds?|lambs?|sheep|deer|pigs?|ducks?"
         r"|ducklings?|kittens?|puppy|puppies|children|child|kids?|boy|girl|cubs?|monkeys?|zebras?|fish"
         r"|animals|grandmother|grandma|piglets?|goats?|fawns?|squirrels?|hedgehogs?|bear cub|bears?|field mouse"
         r"|frogs?|anyone|anybody|everyone|everybody)")
# A small one of anything: "the baby giraffe", "a tiny seal".
_SMALL = r"(?:the |a |an )?(?:little|tiny|baby|young|small|sleeping) \w+"
# Anyone in danger: prey, a small one, a pronoun, a name ("Jack").
_VICTIM = r"(?:them|him|her|us|me|you|it whole|" + _PREY + "|" + _SMALL + r"|(?-i:[A-Z][a-z]+)\b)"
_CANNOT = r"c(?:ould|an)(?:n't|not| not)"
# Words that make a creature's scene a calm one ("the wolf yawned and curled up by the fire").
_CALM = (r"yawn\w*", r"curl(?:ed|s)? up", r"asleep", r"sleep\w*", r"snuggl\w*", r"nap", r"purr\w*", r"smil\w*",
         r"cuddl\w*", r"hug(?:s|ged|ging)?", r"friendly", r"gentle", r"lullab\w*", r"happily", r"giggl\w*",
         r"laugh\w*", r"play(?:ed|ing|s)?", r"for fun", r"game", r"shar(?:e|ed|es|ing)", r"gave", r"offer\w*",
         r"friends?\b", r"jok\w*")

SCENES: tuple[Scene, ...] = (
    Scene("predator", marks=_PREDATORS, needs=(
        # hunting, eating or taking someone (or their food)
        r"hunt(?:s|ed|ing)? (?:for )?" + _PREY,
        r"(?:eat|eats|ate|eating|gobbl\w*|swallow\w*|devour\w*|munch\w*|gulp\w*)(?: up| down)? (?:all (?:of )?)?"
        r"(?:their|our|everyone's|" + _VICTIM + ")",
        r"(?:catch|catches|caught|catching|carr(?:y|ied|ies|ying)|t(?:ake|ook|akes|aking)|grab\w*|snatch\w*|drag\w*"
        r"|st(?:ole|eal|eals|ealing)|attack\w*|trap\w*)(?: off| away)? (?:a fat |a plump |the fat )?" + _VICTIM,
        r"t(?:ook|ake|akes) (?:the|its|her|their) (?:eggs|babies|chicks)", r"st(?:ole|eal|eals|ealing)",
        r"(?:would|will|going to|wanted to|wants to|want to|tried to) (?:eat|catch|gobble|bite|grab)",
        r"bit(?:e|es|ing)? (?:them|him|her|the)", r"grab(?:bed|bing|s)? (?:the|a) (?:little|baby|tiny)",
        # menace: teeth, jaws, stalking, pouncing
        r"lick(?:ed|ing|s)? (?:its|his|her|their) lips", r"sharp teeth", r"bar(?:ed|ing|es) (?:its|his|her) teeth",
        r"show(?:ed|ing|s)? (?:its|his|her) (?:sharp )?teeth", r"snap(?:ped|ping|s)? (?:its|his|her) jaws",
        r"open\w* (?:its|his|her) (?:huge |big |wide |sharp )?(?:jaws|mouth wide)",
        r"pounc\w*", r"prowl\w*", r"stalk\w*", r"lurk\w*", r"growl\w*", r"snarl\w*", r"angr(?:y|ily)", r"charg\w*",
        r"cr(?:ept|eeps?|eeping) (?:closer|up on|towards)", r"(?:crept|creep\w*|sneak\w*|snuck) (?:up )?(?:behind|on"
        r"|towards|closer)", r"circl(?:ed|ing|es) (?:the|a|their)", r"crouch(?:ed|ing|es)? low",
        r"ready to (?:catch|grab|pounce|eat|swallow|bite|snatch)", r"swoop\w* down to", r"snatch\w*",
        r"swoop\w* (?:down )?(?:on|at|towards) " + _VICTIM, r"(?:wait\w*|lurk\w*|hid\w*) (?:\w+ ){0,4}for " + _VICTIM,
        r"jump\w* (?:on|at) " + _VICTIM, r"(?:leapt|leaped|jumped|sprang|lunged|pounced) (?:\w+ ){0,5}at ",
        r"(?:swam|ran|flew|charged|came|headed) straight (?:at|for|towards)",
        r"r(?:an|uns|unning|ushed|ush\w*) (?:straight )?(?:towards|at) (?:them|him|her|us)",
        r"(?:watch\w*|star(?:ed|ing)|ey(?:ed|ing)|sniff\w*) (?:\w+ ){0,2}?(?:" + _PREY + "|" + _SMALL + ")",
        r"follow\w* (?:the )?(?:smell|scent|tracks|trail|footprints)", r"(?:was|were) hiding", r"hid(?:ing)? from",
        r"scar(?:ed|es|ing) (?:\w+ ){0,3}away", r"bl(?:ew|ows) (?:\w+ ){0,4}down",
    ), unless=_CALM),
    Scene("chased", marks=(
        r"chas(?:ed|es|ing)", r"r(?:an|uns?|unning) after", r"c(?:ame|omes?|oming) after", r"went after",
        r"hunted down", r"gave chase", r"r(?:an|un|uns|unning) away from", r"fled", r"flee\w*", r"escap\w* from",
        r"(?:right|close|just) behind (?:them|him|her|us)", r"(?:had|have|has|tried) to (?:run|fly|swim|hide|escape) "
        r"(?:away|for)", r"(?:fl(?:ew|y|ies|ying)|sw(?:am|im|ims|imming)|rac(?:ed|es|ing)|stomp\w*|crawl\w*|charg\w*"
        r"|dash\w*|rush\w*|thunder\w*|roar\w*|zoom\w*|speed\w*) after (?:the|a|them|him|her|us|me|(?-i:[A-Z][a-z]+)\b)",
    ), needs=(
        r"(?:was|were|being|get|got) chased", r"(?:chas(?:ed|es|ing)|after) " + _VICTIM,
        r"after (?:the|a|them|him|her|us|me|(?-i:[A-Z][a-z]+)\b)", r"(?:had|have|has|tried) to (?:run|fly|swim|hide"
        r"|escape)", r"r(?:an|un|uns|unning)", r"fled", r"flee\w*", r"hurr(?:y|ied)", r"rac(?:ed|ing)", r"escap\w*",
    ), unless=_CALM + (
        r"each other", r"(?:its|his|her|their) (?:own )?tails?", r"balls?", r"butterfl\w*", r"bubbles?", r"kites?",
        r"lea(?:f|ves)", r"firefl\w*", r"snowflakes?", r"(?:chas\w*|after|fetch\w*) (?:a|the) sticks?",
        r"(?:its|his|her|their) (?:mother|mom|mum|mama|father|dad|papa|friends?|brothers?|sisters?)")),
    Scene("chased", marks=(r"follow(?:ed|ing|s)", r"(?:footsteps|something|someone) (?:was |were )?behind them"),
          needs=(r"something", r"someone", r"(?:the |a )?shadows?", r"footsteps", r"a stranger", r"strange")),
    Scene("lost", marks=(
        _CANNOT + r" find (?:his|her|their|its|my|our) (?:way|family|mother|mom|mum|mommy|mummy|father|dad|daddy"
        r"|mama|papa|parents|friends?|home|nest|den|burrow|herd|flock)",
        _CANNOT + r" find (?:the|any) way", _CANNOT + r" find (?:them|him|her) again", _CANNOT + r" see anyone",
        _CANNOT + r" (?:find|see) (?:\w+ ){1,3}anywhere", _CANNOT + r" see (?:his|her|their|its) (?:mother|mom|mum"
        r"|mommy|mummy|father|dad|daddy|family|parents|friends?)(?: anywhere)?", r"nowhere to be (?:seen|found)",
        r"(?:got|get|gets|getting) lost", r"(?:was|were|is|are|felt|feels|being|realised|realized) (?:\w+ )?lost",
        r"(?:path|way|road|trail|track)s? (?:was|were|had) (?:gone|disappeared|vanished)",
        r"(?:far|a long way) from home (?:in|at|and)", r"separated from", r"lost sight of",
        r"(?:had )?no idea (?:how to get|where (?:she|he|they|we|i) (?:was|were)|which way)",
        r"did(?:n't| not) know (?:how to get|the way|which way)",
        r"did(?:n't| not) know where (?:he|she|they|we|i) (?:was|were)\b(?! going)",
    ), unless=(r"(?:a|an|the) lost \w+", r"lost in (?:a |the |her |his |their )?(?:\w+ )?(?:book|thoughts?|dreams?"
               r"|story|music|song|wonder|daydream)", r"lost track", r"found", r"never lost")),
    Scene("lost", marks=(r"all alone", r"alone", r"(?:all )?by (?:him|her|them|it)sel(?:f|ves)",
                         r"on (?:its|his|her|their) own", r"wander(?:ed|ing|s)?", r"still (?:out|outside|walking)"),
          needs=(r"night", r"dark\w*", r"woods", r"forest", r"ice", r"sea", r"island", r"mountains?", r"nobody",
                 r"no one", r"far away", r"sun went down"),
          unless=(r"never alone", r"not alone", r"no longer alone", r"together", r"holding", r"hand in hand",
                  r"with (?:her|his|their) (?:mother|mom|mum|father|dad|family|friends?)")),
    Scene("trapped", marks=(
        r"trapped", r"caught in (?:a|the) (?:\w+ ){0,2}(?:net|trap|bush|brambles|thorns|branches|web|mud|ice|snow)",
        r"(?:shut|locked) (?:inside|in|up|away)", r"(?:got|get|gets|was|were|is|are) stuck",
        r"stuck (?:at|in|inside|under|between|fast|on top)", r"no way out", r"(?:in|inside) (?:a|the) cage",
        r"buried under", _CANNOT + r" (?:get|climb|crawl|come|jump|fly|swim) (?:out|free|down|back|up|home)",
        _CANNOT + r" (?:get|wriggle|break|pull|squeeze|climb|crawl)(?: \w+)? (?:free|out|loose)",
        _CANNOT + r" (?:move|escape)", _CANNOT + r" open (?:it|the door|the window)",
        r"would(?:n't| not) (?:open|move|budge)",
        _CANNOT + r" (?:fly|swim|turn over|stand up|get up|breathe|walk)",
    ), unless=(r"yet", r"so (?:his|her|their|its) ", r"carried", r"helped", r"until", r"stuck together", r"sticker",
               r"stuck out", r"cos(?:y|ily)", r"coz(?:y|ily)", r"snug\w*", r"too (?:full|sleepy|comfy|comfortable)",
               r"sleep\w*", r"giggl\w*")),
    Scene("left_behind", marks=(
        r"left (?:\w+ ){0,3}behind", r"leaving (?:\w+ ){0,2}(?:all )?(?:alone|behind)",
        r"left (?:\S+ ){0,4}(?:all )?alone", r"(?:was|were) left on (?:its|his|her|their) own",
        r"(?:was|were|got) left (?:on|in|at|behind|alone|there|outside)",
        r"(?:drove|flew|sailed|walked|ran|went|rode|hurried)(?: off| away| home| on)* without (?:him|her|them|me|us"
        r"|the (?:little |baby |smallest )*\w+|(?-i:[A-Z][a-z]+)\b)",
        r"forgot (?:all )?(?:about )?(?:him|her|them|(?:the )?little|(?-i:[A-Z][a-z]+)\b)",
        r"forgot to (?:pick (?:him|her|them) up|wait for (?:him|her|them))",
        r"(?:nobody|no one|no-one) came back", r"never came back", r"house was empty",
        r"(?:family|parents|mother|mom|mum|father|dad|everyone|everybody) (?:had |was |were )?(?:gone|left)"
        r"(?: away)?(?: and| without|,)",
    ), unless=(r"(?:worries|troubles|cares|footprints|a trail|a note|a cookie|a present)\b",)),
    Scene("storm_fire", marks=(
        r"storms?", r"thunder\w*", r"lightning", r"winds?", r"gales?", r"hurricanes?", r"tornado(?:e?s)?", r"floods?",
        r"fires?", r"flames", r"smoke", r"blaze", r"wildfires?", r"on fire", r"blizzards?", r"volcano(?:e?s)?",
        r"lava", r"avalanches?", r"hail\w*", r"earthquakes?",
    ), needs=(
        r"burst\w*", r"br(?:oke|eak|eaks|oken)", r"caught fire", r"smash\w*", r"crash\w*", r"struck", r"strikes?",
        r"split", r"tore", r"torn", r"ripp\w*", r"knock\w* (?:\w+ ){0,3}down", r"bl(?:ew|own|ows) (?:\w+ ){0,4}away",
        r"blew (?:the|their) (?:roof|house|tent)", r"swept (?:\w+ ){0,3}away", r"wash(?:ed|es)? (?:\w+ ){0,3}away",
        r"destroy\w*", r"spread(?:s|ing)?", r"burn\w*", r"on fire", r"engulf\w*", r"bur(?:y|ied|ies)",
        r"rag(?:ed|ing|es)", r"roar\w*", r"howl\w*", r"rising", r"(?:coming|getting|came|moving) closer",
        r"closer and closer", r"towards (?:them|their|the house|home|us|the village)", r"filled the (?:room|house)",
        r"terrible", r"dangerous", r"danger", r"fierce", r"flooded", r"shook", r"rattl\w* the",
        r"gr(?:ew|ows|owing) (?:bigger|stronger|higher|louder|wilder)", r"lights? went out", r"power went out",
        r"(?:so|too) loud", r"jump\w* from (?:tree|roof|house)", r"would(?:n't| not) open",
        r"fell (?:on|onto) (?:their|the|our) (?:house|roof|tent|car|den|nest|home)",
    ), unless=(r"passed", r"(?:was|is) over", r"after the storm", r"gentl\w*", r"soft\w*", r"cos(?:y|ily)",
               r"coz(?:y|ily)", r"inside it was", r"safe inside", r"snug\w*", r"fireplace", r"campfire",
               r"marshmallows?", r"crackl\w*", r"distant", r"drifted away", r"rainbow", r"lightning bugs?",
               r"firefl(?:y|ies)")),
    # Water is a danger only when it does what a flood does.
    Scene("storm_fire", marks=(r"waves?", r"water", r"sea", r"river", r"tide"), needs=(
        r"burst\w*", r"s(?:ink|ank|inking|unk)", r"capsiz\w*", r"overturn\w*", r"swept (?:\w+ ){0,3}away",
        r"wash(?:ed|es)? (?:\w+ ){0,3}away", r"(?:rose|rising|kept rising) (?:higher|around|up to|into)",
        r"(?:came|poured|rushed|crashed) (?:in|into|over) (?:the|their|our) (?:little |small |tiny )?(?:house|home"
        r"|room|boat|cabin|tent|den|burrow|nest|farm|village)", r"toss\w* (?:the|their|them|him|her)",
        r"carried (?:\w+ ){0,3}away", r"dragged (?:\w+ ){0,2}(?:under|away|down)", r"huge", r"rose higher",
    ), unless=(r"gentl\w*", r"soft\w*", r"sparkl\w*", r"calm", r"played", r"splash\w*", r"lapp\w*", r"bobb\w*")),
    Scene("helpless", marks=(
        r"did(?:n't| not) know what to do", r"did(?:n't| not) know how to",
        r"(?:no one|nobody|no-one) knew (?:how|what)",
        r"(?:called|cried|shouted|screamed|yelled|calling|crying|shouting) (?:out )?for help", r"helpless(?:ly)?",
        r"help!", r"(?:no one|nobody|no-one) (?:came|could help|would help|heard|was there|to help|answered|replied"
        r"|listened|let|opened)", r"(?:no one|nobody|no-one) (?:could|would) (?:hear|see|find|help|come|reach)",
        r"(?:no one|nobody|no-one) (?:was|is) coming", r"had no one to help", r"nothing (?:they|he|she|we|i) could do",
        r"too (?:weak|small|scared|frightened) to (?:climb out|get out|escape|get (?:down|home|back|away)|fly away"
        r"|swim back|get free)", _CANNOT + r" (?:do anything|help (?:it|him|her|them)|save)",
        _CANNOT + r" stop (?:it|them|the \w+)(?! (?:giggl|laugh|smil))", r"cold and hungry", r"hungry and cold",
        r"no food", r"nowhere to (?:sleep|go|live|stay|hide)", r"nothing to eat",
        r"no (?:oars|water|nuts|food) (?:left|anywhere)", r"for (?:their|his|her|its|dear) li(?:fe|ves)",
        r"(?:she|he|they|it|mother|mom|mum|mama|dad|papa) did(?:n't| not) come", r"never c(?:ame|ome) back",
        r"(?:further|farther) and (?:further|farther)", r"out to sea",
    )),
    Scene("peril", marks=(
        r"fell (?:in|into|down|through) (?:a |the )?(?:\w+ ){0,2}(?:water|river|hole|well|sea|pond|mud|lake|ditch"
        r"|crack|ice)", r"ice (?:cracked|broke|gave way)",
        r"(?:sea|water|river|lake) (?:rose|was rising|kept rising|came up|crept up)",
    )),
)


def _alternation(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile(r"\b(?:" + "|".join(patterns) + r")(?!\w)", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[str, re.Pattern[str] | None, re.Pattern[str] | None, re.Pattern[str] | None], ...]:
    return tuple((s.kind, _alternation(s.marks), _alternation(s.needs), _alternation(s.unless)) for s in SCENES)


def threat_in(sentence: str) -> str | None:
    """The kind of threat scene the sentence describes ("predator", "lost", "chased", "trapped",
    "left_behind", "storm_fire", "helpless", "peril"), or None."""
    text = sentence.replace("’", "'")
    for kind, marks, needs, unless in _compiled():
        if marks is None or not marks.search(text):
            continue
        if needs is not None and not needs.search(text):
            continue
        if unless is not None and unless.search(text):
            continue
        return kind
    return None
