"""The task skills: what a right answer to a task is (poems, recipes, word problems, code, chess-like games),
shared by the families' answers, the corpus's pages and the single-task sets."""
import random

from data.game import random_game
from data.world.kb import BASES, CODE_TASKS, CODE_WORDS, COUPLETS, FIRST, OPENINGS


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
    """[[args, expected], ...] that a right function for the task passes (criteria.py runs them). They follow the
    task's words, never its instruction's examples (it shows none): zero, negative numbers and floats ("a
    number"), k - 1, k and k + 1 around a comparison, unsorted lists with repeated items, one item and none
    (where the task allows it), a word inside a longer word, n = 0, 1 and 25; so that plausible wrong functions
    fail (>= for >, an off-by-one, abs, the first item for the largest, max() for the last, n % 4 repeats)."""
    def each(f, xs):
        return [[[x], f(x)] for x in xs]
    number, lists = [1, 0, -4, -k, k, 100, 2.5], [[1, 2, 3], [], [5, -1], [7], [-2, -3], [4, 4, 4], [0.5, 0.25]]
    items = [[4, 5], ["a", "b", "c"], [7], [3, 1, 2], [9, 2], [5, 5, 1], [-1, 0], [-3, -8], [1, 3, 2]]
    return {"add": each(lambda x: x + k, number), "times": each(lambda x: x * k, [3, 0, -2, 1, k, 7, 0.5]),
            "less": each(lambda x: x < k, [k - 1, k, k + 1, 0, -1, -100, k - 0.5, k + 50]),
            "greater": each(lambda x: x > k, [k + 1, k, k - 1, 0, -1, -k - 1, k + 0.5, 1000]),
            "minus": each(lambda x: x - k, [10, 0, k, -3, k + 1, 1, 2.5]),
            "divide": each(lambda x: x / k, [3 * k, 1, 0, -2 * k, k, 7, -1, 0.125]),
            "square": each(lambda x: x * x, [3, -4, 0, 1, 2, 10, -1, 1.5]),
            "even": each(lambda x: x % 2 == 0, [4, 7, 0, -2, -3, 1, 2, 100, 99]),
            "sum": each(sum, lists), "length": each(len, lists[:5] + [["a", "a"], [[1, 2]], ["dog"], [0, 0, 0]]),
            "first": each(lambda xs: xs[0], items), "last": each(lambda xs: xs[-1], items),
            "largest": each(max, items[2:] + [[3, 9, 2], [9, 1, 2], [1, 7, 7, 3], [0.5, 2.5, 1.5]]),
            "count": each(lambda xs: xs.count(w), [[w, "x", w], [], [w], ["x", "y"], [w + "s", "big" + w, w, w + w],
                                                   [w] * 4, ["x", w, "y", w, w]]),
            "isword": each(lambda x: x == w, [w, "big" + w, w + "s", w[:-1], w[::-1], "", w + w]),
            "greet": each(lambda name: "Hello, " + name + "!", ["Ann", "Bob", "Li", "Mary Jane", "Jo-Ann", "Sam"]),
            "repeat": each(lambda n: w * n, [3, 0, 1, 2, 4, 25])}[task]


def code_task(rnd, split):
    """(task text, code, the tests a right function passes)."""
    tasks = {"tune": CODE_SPLIT["tune"], "all": CODE_SPLIT["tune"] + CODE_SPLIT["held"]}.get(split, CODE_SPLIT["held"])
    ks = CODE_K["tune"] + CODE_K["val"] + CODE_K["eval"] if split == "all" else CODE_K[split]
    task, k, word = rnd.choice(tasks), rnd.choice(ks), rnd.choice(CODE_WORDS)
    text, code, _ = (s.format(k=k, w=word) for s in CODE_TASKS[task])
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

