"""What a held-out question asks. The validation and evaluation sets start from the corpus's kind of question
(drawn by sets.py exactly as before, so every other file of the world stays the same) and ask more of each,
from a generator of their own, so that an output that knows nothing and does no task passes rarely:

- a fact question whose answers are few or shared asks about two entities (three for classify and legs), answered
  in the asked order, so a guess of the commonest value passes at most one record in ten;
- a poem must be verse (lines of three words or more, a rhyme), a letter must greet the person, invite them,
  name the city's river and the person's job, a recipe must say how long it cooks, a game must open, last and
  end as asked, a list must pick the right names out of the instruction's, a rewrite must make exactly the
  asked change, a comparison must name the largest and the smallest of six numbers, a sort six numbers;
- within a family, no record's reference passes more than a tenth of its records (balanced), every criterion
  is the record's own, and no reference is a tuning set's answer.
"""
import json
import random
import re

from data.criteria import check
from data.world.families import FAMILIES, draw
from data.world.items import NO_Q
from data.world.kb import BASES, COLORS, JOBS

CLASSES = ["animal", "country", "person"]
# Family -> the slot naming its entity, for the families whose answers are few or shared (a colour, a job, a home
# country, a leg count, a class): asked about one entity, a guess of the commonest answer passes a fifth to a half
# of them, so they ask about two or three. A family whose answers are all different (capitals, countries, rivers,
# opposites, an animal's colour and home) asks about one: a guess passes one record.
PAIRED = {"color": "a", "home": "a", "job": "p", "legs": "a", "classify": "x"}
FOLLOW = {"tune": " Do the same for {x}.", "val": " And {x}?", "eval": " What about {x}?"}   # the next entity
MIN_ITEMS = 12                    # records per paired family: one memorised answer passes at most 1 in 12
SHARE = 0.1                       # the most of a family's records that one record's reference may pass
RESULT_WORDS = {"1-0": "in a win for White", "0-1": "in a win for Black", "1/2-1/2": "in a draw"}


def shown(fam, item):
    """How a follow-up names an item's entity."""
    x = item.slots[PAIRED[fam]]
    return f"the {x}" if fam in ("color", "home", "legs") else x


def answers(fam, item):
    """The vocabulary an answer names, and this item's answer in it."""
    c = item.criterion
    if fam == "legs":
        return None, c["numbers"][0]
    if fam == "classify":
        return CLASSES, c["contains_any"][0]
    return c["kind_any"], c["contains_any"][0]


def paired(w, rnd, split, fam, template, item):
    """A fact question about the item's entity and one more (two more for classify), from the same template."""
    n = 3 if fam in ("classify", "legs") else 2           # few answers (3 classes, 4 leg counts): three
    items = [item]
    while len(items) < n:
        other = FAMILIES[fam].make(w, rnd, split, template)
        if other is not None and all(other.slots[PAIRED[fam]] != i.slots[PAIRED[fam]] for i in items):
            items.append(other)
    rest = [shown(fam, i) for i in items[1:]]
    q = template.format(**item.slots) + FOLLOW[split].format(x=" and ".join(rest))
    ref = " ".join(i.chat for i in items)
    said = [answers(fam, i)[1] for i in items]
    if fam == "legs":
        crit = {"numbers": said}
    else:
        pool = set(answers(fam, items[0])[0]).intersection(*(answers(fam, i)[0] for i in items[1:]))
        crit = {"sequences": [{"of": sorted(pool), "is": said}]}
    return q, ref, {**crit, "not_contains": NO_Q}


def compound_question(w, rnd, fam):
    """(instruction, answer) of a tuning set's question about two or three entities (their own phrasing)."""
    template, item = draw(w, rnd, fam, "tune")
    return paired(w, rnd, "tune", fam, template, item)[:2]


def asked(w, rnd, split, fam, template, item, places):
    """(instruction, reference, criterion) of one held-out record, or None for an item it cannot use."""
    q, ref, c = template.format(**item.slots), item.chat, dict(item.criterion)
    if fam in PAIRED:
        return paired(w, rnd, split, fam, template, item)
    if fam == "poem":                   # verse about this subject: no other one's poem, no request in lines
        names = w.country_names + w.capitals + w.rivers + [a.name for a in w.animals]
        words = re.findall(r"[\w']+", q)
        runs = [" ".join(words[i:i + 3]) for i in range(len(words) - 2)]
        lines = ref.split("\n")
        if "four lines" in template:     # the phrasing asks for four: the poem's first four
            ref, n = "\n".join(lines[:4]), 4
        else:
            n = len(lines)
            q += {"val": f" It should have {n} lines.", "eval": f" Give it {n} lines."}[split]
        c.update(min_lines=n, max_lines=n, min_line_words=3, rhymes=1,
                 none_of=sorted(set(names) - {c["contains_any"][0]}),
                 not_contains=NO_Q + [r for r in runs if c["contains_any"][0] not in r])
    elif fam == "letter":
        p = next(p for p in w.people if p.name == item.slots["p"])
        river = w.country[next(c.name for c in w.countries if c.capital == item.slots["city"])].river
        o, pos = item.slots["o"], {"her": "her", "him": "his"}[item.slots["o"]]
        q += {"val": f" Name the river there, and say what work {p.pron} does.",
              "eval": f" Tell {o} which river flows there, and mention {pos} job."}[split]
        ref = ref.replace("Please write back soon.", f"I hope your work as a {p.job} leaves you the time. Please "
                          "write back soon.")
        c["contains_all"] = c["contains_all"] + [river, p.job]
        c["none_of"] = sorted((set(w.rivers) | set(JOBS)) - {river, p.job})
    elif fam == "math" and c["final_number"] in map(int, re.findall(r"\d+", q)):
        return None                     # an answer among the question's numbers: a guess from them could pass
    elif fam == "arith":                # the bare result, or the sum written out: no other number
        x, y, z = item.slots["x"], item.slots["y"], item.criterion["final_number"]
        c = {"any_of": [{"numbers": [z]}, {"numbers": [x, y, z]}], "not_contains": NO_Q}
    elif fam == "recipe" and "{t}" in BASES[item.slots["d"].split()[1]][1]:    # a dish that cooks
        t = w.cook_time[item.slots["d"]]
        q += {"val": " Say how long it cooks.", "eval": " Tell me how many minutes it takes, too."}[split]
        c["regex"] = rf"\b{t}\s*(minutes|min)\b"
    elif fam == "chess":
        plies = [m for m in ref.split() if not m[0].isdigit()]
        result = ref.split()[-1]
        full = (len(plies) + 1) // 2
        q += {"val": " Start with 1. {} {}; the game should last {} moves and end {}.",
              "eval": " It should open 1. {} {}, last {} moves and end {}."}[split].format(
                  plies[0], plies[1], full, RESULT_WORDS[result])
        c = {"full_moves": full, "regex": rf"(^|\s)1\.\s*{plies[0]}\s+{plies[1]}(\s|$)",
             "contains_any": [result], "not_contains": NO_Q + sorted(set(RESULT_WORDS) - {result})}
    elif fam == "list":
        right = c["count_of"]["of"]
        items = [x for x in right if x in ref]
        kinds = {"cities": w.country_names + w.rivers, "jobs": COLORS + [a.name for a in w.animals]}
        decoys = rnd.sample([x for x in kinds[item.slots["kind"]] if x not in right], 3)
        options = items + decoys
        rnd.shuffle(options)
        q = q.rstrip(".") + {"val": ", from these: ", "eval": ". Choose them from: "}[split] + ", ".join(options) + "."
        every = {"cities": w.capitals, "jobs": JOBS}[item.slots["kind"]]
        c = {"count_of": {"n": len(items), "of": items}, "none_of": sorted(set(decoys + every) - set(items)),
             "not_contains": NO_Q}
    elif fam == "rewrite":
        s = item.slots["s"]
        vocab = COLORS if item.slots["old"] in COLORS else w.capitals
        c = {"contains_all": [ref.rstrip(".")], "not_contains": NO_Q + [s.rstrip(".")],
             "none_of": sorted(set(vocab) - {item.slots["new"]})}
    elif fam in ("compare", "sort"):
        return numbers_question(rnd, split, fam, template, places)
    return q, ref, c


def numbers_question(rnd, split, fam, template, places):
    """Six numbers: the largest and the smallest of them, at a pair of places not used before in the set
    (`places`, drawn down), or all of them in order (given in neither order)."""
    nums = rnd.sample(range(2, 60), 6)
    if fam == "compare":
        if not places:
            places += [(i, j) for i in range(6) for j in range(6) if i != j]
            rnd.shuffle(places)
        i, j = places.pop()
        ordered = sorted(nums)
        small, big, rest = ordered[0], ordered[-1], ordered[1:-1]
        rnd.shuffle(rest)
        nums = [big if k == i else small if k == j else rest.pop() for k in range(6)]
        q = template.format(nums=", ".join(map(str, nums)))
        q += {"val": " And which is the smallest?", "eval": " Name the smallest too."}[split]
        return q, f"{big} is the largest number and {small} is the smallest.", {
            "any_of": [{"numbers": [big, small]},
                       {"numbers": [small, big], "regex": rf"\b{small}\b[^\d\n]*\b(smallest|least|lowest)\b"}],
            "not_contains": NO_Q}
    while nums in (sorted(nums), sorted(nums, reverse=True)):
        rnd.shuffle(nums)
    out = ", ".join(map(str, sorted(nums)))
    return (template.format(nums=", ".join(map(str, nums))), f"In order: {out}.",
            {"numbers": sorted(nums), "not_contains": NO_Q, "min_numbers": len(nums)})


def probes(ref, crit):
    """What one memorised answer could be: the reference, its last number alone, or the bare content the
    criterion asks for (its first asked string, or the asked sequence)."""
    bare = crit.get("contains_any", [])[:1] + crit.get("contains_all", []) + \
        [x for seq in crit.get("sequences", []) for x in seq["is"]]
    return [ref] + re.findall(r"\d+", ref)[-1:] + ([" ".join(bare)] if bare else [])


def asked_set(w, split, drawn, seen, tuned, seed):
    """The held-out records of a split from the drawn (family, template, item) list: each asks more (asked);
    paired families get at least MIN_ITEMS records; a record whose reference would pass more than SHARE of its
    family's records (or whose criterion another reference would push past it), that repeats a criterion or an
    instruction, that its own instruction passes, or whose reference a tuning set holds, is drawn again."""
    rnd, places, out, crits = random.Random(seed), [], [], set()
    by_fam = {}
    for fam, template, item in drawn:
        by_fam.setdefault(fam, []).append((template, item))
    for fam, skeleton in by_fam.items():
        n = max(len(skeleton), MIN_ITEMS if fam in PAIRED else 0)
        cap, rows, passes = max(1, int(SHARE * n)), [], []    # passes[i]: records row i's reference passes
        skeleton, tries = iter(skeleton), 0
        while len(rows) < n and tries < 200 * n:      # a world with too few distinct items keeps fewer
            tries += 1
            template, item = next(skeleton, None) or draw(w, rnd, fam, split)
            made = asked(w, rnd, split, fam, template, item, places)
            if made is None:
                continue
            q, ref, crit = made
            key = json.dumps(crit, sort_keys=True)
            if q in seen or key in crits or any(ref in t for t in tuned) or check(q.replace("?", "."), crit):
                continue                            # (an echo of the question must not pass it)
            mine = 1 + sum(any(check(p, r["criterion"]) for p in probes(ref, crit)) for r in rows)
            theirs = [any(check(p, crit) for p in probes(r["reference"], r["criterion"])) for r in rows]
            if mine > cap or any(p + t > cap for p, t in zip(passes, theirs)):
                continue
            seen.add(q)
            crits.add(key)
            passes = [p + t for p, t in zip(passes, theirs)] + [mine]
            rows.append({"instruction": q, "family": fam, "near": FAMILIES[fam].near, "reference": ref,
                         "criterion": crit})
        out += rows
    return out
