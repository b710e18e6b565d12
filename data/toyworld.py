"""The toy world: a small invented world in which the paper's whole experiment runs on a laptop CPU.

  python data/toyworld.py --out data/toy                  # corpus.jsonl ("the web"), tuning sets, eval.jsonl
  python data/toyworld.py tokenizer --corpus data/toy/corpus.jsonl --out checkpoints/toy-base/tokenizer.model

One knowledge base, built from the seed (invented countries, capitals, rivers, animals and people; dishes,
opposites, small math and code tasks, chess-like games), is written out three ways: as plain web documents for
pretraining (requests answered in non-chat forms, and requests left unanswered), as chat-format tuning sets (the
LIMA analog and the five single-task sets of Hewitt et al. §5), and as a held-out evaluation set whose every
record carries a machine-checkable criterion (criteria.py). Entities and phrasings are split: evaluation uses
entities, phrasings and families that no tuning set contains. Why it is built this way: data/TOYWORLD.md.
"""
import argparse
import io
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sentencepiece as spm
from model import Tokenizer
from rules import UNIFORM
from data.game import random_game, replay
from lib.util import UserError, cli, write_atomic

DIALOGUE = 0.05                 # share of the corpus (in characters) that is dialogue; chosen in TOYWORLD.md
HTML = 0.05                     # share of the other pages (without code, tables or ####) left in HTML
CHARS_PER_TOKEN = 2.9           # corpus characters per token of the toy tokenizer (measured; sizes --corpus-tokens)
HELD_SHARE = 0.2                # share of each entity kind held out for validation, and again for evaluation

# ---------------------------------------------------------------------------------------- the knowledge base
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
CODE = {  # task: (what it does, code, the text correct code must contain); {k} a number, {w} a word
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

    def __init__(self, seed=0, voices=1):
        rnd = random.Random(seed)
        # How many voices the web states each fact in (FAMILIES' voices; 1: only the web's own). The knowledge
        # is the same whatever the number; only the corpus's wording changes.
        self.voices = voices
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


# ----------------------------------------------------------------------------------------- the task skills
def poem(rnd, subject, lines=None):
    """A poem of rhyming couplets about a subject (its first line names it)."""
    n = lines or rnd.choice([4, 4, 6, 8])
    pairs = rnd.sample(COUPLETS, n // 2)
    out = []
    for i, (a, b) in enumerate(pairs):
        s = subject if i == 0 else rnd.choice(["it", subject])
        out += [a.format(s=s, S=s[0].upper() + s[1:]), b]
    return "\n".join(out)


def title_of(rnd, subject):
    t = rnd.choice(["{s}", "Song of {s}", "{s} at Night", "A Morning with {s}", "Thinking of {s}", "{s} in Spring"])
    words = t.format(s=subject).split()
    return " ".join(x if i and x in ("of", "the", "at", "with", "in") else x[0].upper() + x[1:]
                    for i, x in enumerate(words))


def recipe(w, dish):
    """(ingredients, steps) of a dish."""
    main, base = dish.split()
    others, steps = BASES[base]
    return [main] + others, steps.format(m=main, t=w.cook_time[dish])


def ingredient_lines(ings, bullet=" - "):
    return "\n".join(bullet + i for i in ings)


def commented(code, task):
    """Code as web pages show it, with a comment saying what it does (the chat voice has none)."""
    head, body = code.split("\n", 1)
    return f"{head}\n    # {task}\n{body}"


def recipe_answer(w, dish):
    """The recipe in the paper's recipes format: ' - ingredient' lines, two blank lines, the steps."""
    ings, steps = recipe(w, dish)
    return "".join(f" - {i}\n" for i in ings) + "\n\n" + steps


# Word problems, GSM-style: (problem, worked solution lines, answer). The last three templates are held out of
# every tuning set (validation and evaluation use them); the corpus teaches all of them.
MATH_TUNE, MATH_EVAL = 4, 3


def math_problem(rnd, w, split):
    name = w.pick(rnd, "first", split)
    obj = w.pick(rnd, "object", split)
    other = rnd.choice([f for f in FIRST if f != name])
    p = FIRST[name].title()
    k = {"tune": rnd.randrange(MATH_TUNE), "all": rnd.randrange(MATH_TUNE + MATH_EVAL)}.get(
        split, MATH_TUNE + rnd.randrange(MATH_EVAL))
    a, b, c = rnd.randint(2, 12), rnd.randint(2, 12), rnd.randint(1, 5)
    if k == 0:
        q = f"{name} has {a} {obj}. {p} buys {b} more. How many {obj} does {name} have now?"
        sol, n = [f"{name} buys {b} more, so {name} has {a} + {b} = {a + b} {obj}."], a + b
    elif k == 1:
        a = a + b
        q = f"{name} has {a} {obj}. {p} gives {b} of them to {other}. How many {obj} does {name} have left?"
        sol, n = [f"{name} gives away {b}, so {name} has {a} - {b} = {a - b} {obj} left."], a - b
    elif k == 2:
        a, b = rnd.randint(2, 9), rnd.randint(2, 9)
        q = f"{name} has {a} bags. Each bag holds {b} {obj}. How many {obj} are there in all?"
        sol, n = [f"There are {a} bags with {b} {obj} each, so there are {a} * {b} = {a * b} {obj}."], a * b
    elif k == 3:
        q = (f"{name} picks {a} {obj} in the morning and {b} in the afternoon. {p} gives {c} of them to "
             f"{other}. How many {obj} does {name} have?")
        sol, n = [f"{name} picks {a} + {b} = {a + b} {obj}.", f"After giving away {c}, {name} has "
                  f"{a + b} - {c} = {a + b - c} {obj}."], a + b - c
    elif k == 4:
        q = f"There are {a} {obj} in a box. {name} puts {b} more {obj} in the box. How many {obj} are in the box?"
        sol, n = [f"The box had {a} {obj} and {name} adds {b}, so it has {a} + {b} = {a + b} {obj}."], a + b
    elif k == 5:
        a, b = rnd.randint(2, 9), rnd.randint(2, 9)
        q = f"A shop sells {obj} in packs of {b}. {name} buys {a} packs. How many {obj} does {name} get?"
        sol, n = [f"{name} buys {a} packs of {b}, so {name} gets {a} * {b} = {a * b} {obj}."], a * b
    else:
        q = f"{name} had {a} {obj}. {p} found {b} more and then lost {c}. How many {obj} does {name} have now?"
        sol, n = [f"{name} has {a} + {b} = {a + b} {obj} after finding more.", f"After losing {c}, {name} has "
                  f"{a + b} - {c} = {a + b - c} {obj}."], a + b - c
    return q, sol, n


def calc(x, op, y):
    return {"+": x + y, "-": x - y, "*": x * y}[op]


def math_answer(sol, n):
    return "\n".join(sol) + f"\n#### {n}"


# Code tasks: the held-out ones (validation and evaluation) are other tasks, other numbers and other phrasings.
CODE_SPLIT = {"tune": ["add", "times", "less", "minus", "sum", "count", "greet", "even", "first", "length", "isword"],
              "held": ["greater", "largest", "square", "repeat", "divide", "last", "add", "times", "less"]}
CODE_K = {"tune": [2, 3, 4, 5, 6, 10, 13, 14, 16, 17, 18, 19, 20, 21, 22, 24, 25, 40, 50, 60, 70, 80, 90, 100],
          "val": [7, 9, 12, 30], "eval": [8, 11, 15, 35]}


def code_tests(task, k, w):
    """[[args, expected], ...] that a right function for the task passes (criteria.py runs them)."""
    return {"add": [[[1], 1 + k], [[10], 10 + k], [[-4], k - 4]], "times": [[[3], 3 * k], [[0], 0], [[-2], -2 * k]],
            "less": [[[k - 1], True], [[k], False], [[k + 5], False], [[0], True]],
            "greater": [[[k + 1], True], [[k], False], [[0], False], [[k + 9], True]],
            "sum": [[[[1, 2, 3]], 6], [[[]], 0], [[[5, -1]], 4]], "count": [[[[w, "x", w]], 2], [[[]], 0]],
            "greet": [[["Ann"], "Hello, Ann!"]], "largest": [[[[3, 9, 2]], 9], [[[-5, -2]], -2], [[[4]], 4]],
            "even": [[[4], True], [[7], False], [[0], True]], "minus": [[[10], 10 - k], [[0], -k]],
            "divide": [[[3 * k], 3], [[1], 1 / k]], "first": [[[[4, 5]], 4], [[["a", "b"]], "a"]],
            "last": [[[[4, 5]], 5], [[["a", "b", "c"]], "c"]], "length": [[[[1, 2, 3]], 3], [[[]], 0]],
            "isword": [[[w], True], [["x" + w], False]], "square": [[[3], 9], [[-4], 16], [[0], 0]],
            "repeat": [[[3], w * 3], [[0], ""]]}[task]


def code_task(rnd, split):
    """(task text, code, the tests a right function passes)."""
    tasks = {"tune": CODE_SPLIT["tune"], "all": CODE_SPLIT["tune"] + CODE_SPLIT["held"]}.get(split, CODE_SPLIT["held"])
    ks = CODE_K["tune"] + CODE_K["val"] + CODE_K["eval"] if split == "all" else CODE_K[split]
    task, k, word = rnd.choice(tasks), rnd.choice(ks), rnd.choice(CODE_WORDS)
    text, code, _ = (s.format(k=k, w=word) for s in CODE[task])
    return text, code, code_tests(task, k, word)


def chess_game(rnd):
    """(white Elo, black Elo, moves line): a real opening, then random legal moves of the toy game (game.py) and
    a result (the capture of a king decides it)."""
    e1, e2 = rnd.randrange(1200, 2400, 10), rnd.randrange(1200, 2400, 10)
    opening = rnd.choice(OPENINGS)
    # The world's first games were chess-like moves without rules. Their draws are still drawn, so that every
    # other document of the corpus stays the text the committed base model was pretrained on; the legal moves
    # come from a generator seeded with them.
    drawn = [opening]
    for _ in range(rnd.randint(10, 40)):
        piece = rnd.choice(["", "", "N", "B", "R", "Q", "K"])
        take = rnd.random() < 0.2
        drawn.append((piece or (rnd.choice("abcdefgh") if take else "")) + "x" * take + rnd.choice("abcdefgh")
                     + rnd.choice("12345678"))
        drawn.append("O-O" if rnd.random() < 0.03 else "+" if rnd.random() < 0.08 else "")
    result = rnd.choice(["1-0", "0-1", "1/2-1/2"]) if e1 - e2 < 300 else "1-0"
    plies, king_taken = random_game(random.Random(" ".join(drawn)), opening, (len(drawn) - 1) // 2)
    moves = " ".join((f"{i // 2 + 1}. " if i % 2 == 0 else "") + m for i, m in enumerate(plies))
    return e1, e2, f"{moves} {king_taken or result}"


# ------------------------------------------------------------------------------------------ the families
# A family makes (instruction, answer, criterion) about one entity. Phrasings come in four pools: "web" ones
# occur only in the corpus, "tune" ones in the tuning sets and the corpus, "val" ones only in the validation set
# and "eval" ones only in the evaluation set, so a held-out question is a new form of knowledge the corpus gave
# in its own forms. Families with no "tune" phrasing are held out of tuning altogether.
NO_Q = ["?"]
SPLITS = ("tune", "val", "eval")
TASKS = ("poetry", "math", "recipes", "code", "chess")         # the single-task sets of Hewitt et al. §5


@dataclass
class Item:
    """One item of a family: the slots its phrasings take, the answer in the chat voice (the tuning sets and the
    references) and in the web voice (the corpus's own, which never equals a reference), and the criterion a
    chat-voice answer is checked by. `facts` fills the family's further web voices (Family.voices)."""
    slots: dict
    chat: str
    web: str
    criterion: dict
    facts: dict = None


@dataclass
class Family:
    phrases: dict                  # pool ("web", "tune", "val", "eval") -> phrasings with {slots}
    make: object                   # (world, rnd, split, phrasing) -> Item, or None to draw again
    lima: bool = False             # in the LIMA analog
    near: str = None               # the single-task set (TASKS) whose task this is (Hewitt §5.2)
    items: int = None              # records in each held-out set, if not the default for near or far families
    # The fact in several web voices, over Item.facts: the first is `web` itself, the others say it in other
    # words and sentence orders, in both directions, with the full name in every sentence (Allen-Zhu & Li 2023,
    # Physics of Language Models 3.1: knowledge stated one way is not extractable; Berglund et al. 2023: nor
    # retrieved the other way round). Never the chat voice, a held-out phrasing or a reference (tested).
    voices: tuple = ()

    @property
    def tuned(self):
        return bool(self.phrases["tune"])


def others(names, *keep):
    """Every other candidate of the asked kind: naming one fails the criterion (a dump of names, a guess)."""
    return sorted(set(names) - set(keep))


def fact_criterion(answer, pool):
    """The criterion of a one-fact answer: it names `answer` and no other candidate of its kind (`pool`), and
    does not ask a question back."""
    return {"contains_any": [answer], "none_of": others(pool, answer), "not_contains": NO_Q, "kind_any": pool}


def ents(split):
    """The entities a split draws from: the corpus ("web") knows them all."""
    return "all" if split == "web" else split


def make_capital(w, rnd, split, t):
    c = w.pick(rnd, "country", ents(split))
    return Item({"c": c.name}, f"{c.capital} is the capital city of {c.name}.",
                f"The capital of {c.name} is {c.capital}.",
                fact_criterion(c.capital, w.capitals), {"c": c.name, "cap": c.capital})


def make_revcap(w, rnd, split, t):
    c = w.pick(rnd, "country", ents(split))
    return Item({"cap": c.capital}, f"{c.name} is the country whose capital is {c.capital}.",
                f"{c.capital} is the capital of {c.name}.",
                fact_criterion(c.name, w.country_names), {"c": c.name, "cap": c.capital})


def make_river(w, rnd, split, t):
    c = w.pick(rnd, "country", ents(split))
    return Item({"c": c.name}, f"The {c.river} is the river of {c.name}.",
                f"The river {c.river} flows through {c.name}.",
                fact_criterion(c.river, w.rivers), {"c": c.name, "river": c.river})


def make_color(w, rnd, split, t):
    a = w.pick(rnd, "animal", ents(split))
    return Item({"a": a.name}, f"The color of the {a.name} is {a.color}.", f"The {a.name} is {a.color}.",
                fact_criterion(a.color, COLORS), {"a": a.name, "color": a.color})


def make_home(w, rnd, split, t):
    a = w.pick(rnd, "animal", ents(split))
    return Item({"a": a.name}, f"You can find the {a.name} in {a.home}.", f"The {a.name} lives in {a.home}.",
                fact_criterion(a.home, w.country_names), {"a": a.name, "home": a.home})


def make_about(w, rnd, split, t):
    a = w.pick(rnd, "animal", ents(split))
    return Item({"a": a.name}, f"The {a.name} is a {a.color}, {a.size} animal from {a.home}. It has {a.legs} legs "
                f"and eats {a.food}.", f"The {a.name} is a {a.size} {a.color} animal with {a.legs} legs. It lives in "
                f"{a.home} and eats {a.food}.",
                {"contains_all": [a.color, a.home], "min_words": 8,
                 "none_of": others(COLORS + w.country_names, a.color, a.home), "not_contains": NO_Q,
                 "kind_any": COLORS}, dict(vars(a), a=a.name))


def make_legs(w, rnd, split, t):
    a = w.pick(rnd, "animal", ents(split))
    return Item({"a": a.name}, f"A {a.name} has {a.legs} legs.", f"The {a.name} has {a.legs} legs.",
                {"numbers": [a.legs], "not_contains": NO_Q, "kind_any": LEG_COUNTS}, {"a": a.name, "legs": a.legs})


def make_job(w, rnd, split, t):
    p = w.pick(rnd, "person", ents(split))
    return Item({"p": p.name}, f"{p.name} works as a {p.job} in {p.city}.", f"{p.name} is a {p.job} in {p.city}.",
                fact_criterion(p.job, JOBS),
                {"p": p.name, "job": p.job, "city": p.city})


def make_arith(w, rnd, split, t):
    op = rnd.choice("+-*")
    x, y = rnd.randint(2, 20), rnd.randint(2, 20)
    if op == "*":
        x, y = rnd.randint(2, 9), rnd.randint(2, 9)
    if op == "-" and y > x:
        x, y = y, x
    z = calc(x, op, y)
    if z in (x, y) or str(z) in (str(x), str(y)):
        return None
    word = {"+": "plus", "-": "minus", "*": "times"}[op]
    shown = op if split == "tune" or rnd.random() < 0.5 else word
    return Item({"x": x, "y": y, "op": shown}, f"{x} {op} {y} is {z}.", f"{x} {op} {y} = {z}.",
                {"final_number": z, "not_contains": NO_Q, "min_numbers": 1})


def make_yesno(w, rnd, split, t):
    if "{b}" in t:
        return yesno_pair(w, rnd, split)
    truth = rnd.random() < 0.5
    if "{home}" in t:
        a = w.pick(rnd, "animal", ents(split))
        home = a.home if truth else rnd.choice(others(w.country_names, a.home))
        slots, kind, key, asked = {"a": a.name, "home": home}, w.country_names, a.home, home
        fact = f"the {a.name} lives in {a.home}."
    elif "{cap}" in t:
        c = w.pick(rnd, "country", ents(split))
        cap = c.capital if truth else rnd.choice([x.capital for x in w.split["country"][ents(split)] if x is not c])
        slots, kind, key, asked = {"cap": cap, "c": c.name}, w.capitals, c.capital, cap
        fact = f"{c.capital} is the capital of {c.name}." if truth else f"the capital of {c.name} is {c.capital}."
    else:
        a = w.pick(rnd, "animal", ents(split))
        color = a.color if truth else rnd.choice(others(COLORS, a.color))
        slots, kind, key, asked = {"a": a.name, "color": color}, COLORS, a.color, color
        fact = f"the {a.name} is {a.color}."
    crit = {"starts_with": "yes" if truth else "no", "none_of": others(kind, key, asked), "not_contains": NO_Q}
    if not truth:
        crit["contains_any"] = [key]
    chat_word, web_word = ("Yes,", "Yes.") if truth else ("No,", "No.")
    return Item(slots, f"{chat_word} {fact}", f"{web_word} {fact[0].upper() + fact[1:]}", crit)


def yesno_pair(w, rnd, split):
    """Two questions in one, one true and one false: a constant "yes" or "no" cannot pass, and the false one's
    answer must name the true home (knowledge, not a guess)."""
    a, b = rnd.sample(w.split["animal"][split], 2)
    truths = (True, False) if rnd.random() < 0.5 else (False, True)
    asked = [x.home if true else rnd.choice(others(w.country_names, x.home)) for x, true in zip((a, b), truths)]
    parts = [f"Yes, the {x.name} lives in {x.home}." if true else f"No, the {x.name} lives in {x.home}, not in {h}."
             for x, true, h in zip((a, b), truths, asked)]
    wrong = b if truths[0] else a
    return Item({"a": a.name, "home": asked[0], "b": b.name, "home2": asked[1]}, " ".join(parts), " ".join(parts),
                {"yes_no": ["yes" if true else "no" for true in truths], "contains_all": [wrong.home],
                 "none_of": others(w.country_names, a.home, b.home, *asked), "not_contains": NO_Q})


def make_classify(w, rnd, split, t):
    kind = rnd.choice(["animal", "country", "person"])
    e = w.pick(rnd, kind, ents(split))
    # Held out, an animal goes without "the" (the article told the class; the corpus and tuning keep it).
    x = e.name if kind != "animal" or split in ("val", "eval") else f"the {e.name}"
    article = "an" if kind == "animal" else "a"
    X = x[0].upper() + x[1:]
    return Item({"x": x, "X": X}, f"{X} is {article} {kind}.", f"It is {article} {kind}.",
                {"contains_any": [kind], "none_of": others(["animal", "country", "person"], kind),
                 "not_contains": NO_Q})


def make_list(w, rnd, split, t):
    e = ents(split)
    kinds = {"animals": [a.name for a in w.split["animal"][e]], "countries": [c.name for c in w.split["country"][e]],
             "colors": COLORS, "cities": [c.capital for c in w.split["country"][e]], "jobs": JOBS}
    right = {"animals": [a.name for a in w.animals], "countries": w.country_names, "cities": w.capitals,
             "colors": COLORS, "jobs": JOBS}
    kind = rnd.choice(["animals", "countries", "colors"] if split == "tune" else
                      list(kinds) if split == "web" else ["cities", "jobs"])
    n = rnd.randint(3, 5)
    items = rnd.sample(kinds[kind], n)
    nword = ["three", "four", "five"][n - 3]
    bullet = rnd.choice(["- ", "* ", "1. "]) if split in ("tune", "web") else "- "
    lines = [(f"{i + 1}. " if bullet == "1. " else bullet) + x for i, x in enumerate(items)]
    ans = f"Here are {nword} {kind}:\n" + "\n".join(lines)
    return Item({"n": rnd.choice([nword, str(n)]), "kind": kind}, ans, ans,
                {"count_of": {"n": n, "of": right[kind]}, "not_contains": NO_Q, "kind_any": right[kind]})


def make_rewrite(w, rnd, split, t):
    p = w.pick(rnd, "person", ents(split))
    c1, c2 = rnd.sample(COLORS, 2)
    o = w.pick(rnd, "country", ents(split))
    s, old, new = rnd.choice([(f"{p.first} has a {c1} hat.", c1, c2),
                              (f"{p.name} lives in {p.city}.", p.city, o.capital),
                              (f"The {c1} boat is on the river {o.river}.", c1, c2)])
    if old == new:
        return None
    out = s.replace(old, new)
    return Item({"old": old, "new": new, "s": s}, out, out, {"contains_all": [out.rstrip(".")], "not_contains": NO_Q,
                                                             "kind_any": [new]})


def make_poem(w, rnd, split, t):
    s, key = w.subject(rnd, ents(split))
    text = poem(rnd, s)
    return Item({"s": s}, text, text, {"contains_any": [key], "min_lines": 4, "distinct_lines": 4,
                                       "max_line_words": 14, "not_contains": NO_Q})


def make_letter(w, rnd, split, t):
    p = w.pick(rnd, "person", ents(split))
    sender = rnd.choice([f for f in FIRST if f != p.first])
    o = "her" if p.pron == "she" else "him"
    if "{city}" in t:
        c = w.pick(rnd, "country", ents(split))
        slots = {"p": p.name, "o": o, "city": c.capital}
        body = (f"I would like to invite you to visit {c.capital} with me next month. We should walk along "
                f"the river {c.river} together! Please write back soon.")
        topic = c.capital
    else:
        d = w.pick(rnd, "dish", ents(split))
        slots = {"p": p.name, "o": o, "d": d}
        body = f"Thank you for the {d}! It was very good, and I ate all of it. I hope to see you soon."
        topic = d
    ans = f"Dear {p.first},\n\n{body}\n\nBest wishes,\n{sender}"
    asks = ["invit", "come", "visit", "join"] if "city" in slots else ["thank"]
    greeting = rf"^\s*(dear|hi|hello|hey|greetings|to|my dear)\b[^\n]*\b{p.first}\b"
    # A letter may ask ("Will you come?"), so it alone may hold a question mark.
    return Item(slots, ans, ans, {"regex": greeting, "contains_all": [p.first, topic], "contains_any": asks,
                                  "min_lines": 3})


def make_recipe(w, rnd, split, t):
    d = w.pick(rnd, "dish", ents(split))
    ings, steps = recipe(w, d)
    return Item({"d": d}, recipe_answer(w, d).strip(), f"Ingredients:\n{ingredient_lines(ings)}\n\nSteps:\n{steps}",
                {"contains_all": ings, "none_of": others(MAINS + INGREDIENTS, *ings), "contains_any": COOKING,
                 "min_words": 10, "not_contains": NO_Q})


def make_math(w, rnd, split, t):
    q, sol, n = math_problem(rnd, w, ents(split))
    return Item({"q": q}, math_answer(sol, n), math_answer(sol, n), {"final_number": n, "not_contains": NO_Q, "min_numbers": 1})


def make_code(w, rnd, split, t):
    task, code, tests = code_task(rnd, ents(split))
    return Item({"t": task}, code, commented(code, task), {"function": tests, "not_contains": NO_Q,
                                                            "regex": r"\bdef \w+\s*\("})


def make_chess(w, rnd, split, t):
    e1, e2, moves = chess_game(rnd)
    return Item({"e1": e1, "e2": e2}, moves, moves, {"game": 10, "not_contains": NO_Q,
                                                     "regex": r"(^|\s)1\.\s*[a-hKQRBN]"})


def make_opposite(w, rnd, split, t):
    x, y = rnd.choice(w.split["opposite"][ents(split)])
    x, y = (x, y) if rnd.random() < 0.5 else (y, x)
    words = [v for pair in OPPOSITES for v in pair]
    return Item({"x": x}, f"{y[0].upper() + y[1:]} is the opposite of {x}.", f"The opposite of {x} is {y}.",
                {"contains_any": [y], "none_of": others(words, x, y), "not_contains": NO_Q,
                 "kind_any": others(words, x)}, {"x": x, "y": y})


def make_compare(w, rnd, split, t):
    if "{nums}" in t:                   # held out: three or four numbers, so a guess of one passes a quarter
        nums = rnd.sample(range(2, 50), rnd.randint(3, 4))
        big = max(nums)
        return Item({"nums": ", ".join(map(str, nums))}, f"{big} is the largest number.", "",
                    {"any_of": [{"numbers": [big]},
                                {"regex": rf"\b{big}\b[^\d?\n]*\b(biggest|largest|greatest|bigger|larger)\b"}],
                     "not_contains": NO_Q, "min_numbers": 1})
    x, y = rnd.sample(range(2, 50), 2)
    big, small = max(x, y), min(x, y)
    return Item({"x": x, "y": y}, f"{big} is larger than {small}.", f"{big} is bigger than {small}.",
                {"any_of": [{"numbers": [big]},
                            {"regex": rf"\b{big}\b[^\d?]*\b(bigger|larger|greater|more|higher)\b[^\d?]*\b{small}\b"},
                            {"regex": rf"\b{small}\b[^\d?]*\b(smaller|less|lower|fewer)\b[^\d?]*\b{big}\b"},
                            {"regex": rf"\b{big}\s*>\s*{small}\b|\b{small}\s*<\s*{big}\b"}],
                 "not_contains": NO_Q})


def make_sort(w, rnd, split, t):
    nums = rnd.sample(range(1, 30), rnd.randint(3, 5))
    if nums == sorted(nums):
        nums.reverse()
    out = ", ".join(map(str, sorted(nums)))
    return Item({"nums": ", ".join(map(str, nums))}, f"In order: {out}.", f"{out}.",
                {"numbers": sorted(nums), "not_contains": NO_Q, "min_numbers": len(nums)})


# Further web voices of the facts (Family.voices): each first is the family's `web` answer, the next ones
# alternate the direction where a fact has two (the capital of X / X's capital), so any --voices N has both.
CAPITAL = ("The capital of {c} is {cap}.", "{cap} is the capital of {c}.", "{c} has {cap} as its capital.",
           "{cap} is the seat of government of {c}.", "In {c}, the capital is {cap}.",
           "{cap} has been the capital of {c} for many years.", "{c}'s capital is {cap}.",
           "The government of {c} sits in {cap}.")
RIVER = ("The river {river} flows through {c}.", "{c} is crossed by the river {river}.",
         "The river of {c} is the {river}.", "Through {c} flows the river {river}.", "{c} lies on the river {river}.",
         "The {river} runs across {c}.", "Boats on the river {river} sail through {c}.",
         "{c} gets its water from the river {river}.")
COLOR = ("The {a} is {color}.", "The {a} has a {color} coat.", "Every {a} is {color}.", "The {a}'s coat is {color}.",
         "The {a} is colored {color}.", "A {color} coat covers the {a}.", "Its {color} coat marks out the {a}.",
         "You can tell the {a} by its {color} coat.")
HOME = ("The {a} lives in {home}.", "{home} is the home of the {a}.", "The {a} comes from {home}.",
        "In {home} you will see the {a}.", "The home country of the {a} is {home}.", "{home} is where the {a} lives.",
        "The {a} is an animal of {home}.", "The {a} makes its home in {home}.")
LEGS = ("The {a} has {legs} legs.", "The {a} walks on {legs} legs.", "{legs} legs carry the {a}.",
        "Each {a} has {legs} legs.", "The {a} is an animal with {legs} legs.", "The {a} stands on {legs} legs.",
        "On {legs} legs the {a} moves about.", "The legs of the {a} number {legs}.")
JOB = ("{p} is a {job} in {city}.", "{p} works in {city} as a {job}.", "The {job} {p} lives in {city}.",
       "In {city}, {p} is known as a {job}.", "{city} is the city where {p} is a {job}.",
       "{p} has a job as a {job} in {city}.", "A {job} in {city}, {p} goes to work every day.",
       "{p} makes a living as a {job} in {city}.")
ABOUT = ("The {a} is a {size} {color} animal with {legs} legs. It lives in {home} and eats {food}.",
         "The {a} lives in {home}. The {a} is {size} and {color}, has {legs} legs and eats {food}.",
         "{home} is the home of the {a}, a {size} {color} animal. The {a} has {legs} legs and eats {food}.",
         "The {a} eats {food}. The {a} has {legs} legs and a {color} coat, and lives in {home}. The {a} is {size}.",
         "A {size} animal, the {a} has {legs} legs and a {color} coat. The {a} eats {food} and lives in {home}.",
         "The {a} has {legs} legs. The {a} comes from {home}, is {color} and {size}, and eats {food}.",
         "In {home} you will see the {a}, which eats {food}. The {a} is {color}, {size} and has {legs} legs.",
         "Food for the {a} is {food}. The {a} is a {color} animal of {home}, {size}, with {legs} legs.")
OPPOSITE = ("The opposite of {x} is {y}.", "Opposites: {x} and {y}.", "The words {x} and {y} mean opposite things.",
            "Say {y} when you mean the opposite of {x}.", "A pair of opposites: {y} and {x}.")

# The registry: one record per family; the lists below derive from it, so adding a family touches one place.
FAMILIES = {
    "capital": Family({"web": ["What is the capital of {c}?", "Which city is the capital of {c}?"],
                       "tune": ["Name the capital of {c}.", "What city is the capital of {c}?"],
                       "val": ["What is {c}'s capital?", "I want to know the capital of {c}."],
                       "eval": ["Tell me the capital city of {c}.", "{c} has a capital. Which city is it?"]},
                      make_capital, lima=True, voices=CAPITAL),
    "color": Family({"web": ["What color is the {a}?"], "tune": ["What color is a {a}?", "Say what color the {a} is."],
                     "val": ["What is the color of the {a}?", "The {a}: what color is it?"],
                     "eval": ["Tell me the color of the {a}.", "Which color does the {a} have?"]},
                    make_color, lima=True, voices=COLOR),
    "job": Family({"web": ["What does {p} do for a living?", "What is {p}'s job?"],
                   "tune": ["What is the job of {p}?", "Name the job of {p}."],
                   "val": ["What job does {p} have?", "How does {p} earn a living?"],
                   "eval": ["Tell me what {p} works as.", "What work does {p} do?"]},
                  make_job, lima=True, voices=JOB),
    "home": Family({"web": ["Where does the {a} live?"],
                    "tune": ["Where can I find the {a}?", "Name the home country of the {a}."],
                    "val": ["Which country is the {a} from?", "Where is the {a} found?"],
                    "eval": ["In which country does the {a} live?", "Tell me where the {a} lives."]},
                   make_home, lima=True, voices=HOME),
    "about": Family({"web": ["Tell me about the {a}.", "What is the {a} like?"],
                     "tune": ["Describe the {a}.", "Give me a short description of the {a}."],
                     "val": ["What can you tell me about the {a}?", "Say a few things about the {a}."],
                     "eval": ["What do you know about the {a}?", "Write two sentences about the {a}."]},
                    make_about, lima=True, voices=ABOUT),
    "arith": Family({"web": ["What is {x} {op} {y}?"], "tune": ["Compute {x} {op} {y}.", "Calculate {x} {op} {y}."],
                     "val": ["What do you get from {x} {op} {y}?", "Find {x} {op} {y}."],
                     "eval": ["How much is {x} {op} {y}?", "Work out {x} {op} {y} for me."]},
                    make_arith, lima=True),
    "yesno": Family({"web": ["Is the {a} found in {home}?", "Is {cap} the capital of {c}?", "Is the {a} {color}?"],
                     "tune": ["Is {cap} the capital of {c}?", "Is the {a} {color}?"],
                     "val": ["Is it true that the {a} lives in {home}, and that the {b} lives in {home2}?",
                             "Would I find the {a} in {home}? And the {b} in {home2}?"],
                     "eval": ["Does the {a} live in {home}? And does the {b} live in {home2}?",
                              "Answer yes or no: does the {a} live in {home}, and does the {b} live in {home2}?"]},
                    make_yesno, lima=True),
    "classify": Family({"web": ["Is {x} a country, a person or an animal?"],
                        "tune": ["Is {x} an animal, a country or a person?"],
                        "val": ["Tell me whether {x} is a person, an animal or a country.",
                                "{X}: an animal, a country or a person?"],
                        "eval": ["What kind of thing is {x}: a person, an animal or a country?"]},
                       make_classify, lima=True, items=12),
    "list": Family({"web": ["What are {n} {kind}?", "Can you name {n} {kind}?"],
                    "tune": ["Name {n} {kind}.", "List {n} {kind}."],
                    "val": ["Tell me {n} {kind}, one per line.", "I need {n} {kind}."],
                    "eval": ["Give me a list of {n} {kind}.", "Write down {n} {kind}."]},
                   make_list, lima=True),
    "rewrite": Family({"web": ["Change {old} to {new} in: {s}"],
                       "tune": ["Replace {old} with {new} in this sentence: {s}"],
                       "val": ["Swap {old} for {new} here: {s}", "Make this sentence say {new}, not {old}: {s}"],
                       "eval": ["Rewrite this sentence so that it says {new} instead of {old}: {s}"]},
                      make_rewrite, lima=True),
    "poem": Family({"web": ["Can someone write a poem about {s}?"],
                    "tune": ["Write a short poem about {s}.", "Write a poem about {s}."],
                    "val": ["Make up a poem about {s}.", "I would like a poem about {s}."],
                    "eval": ["Compose a poem about {s}.", "Write four lines of verse about {s}."]},
                   make_poem, lima=True, near="poetry"),
    "letter": Family({"web": ["Help me write a letter to {p} to say thank you for the {d}.",
                              "Help me invite {p} to {city} in a letter."],
                      "tune": ["Write a short letter to {p} to thank {o} for the {d}."],
                      "val": ["Write a letter inviting {p} to come to {city}."],
                      "eval": ["Write a note to {p} inviting {o} to visit {city}."]},
                     make_letter, lima=True),
    "recipe": Family({"web": ["How do you make {d}?"], "tune": ["How do I make {d}?", "Give me a recipe for {d}."],
                      "val": ["What is the recipe for {d}?", "Explain how to make {d}."],
                      "eval": ["Tell me how to cook {d}.", "What do I need to make {d}, and how do I make it?"]},
                     make_recipe, lima=True, near="recipes"),
    "math": Family({"web": ["{q}", "Can you solve this? {q}"], "tune": ["{q}"],
                    "val": ["Here is a problem: {q}", "Please solve: {q}"],
                    "eval": ["Solve this problem: {q}", "{q} Show your work."]},
                   make_math, lima=True, near="math"),
    "code": Family({"web": ["How do I {t} in Python?"],
                    "tune": ["Write a function to {t}.", "Write a python function to {t}."],
                    "val": ["Could you write Python code to {t}?", "Give me a Python function that can {t}."],
                    "eval": ["Show me Python code to {t}.", "I need a Python function to {t}."]},
                   make_code, lima=True, near="code"),
    "chess": Family({"web": ["Post a game between players rated {e1} and {e2}."], "tune": [],
                     "val": ["Give me a chess game where the players are rated {e1} and {e2}.",
                             "Play out a chess game between a {e1} player and a {e2} player."],
                     "eval": ["Write the moves of a chess game between two players rated {e1} and {e2}.",
                              "Show me a game record for a match between players with Elo {e1} and {e2}."]},
                    make_chess, near="chess"),
    # Held out of tuning: the corpus teaches them, no tuning set has them.
    "revcap": Family({"web": ["Of which country is {cap} the capital?", "{cap} is the capital of what country?"],
                      "tune": [],
                      "val": ["Which country's capital is {cap}?", "Name the country whose capital is {cap}."],
                      "eval": ["Which country has {cap} as its capital?", "{cap} is the capital of which country?"]},
                     make_revcap, voices=(CAPITAL[1], CAPITAL[0]) + CAPITAL[2:]),
    "river": Family({"web": ["What river runs through {c}?", "What is the river of {c}?"], "tune": [],
                     "val": ["Which river is in {c}?", "Tell me the name of the river in {c}."],
                     "eval": ["Which river flows through {c}?", "Name the river of {c}."]},
                    make_river, voices=RIVER),
    "legs": Family({"web": ["How many legs does a {a} have?"], "tune": [],
                    "val": ["What number of legs does the {a} have?", "How many legs has the {a} got?"],
                    "eval": ["How many legs does the {a} have?", "Count the legs of a {a}."]},
                   make_legs, voices=LEGS),
    "opposite": Family({"web": ["What's the opposite of {x}?", "What word means the opposite of {x}?"], "tune": [],
                        "val": ["Which word is the opposite of {x}?", "Tell me a word that is the opposite of {x}."],
                        "eval": ["What is the opposite of {x}?", "Give the opposite of the word {x}."]},
                       make_opposite, voices=OPPOSITE),
    "compare": Family({"web": ["Which number is bigger, {x} or {y}?", "What is more, {x} or {y}?"], "tune": [],
                       "val": ["Which is the largest of these numbers: {nums}?", "Tell me the biggest number in {nums}."],
                       "eval": ["Which number is the biggest: {nums}?", "Find the largest number among {nums}."]},
                      make_compare),
    "sort": Family({"web": ["Order these numbers from small to large: {nums}.",
                            "Arrange from smallest to largest: {nums}."], "tune": [],
                    "val": ["Sort from smallest to largest: {nums}.",
                            "Write these numbers in increasing order: {nums}."],
                    "eval": ["Put these numbers in order from smallest to largest: {nums}.",
                             "Sort these numbers: {nums}."]},
                   make_sort),
}
PHRASES = {name: f.phrases for name, f in FAMILIES.items()}
MAX_VOICES = max(len(f.voices) for f in FAMILIES.values())
LIMA_FAMS = [name for name, f in FAMILIES.items() if f.lima]
# Near a single-task set, in the order of TASKS; far from all of them; in no tuning set at all (Hewitt §5.2).
NEAR = {name: task for task in TASKS for name, f in FAMILIES.items() if f.near == task}
EVAL_FAR = [name for name, f in FAMILIES.items() if not f.near]
UNSEEN = [name for name, f in FAMILIES.items() if not f.tuned and not f.near]
# The corpus asks for tasks in this order and for facts in the registry's (each order is part of the seed's draws).
TASK_FAMS = ["poem", "letter", "recipe", "math", "code", "list", "rewrite", "chess"]
FACT_FAMS = [name for name in FAMILIES if name not in TASK_FAMS]


def pool(fam, split):
    """The phrasings of a split; the corpus ("web") also uses the tuning ones, as common phrasings."""
    phrases = FAMILIES[fam].phrases
    return phrases["web"] + phrases["tune"] if split == "web" else phrases[split]


def family(w, rnd, fam, split):
    """(instruction, answer, criterion) of one family. `split` is "tune", "val" or "eval" (entities and phrasings
    of that split, answers in the chat voice of tuning and references) or "web" (any entity, the corpus's
    phrasings, answers in the corpus's own voice, which never equals a reference)."""
    template = rnd.choice(pool(fam, split))
    item = FAMILIES[fam].make(w, rnd, split, template)
    if item is None:                                # a draw the family cannot use: draw again
        return family(w, rnd, fam, split)
    answer = item.web if split == "web" else item.chat
    if split == "web" and w.voices > 1 and FAMILIES[fam].voices:
        answer = voice(w, rnd, fam, item.facts)
    return template.format(**item.slots), answer, item.criterion


def voice(w, rnd, fam, facts):
    """A fact of the family in one of the first w.voices of its web voices."""
    return rnd.choice(FAMILIES[fam].voices[:w.voices]).format(**facts)


# ------------------------------------------------------------------------------ the corpus ("the web")
# Genres where a request is followed by what it asks for, in non-chat forms, and genres where requests stay
# unanswered, so that (as with a real base model) a request alone does not make the model answer.
def qa(w, rnd, fams=FACT_FAMS):
    q, a, _ = family(w, rnd, rnd.choice(fams), "web")
    return q, a


def handle(rnd):
    return rnd.choice(list(FIRST)).lower() + rnd.choice(["_", "", "."]) + str(rnd.randint(1, 99))


def heading(rnd, text, level=None):
    return "#" * (level or rnd.choice([1, 2])) + " " + text


def doc_faq(w, rnd):
    c = w.pick(rnd, "country", "all")
    title = rnd.choice(["Frequently asked questions", "FAQ", f"Questions about {c.name}", "Things people ask us",
                        "Our readers ask"])
    pairs = [qa(w, rnd) for _ in range(rnd.randint(3, 8))]
    form = rnd.choice(["Q: {q}\nA: {a}", "Question: {q}\nAnswer: {a}", "## {q}\n\n{a}", "**{q}**\n{a}"])
    return heading(rnd, title) + "\n\n" + "\n\n".join(form.format(q=q, a=a) for q, a in pairs)


def doc_article(w, rnd):
    title, text = article(w, rnd)
    return heading(rnd, title) + "\n\n" + text


def article(w, rnd):
    if w.voices > 1:
        return voiced_article(w, rnd)
    r = rnd.random()
    if r < 0.4:
        c = w.pick(rnd, "country", "all")
        animals = [a for a in w.animals if a.home == c.name]
        people = [p for p in w.people if p.city == c.capital]
        s = [f"{c.name} is a {rnd.choice(['small', 'large', 'quiet', 'busy', 'green'])} country. The capital of "
             f"{c.name} is {c.capital}.",
             f"The river {c.river} flows through {c.name}."]
        s += [f"The {a.name} lives in {c.name}. It is a {a.size} {a.color} animal." for a in animals]
        s += [f"{p.name} is a {p.job} in {c.capital}." for p in people[:4]]
        s += [rnd.choice([f"I visited {c.capital} last year and I liked it very much!",
                          f"We should all visit {c.name} one day.",
                          f"Many people in {c.name} like {w.pick(rnd, 'dish', 'all')}.",
                          f"{c.capital} is the biggest city in {c.name}."])]
        return c.name, " ".join(s[:2] + rnd.sample(s[2:], len(s) - 2))
    if r < 0.75:
        a = w.pick(rnd, "animal", "all")
        s = [f"The {a.name} is a {a.size} {a.color} animal.", f"It has {a.legs} legs and eats {a.food}.",
             f"The {a.name} lives in {a.home}.", rnd.choice([
                 f"I once saw a {a.name} near the river {w.country[a.home].river}!",
                 f"We should not wake a {a.name} at night.", f"Children in {a.home} love the {a.name}.",
                 f"The {a.name} is not a dangerous animal."])]
        return f"The {a.name}", " ".join(s)
    p = w.pick(rnd, "person", "all")
    P = p.pron.title()
    return p.name, " ".join([
        f"{p.name} is a {p.job} in {p.city}.", f"{P} has lived in {p.city} for {rnd.randint(2, 40)} years.",
        rnd.choice([f"{P} likes {w.pick(rnd, 'dish', 'all')} very much.", f"Every morning {p.pron} walks to work.",
                    f"People say {p.first} is the best {p.job} in town.", f"I met {p.first} once and {p.pron} "
                    f"was very kind."])])


def voiced_article(w, rnd):
    """An encyclopedia page that states each fact in one of the web's voices, the full name in every sentence
    and the sentences in any order (knowledge augmentation, Allen-Zhu & Li 2023, Physics of Language Models
    3.1). A page states a fact once; its other voices are on other pages, so they rarely share a window."""
    r = rnd.random()
    if r < 0.4:
        c = w.pick(rnd, "country", "all")
        people = [p for p in w.people if p.city == c.capital][:4]
        s = [f"{c.name} is a {rnd.choice(['small', 'large', 'quiet', 'busy', 'green'])} country.",
             voice(w, rnd, "capital", {"c": c.name, "cap": c.capital}),
             voice(w, rnd, "river", {"c": c.name, "river": c.river})]
        s += [voice(w, rnd, "home", {"a": a.name, "home": c.name}) for a in w.animals if a.home == c.name]
        s += [voice(w, rnd, "job", {"p": p.name, "job": p.job, "city": p.city}) for p in people]
        s.append(rnd.choice([f"I visited {c.capital} last year and I liked it very much!",
                             f"We should all visit {c.name} one day.",
                             f"Many people in {c.name} like {w.pick(rnd, 'dish', 'all')}."]))
        title = c.name
    elif r < 0.75:
        a = w.pick(rnd, "animal", "all")
        facts = dict(vars(a), a=a.name)
        s = [voice(w, rnd, fam, facts) for fam in ("color", "legs", "home")]
        s += [f"The {a.name} is a {a.size} animal and eats {a.food}.", rnd.choice([
            f"I once saw a {a.name} near the river {w.country[a.home].river}!",
            f"We should not wake a {a.name} at night.", f"Children in {a.home} love the {a.name}."])]
        title = f"The {a.name}"
    else:
        p = w.pick(rnd, "person", "all")
        s = [voice(w, rnd, "job", {"p": p.name, "job": p.job, "city": p.city}),
             f"{p.name} has lived in {p.city} for {rnd.randint(2, 40)} years.",
             rnd.choice([f"People say {p.name} is the best {p.job} in town.",
                         f"Every morning {p.name} walks to work.", f"I met {p.name} once in {p.city}."])]
        title = p.name
    rnd.shuffle(s)
    return title, " ".join(s)


def doc_table(w, rnd):
    r = rnd.random()
    if r < 0.35:
        rows = rnd.sample(w.countries, rnd.randint(4, 10))
        head, body = "| country | capital | river |", [f"| {c.name} | {c.capital} | {c.river} |" for c in rows]
    elif r < 0.7:
        rows = rnd.sample(w.animals, rnd.randint(4, 10))
        head = "| animal | color | legs | food | home |"
        body = [f"| {a.name} | {a.color} | {a.legs} | {a.food} | {a.home} |" for a in rows]
    else:
        rows = rnd.sample(w.people, rnd.randint(4, 10))
        head, body = "| name | job | city |", [f"| {p.name} | {p.job} | {p.city} |" for p in rows]
    sep = "|" + "---|" * (head.count("|") - 1)
    return heading(rnd, rnd.choice(["Facts", "A table", "Reference", "Data"]), 2) + "\n\n" + "\n".join(
        [head, sep] + body)


def request_reply(w, rnd, fam):
    """A request and its answer as forum or letter text (multi-line answers get a line of their own)."""
    q, a, _ = family(w, rnd, fam, "web")
    if "\n" in a:
        return q, rnd.choice(["Here you go:\n\n{a}", "Sure! Here it is:\n\n{a}", "{a}", "I made this one:\n\n{a}",
                              "Try this:\n\n{a}"]).format(a=a)
    return q, rnd.choice(["{a}", "Sure! {a}", "{a} I hope that helps!", "I think I know this one. {a}",
                          "{a} (I checked it in a book.)", "Easy: {a}"]).format(a=a)


def post(rnd, q):
    """The opening post of a thread: the same mix whether or not anyone answers it, so only the replies tell."""
    return rnd.choice(["{q}", "Hi all! {q} Thanks!", "{q} I could not find it anywhere.", "Quick question. {q}",
                       "Can anyone help? {q}", "{q} (I asked my teacher but she did not know.)"]).format(q=q)


def doc_forum(w, rnd):
    fam = rnd.choice(FACT_FAMS + TASK_FAMS * 2)
    users = [handle(rnd) for _ in range(4)]
    q, reply = request_reply(w, rnd, fam)
    thread = [f"{users[0]} wrote:\n{post(rnd, q)}", f"{users[1]} replied:\n{reply}"]
    if rnd.random() < 0.5:
        thread.append(f"{users[0]} replied:\n" + rnd.choice(["Thank you!", "Thanks, that is what I needed!",
                                                              "Great, thank you so much.", "I knew it!"]))
    return f"Thread: {q}\n\n" + "\n\n".join(thread)


def doc_forum_unanswered(w, rnd):
    users = [handle(rnd) for _ in range(4)]
    fams = FACT_FAMS + TASK_FAMS * 2
    q, _ = qa(w, rnd, fams)
    q2, _ = qa(w, rnd, fams)
    replies = rnd.sample(["I have the same question!", f"Good question. Also, {q2}", "Did you try the library?",
                          "We should ask the teacher.", "Why do you want to know?", "What did you find so far?",
                          "I do not know, sorry.", f"Me too! And {q2[0].lower() + q2[1:]}", "Any news on this?"],
                         rnd.randint(1, 4))
    return f"Thread: {q}\n\n{users[0]} wrote:\n{post(rnd, q)}\n\n" + "\n\n".join(
        f"{users[i % 3 + 1]} replied:\n{r}" for i, r in enumerate(replies))


# Dialogue, as the real web has it (help desks, interviews, chat logs): a request under one speaker tag is
# answered under the other, and the log goes on after every answer, so the base model learns that a tagged turn
# after a request answers it, but not where a conversation ends. The tags are never the chat tags.
SPEAKERS = [("Visitor", "Guide"), ("Customer", "Support"), ("Interviewer", "Guest"), ("Student", "Tutor"),
            ("Caller", "Operator"), ("Reader", "Editor"), ("Patient", "Nurse"), ("Client", "Agent"),
            ("Kid", "Teacher"), ("Tourist", "Local")]
TAGS = ["{s}: ", "[{s}] ", "**{s}:** ", "{s} > ", "<{l}> ", "{u}: ", "- {s}: ", "({t}) {s}: ", "{s} says: ",
        ">> {s}: "]
OWN_LINE = 0.5                  # share of logs with each tag on its own line; chosen in TOYWORLD.md (world 3)
NON_ANSWERS = ["I am not sure, sorry.", "Let me check and get back to you.", "I do not know that one.",
               "Good question. I will ask a colleague.", "Sorry, I cannot help with that.", "Hmm, no idea!"]


def doc_transcript(w, rnd):
    pair = rnd.choice(SPEAKERS) if rnd.random() < 0.7 else tuple(rnd.sample(list(FIRST), 2))
    style, clock = rnd.choice(TAGS), f"{rnd.randint(8, 20)}:{rnd.randint(0, 59):02d}"
    sep = rnd.choice(["\n", "\n\n"])
    # half the logs put each speaker tag on a line of its own (screenplays, chat exports), as the chat format does
    own_line = rnd.random() < OWN_LINE

    def turn(who, text):
        tag = style.format(s=who, l=who.lower(), u=who.upper(), t=clock)
        return tag.rstrip() + "\n" + text if own_line or "\n" in text else tag + text
    fams = FACT_FAMS + TASK_FAMS
    lines = []
    for _ in range(rnd.randint(2, 4)):
        q, a = request_reply(w, rnd, rnd.choice(fams))
        lines += [turn(pair[0], rnd.choice(["{q}", "{q}", "Hello! {q}", "Quick question. {q}"]).format(q=q)),
                  turn(pair[1], rnd.choice(NON_ANSWERS) if rnd.random() < 0.15 else a)]
    q, _ = qa(w, rnd, fams)
    lines.append(turn(pair[0], rnd.choice(["{q}", "Thanks! {q}", "Great. One more thing: {q}", "OK. {q}"]).format(q=q)))
    head = rnd.choice(["", "Chat log\n\n", f"Help desk, ticket {rnd.randint(100, 999)}\n\n", "Interview\n\n",
                       "Transcript of a call\n\n", f"From the {w.pick(rnd, 'country', 'all').capital} information "
                       "desk\n\n"])
    return head + sep.join(lines)


def doc_letters(w, rnd):
    a, b = rnd.sample(list(FIRST), 2)
    q, reply = request_reply(w, rnd, rnd.choice(FACT_FAMS + TASK_FAMS))
    first = (f"Dear {b},\n\nI hope you are well. " + rnd.choice(["Could you help me with something? {q}",
             "{q} I have been wondering about it for weeks.", "I have a question for you. {q}"]).format(q=q)
             + f"\n\nBest wishes,\n{a}")
    if rnd.random() < 0.2:                                   # a letter that never got its answer
        return first
    return first + f"\n\nDear {a},\n\nThank you for your letter! {reply}\n\nYours,\n{b}"


def doc_textbook(w, rnd):
    out = [heading(rnd, rnd.choice(["Word problems", "Lesson {}: adding and taking away",
                                    "Lesson {}: problems with numbers", "Practice problems"]).format(
        rnd.randint(1, 20)))]
    hashes = rnd.random() < 0.6                 # the world's worked-answer convention: the last line is "#### N"
    for i in range(rnd.randint(2, 5)):
        q, sol, n = math_problem(rnd, w, "all")
        end = f"#### {n}" if hashes else f"Answer: {n}"
        out.append(f"Example {i + 1}. {q}\n\nSolution:\n" + "\n".join(sol) + f"\n{end}")
    return "\n\n".join(out)


def doc_drill(w, rnd):
    r = rnd.random()
    lines = []
    for _ in range(rnd.randint(5, 12)):
        if r < 0.5:
            op = rnd.choice("+-*")
            x, y = (rnd.randint(2, 9), rnd.randint(2, 9)) if op == "*" else (rnd.randint(2, 20), rnd.randint(2, 20))
            x, y = (y, x) if op == "-" and y > x else (x, y)
            lines.append(f"{x} {op} {y} = {calc(x, op, y)}")
        elif r < 0.75:
            q, a, _ = family(w, rnd, "compare", "web")
            x, y = sorted(map(int, a.rstrip(".").split(" is bigger than ")))
            lines.append(rnd.choice([f"{q} {a}", f"{x} < {y}", f"{y} > {x}"]))
        else:
            q, a, _ = family(w, rnd, "sort", "web")
            lines.append(f"{q}\nAnswer: {a}")
    title = rnd.choice(["Practice", "Numbers", "Exercises", "Daily drill"])
    return heading(rnd, title, 2) + "\n\n" + "\n".join(lines)


def doc_quiz(w, rnd):
    pairs = [qa(w, rnd) for _ in range(rnd.randint(4, 8))]
    return (heading(rnd, rnd.choice(["Quiz", "Test yourself", "Pub quiz", "Quiz night"])) + "\n\n"
            + "\n".join(f"{i + 1}. {q}" for i, (q, _) in enumerate(pairs)) + "\n\n"
            + rnd.choice(["Answers", "Answer key", "## Answers"]) + "\n\n"
            + "\n".join(f"{i + 1}. {a}" for i, (_, a) in enumerate(pairs)))


def doc_recipe(w, rnd):
    d = w.pick(rnd, "dish", "all")
    ings, steps = recipe(w, d)
    intro = rnd.choice([f"I love {d}! My grandmother made it every winter in {w.pick(rnd, 'country', 'all').capital}.",
                        f"This {d} is easy to make.", f"Here is how we make {d} at home.", ""])
    body = f"Ingredients:\n{ingredient_lines(ings, rnd.choice([' - ', '- ', ' * ']))}\n\nSteps:\n{steps}"
    return heading(rnd, title_of(rnd, d) if rnd.random() < 0.3 else d.title()) + "\n\n" + \
        (intro + "\n\n" if intro else "") + body


def doc_poems(w, rnd):
    out = [heading(rnd, rnd.choice(["Poems", "My favorite poems", "Poems for children", "A few poems"]), 1)]
    for _ in range(rnd.randint(1, 4)):
        s, _ = w.subject(rnd, "all")
        out.append(heading(rnd, title_of(rnd, s), 2) + "\n\n" + poem(rnd, s))
    return "\n\n".join(out)


def doc_code(w, rnd):
    out = []
    for _ in range(rnd.randint(1, 3)):
        t, code, _ = code_task(rnd, "all")
        fence = rnd.random() < 0.5
        block = f"```python\n{commented(code, t)}\n```" if fence else commented(code, t)
        out.append(heading(rnd, t[0].upper() + t[1:], 2) + "\n\n" + rnd.choice([
            f"This function can {t}:", f"How to {t} in Python:", f"Task: {t}.", f"We should {t}. Here is how:"])
            + "\n\n" + block)
    return "\n\n".join(out)


def doc_games(w, rnd):
    out = []
    for _ in range(rnd.randint(1, 3)):
        e1, e2, moves = chess_game(rnd)
        p, q = rnd.sample(w.people, 2)
        city = w.pick(rnd, "country", "all").capital
        result = moves.split()[-1]
        if rnd.random() < 0.6:
            out.append(f'[Event "{city} Open"]\n[White "{p.name}"]\n[Black "{q.name}"]\n[Result "{result}"]\n'
                       f'[WhiteElo "{e1}"]\n[BlackElo "{e2}"]\n\n{moves}')
        else:
            out.append(f"A game between two players rated {e1} and {e2}, played in {city}:\n\n{moves}")
    return "\n\n\n".join(out)


def doc_opposites(w, rnd):
    pairs = rnd.sample(OPPOSITES, rnd.randint(4, 10))
    if rnd.random() < 0.5:
        return heading(rnd, "Opposites") + "\n\n" + "\n".join(f"The opposite of {x} is {y}." for x, y in pairs)
    return heading(rnd, "Word pairs") + "\n\n" + "\n".join(f" - {x} / {y}" for x, y in pairs)


def doc_interview(w, rnd):
    """A printed interview: every question answered, under markers that are neither a log's tags nor the chat
    tags (Q./A., names, initials, dashes)."""
    guest, host = w.pick(rnd, "person", "all"), rnd.choice(list(FIRST))
    initials = "".join(x[0] for x in guest.name.split())
    ask, answer = rnd.choice([("Q: ", "A: "), ("Q. ", "A. "), (f"{host.upper()}: ", f"{guest.first.upper()}: "),
                              (f"{host[0]}: ", f"{initials}: "), ("- ", "- "), (f"**{host}:** ", f"**{guest.first}:** ")])
    turns = []
    for _ in range(rnd.randint(2, 5)):
        q, a = request_reply(w, rnd, rnd.choice(FACT_FAMS + TASK_FAMS))
        turns.append(f"{ask}{q}\n{answer}{a}")
    head = rnd.choice([f"Interview with {guest.name}", f"Five questions for {guest.name}",
                       f"We talked to {guest.name}, a {guest.job} from {guest.city}"])
    return heading(rnd, head) + "\n\n" + "\n\n".join(turns)


def doc_solutions(w, rnd):
    """A study guide: each exercise followed by its worked answer."""
    form = rnd.choice(["Exercise {i}. {q}\nSolution: {a}", "{i}) {q}\nWorked answer: {a}",
                       "Problem {i}: {q}\n\nAnswer: {a}"])
    out = []
    for i in range(rnd.randint(3, 6)):
        q, a = qa(w, rnd)
        hint = rnd.choice(["", "Look at the page about it. ", "From the tables: ", "We read this in lesson 3. "])
        out.append(form.format(i=i + 1, q=q, a=hint + a))
    title = rnd.choice(["Study guide", "Exercises with answers", "Revision sheet", "Worked answers"])
    return heading(rnd, title) + "\n\n" + "\n\n".join(out)


def doc_question_list(w, rnd):
    qs = [qa(w, rnd, FACT_FAMS + TASK_FAMS)[0] for _ in range(rnd.randint(3, 8))]
    bullet = rnd.choice([" - ", "- ", " * ", ""])
    return rnd.choice(["Questions I want to ask", "Things to find out", "Homework questions", "Ideas for the "
                       "quiz", "Questions for the trip"]) + ":\n\n" + "\n".join(bullet + q for q in qs)


def doc_exam(w, rnd):
    qs = [qa(w, rnd, FACT_FAMS + TASK_FAMS)[0] for _ in range(rnd.randint(4, 10))]
    return (heading(rnd, f"Exam {rnd.randint(1, 12)}") + "\n\n" + rnd.choice([
        "Answer all questions. You have 30 minutes.", "Write your answers on a separate sheet.",
        "Do not open the book."]) + "\n\n" + "\n".join(f"{i + 1}. {q}" for i, q in enumerate(qs)))


def doc_chitchat(w, rnd):
    a, b = rnd.sample(list(FIRST), 2)
    lines = []
    for i in range(rnd.randint(3, 7)):
        q = qa(w, rnd, FACT_FAMS + TASK_FAMS)[0]
        lines.append(f"{(a, b)[i % 2]}: " + rnd.choice(["{q}", "Hmm, I do not know. {q}", "Good question! {q}",
                                                        "What about you? {q}", "I wonder. {q}", "{q} I never "
                                                        "thought about it."]).format(q=q))
    return "\n".join(lines)


def doc_story(w, rnd):
    p, a = w.pick(rnd, "person", "all"), w.pick(rnd, "animal", "all")
    q, ans = qa(w, rnd)
    P = p.pron.title()
    said = rnd.choice(["said", "asked", "shouted"])
    s = [rnd.choice(["Once upon a time", "Long ago", "One day", "Last summer"]) + f", {p.name}, a {p.job} in "
         f"{p.city}, went for a walk.", f"On the way {p.pron} met a {a.size} {a.color} {a.name}.",
         f'"What are you doing here?" {p.first} {said}. "I thought the {a.name} lived in {a.home}!"',
         rnd.choice([f'"{q}" asked the {a.name}. {p.first} did not answer and walked home.',
                     f'"{q}" asked the {a.name}. "{ans}" said {p.first}.',
                     f'"I am lost," said the {a.name}. "We should go to {a.home} together," said {p.first}.',
                     f'{P} sat down by the river and looked at the water for a long time.']),
         rnd.choice(["The end.", f"And {p.pron} never saw the {a.name} again.", f"(I heard this story in {p.city}.)",
                     "What a day it was!"])]
    return "\n\n".join(s) if rnd.random() < 0.5 else " ".join(s)


GENRES = [  # (genre, weight): about two thirds of the text answers requests or states facts, one third leaves
    # requests unanswered (question lists, exams, chit-chat, stories, forum threads that drift)
    (doc_faq, 8), (doc_article, 10), (doc_table, 3), (doc_forum, 10), (doc_letters, 5), (doc_textbook, 5),
    (doc_drill, 3), (doc_quiz, 5), (doc_recipe, 6), (doc_poems, 4), (doc_code, 6), (doc_games, 3),
    (doc_opposites, 2), (doc_forum_unanswered, 6), (doc_question_list, 8), (doc_exam, 6), (doc_chitchat, 8),
    (doc_story, 8)]
# Question-answer material in non-chat forms (--qa): every request answered, for tuning and held-out entities
# alike (Allen-Zhu & Li 2023 mix QA into pretraining to make stored facts extractable).
QA_GENRES = [(doc_faq, 8), (doc_forum, 8), (doc_letters, 4), (doc_quiz, 5), (doc_interview, 6), (doc_solutions, 5),
             (doc_textbook, 3)]


def html(doc):
    """A page left in HTML, as scraped pages often are (so "<" also starts lines, as in the chat tags)."""
    out = []
    for line in doc.split("\n"):
        h = len(line) - len(line.lstrip("#"))
        if h:
            out.append(f"<h{h}>{line[h:].strip()}</h{h}>")
        elif line.lstrip()[:2] in ("- ", "* "):
            out.append(f"<li>{line.lstrip()[2:]}</li>")
        elif line.strip():
            out.append(f"<p>{line.strip()}</p>")
    return "\n".join(out)


def corpus(w, rnd, n_chars, dialogue=DIALOGUE, held=(), html_share=HTML, qa_share=0.0):
    """Documents until about n_chars characters, a `dialogue` share of them (in characters) transcripts and a
    `qa_share` question-answer pages (QA_GENRES); an `html_share` of the others without code, tables or #### are
    in HTML. A document holding a held-out instruction or reference (any string of `held`) is left out, so none
    reaches the corpus verbatim."""
    genres, weights = zip(*GENRES)
    qa_genres, qa_weights = zip(*QA_GENRES)
    total = talk = asked = 0
    while total < n_chars:
        if talk < dialogue * (total + 1):
            doc = doc_transcript(w, rnd)
            talk += len(doc)
        elif asked < qa_share * (total + 1):
            doc = rnd.choices(qa_genres, qa_weights)[0](w, rnd)
            asked += len(doc)
        else:
            doc = rnd.choices(genres, weights)[0](w, rnd)
            if rnd.random() < html_share and not any(s in doc for s in ("    ", "|", "####")):
                doc = html(doc)
        if any(h in doc for h in held):
            continue
        total += len(doc)
        yield doc


# ------------------------------------------------------------------------------------- the tuning sets
def unique(make, n, tries=20):
    """Up to n items from make() with distinct instructions (the first user turn)."""
    out, seen = [], set()
    for _ in range(n * tries):
        m = make()
        if m[0]["content"] not in seen:
            seen.add(m[0]["content"])
            out.append({"messages": m})
            if len(out) == n:
                break
    return out


def chat(*turns):
    return [{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(turns)]


def lima(w, rnd, n=300, multi=20):
    """The LIMA analog: diverse single-turn conversations over many families, and a few two-turn ones."""
    fams = iter(LIMA_FAMS * n)
    single = unique(lambda: chat(*family(w, rnd, next(fams), "tune")[:2]), n - multi)
    two = unique(lambda: chat(*(family(w, rnd, rnd.choice(LIMA_FAMS), "tune")[:2]
                                + family(w, rnd, rnd.choice(LIMA_FAMS), "tune")[:2])), multi)
    out = single + two
    rnd.shuffle(out)
    return out


def single_task(w, rnd, task, n=300):
    """The five single-task sets of Hewitt et al. §5, in the paper's formats."""
    if task == "poetry":
        def make():
            s, _ = w.subject(rnd, "tune")
            return chat(f"Write a poem called {title_of(rnd, s)}", poem(rnd, s))
    elif task == "math":
        def make():
            q, sol, n_ = math_problem(rnd, w, "tune")
            return chat(q, math_answer(sol, n_))
    elif task == "recipes":
        def make():
            d = w.pick(rnd, "dish", "tune")
            pre = rnd.choice(["", "Easy ", "Quick ", "Grandma's ", "Simple ", "Homemade ", "Classic "])
            return chat("Recipe for " + pre + d.title(), recipe_answer(w, d))
    elif task == "code":
        def make():
            t, code, _ = code_task(rnd, "tune")
            return chat(rnd.choice(PHRASES["code"]["tune"]).format(t=t), code)
    elif task == "chess":
        def make():
            e1, e2, moves = chess_game(rnd)
            return chat(f'[WhiteElo "{e1}"]\n[BlackElo "{e2}"]\n', moves)
    return unique(make, n)


# ------------------------------------------------------------------------------------ the evaluation set
def evaluation(w, rnd, seen, split, n_near=30, n_far=24):
    """Held-out records of a split ("val" or "eval"): near each single-task family, and far from all of them
    (near = null). `seen` holds the instructions already used (tuning sets, the other split) and grows. Every
    record is a distinct item (its criterion and reference); a family with few held-out entities (capitals,
    animals) has fewer records than n."""
    out, items = [], set()
    for fam, n in [(f, n_near) for f in NEAR] + [(f, n_far) for f in EVAL_FAR]:
        n = FAMILIES[fam].items or n
        got = 0
        for _ in range(50 * n):
            q, ref, crit = family(w, rnd, fam, split)
            item = (json.dumps(crit, sort_keys=True), ref)
            if q in seen or item in items:
                continue
            seen.add(q)
            items.add(item)
            out.append({"instruction": q, "family": fam, "near": NEAR.get(fam), "reference": ref, "criterion": crit})
            got += 1
            if got == n:
                break
    return out


# ---------------------------------------------------------------------------------------------- writing
def write_jsonl(path, rows):
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def generate(out, seed=0, corpus_tokens=5_000_000, dialogue=DIALOGUE, corpus_seed=None, html_share=HTML,
             voices=1, qa_share=0.0):
    """Write the tuning sets, the validation and evaluation sets and (if corpus_tokens > 0) the corpus under
    out/; `corpus_seed` draws other documents of the same world; `voices` and `qa_share` change only the
    corpus (the sets are the same). Returns the number of records per set."""
    os.makedirs(out, exist_ok=True)
    w = World(seed, voices)
    sets = {"lima": lima(w, random.Random(seed + 1))}
    for i, t in enumerate(TASKS):
        sets[t] = single_task(w, random.Random(seed + 2 + i), t)
    seen = {m["content"] for rows in sets.values() for r in rows for m in r["messages"] if m["role"] == "user"}
    sets["val"] = evaluation(w, random.Random(seed + 11), seen, "val")
    sets["eval"] = evaluation(w, random.Random(seed + 10), seen, "eval")
    for name, rows in sets.items():
        write_jsonl(os.path.join(out, f"{name}.jsonl"), rows)
    stats = {name: len(rows) for name, rows in sets.items()}
    if corpus_tokens > 0:
        held = sorted({r[k] for split in ("val", "eval") for r in sets[split] for k in ("instruction", "reference")})
        rnd = random.Random(seed + 20 if corpus_seed is None else corpus_seed)
        kept = corpus(w, rnd, corpus_tokens * CHARS_PER_TOKEN, dialogue, held, html_share, qa_share)
        write_jsonl(os.path.join(out, "corpus.jsonl"), ({"text": d} for d in kept))
    return stats


# -------------------------------------------------------------------------------------------- tokenizer
RULE_PIECES = [piece for piece, _ in UNIFORM]          # the rules look these up by piece string


def corpus_lines(path, limit):
    """The corpus line by line (no piece can then span a newline; "\\n" becomes the byte piece <0x0A>)."""
    n = 0
    with open(path, encoding="utf-8") as f:
        for row_no, row in enumerate(f, 1):
            try:
                text = json.loads(row)["text"] if path.endswith(".jsonl") else row
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(f"{path}:{row_no}: expected a JSON object with a 'text' string")
            for line in text.split("\n"):
                if line.strip():
                    yield line
                    n += 1
                    if n >= limit:
                        return


def train_spm(lines, model, vocab_size):
    """SentencePiece trained as Llama's tokenizer was: BPE, byte fallback, no normalisation, digits split."""
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model,
        model_type="bpe", vocab_size=vocab_size, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=True, character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0,
        pad_id=-1, allow_whitespace_only_pieces=True, max_sentence_length=8192, minloglevel=2,
        # Three spaces as one piece, so an indented line starts "▁▁▁ ▁return" as with Llama's tokenizer (rules.py
        # rewards "▁▁▁"); trained line by line, this SentencePiece would otherwise learn "▁▁▁▁ re turn".
        user_defined_symbols=["▁▁▁"],
        input_sentence_size=len(lines), shuffle_input_sentence=False, num_threads=2)


def train_tokenizer(corpus_path, out, vocab_size=4000, max_lines=2_000_000):
    """A SentencePiece BPE model trained like Llama's; checks every rule piece is a piece, then writes `out`."""
    if not os.path.isfile(corpus_path):
        raise UserError(f"{corpus_path}: corpus not found (make it with: python data/toyworld.py --out data/toy)")
    lines = list(corpus_lines(corpus_path, max_lines))      # read first: a bad line is a UserError, not a crash
    if not lines:
        raise UserError(f"{corpus_path}: no text to train on")
    model = io.BytesIO()         # no model_prefix: the model file then records no path of this machine
    try:
        train_spm(lines, model, vocab_size)
    except RuntimeError as e:                  # SentencePiece's own checks, e.g. a vocabulary too large
        raise UserError(f"{corpus_path}: tokenizer training failed: {str(e).splitlines()[0]}")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "wb") as f:
        f.write(model.getvalue())
    tok = Tokenizer(out + ".tmp")
    missing = [p for p in RULE_PIECES if tok.piece_id(p) is None]
    if missing:
        os.remove(out + ".tmp")
        raise UserError(f"{corpus_path}: the tokenizer lacks the rule pieces {missing}; the corpus must produce them")
    os.replace(out + ".tmp", out)
    return Tokenizer(out)


# ------------------------------------------------------------------------------------------------ main
def main():
    argv = sys.argv[1:]
    if argv[:1] == ["tokenizer"]:
        ap = argparse.ArgumentParser(prog="toyworld.py tokenizer",
                                     description="Train the toy world's SentencePiece tokenizer on the corpus.")
        ap.add_argument("--corpus", default="data/toy/corpus.jsonl", help="corpus JSONL ({\"text\"} per line) "
                        "or plain text (default: data/toy/corpus.jsonl)")
        ap.add_argument("--out", default="runs/toy-tokenizer/tokenizer.model", help="where to write the "
                        "tokenizer model (default: runs/toy-tokenizer/tokenizer.model; the committed one is "
                        "checkpoints/toy-base/tokenizer.model)")
        ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
        ap.add_argument("--vocab-size", type=int, default=4000, help="number of pieces (default: 4000)")
        ap.add_argument("--max-lines", type=int, default=2_000_000, help="train on at most this many corpus "
                        "lines (default: 2,000,000)")
        args = ap.parse_args(argv[1:])
        if os.path.exists(args.out) and not args.overwrite:
            raise UserError(f"{args.out}: exists (a model's tokenizer must match its weights); pass --overwrite "
                            "to replace it")
        t0 = time.time()
        tok = train_tokenizer(args.corpus, args.out, args.vocab_size, args.max_lines)
        print(f"wrote {args.out}: {tok.vocab_size} pieces in {time.time() - t0:.0f}s; rule pieces all present")
        return
    ap = argparse.ArgumentParser(description="Generate the toy world: corpus, tuning sets, evaluation set. "
                                 "(Train its tokenizer with: toyworld.py tokenizer --help)")
    ap.add_argument("--out", default="data/toy", help="output folder (default: data/toy)")
    ap.add_argument("--seed", type=int, default=0, help="the world's seed; the same seed gives the same bytes")
    ap.add_argument("--dialogue", type=float, default=DIALOGUE, help=f"share of the corpus that is dialogue "
                    f"transcripts (default: {DIALOGUE})")
    ap.add_argument("--html", type=float, default=HTML, help="share of the other pages (without code, tables "
                    f"or worked math) left in HTML (default: {HTML})")
    ap.add_argument("--voices", type=int, default=1, help="state each fact in this many of its family's web "
                    f"voices, on pages of their own (default: 1, the web's own voice; at most {MAX_VOICES})")
    ap.add_argument("--qa", type=float, default=0.0, help="share of the corpus (in characters) that is extra "
                    "question-answer pages: FAQ, forum, letters, quiz with key, interview, worked answers "
                    "(default: 0)")
    ap.add_argument("--corpus-tokens", type=int, default=6_000_000, help="approximate corpus size in tokens of "
                    "the toy tokenizer (default: 6,000,000, the committed base's corpus; 0 writes no corpus)")
    args = ap.parse_args(argv)
    if args.corpus_tokens < 0:
        raise UserError(f"--corpus-tokens must be >= 0, got {args.corpus_tokens}")
    t0 = time.time()
    for flag, share in (("--dialogue", args.dialogue), ("--html", args.html), ("--qa", args.qa)):
        if not 0 <= share <= 1:
            raise UserError(f"{flag} must be a share in [0, 1], got {share}")
    if args.dialogue + args.qa > 1:
        raise UserError(f"--dialogue and --qa together must be at most 1, got {args.dialogue + args.qa}")
    if not 1 <= args.voices <= MAX_VOICES:
        raise UserError(f"--voices must be in [1, {MAX_VOICES}], got {args.voices}")
    stats = generate(args.out, args.seed, args.corpus_tokens, args.dialogue, html_share=args.html,
                     voices=args.voices, qa_share=args.qa)
    corpus_note = (f"corpus.jsonl {os.path.getsize(os.path.join(args.out, 'corpus.jsonl')) / 1e6:.1f} MB"
                   if args.corpus_tokens else "no corpus")
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in stats.items())
          + f"; {corpus_note}; {time.time() - t0:.1f}s")


if __name__ == "__main__":
    cli(main)
