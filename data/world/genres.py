"""The web's pages that answer requests or state facts, in non-chat forms: FAQ pages, encyclopedia pages, tables,
forum threads with replies, letters with replies, worked math, drills, quizzes with keys, recipes, poems, code,
game records and lists of opposites (web.py mixes them with the pages that leave requests unanswered)."""
from data.world.families import FACT_FAMS, TASK_FAMS, family
from data.world.kb import FIRST, OPPOSITES
from data.world.skills import (calc, chess_game, code_task, commented, ingredient_lines, math_problem, poem, recipe,
                               title_of)


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
