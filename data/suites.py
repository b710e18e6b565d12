"""Right answers in other wordings than the reference's, per family of a held-out set: they must pass at least
99% of the checks. (The other side, that outputs which do no task fail, is data/adversary.py's search.)

  python data/suites.py data/toy/val.jsonl data/toy/eval.jsonl     # a markdown table, one row per family
"""
import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from data.criteria import NUMBER_WORDS, check, read_eval
from lib.cli import cli

GENERIC = "That is a good question. Here is my answer, I hope it helps you."     # outputs that answer nothing
CONSTANT = "The the is of a."


def word(n):
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def answers_of(c):
    """The asked answers of a fact criterion, in order (one, or two or three in `sequences`)."""
    return c["sequences"][0]["is"] if "sequences" in c else c["contains_any"][:1]


POEM = ["Oh {k}, I sing of you", "in the light of the day", "and the night is new", "so here I will stay",
        "the birds are flying high", "across the open sky", "and all the hills are green", "the finest I have seen"]


def wordings(r):
    """Right answers in other wordings than the reference's (at least five kinds per family)."""
    c, fam, ref = r["criterion"], r["family"], r["reference"]
    if fam in ("capital", "revcap", "river", "color", "home", "job", "opposite", "classify"):
        a = answers_of(c)
        return [", ".join(a), " and ".join(a) + ".", ". ".join(x[0].upper() + x[1:] for x in a) + ".",
                "\n".join("- " + x for x in a), "Answer: " + "; ".join(a),
                f"These are {' and '.join(a)}, I believe."]
    if fam == "about":
        pairs = [tuple(c["contains_all"])]                               # (colour, home) of the animal
        return [" ".join(f"One is a {x} animal that lives in {h}, and it is not big." for x, h in pairs),
                "\n".join(f"- color: {x}; home: {h}; an animal you can see there" for x, h in pairs),
                " ".join(f"This animal is {x} and its home is {h}. It eats what it finds." for x, h in pairs),
                " ".join(f"Found in {h}, this {x} creature is easy to spot in the wild." for x, h in pairs),
                "\n\n".join(f"A {x} animal. You find it in {h}, always, all year long." for x, h in pairs)]
    if fam == "legs":
        n = c["numbers"]
        return [", ".join(map(str, n)), " and ".join(f"{word(x)} legs" for x in n) + ".",
                " ".join(f"This animal has {x} legs." for x in n), "Answer: " + ", ".join(map(str, n)),
                "\n".join(f"{i + 1}) {word(x).title()}." for i, x in enumerate(n))]
    if fam == "arith":
        z = c["any_of"][0]["numbers"][0]
        x, y, _ = c["any_of"][1]["numbers"]
        return [f"{z}", f"{z}.", f"The answer is {z}.", f"Answer: {z}", f"It makes {word(z)}.", f"= {z}",
                f"{x} and {y} give {z}."]
    if fam == "compare":
        big, small = c["any_of"][0]["numbers"]
        return [f"{big} and {small}", f"The largest is {big} and the smallest is {small}.",
                f"Largest: {big}. Smallest: {small}.", f"{big} is the biggest; {small} is the smallest.",
                f"{small} is the smallest and {big} the largest.", f"{word(big).title()}, then {word(small)}."]
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
    if fam == "list":
        items = c["count_of"]["of"]
        return ["\n".join("- " + x for x in items), "\n".join(f"{i + 1}. {x}" for i, x in enumerate(items)),
                ", ".join(items), "* " + "\n* ".join(items), "Here you go: " + "; ".join(items) + ".",
                " and ".join(items)]
    if fam == "rewrite":
        s = c["contains_all"][0]
        return [s + ".", f'"{s}."', f"Here it is: {s}.", f"{s}!", f"Sure.\n\n{s}."]
    if fam == "poem":
        k, n = c["contains_any"][0], c["min_lines"]
        lines = [x.format(k=k) for x in POEM[:n]]
        return ["\n".join(lines), "\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]),
                "\n".join(x.upper() for x in lines), "\n".join(x + "," for x in lines[:-1]) + "\n" + lines[-1] + ".",
                "\n".join(lines[1:] + lines[:1]), "\n".join(x[0].upper() + x[1:] for x in lines)]
    if fam == "letter":
        first, city, river, job = c["contains_all"]
        return [f"Dear {first},\n\nPlease come and visit me in {city}. We can sit by the {river}, and you can "
                f"rest from your work as a {job}.\n\nBest wishes,\nSam",
                f"Hi {first},\nCome to {city} with me next week! The river {river} runs right through it.\n"
                f"Even a busy {job} needs a holiday.\nLove,\nMia",
                f"Hello {first}!\nI would like to invite you to {city}, where the {river} flows. Bring your "
                f"{job} friends too.\nBest,\nTom",
                f"Hey {first},\nwill you join me in {city} this summer. The {river} is lovely, and a {job} like "
                "you deserves a rest.\nCheers,\nAnn",
                f"Dear {first},\nYou are invited to {city}. Its river is the {river}. I know you work as a {job}, "
                "so take a few days off.\nYours,\nLeo"]
    if fam == "recipe":
        ings = c["contains_all"]
        time = re.search(r"\d+", c.get("regex", "")) and re.search(r"\d+", c["regex"]).group()
        cook = f" Cook it for {time} minutes." if time else ""
        return ["\n".join(" - " + i for i in ings) + f"\n\nMix them and cook it.{cook}",
                "\n".join(f"{i + 1}. {x}" for i, x in enumerate(ings)) + f"\nMix everything and cook it well.{cook}",
                f"You need {', '.join(ings[:-1])} and {ings[-1]}. Mix them in a bowl and cook them.{cook}",
                "Ingredients:\n" + "\n".join("* " + i for i in ings) + f"\nSteps:\nPut it all together and cook.{cook}",
                "Take " + ", ".join(ings) + f".\nCook it slowly, then serve it.{cook}"]
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
        return [ref, re.sub(r"(\d+)\. ", r"\1.", ref), f"Here is a game:\n\n{ref}",
                '[White "Ann"]\n[Black "Tom"]\n\n' + ref, re.sub(r" (\d+)\. ", r"\n\1. ", ref)]
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
    for path in args.sets:
        records = read_eval(path)
        right = table(records, lambda r: [("right wordings", o) for o in wordings(r)])
        print(f"### {path}: {len(records)} records\n\nRight answers in other wordings, % passed (goal: at least 99)\n")
        print(markdown(right) + "\n")


if __name__ == "__main__":
    cli(main)
