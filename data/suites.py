"""The two suites that keep the toy world's criteria honest, per family on a held-out set:
(a) degenerate outputs that know nothing and do no task must pass at most 2% of the checks;
(b) right answers in other wordings must pass at least 90%.

  python data/suites.py data/toy/val.jsonl data/toy/eval.jsonl     # markdown tables, one row per family
"""
import argparse
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data.world.kb import COLORS, INGREDIENTS, JOBS, MAINS, OPPOSITES, World
from data.criteria import NUMBER_WORDS, check, numbers, read_eval
from data.game import random_game
from lib.cli import cli

GENERIC = "That is a good question. Here is my answer, I hope it helps you."
CONSTANT = "The the is of a."


def dump(w):
    """One fixed output for every instruction: every name, colour, job, opposite, leg count and number."""
    names = ([c.name for c in w.countries] + w.capitals + w.rivers + [a.name for a in w.animals]
             + [p.name for p in w.people] + COLORS + JOBS + MAINS + INGREDIENTS
             + [x for pair in OPPOSITES for x in pair])
    return ("Yes. No. " + ", ".join(names) + ". " + " ".join(f"{n} legs." for n in (2, 4, 6, 8))
            + " " + " ".join(f"= {n}" for n in range(0, 201)) + "\n#### 7")


def cheap(r):
    """Per family, the cheapest knowledge-free, task-free template: a constant guess of the asked kind, the
    instruction's own material handed back, or the task's layout without its content."""
    q, fam = r["instruction"], r["family"]
    nums = re.findall(r"\d+", q)
    words = re.findall(r"[A-Z][a-z]+", q)
    return {"capital": "It is Dimiburg.", "revcap": "It is Kezar.", "river": "The Tolen.", "color": "It is red.",
            "home": "It lives in Kezar.", "job": "A baker.", "about": "It is small, it eats grass and it is nice to see.",
            "legs": "4 legs.", "opposite": "The opposite is cold.", "classify": "It is a person.",
            "arith": f"The answer is {nums[-1] if nums else 0}.", "compare": f"{nums[0] if nums else 0}.",
            "sort": ", ".join(nums) + ".", "yesno": "Yes. No.", "list": "- one\n- two\n- three",
            "rewrite": q.split(": ", 1)[-1], "math": f"#### {nums[-1] if nums else 0}",
            "poem": "\n".join([words[-1] if words else "the sea"] * 4),
            "letter": f"Dear {words[-1] if words else 'friend'},\n\n{words[-2] if len(words) > 1 else ''}\n\nBye",
            "recipe": f"{' '.join(q.split()[-2:])}: take what you need, put it together and serve it.",
            "code": "def f(x):\n    return x", "chess": "1. e4 e5 2. e4 e5 3. e4 e5 4. e4 e5 5. e4 e5 1-0"}[r["family"]]


def degenerate(r, w):
    """(name, output) of every degenerate kind for one record."""
    q = r["instruction"]
    return [("echo", q), ("echo, ? made .", q.replace("?", ".")), ("generic", GENERIC), ("constant", CONSTANT),
            ("yes", "Yes."), ("no", "No."), ("yes, right", "Yes, that is right."), ("dump", dump(w)),
            ("cheapest template", cheap(r))]


def word(n):
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def wordings(r):
    """Right answers in other wordings than the reference's (at least five kinds per family)."""
    c, fam, ref = r["criterion"], r["family"], r["reference"]
    if fam in ("capital", "revcap", "river", "color", "home", "job", "opposite"):
        k = c["contains_any"][0]
        return [k, f"{k}.", f"It is {k}.", f"The answer is {k}!", f"Answer: {k}", f"That would be {k}, I believe."]
    if fam == "about":
        color, home = c["contains_all"]
        return [f"It is a {color} animal that lives in {home}.", f"A {color} animal. You find it in {home}, always.",
                f"This animal is {color} and its home is {home}. It is not big.",
                f"- color: {color}\n- home: {home}\n- it is an animal you can see there",
                f"Found in {home}, this {color} creature is easy to spot."]
    if fam == "legs":
        n = c["numbers"][0]
        return [f"{n}", f"{word(n)} legs.", f"It has {n} legs.", f"Answer: {n}", f"{word(n).title()}."]
    if fam == "arith":
        z = c["final_number"]
        return [f"{z}", f"{z}.", f"The answer is {z}.", f"Answer: {z}", f"It makes {word(z)}.", f"= {z}"]
    if fam == "compare":
        big = max(numbers(r["instruction"]))
        return [f"{big}", f"{big}.", f"The largest is {big}.", f"Answer: {big}", f"{big} is the biggest number.",
                f"{word(big).title()}."]
    if fam == "sort":
        s = [str(n) for n in c["numbers"]]
        return [", ".join(s), " < ".join(s), "\n".join(s), "\n".join(f"{i + 1}. {x}" for i, x in enumerate(s)),
                f"In order: {', '.join(s)}.", " then ".join(s)]
    if fam == "yesno":
        a, b = (x.title() for x in c["yes_no"])
        home = c["contains_all"][0]
        return [f"{a}, {b.lower()}. It lives in {home}.", f"1. {a}\n2. {b} ({home})",
                f"{a}; {b.lower()}, because that one lives in {home}.",
                f"First: {a.lower()}. Second: {b.lower()}. The true home is {home}.", f"{a}. {b}: {home}."]
    if fam == "classify":
        k = c["contains_any"][0]
        art = "an" if k == "animal" else "a"
        return [f"{k.title()}.", f"It is {art} {k}.", f"{art.title()} {k}!", f"Answer: {k}", f"That is {art} {k}, "
                "I think.", f"This one is {art} {k}."]
    if fam == "list":
        items = [x for x in c["count_of"]["of"] if re.search(rf"\b{re.escape(x)}\b", ref)]
        return ["\n".join("- " + x for x in items), "\n".join(f"{i + 1}. {x}" for i, x in enumerate(items)),
                ", ".join(items), "* " + "\n* ".join(items), "Here you go: " + "; ".join(items) + ".",
                " and ".join(items)]
    if fam == "rewrite":
        s = c["contains_all"][0]
        return [s + ".", f'"{s}."', f"Here it is: {s}.", f"{s}!", f"Sure.\n\n{s}."]
    if fam == "poem":
        k = c["contains_any"][0]
        lines = [f"Oh {k}, I sing of you", "in the light of day", "and the night is new", "so I will stay"]
        return ["\n".join(lines), "\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]),
                "\n".join(x.upper() for x in lines), "\n".join(x + "," for x in lines[:3]) + "\n" + lines[3] + ".",
                "\n".join(lines + ["the wind is slow and soft and low tonight", f"and {k} is all I know"]),
                f"A poem about {k}:\n\n" + "\n".join(lines)]
    if fam == "letter":
        first, topic = c["contains_all"]
        return [f"Dear {first},\n\nPlease come and visit me in {topic}.\n\nBest wishes,\nSam",
                f"Hi {first},\nCome to {topic} with me next week!\nLove,\nMia",
                f"Hello {first}!\nI would like to invite you to {topic}.\nBest,\nTom",
                f"Hey {first},\nwill you join me in {topic} this summer? It would be fun.\nCheers,\nAnn",
                f"Dear {first},\nYou are invited to {topic}.\nYours,\nLeo"]
    if fam == "recipe":
        ings = c["contains_all"]
        return ["\n".join(" - " + i for i in ings) + "\n\nMix them and cook it for a while.",
                "\n".join(f"{i + 1}. {x}" for i, x in enumerate(ings)) + "\nMix everything and cook it well.",
                f"You need {', '.join(ings[:-1])} and {ings[-1]}. Mix them in a bowl and cook them.",
                "Ingredients:\n" + "\n".join("* " + i for i in ings) + "\nSteps:\nPut it all together and cook.",
                "Take " + ", ".join(ings) + ".\nCook it slowly, then serve it."]
    if fam == "math":
        n = c["final_number"]
        return [f"#### {n}", f"Answer: {n}", f"{n}", f"The answer is {n}.",
                f"We work it out step by step.\nSo the result is {word(n)}."]
    if fam == "code":
        name = re.match(r"def (\w+)", ref).group(1)
        two = re.sub(r"(?m)^((?:    )+)", lambda m: "  " * (len(m.group(1)) // 4), ref)
        return [two, f"Here is the function:\n\n```python\n{ref}\n```", ref.replace(f"def {name}(", "def solve("),
                ref.replace("):\n", '):\n    """Does what was asked."""\n', 1),
                f"Sure!\n\n{ref}\n\nIt works for every input."]
    if fam == "chess":
        moves, _ = random_game(random.Random(r["instruction"]), "d4 d5 c4 e6 Nc3 Nf6", 10)
        other = " ".join((f"{i // 2 + 1}. " if i % 2 == 0 else "") + m for i, m in enumerate(moves))
        return [ref, re.sub(r"(\d+)\. ", r"\1.", ref), ref.rsplit(" ", 1)[0], f"Here is a game:\n\n{ref}",
                '[White "Ann"]\n[Black "Tom"]\n\n' + ref, other + " 1/2-1/2",
                re.sub(r" (\d+)\. ", r"\n\1. ", ref)]
    raise ValueError(fam)


def table(records, outputs_of):
    """Per family and overall: % of the checks each kind of output passes. outputs_of(record) -> [(kind, out)]."""
    by = defaultdict(lambda: defaultdict(list))
    for r in records:
        for kind, out in outputs_of(r):
            by[r["family"]][kind].append(check(out, r["criterion"]))
            by["all"][kind].append(check(out, r["criterion"]))
    return {fam: {kind: 100 * sum(v) / len(v) for kind, v in kinds.items()} for fam, kinds in by.items()}


def markdown(t):
    kinds = list(t["all"])
    rows = ["| family | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for fam in sorted(t, key=lambda f: (f == "all", f)):
        rows.append(f"| {fam} | " + " | ".join(f"{t[fam].get(k, 0):.0f}" for k in kinds) + " |")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="*", default=["data/toy/val.jsonl", "data/toy/eval.jsonl"],
                    help="held-out sets of the toy world (default: data/toy/val.jsonl data/toy/eval.jsonl)")
    args = ap.parse_args(argv)
    w = World(0)
    for path in args.sets:
        records = read_eval(path)
        bad = table(records, lambda r: degenerate(r, w))
        right = table(records, lambda r: [("right wordings", o) for o in wordings(r)])
        print(f"### {path}: {len(records)} records\n\nDegenerate outputs, % of checks passed (goal: at most 2)\n")
        print(markdown(bad) + "\n\nRight answers in other wordings, % passed (goal: at least 90)\n")
        print(markdown(right) + "\n")


if __name__ == "__main__":
    cli(main)
