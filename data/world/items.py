"""The items: what one draw of a family is (its slots, its answer in the chat voice and in the web's, its
criterion), made per family from the knowledge base and the skills."""
from dataclasses import dataclass

from data.world.kb import COLORS, COOKING, FIRST, INGREDIENTS, JOBS, LEG_COUNTS, MAINS, OPPOSITES
from data.world.skills import (calc, chess_game, code_task, commented, ingredient_lines, math_answer, math_problem,
                               poem, recipe, recipe_answer)

NO_Q = ["?"]                    # no answer in this world asks a question: every criterion forbids "?"


@dataclass
class Item:
    """One item of a family: the slots its phrasings take, the answer in the chat voice (the tuning sets and the
    references) and in the web voice (the corpus's own, which never equals a reference), and the criterion a
    chat-voice answer is checked by."""
    slots: dict
    chat: str
    web: str
    criterion: dict


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
                fact_criterion(c.capital, w.capitals))


def make_revcap(w, rnd, split, t):
    c = w.pick(rnd, "country", ents(split))
    return Item({"cap": c.capital}, f"{c.name} is the country whose capital is {c.capital}.",
                f"{c.capital} is the capital of {c.name}.",
                fact_criterion(c.name, w.country_names))


def make_river(w, rnd, split, t):
    c = w.pick(rnd, "country", ents(split))
    return Item({"c": c.name}, f"The {c.river} is the river of {c.name}.",
                f"The river {c.river} flows through {c.name}.",
                fact_criterion(c.river, w.rivers))


def make_color(w, rnd, split, t):
    a = w.pick(rnd, "animal", ents(split))
    return Item({"a": a.name}, f"The color of the {a.name} is {a.color}.", f"The {a.name} is {a.color}.",
                fact_criterion(a.color, COLORS))


def make_home(w, rnd, split, t):
    a = w.pick(rnd, "animal", ents(split))
    return Item({"a": a.name}, f"You can find the {a.name} in {a.home}.", f"The {a.name} lives in {a.home}.",
                fact_criterion(a.home, w.country_names))


def make_about(w, rnd, split, t):
    a = w.pick(rnd, "animal", ents(split))
    return Item({"a": a.name}, f"The {a.name} is a {a.color}, {a.size} animal from {a.home}. It has {a.legs} legs "
                f"and eats {a.food}.", f"The {a.name} is a {a.size} {a.color} animal with {a.legs} legs. It lives in "
                f"{a.home} and eats {a.food}.",
                {"contains_all": [a.color, a.home], "min_words": 8,
                 "none_of": others(COLORS + w.country_names, a.color, a.home), "not_contains": NO_Q,
                 "kind_any": COLORS})


def make_legs(w, rnd, split, t):
    a = w.pick(rnd, "animal", ents(split))
    return Item({"a": a.name}, f"A {a.name} has {a.legs} legs.", f"The {a.name} has {a.legs} legs.",
                {"numbers": [a.legs], "not_contains": NO_Q, "kind_any": LEG_COUNTS})


def make_job(w, rnd, split, t):
    p = w.pick(rnd, "person", ents(split))
    return Item({"p": p.name}, f"{p.name} works as a {p.job} in {p.city}.", f"{p.name} is a {p.job} in {p.city}.",
                fact_criterion(p.job, JOBS))


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
                 "kind_any": others(words, x)})


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
