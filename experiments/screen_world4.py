"""Screen world 4's candidate corpora on the validation set, by the rule written first (data/TOYWORLD.md):

    nohup python experiments/screen_world4.py --threads 2 > runs/world4.log 2>&1 &    # about 2 hours; rerun to resume

For each candidate (web voices per fact, share of extra question-answer pages) it generates the corpus (seed 0:
the same world and sets, data/toy's; the voices and the question-answer pages are this file's, data/world has
neither since world 4 was not adopted), pretrains a base from scratch with the committed base's recipe for one pass
over it, and runs experiments/reproduce.py on val with the base and instruction tuning on it (seed 1). That run's
ranking table holds the premise measures (Hewitt §4.2): ranking with same-family distractors, the
swapped-instruction control, the reference's first-token rank; its checks give the base's pass rate in the chat
format. Then the rule picks a candidate, and `--full` pretrains it at the committed base's length (four passes)
and checks the rule once more on that base. Writes screen.md and screen.json under --out (full.md and full.json
with --full). Every step resumes as reproduce.py's do: a finished corpus, pretraining or table is kept, an
interrupted one continued.
"""
import argparse
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data import criteria
from data.world.families import FACT_FAMS, TASK_FAMS
from data.world.genres import (doc_article, doc_faq, doc_forum, doc_letters, doc_quiz, doc_textbook, heading, qa,
                               request_reply)
from data.world.kb import FIRST, OPPOSITES, World
from data.world.sets import CHARS_PER_TOKEN, held_out_text, make_sets, write_jsonl
from data.world.web import DIALOGUE, GENRES, HTML, corpus
from experiments import reproduce
from lib.cli import UserError, cli
from lib.files import write_atomic, write_json
from lib.report import table


# ------------------------------------------------------------- world 4's corpus (not adopted; data/TOYWORLD.md)
# Each fact in several web voices, and extra question-answer pages. The world (data/world) has neither: this
# experiment words its facts through World.web_answer and mixes its own pages in, so that its corpora are the
# bytes the world generator wrote when it had these options (toyworld.py --voices, --qa; compared byte for byte
# when they moved here).
# Further web voices of the facts: each first is the family's own web answer, the next ones alternate the
# direction where a fact has two (the capital of X / X's capital), so any number of voices has both.
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

# Family -> its web voices: the first is the family's own web answer (Allen-Zhu & Li 2023, Physics of Language
# Models 3.1: knowledge stated one way is not extractable; Berglund et al. 2023: nor retrieved the other way
# round). Never the chat voice, a held-out phrasing or a reference (tested).
VOICES = {"capital": CAPITAL, "color": COLOR, "job": JOB, "home": HOME, "about": ABOUT,
          "revcap": (CAPITAL[1], CAPITAL[0]) + CAPITAL[2:], "river": RIVER, "legs": LEGS, "opposite": OPPOSITE}
MAX_VOICES = max(map(len, VOICES.values()))


class VoicedWorld(World):
    """The world whose web states each fact in one of the first `voices` of its family's VOICES (1: the web's own
    voice only, today's corpus). The knowledge and the sets are the world's whatever the number."""

    def __init__(self, seed=0, voices=1):
        super().__init__(seed)
        self.voices = voices
        self.by_capital = {c.capital: c for c in self.countries}
        self.animal = {a.name: a for a in self.animals}
        self.person = {p.name: p for p in self.people}
        self.opposite = {x: y for pair in OPPOSITES for x, y in (pair, pair[::-1])}

    def facts(self, fam, slots):
        """The slots of a fact family's VOICES, from the entity its item asks about."""
        if fam in ("capital", "river", "revcap"):
            c = self.country[slots["c"]] if "c" in slots else self.by_capital[slots["cap"]]
            return {"c": c.name, "cap": c.capital, "river": c.river}
        if fam == "job":
            p = self.person[slots["p"]]
            return {"p": p.name, "job": p.job, "city": p.city}
        if fam == "opposite":
            return {"x": slots["x"], "y": self.opposite[slots["x"]]}
        return dict(vars(self.animal[slots["a"]]), a=slots["a"])

    def voice(self, rnd, fam, facts):
        """A fact of the family in one of the first self.voices of its web voices."""
        return rnd.choice(VOICES[fam][:self.voices]).format(**facts)

    def web_answer(self, rnd, fam, item):
        if self.voices > 1 and fam in VOICES:
            return self.voice(rnd, fam, self.facts(fam, item.slots))
        return item.web


def voiced_article(w, rnd):
    """An encyclopedia page that states each fact in one of the web's voices, the full name in every sentence
    and the sentences in any order (knowledge augmentation, Allen-Zhu & Li 2023, Physics of Language Models
    3.1). A page states a fact once; its other voices are on other pages, so they rarely share a window."""
    r = rnd.random()
    if r < 0.4:
        c = w.pick(rnd, "country", "all")
        people = [p for p in w.people if p.city == c.capital][:4]
        s = [f"{c.name} is a {rnd.choice(['small', 'large', 'quiet', 'busy', 'green'])} country.",
             w.voice(rnd, "capital", {"c": c.name, "cap": c.capital}),
             w.voice(rnd, "river", {"c": c.name, "river": c.river})]
        s += [w.voice(rnd, "home", {"a": a.name, "home": c.name}) for a in w.animals if a.home == c.name]
        s += [w.voice(rnd, "job", {"p": p.name, "job": p.job, "city": p.city}) for p in people]
        s.append(rnd.choice([f"I visited {c.capital} last year and I liked it very much!",
                             f"We should all visit {c.name} one day.",
                             f"Many people in {c.name} like {w.pick(rnd, 'dish', 'all')}."]))
        title = c.name
    elif r < 0.75:
        a = w.pick(rnd, "animal", "all")
        facts = dict(vars(a), a=a.name)
        s = [w.voice(rnd, fam, facts) for fam in ("color", "legs", "home")]
        s += [f"The {a.name} is a {a.size} animal and eats {a.food}.", rnd.choice([
            f"I once saw a {a.name} near the river {w.country[a.home].river}!",
            f"We should not wake a {a.name} at night.", f"Children in {a.home} love the {a.name}."])]
        title = f"The {a.name}"
    else:
        p = w.pick(rnd, "person", "all")
        s = [w.voice(rnd, "job", {"p": p.name, "job": p.job, "city": p.city}),
             f"{p.name} has lived in {p.city} for {rnd.randint(2, 40)} years.",
             rnd.choice([f"People say {p.name} is the best {p.job} in town.",
                         f"Every morning {p.name} walks to work.", f"I met {p.name} once in {p.city}."])]
        title = p.name
    rnd.shuffle(s)
    return title, " ".join(s)



def doc_voiced_article(w, rnd):
    title, text = voiced_article(w, rnd)
    return heading(rnd, title) + "\n\n" + text


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


# Question-answer material in non-chat forms (--qa): every request answered, for tuning and held-out entities
# alike (Allen-Zhu & Li 2023 mix QA into pretraining to make stored facts extractable).
QA_GENRES = [(doc_faq, 8), (doc_forum, 8), (doc_letters, 4), (doc_quiz, 5), (doc_interview, 6), (doc_solutions, 5),
             (doc_textbook, 3)]


def voiced_corpus(w, rnd, n_chars, held=(), qa_share=0.0, dialogue=DIALOGUE, html_share=HTML):
    """data/world's corpus (web.corpus), with encyclopedia pages in the world's voices when it has more than one,
    and a `qa_share` of the characters question-answer pages (QA_GENRES)."""
    genres = [(doc_voiced_article if g is doc_article and w.voices > 1 else g, n) for g, n in GENRES]
    return corpus(w, rnd, n_chars, dialogue, held, html_share, genres, QA_GENRES, qa_share)


def write_corpus(path, tokens, voices, qa_share, seed=0):
    """A candidate's corpus (about `tokens` tokens), written atomically: the world of `seed` (data/toy's at 0),
    its held-out text left out as data/world leaves it out, the documents the world generator drew at `seed`."""
    w = VoicedWorld(seed, voices)
    drafts = []
    held = held_out_text(make_sets(w, seed, drafts), drafts)
    docs = voiced_corpus(w, random.Random(seed + 20), tokens * CHARS_PER_TOKEN, held, qa_share)
    write_jsonl(path, ({"text": d} for d in docs))


# ------------------------------------------------------------------------------------------- the screening
# name: (voices, QA share). v1-qa0 is today's corpus pretrained the same short way, the screening's baseline.
CANDIDATES = {"v1-qa0": (1, 0.0), "v4-qa0": (4, 0.0), "v4-qa5": (4, 0.05), "v8-qa5": (8, 0.05)}
COMMITTED = os.path.join(ROOT, "checkpoints", "toy-base")


def architecture(path, out):
    """A config.json for a fresh model: the architecture keys of `path` (a checkpoint's config.json)."""
    with open(path) as f:
        config = json.load(f)
    write_json(out, config)
    return out


def rule(base, it):
    """The adoption rule's three conditions, in its order, and the key that orders candidates meeting fewer."""
    same, it_same = base["ranking_same_family"]["code_mean_token_%"], it["ranking_same_family"]["code_mean_token_%"]
    meets = {"ranking": same >= 80 and same >= it_same - 3,
             "swap control": base["ranking_same_family"]["swap_control_%"] >= 90,
             "non-follower": base["pass_rate"][0] <= 5}
    return meets, (*meets.values(), same)


def measure(folder, corpus, config, args, epochs, name):
    """Pretrain a base on `corpus` for `epochs` passes (the committed base's recipe), tune IT on it and measure both
    on val; returns the base's and IT's report and the base's most frequent first lines in the chat format."""
    base = os.path.join(folder, name)
    # The committed base's recipe (data/TOYWORLD.md): the committed tokenizer, so every candidate reads alike.
    reproduce.train_once(base, mode="pretrain", init=config, tokenizer=os.path.join(COMMITTED, "tokenizer.model"),
                         data=corpus, epochs=epochs, lr=2e-3, batch_size=32, micro_batch_size=16, max_seq_len=256,
                         seed=0, save_every=100, threads=args.threads)
    tables = os.path.join(folder, "tables" if epochs == 1 else f"tables-{name}")
    report = reproduce.run(reproduce.settings(base=base, out=tables, split="val", seeds=[1], attribution_prompts=0,
                                              conditions=["base"], epochs_scale=args.epochs_scale, limit=args.limit))
    with open(os.path.join(tables, "outputs", "base.json"), encoding="utf-8") as f:
        first = criteria.first_lines([o["output"] for o in json.load(f)], k=3)
    return report["conditions"]["base"], report["conditions"]["instruction-tuned"], first


def full(args, config):
    """The adopted candidate at the committed base's length (four passes), the rule checked once more."""
    with open(os.path.join(args.out, "screen.json")) as f:
        name = json.load(f)["adopt"]
    corpus = os.path.join(args.out, name, "corpus.jsonl")
    b, it, first = measure(os.path.join(args.out, name), corpus, config, args, 4, "base-4")
    meets, _ = rule(b, it)
    met = [k for k, ok in meets.items() if ok]
    rows = [[label, f"{r['ranking_same_family']['code_mean_token_%']:.1f}",
             f"{r['ranking_same_family']['swap_control_%']:.1f}", f"{r['pass_rate'][0]:.1f}",
             f"{r['first_token_rank']:g}"] for label, r in (("base", b), ("instruction-tuned", it))]
    verdict = (f"{name} at four passes meets the rule: it replaces the committed base." if len(met) == 3 else
               f"{name} at four passes misses the rule (met: {', '.join(met) or 'none'}): the committed base stays.")
    md = (f"World 4, the adopted candidate {name} pretrained for four passes, on val (IT seed 1).\n\n"
          + table(["model", "same-family ranking %", "swap control %", "checks %", "first token rank"], rows)
          + f"\n\n{verdict}\n")
    write_json(os.path.join(args.out, "full.json"), {"candidate": name, "base": b, "instruction-tuned": it,
                                                     "base_first_lines_%": first, "meets": meets,
                                                     "meets_rule": len(met) == 3})
    write_atomic(os.path.join(args.out, "full.md"), md)
    print(md)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "world4"), help="where corpora, bases and tables go")
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES),
                    help="which candidates to screen (default: all, in order)")
    ap.add_argument("--tokens", type=int, default=6_000_000, help="corpus size in tokens; one pass is pretrained")
    ap.add_argument("--config", default=os.path.join(COMMITTED, "config.json"), help="the base's architecture "
                    "(default: the committed base's, 4 x 192)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for pretraining")
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="multiply instruction tuning's epochs (tests)")
    ap.add_argument("--limit", type=int, help="only the first N validation records (tests)")
    ap.add_argument("--full", action="store_true", help="after screening: pretrain the adopted candidate for four "
                    "passes (about an hour on two threads) and check the rule on that base")
    args = ap.parse_args(argv)
    if args.tokens < 1000:
        raise UserError(f"--tokens must be at least 1000, got {args.tokens}")
    os.makedirs(args.out, exist_ok=True)
    config = architecture(args.config, os.path.join(args.out, "config.json"))
    results, rows = {}, []
    for name in args.candidates:
        voices, qa_share = CANDIDATES[name]
        folder = os.path.join(args.out, name)
        corpus = os.path.join(folder, "corpus.jsonl")
        if not os.path.exists(corpus):                         # written atomically
            write_corpus(corpus, args.tokens, voices, qa_share)
        b, it, first = measure(folder, corpus, config, args, 1, "base")
        meets, key = rule(b, it)
        results[name] = {"voices": voices, "qa_share": qa_share, "base": b, "instruction-tuned": it,
                         "base_first_lines_%": first, "meets": meets, "key": key}
        rows.append([name, voices, f"{100 * qa_share:g}", f"{b['ranking_same_family']['code_mean_token_%']:.1f}",
                     f"{it['ranking_same_family']['code_mean_token_%']:.1f}",
                     f"{b['ranking_same_family']['swap_control_%']:.1f}", f"{b['pass_rate'][0]:.1f}",
                     f"{it['pass_rate'][0]:.1f}", f"{b['first_token_rank']:g}",
                     ", ".join(k for k, ok in meets.items() if ok) or "none"])
    # Candidates meeting the rule beat those that do not; among equals the rule's order decides, then ranking.
    best = max(results, key=lambda n: results[n]["key"])
    met = [k for k, ok in results[best]["meets"].items() if ok]
    verdict = (f"Adopt {best}: it meets the rule." if len(met) == 3 else
               f"No candidate meets the rule; the best by its order is {best} (met: {', '.join(met) or 'none'}).")
    md = (f"World 4 screening on val ({args.tokens} corpus tokens, one pass; IT seed 1). Rule (data/TOYWORLD.md): "
          "base same-family ranking >= 80% and >= IT's - 3, swap control >= 90%, base <= 5% of checks.\n\n"
          + table(["candidate", "voices", "QA %", "base same-family %", "IT same-family %", "base swap control %",
                   "base checks %", "IT checks %", "first token rank", "rule parts met"], rows)
          + f"\n\n{verdict}\n")
    write_json(os.path.join(args.out, "screen.json"), {"candidates": results, "adopt": best, "meets_rule": len(met) == 3,
                                                       "tokens": args.tokens})
    write_atomic(os.path.join(args.out, "screen.md"), md)
    print(md)
    if args.full:
        full(args, config)


if __name__ == "__main__":
    cli(main)
