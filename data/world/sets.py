"""The world's sets and the writer: the LIMA analog and the five single-task sets (messages JSONL), the held-out
validation and evaluation sets with their criteria, and the whole world written under one folder."""
import json
import os
import random
import shutil
import tempfile

from data.world.asks import PAIRED, asked_set, compound_question
from data.world.families import FAMILIES, LIMA_FAMS, NEAR, EVAL_FAR, PHRASES, TASKS, draw, family
from data.world.kb import World
from data.world.skills import chess_game, code_task, math_answer, math_problem, poem, recipe_answer, title_of
from data.world.web import DIALOGUE, HTML, corpus
from lib.files import write_atomic

CHARS_PER_TOKEN = 2.9           # corpus characters per token of the toy tokenizer (measured; sizes --corpus-tokens)


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


def conversation(*turns):
    """A messages list (user, assistant, user, ...) in the open-instruct format."""
    return [{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(turns)]


def lima(w, rnd, n=300, multi=20, compound=30, seed=0):
    """The LIMA analog: diverse single-turn conversations over many families, a few two-turn ones, and (from a
    generator of their own, `seed`) a few fact questions about two or three entities, the kind of request the
    held-out sets ask (asks.py) in a phrasing of their own."""
    fams = iter(LIMA_FAMS * n)
    single = unique(lambda: conversation(*family(w, rnd, next(fams), "tune")[:2]), n - multi)
    two = unique(lambda: conversation(*(family(w, rnd, rnd.choice(LIMA_FAMS), "tune")[:2]
                                        + family(w, rnd, rnd.choice(LIMA_FAMS), "tune")[:2])), multi)
    more = random.Random(seed)
    fams = [f for f in PAIRED if f in LIMA_FAMS]
    out = single + two + unique(lambda: conversation(*compound_question(w, more, more.choice(fams))), compound)
    rnd.shuffle(out)
    return out


def single_task(w, rnd, task, n=300):
    """The five single-task sets of Hewitt et al. §5, in the paper's formats."""
    if task == "poetry":
        def make():
            s, _ = w.subject(rnd, "tune")
            return conversation(f"Write a poem called {title_of(rnd, s)}", poem(rnd, s))
    elif task == "math":
        def make():
            q, sol, n_ = math_problem(rnd, w, "tune")
            return conversation(q, math_answer(sol, n_))
    elif task == "recipes":
        def make():
            d = w.pick(rnd, "dish", "tune")
            pre = rnd.choice(["", "Easy ", "Quick ", "Grandma's ", "Simple ", "Homemade ", "Classic "])
            return conversation("Recipe for " + pre + d.title(), recipe_answer(w, d))
    elif task == "code":
        def make():
            t, code, _ = code_task(rnd, "tune")
            return conversation(rnd.choice(PHRASES["code"]["tune"]).format(t=t), code)
    elif task == "chess":
        def make():
            e1, e2, moves = chess_game(rnd)
            return conversation(f'[WhiteElo "{e1}"]\n[BlackElo "{e2}"]\n', moves)
    return unique(make, n)


# ------------------------------------------------------------------------------------- the held-out sets
def held_out_set(w, rnd, seen, split, tuned, seed, drafts, n_near=30, n_far=24):
    """Held-out records of a split ("val" or "eval"): near each single-task family, and far from all of them
    (near = null). Questions are drawn as the corpus asks them (a family with few held-out entities has fewer
    distinct items than n), then each asks more (asks.py, from `seed`). `seen` holds the instructions already
    used (tuning sets, the other split) and grows; `tuned` holds the tuning sets' answers; `drafts` gets the
    drawn questions and answers (kept out of the corpus too, so it stays the one the base was trained on)."""
    drawn, items, used = [], set(), set(seen)          # used: the instructions before this split
    for fam, n in [(f, n_near) for f in NEAR] + [(f, n_far) for f in EVAL_FAR]:
        n = FAMILIES[fam].items or n
        got = 0
        for _ in range(50 * n):
            template, item = draw(w, rnd, fam, split)
            q, key = template.format(**item.slots), (json.dumps(item.criterion, sort_keys=True), item.chat)
            if q in seen or key in items:
                continue
            seen.add(q)
            items.add(key)
            drafts += [q, item.chat]
            drawn.append((fam, template, item))
            got += 1
            if got == n:
                break
    rows = asked_set(w, split, drawn, used, tuned, seed)
    seen.update(r["instruction"] for r in rows)
    return rows


# ---------------------------------------------------------------------------------------------- writing
def write_jsonl(path, rows):
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def make_sets(w, seed=0, drafts=None):
    """name -> records: the LIMA analog, the single-task sets, val and eval, each from its own seed. `drafts`,
    a list, gets the held-out sets' drawn questions and answers before they ask more (held_out_set)."""
    drafts = [] if drafts is None else drafts
    sets = {"lima": lima(w, random.Random(seed + 1), seed=seed + 32)}
    for i, t in enumerate(TASKS):
        sets[t] = single_task(w, random.Random(seed + 2 + i), t)
    said = {role: {m["content"] for rows in sets.values() for r in rows for m in r["messages"] if m["role"] == role}
            for role in ("user", "assistant")}
    seen, tuned = said["user"], sorted(said["assistant"])
    sets["val"] = held_out_set(w, random.Random(seed + 11), seen, "val", tuned, seed + 31, drafts)
    sets["eval"] = held_out_set(w, random.Random(seed + 10), seen, "eval", tuned, seed + 30, drafts)
    return sets


def held_out_text(sets, drafts=()):
    """Every validation and evaluation instruction and reference, and their drafts: no corpus document may
    contain one."""
    return sorted({r[k] for split in ("val", "eval") for r in sets[split] for k in ("instruction", "reference")}
                  | set(drafts))


# The files the world writes: its sets, then the corpus (not committed: made on demand).
FILES = [f"{name}.jsonl" for name in ("lima", *TASKS, "val", "eval", "corpus")]


def write_all(out, files):
    """Write {file name: rows} under out/ all or nothing: each into a temporary folder inside out/ first, then
    moved in place, so an interrupted run (the corpus takes the time) leaves out/ as it was."""
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-world-", dir=out)
    try:
        for name, rows in files.items():
            write_jsonl(os.path.join(tmp, name), rows)
        for name in files:
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_world(out, seed=0, corpus_tokens=6_000_000, dialogue=DIALOGUE, corpus_seed=None, html_share=HTML):
    """Write the tuning sets, the validation and evaluation sets and (if corpus_tokens > 0) the corpus under
    out/, replacing those files there; `corpus_seed` draws other documents of the same world. Returns the number
    of records per set."""
    w = World(seed)
    drafts = []
    sets = make_sets(w, seed, drafts)
    files = {f"{name}.jsonl": rows for name, rows in sets.items()}
    if corpus_tokens > 0:
        rnd = random.Random(seed + 20 if corpus_seed is None else corpus_seed)
        docs = corpus(w, rnd, corpus_tokens * CHARS_PER_TOKEN, dialogue, held_out_text(sets, drafts), html_share)
        files["corpus.jsonl"] = ({"text": d} for d in docs)
    write_all(out, files)
    return {name: len(rows) for name, rows in sets.items()}
