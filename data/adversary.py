"""The adversary of the toy world's measure: a search for outputs that pass the held-out checks without doing the
task. Its outputs are built only from what a model that knows nothing of the answer could write: the
instruction's own words, names and numbers, every name and number of the world, the family's fixed layouts
(lines, lists, letter frames, game records, code skeletons, verse frames) and dumps, inline and one per line,
and any one record's reference given to every record (one memorised answer). The search tries every such
output on every record of a family, then joins the best of them in pairs and tries again, and reports the
best pass rate per family, the best single output rule over the whole set, and the best win rate (decided by
passes) against a given output file.

  python data/adversary.py data/toy/val.jsonl data/toy/eval.jsonl [--against outputs.json]
"""
import argparse
import itertools
import os
import random
import re
import sys
from collections import defaultdict

if __name__ == "__main__":                      # run as a script: the repository's root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from data.criteria import NUMBER_WORDS, check, meets, named_in_order, read_eval
from data.game import random_game
from data.world.kb import COLORS, COOKING, COUPLETS, INGREDIENTS, JOBS, MAINS, OPENINGS, OPPOSITES, World
from lib.cli import cli
from lib.conversations import align

KEEP = 12                               # the best outputs per family that the search joins in pairs
SKELETONS = ["def f(x):\n    return x", "def f(x):\n    return 0", "def f(x):\n    return True",
             "def f(x):\n    return False", "def f(x):\n    return None", "def f(items):\n    return items[0]",
             "def f(items):\n    return items[-1]", "def f(items):\n    return len(items)",
             "def f(items):\n    return max(items)", "def f(items):\n    return sum(items)",
             "def f(x):\n    return x * 2", "def f(x):\n    return x + 1", "def f(x):\n    return str(x)",
             'def f(x):\n    return ""', "def f(x):\n    return x % 2 == 0", "def f(x):\n    return x > 0"]
FRAMES = ["Dear {n},\n\n{q}\n\nBye.", "Dear {n},\n\nPlease come and visit.\n\nBest wishes,\nSam",
          "Hi {n},\n{words}\nLove,\nMia", "Dear {n},\n\n{names}\n\nYours,\nLeo"]


def vocabulary(w):
    """Every name of the world, by kind, and the numbers a short answer uses."""
    return {"country": w.country_names, "capital": w.capitals, "river": w.rivers,
            "animal": [a.name for a in w.animals], "person": [p.name for p in w.people],
            "first": sorted({p.first for p in w.people}), "color": COLORS, "job": JOBS,
            "opposite": [x for pair in OPPOSITES for x in pair], "food": MAINS + INGREDIENTS, "cooking": COOKING,
            "class": ["animal", "country", "person"], "number": [str(n) for n in range(0, 101)],
            "result": ["1-0", "0-1", "1/2-1/2"]}


def games():
    """Fixed legal game records of several lengths, each opening of the world, with and without a result."""
    out = []
    for i, opening in enumerate(OPENINGS):
        for plies in (14, 30, 50):
            moves, taken = random_game(random.Random(i * 100 + plies), opening, plies)
            record = " ".join((f"{k // 2 + 1}. " if k % 2 == 0 else "") + m for k, m in enumerate(moves))
            out += [record, record + " " + (taken or "1/2-1/2")]
    return out


def instruction_parts(q, names):
    """What an output may take from the instruction: its words, its world names, its numbers, its subject."""
    words = re.findall(r"[A-Za-z']+|\d+", q)
    named = [n for n in names if re.search(rf"\b{re.escape(n)}\b", q)]
    nums = [int(x) for x in re.findall(r"\d+", q)]
    caps = re.findall(r"\b[A-Z][a-z]+\b", q)
    subject = caps[-1] if caps else words[-1] if words else ""
    return words, named, nums, subject


def derived(q, names, fam):
    """Outputs made of the instruction alone: echoes, its names and numbers in layouts, verse frames."""
    words, named, nums, s = instruction_parts(q, names)
    body = q.split(": ", 1)[-1]
    first = next((n.split()[0] for n in named if " " in n), s)
    couplet = "the day is long and bright\nand so is the quiet night"
    outs = {"echo": q, "echo, ? made .": q.replace("?", "."), "echo, one word a line": "\n".join(words),
            "names inline": ", ".join(named),
            "names, one a line": "\n".join(named), "numbers inline": ", ".join(map(str, nums)),
            "numbers reversed": ", ".join(map(str, nums[::-1])), "numbers, one a line": "\n".join(map(str, nums)),
            "numbers, each the answer": "\n".join(f"{n} is the answer." for n in nums),
            "numbers, each the largest": "\n".join(f"{n} is the largest" for n in nums),
            "names, each the answer": "\n".join(f"{n} is the answer." for n in named),
            "subject on four lines": "\n".join([s] * 4),
            "subject, growing lines": "\n".join(", ".join([s] * k) for k in range(1, 5)),
            "subject lines and a couplet": "\n".join(", ".join([s] * k) for k in (3, 4)) + "\n" + couplet,
            "instruction and a couplet": q + "\n" + couplet + "\n" + q.upper(),
            "instruction in lines of three": "\n".join(" ".join(words[i:i + 3]) for i in range(0, len(words), 3)),
            "instruction broken at ' to '": q.replace(" to ", "\n"), "the quoted part": body,
            "the quoted part twice": body + "\n" + body, "last two words": " ".join(words[-2:]),
            "a list of the names": "\n".join("- " + n for n in named)}
    for k, frame in enumerate(FRAMES):
        outs[f"letter frame {k}"] = frame.format(n=first, q=q, words=" ".join(words), names=", ".join(named))
    in_order = named_in_order(q.lower(), names)     # a choice among the instruction's names without knowing them
    for k in range(1, 6):
        outs[f"first {k} names"] = "\n".join(in_order[:k])
        outs[f"last {k} names"] = "\n".join(in_order[-k:])
    for i, n in enumerate(nums[:6]):
        outs[f"number {i + 1}"] = str(n)
        for j, m in enumerate(nums[:6]):
            if i != j:
                outs[f"numbers {i + 1} and {j + 1}"] = f"{n}, {m}"
    if len(nums) >= 3:
        for perm in itertools.permutations(range(min(len(nums), 6))):
            outs[f"the numbers in places {perm}"] = ", ".join(str(nums[p]) for p in perm)
    return outs


def constants(w, refs, fam):
    """Outputs that are the same for every record: names, numbers, dumps, layouts, memorised answers."""
    vocab = vocabulary(w)
    every = [x for kind in vocab.values() for x in kind]
    outs = {"dump inline": "Yes. No. " + ", ".join(every), "dump, one a line": "\n".join(every),
            "poem of the world's couplets": "\n".join(a.format(s="it", S="It") + "\n" + b for a, b in COUPLETS[:2])}
    for kind, names in vocab.items():
        outs[f"every {kind} inline"] = ", ".join(names)
        outs[f"every {kind}, one a line"] = "\n".join(names)
        for x in names:
            outs[f"'{x}'"] = x
            outs[f"'It is {x}.'"] = f"It is {x}."
    for n in range(0, 101):
        outs[f"'#### {n}'"] = f"#### {n}"
        if n <= 20:
            outs[f"'{NUMBER_WORDS[n]}'"] = NUMBER_WORDS[n]
    for i, code in enumerate(SKELETONS):
        outs[f"code skeleton {i}"] = code
    for i, g in enumerate(games()):
        outs[f"game {i}"] = g
    for i, ref in enumerate(refs):
        outs[f"memorised {fam} reference {i}"] = ref
    return outs


def keys_met(out, criterion):
    """The share of a criterion's keys an output meets (what the search climbs on)."""
    return sum(meets(k, v, out) for k, v in criterion.items() if k not in ("function",)) / len(criterion)


def family_search(records, w, names):
    """{rule: [output per record]} of the family's rules (its best ones also joined in pairs), and {rule: [passed
    per record]}."""
    refs = [r["reference"] for r in records]
    per_record = [derived(r["instruction"], names, r["family"]) for r in records]
    rules = {k: [v] * len(records) for k, v in constants(w, refs, records[0]["family"]).items()}
    for k in set().union(*per_record):
        rules[k] = [d.get(k, "") for d in per_record]
    passed = {rule: [check(o, r["criterion"]) for o, r in zip(outs, records)] for rule, outs in rules.items()}
    near = {rule: sum(keys_met(o, r["criterion"]) for o, r in zip(rules[rule][:3], records[:3])) for rule in rules}
    best = sorted(rules, key=lambda k: (sum(passed[k]), near[k]), reverse=True)[:KEEP]
    for a, b in itertools.permutations(best, 2):
        rules[f"{a} + {b}"] = [x + "\n" + y for x, y in zip(rules[a], rules[b])]
        passed[f"{a} + {b}"] = [check(o, r["criterion"]) for o, r in zip(rules[f"{a} + {b}"], records)]
    return rules, passed


def search(records, w):
    """What the search found: per family (best rule, its pass rate %, {record index: its output}); the best rule
    over the whole set (rule, pass rate %); and {rule: the indices of the records it passes}, over the set."""
    vocab = vocabulary(w)
    names = sorted({x for kind in ("country", "capital", "river", "animal", "person", "color", "job", "opposite")
                    for x in vocab[kind]}, key=len, reverse=True)
    by_family = defaultdict(list)
    for i, r in enumerate(records):
        by_family[r["family"]].append(i)
    best, passes = {}, defaultdict(set)
    for fam, idx in sorted(by_family.items()):
        rules, passed = family_search([records[i] for i in idx], w, names)
        top = max(passed, key=lambda k: sum(passed[k]))
        best[fam] = (top, 100 * sum(passed[top]) / len(idx), dict(zip(idx, rules[top])))
        for rule, p in passed.items():
            passes[rule] |= {i for i, ok in zip(idx, p) if ok}
    rule = max(passes, key=lambda k: len(passes[k]))
    return best, (rule, 100 * len(passes[rule]) / len(records)), passes


def decisive_winrate(mine, theirs):
    """Wins / (wins + losses) in %, a pass beating a fail; None without a decisive pair."""
    wins = sum(a and not b for a, b in zip(mine, theirs))
    losses = sum(b and not a for a, b in zip(mine, theirs))
    return 100 * wins / (wins + losses) if wins + losses else None


def against(records, found, outputs):
    """The win rates, decided by passes, against an output file's outputs: of the best single rule over the
    whole set (rule, rate), and of the best output per family taken together (a mix chosen on this set)."""
    best, _, passes = found
    theirs = [check(o, r["criterion"]) for o, r in zip(outputs, records)]
    rates = {rule: decisive_winrate([i in p for i in range(len(records))], theirs) or 0 for rule, p in passes.items()}
    rule = max(rates, key=rates.get)
    mix = [False] * len(records)
    for _, _, outs in best.values():
        for i, o in outs.items():
            mix[i] = check(o, records[i]["criterion"])
    return (rule, rates[rule]), decisive_winrate(mix, theirs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="*", default=["data/toy/val.jsonl", "data/toy/eval.jsonl"],
                    help="held-out sets (default: data/toy/val.jsonl data/toy/eval.jsonl)")
    ap.add_argument("--against", help="an output file (generate.py's JSON) of the last set to win against")
    args = ap.parse_args(argv)
    w = World(0)
    for path in args.sets:
        records = read_eval(path)
        found = search(records, w)
        best, (rule, rate), _ = found
        print(f"### {path}: {len(records)} records\n\n| family | best pass % | its rule |\n|---|---|---|")
        for fam, (top, r, _) in best.items():
            print(f"| {fam} | {r:.1f} | {top[:70]} |")
        print(f"\nBest single rule over the whole set: {rate:.1f}% ({rule[:70]})\n")
        if args.against and path == args.sets[-1]:
            outputs = align([r["instruction"] for r in records], args.against)
            (rule, single), mix = against(records, found, outputs)
            print(f"Win rates (decided by passes) against {args.against}: the best single rule {single:.1f}% "
                  f"({rule[:70]}); the best rule per family together {mix:.1f}%\n")


if __name__ == "__main__":
    cli(main)
