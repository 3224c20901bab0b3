"""Which bedtime words have art, and what a scene's picture should show.

The vocabulary is data: one line per thing, ``kind | place | code[/fallback] | words``.
- kind: ``animal``, ``creature``, ``person``, ``vehicle``, ``toy`` — hero-capable: one of them can
  carry a story — or ``detail`` (small things drawn around them). Settings are a separate table.
- place: where the picture puts it — ``ground``, ``air`` (floats: birds, kites, rockets), ``sky``
  (details high up: stars, moon, clouds).
- code: the OpenMoji code point(s) (the SVG/font name); ``/FALLBACK`` is used where a multi-code
  -point sequence cannot be drawn (no Raqm layout) — see art.resolve.
- words: the first word is the name recorded in story.json ``shows``; the rest are synonyms.
  A word written ``!word`` is a name only, never matched (plain "ball" is also a dance, "dove" also
  "dived"). Regular plurals are added automatically (bunny → bunnies, fox → foxes); irregular
  ones are listed. A word with spaces is a phrase and wins over its parts ("teddy bear" over "bear").

Deliberately missing: nouns that are common verbs or other words in bedtime prose ("dove" is also
"dived", "present" is also "now", "rose" also "got up", "fly", "bark", "palm", "chest") — they are
either left out or only allowed inside a phrase ("palm tree", "treasure chest").

Matching is whole words, case-insensitive, possessives stripped ("dragon's" → dragon), longest
phrase first, left to right; no randomness, so the same text always shows the same things.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

_THINGS = """
# ---- animals ------------------------------------------------------------------------------
animal  | ground | 1F409  | dragon, dragonling, wyvern
animal  | ground | 1F995  | dinosaur, dino, brontosaurus, diplodocus, sauropod, stegosaurus, triceratops
animal  | ground | 1F996  | t-rex, tyrannosaurus, trex, t rex
animal  | ground | 1F989  | owl, owlet
animal  | ground | 1F430  | bunny, rabbit, hare, bunny rabbit
animal  | ground | 1F431  | cat, kitty, kitten, kitty cat, pussycat, tabby, moggy
animal  | ground | 1F436  | dog, puppy, pup, doggy, doggie, hound, puppy dog, dachshund, poodle, terrier
animal  | ground | 1F98A  | fox, fox cub, vixen
animal  | ground | 1F43B  | bear, bear cub, grizzly
animal  | ground | 1F43B-200D-2744-FE0F/1F43B | polar bear, ice bear
animal  | ground | 1F43C  | panda, panda bear
animal  | ground | 1F428  | koala, koala bear
animal  | ground | 1F981  | lion, lioness, lion cub
animal  | ground | 1F42F  | tiger, tiger cub, tigress
animal  | ground | 1F406  | leopard, cheetah, jaguar, snow leopard
animal  | ground | 1F418  | elephant, baby elephant
animal  | ground | 1F992  | giraffe
animal  | ground | 1F993  | zebra
animal  | ground | 1F40E  | horse, pony, foal, mare, stallion
animal  | ground | 1F984  | unicorn
animal  | ground | 1FACF  | donkey, mule
animal  | ground | 1F412  | monkey, chimp, chimpanzee
animal  | ground | 1F98D  | gorilla
animal  | ground | 1F9A7  | orangutan
animal  | ground | 1F42D  | mouse, mice, field mouse, dormouse, dormice
animal  | ground | 1F439  | hamster, gerbil, guinea pig
animal  | ground | 1F994  | hedgehog
animal  | ground | 1F43F  | squirrel, chipmunk
animal  | ground | 1F99D  | raccoon, racoon
animal  | ground | 1F9A1  | badger
animal  | ground | 1F9A6  | otter
animal  | ground | 1F9AB  | beaver
animal  | ground | 1F9A5  | sloth
animal  | ground | 1F9A8  | skunk
animal  | ground | 1F98C  | deer, reindeer, fawn, stag, caribou
animal  | ground | 1FACE  | moose, elk
animal  | ground | 1F43A  | wolf, wolves, wolf cub
animal  | ground | 1F437  | pig, piglet, piggy, hog
animal  | ground | 1F42E  | cow, calf, calves, cattle
animal  | ground | 1F411  | sheep, lamb, ewe
animal  | ground | 1F410  | goat, billy goat
animal  | ground | 1F414  | chicken, hen, mother hen
animal  | ground | 1F413  | rooster, cockerel
animal  | ground | 1F425  | chick, baby chick
animal  | ground | 1F986  | duck, duckling, ducky, mallard
animal  | ground | 1F9A2  | swan, cygnet
animal  | ground | 1FABF  | goose, geese, gosling
animal  | ground | 1F427  | penguin
animal  | air    | 1F426  | bird, birdie, sparrow, bluebird, songbird, finch, blackbird, nightingale, lark
animal  | air    | 1F99C  | parrot, macaw, cockatoo
animal  | ground | 1F99A  | peacock
animal  | ground | 1F9A9  | flamingo
animal  | air    | 1F54A  | !dove, doves, white dove, pigeon, turtle dove
animal  | air    | 1F985  | eagle, hawk, falcon
animal  | ground | 1F983  | turkey
animal  | air    | 1F426-200D-1F525/1F426 | phoenix, firebird
animal  | ground | 1F422  | turtle, tortoise, sea turtle
animal  | ground | 1F438  | frog, toad, froggy, tadpole
animal  | ground | 1F40C  | snail
animal  | air    | 1F98B  | butterfly, moth
animal  | air    | 1F41D  | bee, bumblebee, honeybee, bumble bee
animal  | ground | 1F41E  | ladybug, ladybird
animal  | ground | 1F41B  | caterpillar
animal  | ground | 1F41C  | ant
animal  | ground | 1FAB2  | beetle, bug
animal  | ground | 1F997  | cricket, grasshopper
animal  | ground | 1FAB1  | worm, earthworm, inchworm
animal  | ground | 1F577  | spider
animal  | ground | 1F40B  | whale, humpback, blue whale, whale calf
animal  | ground | E006   | narwhal
animal  | ground | 1F42C  | dolphin, porpoise
animal  | ground | 1F41F  | fish, fishy, goldfish
animal  | ground | 1F420  | tropical fish, clownfish
animal  | ground | 1F421  | pufferfish, blowfish
animal  | ground | 1F988  | shark
animal  | ground | 1F419  | octopus, octopuses, octopi
animal  | ground | 1F991  | squid
animal  | ground | 1F980  | crab
animal  | ground | 1F99E  | lobster
animal  | ground | 1F9AD  | seal, sea lion, seal pup, walrus
animal  | air    | 1FABC  | jellyfish
animal  | ground | 1F40D  | snake, serpent
animal  | ground | 1F98E  | lizard, gecko, iguana, chameleon
animal  | ground | 1F40A  | crocodile, alligator
animal  | air    | 1F987  | bat
animal  | ground | 1F42B  | camel
animal  | ground | 1F999  | llama, alpaca
animal  | ground | 1F998  | kangaroo, wallaby, joey
animal  | ground | 1F99B  | hippo, hippopotamus
animal  | ground | 1F98F  | rhino, rhinoceros
animal  | ground | 1F9A3  | mammoth, woolly mammoth
animal  | ground | 1F9AC  | bison, buffalo
# ---- creatures and people (person) -----------------------------------------------------------------
creature| air    | 1F9DA  | fairy, pixie, tooth fairy, sprite
creature| ground | 1F9DC-200D-2640-FE0F/1F9DC | mermaid, merman, merperson, mermaids
creature| ground | 1F9D9  | wizard, witch, magician, sorcerer, wizards
creature| ground | 1F9DD  | elf, elves
creature| ground | 1F9DE  | genie
creature| ground | 1F9CC  | troll
creature| ground | 1F916  | robot, robo, droid
creature| ground | 1F47D  | alien, martian
creature| air    | 1F47B  | ghost, friendly ghost
creature| ground | 1FAC8  | monster, yeti, bigfoot, sasquatch, hairy creature
creature| ground | 26C4   | snowman, snowmen, snow man
creature| air    | 1F47C  | angel, cherub
person  | ground | 1F478  | princess
person  | ground | 1F934  | prince
person  | ground | 1FAC5  | king, queen
person  | ground | 1F9B8  | superhero, super hero
person  | ground | 1F977  | ninja
person  | ground | 1F482  | toy soldier, soldier, guard, guardsman
person  | ground | 1F9D1-200D-1F680/1F680 | astronaut, spaceman, spacewoman, cosmonaut
person  | ground | 1F9D1-200D-1F692/1F692 | firefighter, fireman, firewoman
person  | ground | 1F9D1-200D-2708-FE0F/2708 | pilot
person  | ground | 1F9D1-200D-1F33E/1F69C | farmer
person  | ground | 1F9D1-200D-1F52C/1F52D | scientist, inventor
person  | ground | 1F9D1-200D-1F373/1F373 | chef, baker
person  | ground | 1F476  | baby, babies, newborn
person  | ground | 1F9D2  | child, children, kid, little one, toddler
person  | ground | 1F467  | girl, little girl
person  | ground | 1F467  | sister, daughter, big sister, little sister
person  | ground | 1F466  | boy, little boy
person  | ground | 1F466  | brother, son, big brother, little brother
person  | ground | 1F475  | grandma, granny, grandmother, nana, gran
person  | ground | 1F474  | grandpa, grandfather, granddad, grandad, gramps
person  | ground | 1F469  | mom, mommy, mum, mummy, mother, mama
person  | ground | 1F468  | dad, daddy, father, papa
# ---- vehicles -----------------------------------------------------------------------------
vehicle | ground | 26F5   | boat, sailboat, ship, sailing boat, sailing ship, yacht, pirate ship
vehicle | ground | 1F6A2  | steamship, ocean liner, ferry, steamboat
vehicle | ground | 1F6F6  | canoe, kayak, rowboat, rowing boat
vehicle | ground | 1F682  | train, steam train, locomotive, steam engine, choo-choo, train engine
vehicle | ground | 1F697  | car, automobile
vehicle | ground | 1F68C  | bus, school bus
vehicle | ground | 1F69A  | truck, lorry, delivery truck, dump truck
vehicle | ground | 1F69C  | tractor
vehicle | ground | 1F692  | fire engine, fire truck
vehicle | ground | 1F693  | police car
vehicle | ground | 1F691  | ambulance
vehicle | ground | 1F695  | taxi, cab
vehicle | ground | 1F3CE  | race car, racing car, racecar
vehicle | ground | 1F6B2  | bicycle, bike, tricycle
vehicle | ground | 1F6F4  | scooter
vehicle | ground | 1F3CD  | motorcycle, motorbike
vehicle | ground | 1F6F7  | sled, sledge, sleigh, toboggan
vehicle | ground | 1F68B  | tram, trolley, streetcar
vehicle | air    | 2708   | airplane, aeroplane, plane, jet, airliner
vehicle | air    | 1F681  | helicopter
vehicle | air    | 1F680  | rocket, rocket ship, spaceship, spacecraft
vehicle | air    | E20B   | space shuttle
vehicle | air    | 1F6F8  | ufo, flying saucer
# ---- toys ---------------------------------------------------------------------------------
toy     | ground | 1F9F8  | teddy bear, teddy, teddies, stuffed bear, stuffed animal, plush
toy     | air    | 1FA81  | kite
toy     | air    | 1F388  | balloon, hot air balloon
toy     | ground | 26BD   | !ball, football, soccer ball, beach ball, bouncy ball
toy     | ground | 1FA80  | yo-yo, yoyo
toy     | ground | 1FA86  | doll, dolly, nesting doll, matryoshka
toy     | ground | 1F9E9  | puzzle, jigsaw
# ---- details: sky -------------------------------------------------------------------------
detail  | sky    | 2B50   | star, stars, starry, starlight, twinkling star
detail  | sky    | 1F320  | shooting star, falling star, wishing star
detail  | sky    | 1F319  | moon, moonlight, moonbeam, moonbeams, crescent, crescent moon, moonlit
detail  | sky    | 1F315  | full moon
detail  | sky    | 1FA90  | planet, saturn, jupiter
detail  | sky    | 2604   | comet
detail  | sky    | 2601   | cloud, clouds, cloudy
detail  | sky    | 1F308  | rainbow
detail  | sky    | 2744   | snowflake, snowflakes
detail  | sky    | 2728   | sparkles, sparkle, firefly, fireflies, glow-worm, glowworm, fairy dust, stardust
# ---- details: ground ----------------------------------------------------------------------
detail  | ground | 1F3EE  | lantern, paper lantern, lamp, nightlight, night light, night-light
detail  | ground | 1F56F  | candle, candlelight, candlestick
detail  | ground | 1F4D6  | book, storybook, picture book, fairy tale book
detail  | ground | 1F6CF  | bed, cosy bed, cozy bed, bunk bed
detail  | ground | 1FA9F  | window
detail  | ground | 1F6AA  | door, doorway
detail  | ground | 1FA91  | chair, armchair, rocking chair
detail  | ground | 1F6C1  | bath, bathtub, bubble bath
detail  | ground | 1FAA5  | toothbrush
detail  | ground | 1F570  | clock, grandfather clock
detail  | ground | 1F338  | flower, blossom, cherry blossom
detail  | ground | 1F337  | tulip
detail  | ground | 1F33B  | sunflower
detail  | ground | 1F33C  | daisy, daisies, buttercup, dandelion
detail  | ground | 1F343  | leaf, leaves
detail  | ground | 1F342  | autumn leaves, fallen leaves, autumn leaf
detail  | ground | 1F340  | clover, four-leaf clover, shamrock
detail  | ground | 1F344  | mushroom, toadstool
detail  | ground | 1F330  | acorn, chestnut, nut, conker
detail  | ground | 1F333  | tree, oak, oak tree, willow, apple tree
detail  | ground | 1F332  | pine tree, fir tree, pine, fir, evergreen
detail  | ground | 1F384  | christmas tree
detail  | ground | 1F334  | palm tree, coconut tree
detail  | ground | 1F335  | cactus, cacti
detail  | ground | 1F41A  | shell, seashell, conch
detail  | ground | 1FAA8  | rock, stone, pebble, boulder
detail  | ground | 1FAB9  | nest, bird's nest
detail  | ground | 1F95A  | egg
detail  | ground | 1FAB6  | feather
detail  | air    | 1FAE7  | bubble, bubbles
detail  | ground | 1F381  | gift, presents, birthday present, parcel
detail  | ground | 1F382  | cake, birthday cake
detail  | ground | 1F36A  | cookie, biscuit
detail  | ground | 1F36F  | honey, honeypot, honey pot
detail  | ground | 1F95B  | milk, glass of milk, warm milk
detail  | ground | 2615   | cocoa, hot chocolate, tea, cup of tea, teacup
detail  | ground | 1F366  | ice cream
detail  | ground | 1F34E  | apple
detail  | ground | 1F955  | carrot
detail  | ground | 1F353  | strawberry
detail  | ground | 1FAD0  | berry, blueberry, blueberries
detail  | ground | 1F9C0  | cheese
detail  | ground | 1F9FA  | basket, picnic basket, picnic
detail  | ground | 1F511  | key, golden key
detail  | ground | 1F5FA  | map, treasure map
detail  | ground | 1F9ED  | compass
detail  | ground | 1FA8E  | treasure, treasure chest
detail  | ground | 1F48E  | gem, jewel, crystal, diamond
detail  | ground | 1F451  | crown, tiara
detail  | ground | 1FA84  | magic wand, wand
detail  | ground | 1F52D  | telescope
detail  | ground | 1F9E3  | scarf
detail  | ground | 1F9E4  | mitten, mittens, glove, gloves
detail  | ground | 1F97E  | boot, boots, wellies
detail  | ground | 2602   | umbrella
detail  | ground | 1F514  | bell, bells, sleigh bell
detail  | air    | 1F3B5  | music, song, lullaby, melody, tune
detail  | ground | 1F941  | drum
detail  | ground | 1F3BB  | violin, fiddle
detail  | ground | 1F3B8  | guitar
detail  | ground | 1F3B9  | piano
detail  | ground | 1FA88  | flute, whistle
detail  | ground | 1F58D  | crayon, crayons, paint, paints
detail  | ground | 2709   | letter, envelope
detail  | ground | 1FAA3  | bucket, pail
detail  | ground | 2693   | anchor
detail  | ground | 1F525  | campfire, bonfire
detail  | ground | 1F3A0  | carousel, merry-go-round
detail  | ground | 1F3A1  | ferris wheel
detail  | ground | 26F2   | fountain
"""

# Settings: the picture's backdrop. ``words`` are strong (a real place); ``weak`` words only count
# when nothing strong is around ("moon" is in most night scenes, "home" ends most stories).
_SETTINGS = """
forest   | forest, woods, woodland, grove, wildwood, enchanted forest | trees
jungle   | jungle, rainforest, rain forest |
sea      | sea, ocean, underwater, under the sea, reef, coral reef, harbour, harbor, bay, lagoon, open sea, deep sea | wave, waves, water
beach    | beach, shore, seashore, seaside, sandcastle, sand castle, coast, sand | shells
island   | island, desert island |
snow     | snow, snowy, winter, ice, icy, arctic, north pole, south pole, antarctica, glacier, igloo, tundra, frost, frosty, snowfield | snowflakes, cold
space    | space, outer space, galaxy, planets, universe, cosmos, orbit, mars, solar system, moon base, to the moon, on the moon, onto the moon, moon landing, moon surface, lunar | rocket, planet, astronaut, spaceman, spaceship, ufo, space shuttle, alien
sky      | sky high, above the clouds, among the clouds, through the clouds, in the clouds, up in the sky, high in the sky, cloudland, cloud castle |
bedroom  | bedroom, nursery, bunk bed, crib, cot, cradle, pajamas, pyjamas, bedside | bed, room, pillow, blanket, bedtime story
home     | house, cottage, cabin, kitchen, living room, treehouse, tree house, hut | home
meadow   | meadow, field, fields, grass, grassy, hill, hills, hillside, prairie, clearing, countryside, park, playground |
garden   | garden, backyard, yard, orchard, flowerbed, flower bed, vegetable patch, greenhouse | flowers
desert   | desert, dunes, sand dunes, oasis |
mountain | mountain, mountains, peak, summit, cliff, cliffs, valley, mountaintop |
farm     | farm, barn, farmyard, stable, henhouse, pasture, haystack, hayloft |
pond     | pond, lake, river, stream, creek, brook, waterfall, marsh, swamp, lily pad, riverbank |
castle   | castle, palace, tower, kingdom, throne room, fortress |
cave     | cave, cavern, burrow, den, tunnel, underground, grotto |
city     | city, town, street, streets, village, rooftops, skyscraper, skyscrapers, downtown, train station |
camp     | campsite, tent, camping, campground |
"""

DEFAULT_SETTING = "meadow"  # a calm night meadow under the sky, as today's pictures
MAX_COMPANIONS = 2
MAX_DETAILS = 3
CHILD = "child"  # the thing that draws the listening child when the story names them
# People words that describe the animal right after them rather than being someone themselves.
MODIFIERS = frozenset({"baby", "mom", "dad", "child", "grandma", "grandpa", "girl", "boy"})

_IRREGULAR_OR_UNCOUNTABLE = {"sheep", "fish", "deer", "moose", "bison", "cattle", "mice",
                             "geese", "elves", "wolves", "calves", "children", "cacti",
                             "dormice", "octopi", "leaves", "moonlight", "music", "milk",
                             "honey", "cocoa", "tea", "cheese", "starlight", "candlelight",
                             "stardust", "fairy dust", "treasure", "snow", "ice", "grass"}


HERO_KINDS = frozenset({"animal", "creature", "person", "vehicle", "toy"})
# Family words: with an animal hero, "the dragon's mother" is a dragon, not a person.
FAMILY = frozenset({"mom", "dad", "grandma", "grandpa", "baby", "sister", "brother"})
# Where a setting changes what a word means ("stepped out of the ship" on the moon).
IN_SETTING = {"space": {"boat": "rocket", "airplane": "rocket", "steamship": "rocket"}}


@dataclass(frozen=True)
class Thing:
    name: str          # what story.json "shows" says: "dragon"
    code: str          # OpenMoji code point(s): "1F409"
    kind: str          # animal | creature | person | vehicle | toy | detail
    place: str         # "ground" | "air" | "sky"
    fallback: str | None = None  # single code point used when ``code`` cannot be drawn

    @property
    def hero_capable(self) -> bool:
        return self.kind in HERO_KINDS


@dataclass(frozen=True)
class Showing:
    """What one picture shows, in drawing order; ``names()`` is story.json's ``shows``."""
    hero: Thing | None
    companions: tuple[Thing, ...]
    setting: str
    setting_from: str  # "scene" | "previous" | "prompt" | "default": why this backdrop
    details: tuple[Thing, ...] = field(default=())

    def names(self) -> list[str]:
        out = [self.hero.name] if self.hero else []
        out += [c.name for c in self.companions]
        out.append(self.setting)
        out += [d.name for d in self.details]
        return out


def plural(word: str) -> str:
    """Regular English plural of the last word of ``word`` (good enough for nouns in this table;
    irregular ones are listed in the table themselves)."""
    head, _, last = word.rpartition(" ")
    if re.search(r"(s|x|z|ch|sh)$", last):
        last += "es"
    elif re.search(r"[^aeiou]y$", last):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def _forms(words: Iterable[str]) -> list[str]:
    """Each word and its regular plural. A plural made from a word that is already plural
    ("doves" → "doveses") is harmless: no text contains it."""
    out: list[str] = []
    for word in words:
        if word.startswith("!"):
            continue
        out.append(word)
        if word not in _IRREGULAR_OR_UNCOUNTABLE:
            out.append(plural(word))
    return out


def normalize(text: str) -> tuple[str, ...]:
    """Lower-case word tokens: curly apostrophes folded, possessives dropped, hyphens split."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    words = re.findall(r"[a-z]+(?:'[a-z]+)*", text)
    out: list[str] = []
    for w in words:
        if w.endswith("'s"):
            w = w[:-2]
        out.extend(part for part in w.split("'") if part)  # "didn't" → "didn", "t": harmless
    return tuple(out)


def _key(phrase: str) -> tuple[str, ...]:
    return normalize(phrase)  # the table is read exactly as the text is


@lru_cache(maxsize=1)
def things() -> dict[tuple[str, ...], Thing]:
    """Every word form (as a token tuple) → its thing. Built once from the table."""
    table: dict[tuple[str, ...], Thing] = {}
    for line in _THINGS.strip().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kind, place, codes, words = (part.strip() for part in line.split("|"))
        code, _, fallback = codes.partition("/")
        names = [w.strip() for w in words.split(",") if w.strip()]
        thing = Thing(names[0].lstrip("!"), code, kind, place, fallback or None)
        for form in _forms(names):
            key = _key(form)
            if key in table and table[key] != thing:
                raise ValueError(f"vocabulary: {form!r} is listed twice")
            table[key] = thing
    return table


@lru_cache(maxsize=1)
def settings() -> dict[tuple[str, ...], tuple[str, bool]]:
    """Every setting word form → (setting name, strong?)."""
    table: dict[tuple[str, ...], tuple[str, bool]] = {}
    for line in _SETTINGS.strip().splitlines():
        name, strong, weak = (part.strip() for part in line.split("|"))
        for words, is_strong in ((strong, True), (weak, False)):
            for form in _forms(w.strip() for w in words.split(",") if w.strip()):
                table.setdefault(_key(form), (name, is_strong))
    return table


def setting_names() -> list[str]:
    return [line.split("|")[0].strip() for line in _SETTINGS.strip().splitlines()]


@lru_cache(maxsize=1)
def _longest() -> int:
    return max(len(k) for k in (*things(), *settings()))


@dataclass(frozen=True)
class Match:
    position: int  # token index of the first word
    thing: Thing | None = None
    setting: tuple[str, bool] | None = None
    end: int = 0  # token index after the last word


@lru_cache(maxsize=512)
def find(text: str) -> tuple[Match, ...]:
    """Every vocabulary word in ``text``, left to right, longest phrase first at each position.

    A phrase may be both a thing and a setting word ("planets", "bunk bed", "snowflakes"):
    then it counts as both."""
    tokens = normalize(text)
    table, places = things(), settings()
    found: list[Match] = []
    i = 0
    while i < len(tokens):
        for n in range(min(_longest(), len(tokens) - i), 0, -1):
            key = tokens[i:i + n]
            thing, setting = table.get(key), places.get(key)
            if thing or setting:
                previous = found[-1] if found else None
                if (thing and thing.hero_capable and previous and previous.thing
                        and previous.thing.name in MODIFIERS and previous.end == i):
                    found.pop()  # "baby dragon", "mama bear": the animal is the thing
                found.append(Match(i, thing, setting, i + n))
                i += n
                break
        else:
            i += 1
    return tuple(found)


def subject(prompt: str, story_text: str = "") -> Thing | None:
    """The hero: the prompt's first hero-capable thing; else the prompt's first thing of any kind
    ("a little star who could not shine", "the lonely moon": the star, the moon); else the
    hero-capable thing the whole story mentions most (first mention breaks ties); else None."""
    found = [m.thing for m in find(prompt) if m.thing]
    for thing in found:
        if thing.hero_capable:
            return thing
    if found:
        return found[0]
    counts: dict[Thing, list[int]] = {}
    for m in find(story_text):
        if m.thing and m.thing.hero_capable:
            counts.setdefault(m.thing, []).append(m.position)
    if not counts:
        return None
    return min(counts, key=lambda t: (-len(counts[t]), counts[t][0]))


def setting_of(scene: str, prompt: str, previous: str | None = None,
               default: str = DEFAULT_SETTING) -> tuple[str, str]:
    """(setting, where it came from): the scene's strong words; else ``previous`` (where the
    story already is: the last scene's strong setting, so a scene that names no place stays
    there); the prompt's strong words; the scene's weak words; the prompt's weak words; the
    default. Within one text the most-mentioned setting wins (first mention breaks ties)."""
    def pick(text: str, strong: bool) -> str | None:
        counts: dict[str, list[int]] = {}
        for m in find(text):
            if m.setting and m.setting[1] == strong:
                counts.setdefault(m.setting[0], []).append(m.position)
        if not counts:
            return None
        return min(counts, key=lambda s: (-len(counts[s]), counts[s][0]))

    found = pick(scene, True)
    if found:
        return found, "scene"
    if previous:
        return previous, "previous"
    for text, strong, source in ((prompt, True, "prompt"), (scene, False, "scene"),
                                 (prompt, False, "prompt")):
        found = pick(text, strong)
        if found:
            return found, source
    return default, "default"


def choose(prompt: str, scene: str, hero: Thing | None = None, *,
           story_text: str = "", previous: str | None = None, child: str | None = None) -> Showing:
    """What a scene's picture shows.

    ``hero`` is the story's hero, fixed once per story (pass :func:`subject`'s answer so every scene
    shows the same one); when None it is worked out from ``prompt`` (and ``story_text``).
    Companions: the listening child when the scene names them (``child``, their name) beside a hero
    that is not a person, then other hero-capable things named in the scene (first mention first).
    Details: the scene's detail words, up to MAX_DETAILS. ``previous``: see :func:`setting_of`."""
    hero = hero if hero is not None else subject(prompt, story_text)
    setting, source = setting_of(scene, prompt, previous)
    table = {t.name: t for t in all_things()}
    swap = IN_SETTING.get(setting, {})
    is_hero = hero_aliases(hero)
    seen: set[str] = set()
    companions: list[Thing] = []
    details: list[Thing] = []
    if child and not (hero and hero.kind == "person") and names_child(scene, child):
        # "Mia and the dragon": the child who hears the story sees themselves beside the hero.
        companions.append(table[CHILD])
        seen.add(CHILD)
    for m in find(scene):
        t = m.thing
        if t is None or t.name in is_hero or (hero and t.code == hero.code):
            continue
        if t.name in swap:
            t = table[swap[t.name]]
        if hero and hero.kind == "animal" and t.name in FAMILY:
            t = Thing(f"{t.name} {hero.name}", hero.code, hero.kind, hero.place, hero.fallback)
        if t.name in seen or (hero and t.name == hero.name):
            continue
        if t.hero_capable and len(companions) < MAX_COMPANIONS:
            companions.append(t)
            seen.add(t.name)
        elif t.kind == "detail" and len(details) < MAX_DETAILS:
            details.append(t)
            seen.add(t.name)
    return Showing(hero, tuple(companions), setting, source, tuple(details))


@lru_cache(maxsize=256)
def hero_aliases(hero: Thing | None) -> frozenset[str]:
    """Names of things that, in a story about ``hero``, are the hero itself: the head word of its
    phrases ("the bear" in a polar bear or teddy bear story, "the truck" in a fire truck one)."""
    if hero is None:
        return frozenset()
    table = things()
    names = {hero.name}
    for key, thing in table.items():
        if thing == hero and len(key) > 1 and (key[-1],) in table:
            names.add(table[(key[-1],)].name)
    return frozenset(names)


def names_child(scene: str, child: str) -> bool:
    """Whether ``scene`` names the child (all of their name's words, in order, as whole words)."""
    name, words = normalize(child), normalize(scene)
    return bool(name) and any(words[i:i + len(name)] == name for i in range(len(words) - len(name) + 1))


def story_showings(prompt: str, scenes: Sequence[str], hero: Thing | None = None, *,
                   child: str | None = None) -> list[Showing]:
    """One Showing per scene, all with the same hero; a scene that names no place stays where
    the story last was. ``child``: the listening child's name (see :func:`choose`)."""
    hero = hero if hero is not None else subject(prompt, "\n".join(scenes))
    out: list[Showing] = []
    where: str | None = None
    for scene in scenes:
        showing = choose(prompt, scene, hero, previous=where, child=child)
        if showing.setting_from in ("scene", "previous"):
            where = showing.setting
        out.append(showing)
    return out


def all_things() -> list[Thing]:
    """Each thing once, in table order."""
    out: dict[str, Thing] = {}
    for t in things().values():
        out.setdefault(t.name, t)
    return list(out.values())
