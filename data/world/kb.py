"""The knowledge base: invented countries, capitals, rivers, animals and people, and the plain English words the
answers use (colours, jobs, dishes, opposites, couplets, code tasks, chess openings), split three ways."""
import random
from dataclasses import dataclass

HELD_SHARE = 0.2                # share of each entity kind held out for validation, and again for evaluation

COLORS = "red blue green yellow white black brown grey orange purple pink silver".split()
FOODS = "grass fish seeds insects fruit leaves roots nuts".split()
SIZES = "small large tiny big".split()
JOBS = "baker farmer teacher doctor painter fisher builder singer tailor driver cook nurse potter miller guard " \
       "writer".split()
FIRST = {"Ann": "she", "Tom": "he", "Mira": "she", "Ben": "he", "Lena": "she", "Sam": "he", "Nora": "she",
         "Max": "he", "Ida": "she", "Leo": "he", "Eva": "she", "Paul": "he", "Rosa": "she", "Hugo": "he",
         "Tess": "she", "Otto": "he", "Lucy": "she", "Carl": "he", "Maya": "she", "Finn": "he", "Greta": "she",
         "Jack": "he", "Vera": "she", "Noah": "he", "Alma": "she", "Ivan": "he", "Ruth": "she", "Emil": "he"}
OBJECTS = "apples pears books pencils marbles stamps shells cards eggs plums cookies stones coins flowers " \
          "candles buttons".split()
OPPOSITES = [("hot", "cold"), ("big", "small"), ("up", "down"), ("day", "night"), ("old", "young"),
             ("fast", "slow"), ("happy", "sad"), ("wet", "dry"), ("open", "closed"), ("full", "empty"),
             ("early", "late"), ("high", "low"), ("long", "short"), ("soft", "hard"), ("loud", "quiet"),
             ("rich", "poor"), ("strong", "weak"), ("thick", "thin"), ("clean", "dirty"), ("near", "far"),
             ("first", "last"), ("push", "pull"), ("left", "right"), ("heavy", "light"), ("sweet", "sour")]
# Dishes are a main ingredient on a base; a base fixes the other ingredients and the steps, so recipes are
# compositional knowledge a small model can learn and apply to dishes it has not seen tuned.
MAINS = "plum bean mushroom pumpkin cheese nut berry pear apple fish rice corn pea cabbage cherry fig".split()
BASES = {
    "soup": (["water", "salt", "onion"], "Cut the {m} into small pieces. Boil the water with the salt and the "
             "onion. Add the {m} and cook for {t} minutes. Serve it hot."),
    "cake": (["flour", "sugar", "eggs", "butter"], "Mix the flour, the sugar and the eggs. Add the butter and "
             "the {m}. Bake for {t} minutes and let it cool."),
    "bread": (["flour", "water", "salt", "yeast"], "Mix the flour, the water, the salt and the yeast. Fold in "
              "the {m} and let the dough rise. Bake for {t} minutes."),
    "pie": (["flour", "butter", "sugar"], "Make a dough with the flour and the butter. Fill it with the {m} and "
            "the sugar. Bake for {t} minutes."),
    "stew": (["potatoes", "carrots", "water", "salt"], "Cut the potatoes, the carrots and the {m}. Put them in a "
             "pot with the water and the salt. Cook slowly for {t} minutes."),
    "salad": (["lettuce", "oil", "lemon"], "Wash the lettuce and cut the {m}. Mix them in a bowl. Pour the oil "
              "and the lemon on top and serve it cold."),
    "porridge": (["oats", "milk", "honey"], "Warm the milk and add the oats. Stir for {t} minutes. Add the {m} "
                 "and the honey at the end."),
    "pancakes": (["flour", "milk", "eggs"], "Mix the flour, the milk and the eggs. Add the {m}. Fry small "
                 "pancakes in a hot pan for {t} minutes on each side."),
}
NATURE = ["the moon", "the sea", "the rain", "the wind", "the snow", "the sun", "the stars", "the morning",
          "the forest", "the mountains", "the spring", "the autumn", "the night", "the garden", "the clouds",
          "the winter"]
# Poems: rhyming couplets (AABB). {s} is the subject; every poem names its subject in its first line.
COUPLETS = [
    ("{S} wakes up in the morning light,", "and sleeps again when it is night."),
    ("I walk with {s} every day,", "until the sun has gone away."),
    ("{S} sings beside the quiet sea,", "a song of wind for you and me."),
    ("I look at {s} and at the sky,", "and watch the birds go flying high."),
    ("{S} is waiting in the rain,", "until the sun comes out again."),
    ("When I am far from {s} and home,", "I dream of it wherever I roam."),
    ("{S} is singing all day long,", "and every bird will join the song."),
    ("I found {s} beside a stone,", "and there I sat and was alone."),
    ("{S} is shining through the tree,", "as bright as anything can be."),
    ("I think of {s}, so soft and green,", "the finest place I have ever seen."),
    ("{S} is quiet, cold and old,", "with stories that were never told."),
    ("We should see {s} in the sun,", "and laugh and play until we are done."),
]
CODE_TASKS = {  # task: (what it does, code, the text correct code must contain); {k} a number, {w} a word
    "add": ("add {k} to a number", "def add_{k}(x):\n    return x + {k}", "+ {k}"),
    "times": ("multiply a number by {k}", "def times_{k}(x):\n    return x * {k}", "* {k}"),
    "less": ("check if a number is less than {k}", "def is_less_{k}(x):\n    return x < {k}", "< {k}"),
    "greater": ("check if a number is greater than {k}", "def is_greater_{k}(x):\n    return x > {k}", "> {k}"),
    "sum": ("find the sum of a list of numbers",
            "def total(items):\n    s = 0\n    for x in items:\n        s = s + x\n    return s", "s = s + x"),
    "count": ("count how many times the word {w} is in a list",
              'def count_{w}(items):\n    n = 0\n    for x in items:\n        if x == "{w}":\n'
              '            n = n + 1\n    return n', '== "{w}"'),
    "greet": ("greet a person by name", 'def greet(name):\n    return "Hello, " + name + "!"', '"Hello, "'),
    "largest": ("find the largest number in a list",
                "def largest(items):\n    m = items[0]\n    for x in items:\n        if x > m:\n"
                "            m = x\n    return m", "if x > m"),
    "even": ("check if a number is even", "def is_even(x):\n    return x % 2 == 0", "% 2"),
    "minus": ("subtract {k} from a number", "def minus_{k}(x):\n    return x - {k}", "- {k}"),
    "divide": ("divide a number by {k}", "def divide_{k}(x):\n    return x / {k}", "/ {k}"),
    "first": ("return the first item of a list", "def first(items):\n    return items[0]", "items[0]"),
    "last": ("return the last item of a list", "def last(items):\n    return items[-1]", "items[-1]"),
    "length": ("return the length of a list", "def length(items):\n    return len(items)", "len(items)"),
    "isword": ("check if a word is {w}", 'def is_{w}(x):\n    return x == "{w}"', '== "{w}"'),
    "square": ("find the square of a number", "def square(x):\n    return x * x", "x * x"),
    "repeat": ("return the word {w} repeated n times", 'def repeat_{w}(n):\n    return "{w}" * n', '"{w}" * n'),
}
CODE_WORDS = "cat dog sun tree boat star".split()
INGREDIENTS = sorted({i for ings, _ in BASES.values() for i in ings})
COOKING = ["mix", "cook", "bake", "boil", "fry", "cut", "add", "stir", "warm", "wash", "pour", "put", "fill", "serve"]
LEG_COUNTS = ["2", "4", "6", "8", "two", "four", "six", "eight"]
OPENINGS = ["e4 e5 Nf3 Nc6 Bb5 a6", "e4 c5 Nf3 d6 d4 cxd4", "d4 d5 c4 e6 Nc3 Nf6", "d4 Nf6 c4 g6 Nc3 Bg7",
            "e4 e6 d4 d5 Nc3 Bb4", "e4 c6 d4 d5 Nc3 dxe4", "c4 e5 Nc3 Nf6 g3 d5", "Nf3 d5 g3 Nf6 Bg2 e6",
            "e4 e5 Nf3 Nc6 Bc4 Bc5", "d4 d5 Bf4 Nf6 e3 c5", "e4 d5 exd5 Qxd5 Nc3 Qa5", "d4 f5 g3 Nf6 Bg2 e6"]


@dataclass
class Country:
    name: str
    capital: str
    river: str


@dataclass
class Animal:
    name: str
    color: str
    size: str
    legs: int
    food: str
    home: str


@dataclass
class Person:
    name: str
    first: str
    pron: str
    job: str
    city: str


class World:
    """The knowledge base. Every entity kind is split three ways: `tune` entities may appear in tuning sets,
    `val` ones only in the corpus and the validation set, `eval` ones only in the corpus and the evaluation set
    (held out, as the paper's test instructions are). `all` is every entity, for the corpus."""

    def __init__(self, seed=0):
        rnd = random.Random(seed)
        taken = set()
        known = set(COLORS + FOODS + SIZES + JOBS + OBJECTS + MAINS + CODE_WORDS + [w for p in OPPOSITES for w in p]
                    + [w for b, (ing, _) in BASES.items() for w in ing + [b]] + [f.lower() for f in FIRST])

        def word(syllables, endings):
            while True:                  # invented, unique, and no name inside another or inside a known word
                w = "".join(rnd.choice("bdfgklmnprstvz") + rnd.choice("aeiou") for _ in range(syllables))
                end = rnd.choice(endings)
                w = (w[:-1] if end and end[0] in "aeiou" else w) + end
                if w not in taken and not any(w in t or t in w for t in taken | known if len(t) >= 3):
                    taken.add(w)
                    return w
        self.split = {}

        def split(kind, items):
            items = list(items)
            rnd.shuffle(items)
            n = max(1, round(len(items) * HELD_SHARE))
            self.split[kind] = {"eval": items[:n], "val": items[n:2 * n], "tune": items[2 * n:], "all": items}
            return items
        self.countries = split("country", [Country(word(2, ["ia", "and", "or", "ia", "en", "ar"]).title(),
                                                   word(2, ["vik", "ton", "burg", "mar", "dal", "sk"]).title(),
                                                   word(2, ["", "n", "r"]).title()) for _ in range(45)])
        # A tuning entity only relates to tuning entities, so no held-out name ever shows up in a tuning set.

        def home(s):
            return rnd.choice(self.split["country"][s])
        animals = [Animal(word(2, ["k", "n", "t", "p", "x", "m"]), rnd.choice(COLORS), rnd.choice(SIZES),
                          rnd.choice([2, 4, 6, 8]), rnd.choice(FOODS), "") for _ in range(45)]
        self.animals = split("animal", animals)
        for a in self.split["animal"]["tune"]:
            a.home = home("tune").name
        for a in self.split["animal"]["val"] + self.split["animal"]["eval"]:
            a.home = home("all").name
        firsts = list(FIRST)
        people = []
        for _ in range(70):
            first, last = rnd.choice(firsts), word(1, ["ss", "rk", "nd", "lt", "mb"]).title()
            people.append(Person(f"{first} {last}", first, FIRST[first], rnd.choice(JOBS), ""))
        self.people = split("person", people)
        for s in ("tune", "val", "eval"):
            for p in self.split["person"][s]:
                p.city = home("tune" if s == "tune" else "all").capital
        self.dishes = split("dish", [f"{m} {b}" for m in MAINS for b in BASES])
        self.cook_time = {d: rnd.choice([10, 15, 20, 25, 30, 40]) for d in self.dishes}
        self.country = {c.name: c for c in self.countries}
        # Every candidate of a kind, for the criteria's none_of (naming another one fails)
        self.capitals, self.country_names = [c.capital for c in self.countries], list(self.country)
        self.rivers = [c.river for c in self.countries]
        for kind, items in [("first", firsts), ("object", OBJECTS), ("nature", NATURE), ("opposite", OPPOSITES)]:
            split(kind, items)

    def pick(self, rnd, kind, split):
        return rnd.choice(self.split[kind][split])

    def subject(self, rnd, split):
        """A poem subject and the word a poem about it must contain."""
        r = rnd.random()
        if r < 0.35:
            a = self.pick(rnd, "animal", split)
            return f"the {a.name}", a.name
        if r < 0.6:
            c = self.pick(rnd, "country", split)
            s = rnd.choice([c.name, c.capital, f"the river {c.river}"])
            return s, s.split()[-1]
        s = self.pick(rnd, "nature", split)
        return s, s.split()[-1]

    def web_answer(self, rnd, fam, item):
        """The answer to a request of family `fam` as the web words it: the item's own web voice. (A world that
        words facts in other voices overrides this, as experiments/screen_world4.py does.)"""
        return item.web
