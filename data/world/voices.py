"""The held-out fact references in three voices, and a probe of what the model knows about each fact.

Hewitt et al. §4.2 ("response ranking") rests the paper on a premise: a base model already ranks an
instruction's own response above the responses of other instructions. The responses it ranks are Alpaca's,
written in a voice that is not the one LIMA tuned its model on. In the toy world a reference speaks in the chat
voice of the tuning sets ("Dimiburg is the capital city of Kezar."), which the corpus never uses (it says "The
capital of Kezar is Dimiburg."), so a base that ranks a reference first may know the fact, or the voice, or
neither. Each held-out fact record gets its reference in three voices, the same facts entity by entity:

- chat: the record's own reference, unchanged;
- corpus: each fact exactly as the corpus states it (the family's web answer, items.py's `Item.web`);
- neutral: each fact in a voice written for this file (NEUTRAL), which the corpus, the tuning sets and the
  references never use (tested), so a ranking in it measures the fact without a familiar voice.

And a probe about the record's first entity: its fact in the corpus's voice ("true") and five (legs: three)
statements of the same sentence with a wrong value of the same kind ("wrong"): another capital (capital), another country
(revcap, home), another river, colour or opposite word (river, color, opposite; the opposite's pair is never
one), another job with another city (job: both change, so the sentence is false however it is read), another
home only (about: the rest of the description stays right), and for legs the world's other counts (its animals
have 2, 4, 6 or 8 legs, so a legs probe has three wrong statements, chance 1 in 4: a count no animal has, or one
of two digits, would be wrong by its form alone). Wrong values are drawn from
random.Random seeded with the split and the record's index in its set file, so the files are deterministic.

Each file (voices-val.jsonl, voices-eval.jsonl) holds one JSON object per fact record, in the set file's order:
{"instruction", "family", "voices": {"chat", "corpus", "neutral"}, "knowledge": {"true", "wrong": [3 to 5]}}.

  python -m data.world voices --out data/toy --overwrite
"""
import os
import random

from data.criteria import named_in_order
from data.world.asks import PAIRED
from data.world.kb import COLORS, JOBS, OPPOSITES, World
from data.world.sets import write_jsonl
from lib.cli import UserError
from lib.files import read_records

SPLITS = ("val", "eval")
FAMS = ("capital", "revcap", "river", "color", "home", "legs", "job", "about", "opposite")
# Entities a record asks about, in the order the instruction names them (asks.py's `paired`: three for legs).
COUNT = {fam: (3 if fam == "legs" else 2) if fam in PAIRED else 1 for fam in FAMS}
N_WRONG = 5
WRONG_LEGS = [2, 4, 6, 8]

# The corpus's own sentence of each fact: the family's web answer (items.py; a test keeps them equal).
CORPUS = {
    "capital": "The capital of {c} is {cap}.",
    "revcap": "{cap} is the capital of {c}.",
    "river": "The river {river} flows through {c}.",
    "color": "The {a} is {color}.",
    "home": "The {a} lives in {home}.",
    "legs": "The {a} has {legs} legs.",
    "job": "{p} is a {job} in {city}.",
    "about": "The {a} is a {size} {color} animal with {legs} legs. It lives in {home} and eats {food}.",
    "opposite": "The opposite of {x} is {y}.",
}
# A voice no text of the world uses: not the chat voice, not the web's, none of world 4's further web voices
# (experiments/screen_world4.py), no phrase of it in the corpus or a tuning set (tested). It names no other
# candidate of the criterion's kind (another colour, job, country, number or opposite word), no "?".
NEUTRAL = {
    "capital": "Visitors to {c} soon learn that its capital is called {cap}.",
    "revcap": "The city {cap} serves as the capital for the country {c}.",
    "river": "In {c} there is one river, and its name is {river}.",
    "color": "Anyone who has seen a {a} will tell you it is {color}.",
    "home": "To see a {a} in the wild, you must travel to {home}.",
    "legs": "Look closely at a {a} and you will count {legs} legs.",
    "job": "Ask around {city} and you will hear that {p} is a {job}.",
    "about": "Someone who meets a {a} sees a {size}, {color} beast on {legs} legs. Its homeland is {home}, and "
             "its meals are {food}.",
    "opposite": "The word that means the reverse of {x} is {y}.",
}
VOICES = {"corpus": CORPUS, "neutral": NEUTRAL}


def names(w):
    """Family -> {lower-cased name an instruction uses: the slots of the entity's facts}."""
    country = {c.name: {"c": c.name, "cap": c.capital, "river": c.river} for c in w.countries}
    animal = {a.name: {"a": a.name, "color": a.color, "size": a.size, "legs": a.legs, "food": a.food,
                       "home": a.home} for a in w.animals}
    person = {p.name: {"p": p.name, "job": p.job, "city": p.city} for p in w.people}
    opposite = {x: {"x": x, "y": y} for pair in OPPOSITES for x, y in (pair, pair[::-1])}
    by_capital = {f["cap"]: f for f in country.values()}
    kinds = {"capital": country, "river": country, "revcap": by_capital, "job": person, "opposite": opposite,
             **{fam: animal for fam in ("color", "home", "legs", "about")}}
    return {fam: {name.lower(): f for name, f in kind.items()} for fam, kind in kinds.items()}


def entities(known, fam, instruction):
    """The facts of the entities an instruction asks about, in its order, or None when it does not name exactly
    as many different ones as its family asks about (then the record is skipped, not guessed)."""
    named = named_in_order(instruction.lower(), list(known[fam]))
    if len(named) != COUNT[fam] or len(set(named)) != len(named):
        return None
    return [known[fam][n] for n in named]


def changed(w, fam):
    """The slots a wrong statement changes, each with its candidates (the module docstring says why)."""
    return {"capital": [("cap", w.capitals)], "revcap": [("c", w.country_names)],
            "river": [("river", w.rivers)], "color": [("color", COLORS)], "home": [("home", w.country_names)],
            "about": [("home", w.country_names)], "legs": [("legs", WRONG_LEGS)],
            "job": [("job", JOBS), ("city", w.capitals)],
            "opposite": [("y", sorted(x for pair in OPPOSITES for x in pair))]}[fam]


def knowledge(w, fam, fact, rnd):
    """{"true": the fact in the corpus's voice, "wrong": up to N_WRONG distinct statements of it with wrong
    values}. A candidate equal to any of the fact's values is left out: never the true value, nor the word an
    opposite is asked about."""
    pools = [(slot, sorted(set(pool) - set(fact.values()))) for slot, pool in changed(w, fam)]
    n = min(N_WRONG, *(len(pool) for _, pool in pools))
    wrong = [dict(fact) for _ in range(n)]
    for slot, pool in pools:
        for f, value in zip(wrong, rnd.sample(pool, n)):
            f[slot] = value
    return {"true": CORPUS[fam].format(**fact), "wrong": [CORPUS[fam].format(**f) for f in wrong]}


def voiced(w, known, split, index, record):
    """The voices file's row of one held-out record (the set file's `index`-th), or None if it is no fact
    record or its entities do not resolve."""
    fam = record.get("family")
    if fam not in FAMS:
        return None
    facts = entities(known, fam, record["instruction"])
    if facts is None:
        return None
    voices = {"chat": record["reference"]}
    voices.update({v: " ".join(t[fam].format(**f) for f in facts) for v, t in VOICES.items()})
    rnd = random.Random(f"voices/{split}/{index}")
    return {"instruction": record["instruction"], "family": fam, "voices": voices,
            "knowledge": knowledge(w, fam, facts[0], rnd)}


def read_set(path):
    """The records of a held-out set file; a fact record needs its instruction and reference."""
    records = read_records(path, need="instruction")
    for where, r in records:
        if r.get("family") in FAMS and not isinstance(r.get("reference"), str):
            raise UserError(f"{where}: a {r['family']} record has no 'reference' string")
    return [r for _, r in records]


def voices_rows(w, records, split):
    """(rows, skipped): the voices rows of a split's records in their order, and how many fact records did not
    resolve to their entities."""
    known, rows, skipped = names(w), [], 0
    for i, r in enumerate(records):
        row = voiced(w, known, split, i, r)
        rows += [row] if row else []
        skipped += row is None and r.get("family") in FAMS
    return rows, skipped


def voice_files(out):
    return {split: os.path.join(out, f"voices-{split}.jsonl") for split in SPLITS}


def write_voices(sets, out, seed=0):
    """Read sets/val.jsonl and sets/eval.jsonl (made by the world of `seed`), write out/voices-val.jsonl and
    out/voices-eval.jsonl (each atomically, both computed first). Returns {split: (rows, skipped)}."""
    w, made = World(seed), {}
    for split in SPLITS:
        path = os.path.join(sets, f"{split}.jsonl")
        rows, skipped = voices_rows(w, read_set(path), split)
        if not rows and not skipped:
            raise UserError(f"{path}: no fact record (families {', '.join(FAMS)})")
        if skipped >= len(rows):                # names of another world: the few that match would lie
            raise UserError(f"{path}: {skipped} of {skipped + len(rows)} fact records name no entities of the "
                            f"world of seed {seed} (a set of another --seed?)")
        made[split] = rows, skipped
    for split, path in voice_files(out).items():
        write_jsonl(path, made[split][0])
    return {split: (len(rows), skipped) for split, (rows, skipped) in made.items()}
