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


# Creatures a bedtime story's small hero might be prey to, and what they might take.
_PREDATORS = (r"wol(?:f|ves)", r"fox(?:es)?", r"bears?", r"lions?", r"tigers?", r"sharks?", r"snakes?",
              r"crocodiles?", r"alligators?", r"hawks?", r"eagles?", r"(?:big |wild )?cats?", r"dogs?",
              r"hunters?", r"giants?", r"goblins?", r"trolls?", r"witch(?:es)?", r"pack of \w+", r"owls?", r"bulls?",
              r"bees", r"wasps", r"swarm of \w+")
_PREY = (r"(?:one of |some of |all of )?(?:the |a |an |some |all the |three |two )?(?:little |baby |tiny |small |young |poor |three )*"
         r"(?:rabbits?|bunn(?:y|ies)|mouse|mice|hens?|chicks?|chickens?|birds?|lambs?|sheep|deer|pigs?|ducks?"
         r"|ducklings?|kittens?|puppy|puppies|children|child|kids?|boy|girl|cubs?|monkeys?|zebras?|fish"
         r"|animals|grandmother|grandma|piglets?|goats?|fawns?|squirrels?|hedgehogs?|bear cub|bears?|field mouse"
         r"|frogs?|anyone|anybody|everyone|everybody)")
# Anyone small enough to be in danger: "the baby giraffe", "a tiny seal", "her", "Jack".
_VICTIM = (r"(?:them|him|her|us|me|you|it whole|" + _PREY + r"|(?:the |a |an )?(?:little|tiny|baby|young|small) \w+"
           r"|(?-i:[A-Z][a-z]+)\b)")
# Words that make a creature's scene a calm one ("the wolf yawned and curled up by the fire").
_CALM = (r"yawn\w*", r"curl(?:ed|s)? up", r"asleep", r"sleep\w*", r"snuggl\w*", r"nap", r"purr\w*",
         r"smil\w*", r"cuddl\w*", r"hug(?:s|ged|ging)?", r"friendly", r"gentle", r"lullab\w*", r"happily", r"giggl\w*",
         r"laugh\w*", r"play(?:ed|ing|s)?", r"for fun", r"game", r"shar(?:e|ed|es|ing)", r"gave", r"offer\w*",
         r"friends?\b", r"jok\w*")

SCENES: tuple[Scene, ...] = (
    Scene("predator", marks=_PREDATORS, needs=(
        r"hunt(?:s|ed|ing)? (?:for )?" + _PREY,
        r"(?:eat|eats|ate|eating|gobbl\w*|swallow\w*|devour\w*|munch\w*|gulp\w*)(?: up| down)? (?:all (?:of )?)?"
        r"(?:their|our|everyone's|" + _VICTIM + r")",
        r"(?:catch|catches|caught|catching|carr(?:y|ied|ies|ying)|t(?:ake|ook|akes|aking)|grab\w*|snatch\w*|drag\w*"
        r"|st(?:ole|eal|eals|ealing)|attack\w*|trap\w*)(?: off| away)? (?:a fat |a plump |the fat )?" + _VICTIM,
        r"lick(?:ed|ing|s)? (?:its|his|her|their) lips", r"sharp teeth", r"bar(?:ed|ing|es) (?:its|his|her) teeth",
        r"show(?:ed|ing|s)? (?:its|his|her) (?:sharp )?teeth", r"snap(?:ped|ping|s)? (?:its|his|her) jaws",
        r"pounc\w*", r"prowl\w*", r"stalk\w*", r"lurk\w*", r"cr(?:ept|eeps?|eeping) (?:closer|up on|towards)",
        r"growl\w*", r"snarl\w*", r"circl(?:ed|ing|es) (?:the|a|their)", r"crouch(?:ed|ing|es)? low",
        r"ready to (?:catch|grab|pounce|eat|swallow|bite|snatch)", r"swoop\w* down to", r"snatch\w*",
        r"grab(?:bed|bing|s)? (?:the|a) (?:little|baby|tiny)", r"bit(?:e|es|ing)? (?:them|him|her|the)",
        r"st(?:ole|eal|eals|ealing)", r"scar(?:ed|es|ing) (?:\w+ ){0,3}away",
        r"follow\w* (?:the )?(?:smell|scent|tracks|trail|footprints)",
        r"swoop\w* (?:down )?(?:on|at|towards) " + _VICTIM, r"(?:wait\w*|lurk\w*|hid\w*) (?:\w+ ){0,4}for " + _VICTIM,
        r"jump\w* (?:on|at) " + _VICTIM, r"(?:crept|creep\w*|sneak\w*|snuck) (?:up )?(?:behind|on|towards|closer)",
        r"(?:would|will|going to|wanted to|wants to|want to|tried to) (?:eat|catch|gobble|bite|grab)",
        r"r(?:an|uns|unning|ushed|ush\w*) (?:straight )?(?:towards|at) (?:them|him|her|us)", r"charg\w*",
        r"angr(?:y|ily)", r"(?:watch\w*|star(?:ed|ing)|ey(?:ed|ing)|sniff\w*) (?:\w+ ){0,2}?" + _VICTIM,
    ), unless=_CALM),
    Scene("chased", marks=(
        r"chas(?:ed|es|ing)", r"r(?:an|uns?|unning) after", r"c(?:ame|omes?|oming) after", r"went after",
        r"hunted down", r"gave chase", r"r(?:an|un|uns|unning) away from", r"fled", r"flee\w*", r"escap\w* from",
        r"(?:right|close|just) behind (?:them|him|her|us)",
        r"(?:had|have|has|tried) to (?:run|fly|swim|hide|escape) (?:away|for)",
        r"(?:fl(?:ew|y|ies|ying)|sw(?:am|im|ims|imming)|rac(?:ed|es|ing)|stomp\w*|crawl\w*|charg\w*|dash\w*|rush\w*"
        r"|thunder\w*) after (?:the|a|them|him|her|us|me|(?-i:[A-Z][a-z]+)\b)",
    ), needs=(r"after (?:the|a|them|him|her|us|me|(?-i:[A-Z][a-z]+)\b)",r"(?:had|have|has|tried) to (?:run|fly|swim|hide|escape)",r"(?:was|were|being|get|got) chased", r"(?:chas(?:ed|es|ing)|after) " + _VICTIM, r"r(?:an|un|uns|unning)",
              r"fled", r"flee\w*", r"hurr(?:y|ied)", r"rac(?:ed|ing)", r"escap\w*"),
        unless=_CALM + (r"each other", r"(?:its|his|her|their) (?:own )?tails?", r"balls?", r"butterfl\w*", r"bubbles?",
                        r"kites?", r"lea(?:f|ves)", r"firefl\w*", r"snowflakes?", r"sticks?", r"(?:its|his|her|their) "
                        r"(?:mother|mom|mum|mama|father|dad|papa|friends?|brothers?|sisters?)")),
    Scene("chased", marks=(r"follow(?:ed|ing|s)", r"(?:footsteps|something|someone) (?:was |were )?behind them"),
          needs=(r"something", r"someone", r"(?:the |a )?shadows?", r"footsteps", r"a stranger", r"strange")),
    Scene("lost", marks=(
        r"c(?:ould|an)(?:n't|not| not) find (?:his|her|their|its|my|our) (?:way|family|mother|mom|mum|mommy|mummy"
        r"|father|dad|daddy|mama|papa|parents|friends?|home|nest|den|burrow|herd|flock)",
        r"c(?:ould|an)(?:n't|not| not) (?:find|see) (?:\w+ ){1,3}anywhere", r"(?:got|get|gets|getting) lost",
        r"(?:path|way|road|trail|track)s? (?:was|were|had) (?:gone|disappeared|vanished)",
        r"c(?:ould|an)(?:n't|not| not) find (?:the|any) way", r"(?:far|a long way) from home (?:in|at|and)",
        r"separated from", r"lost sight of",
        r"(?:had )?no idea (?:how|where|which way)", r"did(?:n't| not) know (?:how to get|the way|which way)",
        r"did(?:n't| not) know where (?:he|she|they|it|we|i) (?:was|were|w(?:as|ere) going)",
        r"c(?:ould|an)(?:n't|not| not) see (?:his|her|their|its) (?:mother|mom|mum|mommy|mummy|father|dad|daddy"
        r"|family|parents|friends?)(?: anywhere)?", r"nowhere to be (?:seen|found)",
        r"(?:was|were|is|are|felt|feels|being|realised|realized) (?:\w+ )?lost",
    ), unless=(r"lost in (?:a |the |her |his |their )?(?:\w+ )?(?:book|thought|thoughts|dream|dreams|story|music"
               r"|song|wonder|daydream)", r"lost track", r"found", r"never lost")),
    Scene("lost", marks=(r"all alone", r"alone", r"(?:all )?by (?:him|her|them|it)sel(?:f|ves)",
                         r"on (?:its|his|her|their) own", r"wander(?:ed|ing|s)?", r"still (?:out|outside|walking)"),
          needs=(r"night", r"dark\w*", r"woods", r"forest", r"ice", r"sea", r"island", r"mountains?", r"nobody",
                 r"no one", r"far away", r"sun went down"),
          unless=(r"never alone", r"not alone", r"no longer alone", r"together", r"with (?:her|his|their) "
                  r"(?:mother|mom|mum|father|dad|family|friends?)")),
    Scene("trapped", marks=(
        r"trapped", r"caught in (?:a|the) (?:net|trap)", r"locked (?:in|inside|up|away)",
        r"(?:got|get|gets|was|were|is|are) stuck", r"stuck (?:at|in|inside|under|between|fast|on top)",
        r"c(?:ould|an)(?:n't|not| not) (?:get|climb|crawl|come|jump|fly|swim) (?:out|free|down|back|up|home)",
        r"c(?:ould|an)(?:n't|not| not) (?:move|escape)", r"c(?:ould|an)(?:n't|not| not) open (?:it|the door|the window)",
        r"no way out", r"(?:in|inside) (?:a|the) cage", r"(?:shut|locked) (?:inside|in|up|away)", r"buried under",
        r"caught in (?:a|the) (?:\w+ ){0,2}(?:net|trap|bush|brambles|thorns|branches|web|mud|ice|snow)",
        r"c(?:ould|an)(?:n't|not| not) (?:fly|swim|turn over|stand up|get up|breathe|walk)",
    ), unless=(r"yet", r"so (?:his|her|their|its) ", r"carried", r"helped", r"until",r"stuck together", r"sticker", r"stuck out", r"cos(?:y|ily)", r"coz(?:y|ily)", r"snug\w*",
               r"too (?:full|sleepy|comfy|comfortable)", r"sleep\w*", r"giggl\w*")),
    Scene("left_behind", marks=(
        r"left (?:\w+ ){0,3}behind", r"leaving (?:\w+ ){0,2}(?:all )?(?:alone|behind)", r"left (?:\S+ ){0,4}(?:all )?alone",
        r"(?:drove|flew|sailed|walked|ran|went|rode|hurried)(?: off| away| home| on)* without (?:him|her|them|me|us|"
        r"the (?:little |baby |smallest )*\w+|(?-i:[A-Z][a-z]+)\b)",
        r"forgot (?:all )?(?:about )?(?:him|her|them|(?:the )?little|(?-i:[A-Z][a-z]+)\b)",
        r"forgot to (?:take|bring|pick up|wait for)", r"(?:nobody|no one|no-one) came back", r"never came back",
        r"(?:family|parents|mother|mom|mum|father|dad|everyone|everybody) (?:had )?(?:gone|left)(?: away)?(?: and| without|,)",
        r"house was empty", r"(?:was|were) left on (?:its|his|her|their) own",
        r"(?:was|were|got) left (?:on|in|at|behind|alone|there|outside)",
    ), unless=(r"(?:worries|troubles|cares|footprints|a trail|a note|a cookie|a present)\b",)),
    Scene("storm_fire", marks=(
        r"storms?", r"thunder\w*", r"lightning", r"winds?", r"gales?", r"hurricanes?", r"tornado(?:e?s)?", r"floods?",
        r"waves?", r"fires?", r"flames", r"smoke", r"blaze", r"wildfires?", r"on fire", r"river", r"water", r"sea",
    ), needs=(
        r"burst\w*", r"br(?:oke|eak|eaks|oken)", r"s(?:ink|ank|inking|unk)", r"caught fire", r"capsiz\w*",
        r"overturn\w*", r"pour\w* (?:in|into) (?:the|their|our) (?:little |small |tiny )?(?:house|home|room|boat|cabin|tent"
        r"|den|burrow|nest)",
        r"smash\w*", r"crash\w*", r"struck", r"strikes?", r"tore", r"torn", r"ripp\w*", r"knock\w* (?:\w+ ){0,3}down",
        r"knock\w* down", r"bl(?:ew|own|ows) (?:\w+ ){0,4}away", r"swept (?:\w+ ){0,3}away",
        r"wash(?:ed|es)? (?:\w+ ){0,3}away", r"destroy\w*", r"spread(?:s|ing)?", r"burn\w*", r"on fire", r"engulf\w*",
        r"rag(?:ed|ing|es)", r"roar\w*", r"howl\w*", r"rising", r"(?:coming|getting|came|moving) closer",
        r"closer and closer", r"towards (?:them|their|the house|home|us)", r"filled the (?:room|house|air)",
        r"terrible", r"dangerous", r"danger", r"fierce", r"huge", r"flooded", r"shook the (?:house|walls|windows|tent)",
        r"rattl\w* the", r"blew (?:the|their) (?:roof|house|tent)",
        r"gr(?:ew|ows|owing) (?:bigger|stronger|higher|louder|wilder)", r"toss\w*", r"thr(?:ew|own)",
        r"(?:water|waves?) (?:came|poured|rushed|crashed) (?:in|into|over)", r"leak\w*",
        r"fell (?:on|onto) (?:their|the|our) (?:house|roof|tent|car|den|nest|home)",
        r"lights? went out", r"power went out", r"(?:so|too) loud", r"shook", r"shaking", r"jump\w* from", r"leap\w*",
    ), unless=(r"passed", r"(?:was|is) over", r"after the storm", r"gentl\w*", r"soft\w*", r"cos(?:y|ily)",
               r"coz(?:y|ily)", r"inside it was", r"safe inside", r"snug\w*", r"fireplace", r"campfire",
               r"marshmallows?", r"candles?", r"crackl\w*", r"distant", r"drifted away", r"rainbow",
               r"lightning bugs?", r"firefl(?:y|ies)")),
    Scene("helpless", marks=(
        r"did(?:n't| not) know what to do", r"did(?:n't| not) know how to", r"(?:no one|nobody|no-one) knew (?:how|what)",
        r"(?:called|cried|shouted|screamed|yelled|calling|crying|shouting) (?:out )?for help",
        r"(?:no one|nobody|no-one) (?:came|could help|would help|heard|was there|to help|answered|replied|listened)",
        r"had no one to help", r"too (?:weak|small|scared|frightened) to (?:climb out|get out|escape|get (?:down|home|back|away)"
        r"|fly away|swim back|get free)", r"nothing (?:they|he|she|we|i) could do",
        r"c(?:ould|an)(?:n't|not| not) (?:do anything|help (?:it|him|her|them)|save)", r"helpless(?:ly)?", r"help!",
        r"(?:no one|nobody|no-one) (?:was|is) coming", r"cold and hungry", r"hungry and cold",
        r"(?:no one|nobody|no-one) (?:could|would) (?:hear|see|find|help|come)", r"no food",
        r"nowhere to (?:sleep|go|live|stay|hide)", r"nothing to eat",
        r"(?:she|he|they|it|mother|mom|mum|mama|dad|papa) did(?:n't| not) come", r"never c(?:ame|ome) back",
        r"c(?:ould|an)(?:n't|not| not) stop (?:it|them|the \w+)(?! (?:giggl|laugh|smil))", r"(?:no one|nobody) could reach",
    )),
    Scene("peril", marks=(
        r"fell (?:in|into|down|through) (?:a |the )?(?:\w+ ){0,2}(?:water|river|hole|well|sea|pond|mud|lake|ditch|crack|ice)",
        r"ice (?:cracked|broke|gave way)", r"(?:sea|water|river|lake) (?:rose|was rising|kept rising|came up|crept up)",
    )),
)



# --- broad cues --------------------------------------------------------------------------------
# The scenes above are precise but only as wide as their phrases: written against one set of
# sentences, they caught 15-60% of the next set written fresh (README). The cues are single words
# in four groups; a sentence no scene matched is still a threat when it has a danger (AGENTS) doing
# harm (HARMS) to someone or in peril, or someone small in peril (PERILS), and no harmless reading.
AGENTS = (r"wol(?:f|ves)", r"fox(?:es)?", r"bears?", r"lions?", r"tigers?", r"sharks?", r"snakes?", r"crocodiles?",
          r"alligators?", r"hawks?", r"eagles?", r"owls?", r"coyotes?", r"leopards?", r"jaguars?", r"panthers?",
          r"hyenas?", r"bulls?", r"bees", r"wasps", r"spiders?", r"trolls?", r"giants?", r"goblins?", r"witch(?:es)?",
          r"dragons?", r"monsters?", r"strangers?", r"farmers?", r"hunters?", r"storms?", r"thunder", r"lightning",
          r"blizzards?", r"hurricanes?", r"tornado(?:e?s)?", r"floods?", r"waves?", r"fires?", r"flames", r"smoke",
          r"lava", r"volcano(?:e?s)?", r"avalanches?", r"earthquakes?", r"tide", r"current", r"ice", r"winds?", r"sea",
          r"river", r"water", r"trucks?", r"cats?", r"dogs?", r"geese", r"goose")
HARMS = (r"eat\w*", r"ate", r"gobbl\w*", r"swallow\w*", r"bit(?:e|es|ing)?", r"catch\w*", r"caught", r"grab\w*",
         r"snatch\w*", r"took", r"st(?:eal|ole)\w*", r"chas\w*", r"crept", r"creep\w*", r"sneak\w*", r"pounc\w*",
         r"leapt", r"leap\w*", r"lung\w*", r"attack\w*", r"charg\w*", r"roar\w*", r"growl\w*", r"snarl\w*",
         r"huff\w*", r"split", r"buried", r"bury\w*", r"smash\w*", r"crash\w*", r"tore", r"torn", r"swept",
         r"wash\w* away", r"burn\w*", r"spread\w*", r"poured", r"rose", r"crack\w*", r"s(?:ink|ank|unk|inking)",
         r"toss\w*", r"straight at", r"towards", r"after", r"down", r"held")
VICTIMS = (r"(?:little|tiny|baby|young|small|sleeping) \w+", r"puppies", r"kittens?", r"lambs?", r"sheep", r"deer",
           r"rabbits?", r"bunn(?:y|ies)", r"mice", r"mouse", r"chicks?", r"hens?", r"ducklings?", r"them", r"him",
           r"her", r"us", r"village", r"house", r"cottage")
PERILS = (r"could(?:n't| not)", r"can(?:'t|not)", r"would(?:n't| not)", r"did(?:n't| not)", r"nobody", r"no one",
          r"nowhere", r"no (?:oars|food|nuts|way|one|home)", r"without", r"too late", r"further and further",
          r"out to sea", r"all night", r"w(?:as|ere) gone", r"still on", r"separated", r"empty", r"lost", r"alone",
          r"trapped", r"stuck", r"went dark", r"was dark", r"only just begun")
# Readings that make the cues harmless: calm words, and the look-alikes of the tests' sentences
# ("lost her tooth", "ate his porridge", "could not fly yet, so his mother carried him").
HARMLESS = (r"soft\w*", r"gentl\w*", r"slow\w*", r"sleepy", r"asleep", r"nap", r"smil\w*", r"laugh\w*",
            r"giggl\w*", r"hug(?:s|ged|ging)?", r"warm\w*", r"cos(?:y|ily)", r"coz(?:y|ily)", r"snug\w*", r"safe",
            r"happ\w*", r"kind", r"friendly", r"gave", r"shar\w*", r"help(?:ed|s)", r"wav\w*", r"plenty",
            r"birthday", r"pancakes", r"sparkl\w*", r"joined", r"flowers", r"quietly", r"cookies", r"balloons",
            r"play\w*", r"sang", r"sing\w*", r"dew", r"icing", r"found", r"never alone", r"not alone", r"no longer alone",
            r"stuck together", r"stickers?", r"stuck (?:a|the|it)", r"snowflakes?", r"yet,? so", r"lost (?:her|his|their|its|a)",
            r"lost in (?:a|the|her|his)", r"(?:a|an|the) lost", r"lost track", r"(?:ate|eat\w*|gobbl\w*) (?:up )?(?:his|her|its)",
            r"(?:ate|eat\w*) (?:their|some|the) (?:dinner|breakfast|lunch|supper|porridge|honey|berries|cake|food) and",
            r"honey", r"porridge", r"lea(?:f|ves)", r"stop (?:smiling|giggling|laughing)", r"wait", r"believe",
            r"could(?:n't| not) sleep")


def _alternation(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile(r"\b(?:" + "|".join(patterns) + r")(?!\w)", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def _cues() -> tuple[re.Pattern[str] | None, ...]:
    return tuple(_alternation(group) for group in (AGENTS, HARMS, VICTIMS, PERILS, HARMLESS))


def _cued(text: str) -> bool:
    agent, harm, victim, peril, harmless = (bool(p and p.search(text)) for p in _cues())
    if harmless:
        return False
    return (agent and harm and (victim or peril)) or (peril and (victim or agent))


@functools.lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[str, re.Pattern[str] | None, re.Pattern[str] | None, re.Pattern[str] | None], ...]:
    return tuple((s.kind, _alternation(s.marks), _alternation(s.needs), _alternation(s.unless)) for s in SCENES)


def threat_in(sentence: str) -> str | None:
    """The kind of threat scene the sentence describes ("predator", "lost", "chased", "trapped",
    "left_behind", "storm_fire", "helpless", "peril"; "danger" when only the broad cues found it),
    or None."""
    text = sentence.replace("’", "'")
    for kind, marks, needs, unless in _compiled():
        if marks is None or not marks.search(text):
            continue
        if needs is not None and not needs.search(text):
            continue
        if unless is not None and unless.search(text):
            continue
        return kind
    return "danger" if _cued(text) else None
