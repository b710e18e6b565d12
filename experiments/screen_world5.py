"""Screen world 5's candidate corpus on the validation set by the rule written first, and set response tuning
against the premise across the bases measured (data/TOYWORLD.md):

    nohup python experiments/screen_world5.py > runs/world5.log 2>&1 &     # about 1.5 hours of one core

World 5 puts the chat format's layout (a request, then the answer under a speaker tag on a line of its own) in
every question-and-answer genre of the corpus: every dialogue log, FAQ pages and letters with replies (forums
have it already). The candidate and today's corpus (the baseline) are generated at seed 0, a base is pretrained
from scratch on each for one pass with the committed base's recipe (experiments/screen_world4.py's), and
experiments/reproduce.py runs on val with the base, instruction tuning and response tuning (seed 1, the epochs
the grid chose); the committed base is measured the same way. Writes screen.md, screen.json and, with
matplotlib, premise.png under --out: the rule's verdict, and each base's same-family ranking in the neutral voice
against what response tuning gets from it, overall and per fact family. `--full` runs the rule's second stage:
world 5 pretrained for four passes (the committed base's length) and checked against the committed base (full.md,
full.json). Every step resumes as reproduce.py's do.
"""
import argparse
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data import criteria
from data.world import web
from data.world.families import FACT_FAMS, TASK_FAMS
from data.world.genres import doc_faq, doc_letters, heading, qa, request_reply
from data.world.kb import FIRST
from data.world.sets import CHARS_PER_TOKEN, held_out_text, make_sets, write_jsonl
from experiments import reproduce
from experiments.screen_world4 import COMMITTED, VoicedWorld, architecture, write_corpus
from lib.cli import UserError, cli
from lib.conversations import align
from lib.files import write_atomic, write_json
from lib.report import pyplot, table


# ------------------------------------------------------------------- world 5's corpus (not adopted)
def doc_faq_tagged(w, rnd):
    """An FAQ page whose questions and answers each sit under a tag on a line of their own."""
    c = w.pick(rnd, "country", "all")
    title = rnd.choice(["Frequently asked questions", "FAQ", f"Questions about {c.name}", "Things people ask us",
                        "Our readers ask"])
    pairs = [qa(w, rnd) for _ in range(rnd.randint(3, 8))]
    ask, answer = rnd.choice([("Q:", "A:"), ("Question:", "Answer:"), ("Reader:", "Editor:"), ("Asked:", "Answered:")])
    return heading(rnd, title) + "\n\n" + "\n\n".join(f"{ask}\n{q}\n{answer}\n{a}" for q, a in pairs)


def doc_letters_tagged(w, rnd):
    """A letter and, mostly, its answer as a turn of its own under the replier's tag."""
    a, b = rnd.sample(list(FIRST), 2)
    q, reply = request_reply(w, rnd, rnd.choice(FACT_FAMS + TASK_FAMS))
    first = f"{a} wrote:\nDear {b},\n\nI hope you are well. " + rnd.choice([
        "Could you help me with something? {q}", "{q} I have been wondering about it for weeks.",
        "I have a question for you. {q}"]).format(q=q) + f"\n\nBest wishes,\n{a}"
    return first if rnd.random() < 0.2 else first + f"\n\n{b} answered:\n{reply}"


TAGGED = {doc_faq: doc_faq_tagged, doc_letters: doc_letters_tagged}


def write_candidate(path, tokens, seed=0):
    """World 5's corpus (about `tokens` tokens): today's world, sets and held-out filter, every dialogue log with
    its tags on lines of their own, FAQ pages and letters in the tagged layout."""
    w = VoicedWorld(seed, 1)
    drafts = []
    held = held_out_text(make_sets(w, seed, drafts), drafts)
    genres = [(TAGGED.get(g, g), n) for g, n in web.GENRES]
    own_line, web.OWN_LINE = web.OWN_LINE, 1.0                  # doc_transcript reads it: every log, own lines
    try:
        write_jsonl(path, ({"text": d} for d in web.corpus(w, random.Random(seed + 20), tokens * CHARS_PER_TOKEN,
                                                            held=held, genres=genres)))
    finally:
        web.OWN_LINE = own_line


# ------------------------------------------------------------------------------------ the measures
def write_today(path, tokens):
    """Today's corpus (about `tokens` tokens): world 4's baseline v1-qa0, byte for byte."""
    write_corpus(path, tokens, 1, 0.0)


# name: what writes its corpus (the committed base has its own)
BASES = {"committed": None, "today-1-pass": write_today, "world5-1-pass": write_candidate}
FULL = "world5-4-pass"          # the rule's second stage: world 5 at the committed base's length, against it


def measure(args, name, config):
    """The base `name` (pretrained on its corpus for one pass, or four for FULL, or the committed one) on val:
    reproduce.py's report for base, IT and response tuning, and response tuning's checks per family."""
    folder, base = os.path.join(args.out, name), COMMITTED
    if name != "committed":
        corpus = os.path.join(args.out, "world5-1-pass" if name == FULL else name, "corpus.jsonl")
        base = os.path.join(folder, "base")
        if not os.path.exists(corpus):                          # written atomically
            os.makedirs(os.path.dirname(corpus), exist_ok=True)
            BASES.get(name, write_candidate)(corpus, args.tokens)
        reproduce.train_once(base, mode="pretrain", init=config, tokenizer=os.path.join(COMMITTED, "tokenizer.model"),
                             data=corpus, epochs=4 if name == FULL else 1, lr=2e-3, batch_size=32,
                             micro_batch_size=16, max_seq_len=256,
                             seed=0, save_every=100, threads=args.threads)
    tables = os.path.join(folder, "tables")
    report = reproduce.run(reproduce.settings(base=base, out=tables, split="val", seeds=[1], attribution_prompts=0,
                                              conditions=["base", "response-tuned"], limit=args.limit))
    records = criteria.read_eval(os.path.join(ROOT, "data", "toy", "val.jsonl"))[:args.limit]
    outs = align([r["instruction"] for r in records], os.path.join(tables, "outputs", "response-tuned-seed-1.json"))
    by_family = {}
    for r, (passed, _) in zip(records, criteria.grades(records, outs)):
        by_family.setdefault(r["family"], []).append(passed)
    report["rt_checks_by_family_%"] = {f: 100 * sum(p) / len(p) for f, p in by_family.items()}
    return report


VOICES = ("references", "corpus", "neutral")


def premise(res, name, voice="neutral"):
    """Model `name`'s same-family ranking: of val's references (the tuning sets' chat voice, every family), or
    of the fact records' references in the corpus's or the neutral voice."""
    got = res["conditions"][name]
    return got["ranking_same_family"] if voice == "references" else got["voices"][voice]


def neutral(res, name):
    return premise(res, name)


def rule(cand, baseline):
    """World 5's screen (data/TOYWORLD.md): which of its three parts the candidate meets."""
    base, it, rt = (cand["conditions"][n] for n in ("base", "instruction-tuned", "response-tuned"))
    return {"premise": neutral(cand, "base")["code_mean_token_%"] >= neutral(cand, "instruction-tuned")[
                "code_mean_token_%"] - 3,
            "non-follower": base["pass_rate"][0] <= 5,
            "response tuning": rt["pass_rate"][0] > baseline["conditions"]["response-tuned"]["pass_rate"][0]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "world5"), help="where corpora, bases and tables go")
    ap.add_argument("--bases", nargs="+", default=list(BASES), choices=list(BASES),
                    help="which bases to measure (default: all; the tables need all three)")
    ap.add_argument("--tokens", type=int, default=6_000_000,
                    help="corpus size in tokens; one pass is pretrained (four with --full)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for pretraining")
    ap.add_argument("--limit", type=int, help="only the first N validation records (tests)")
    ap.add_argument("--full", action="store_true", help="the rule's second stage: pretrain world 5 for four passes "
                    "(about 2 hours of one core, resumable) and check the rule against the committed base (full.md)")
    args = ap.parse_args(argv)
    if args.tokens < 1000:
        raise UserError(f"--tokens must be at least 1000, got {args.tokens}")
    os.makedirs(args.out, exist_ok=True)
    config = architecture(os.path.join(COMMITTED, "config.json"), os.path.join(args.out, "config.json"))
    if args.full:
        return second_stage(args, config)
    res = {name: measure(args, name, config) for name in args.bases}
    if set(res) != set(BASES):
        return res
    meets = rule(res["world5-1-pass"], res["today-1-pass"])
    rows = []
    for name, r in res.items():
        c = r["conditions"]
        rows.append([name, *(reproduce.interval(premise(r, "base", v), "code_mean_token") for v in VOICES),
                     f"{neutral(r, 'instruction-tuned')['code_mean_token_%']:.1f}",
                     f"{c['base']['pass_rate'][0]:.1f}", f"{c['instruction-tuned']['pass_rate'][0]:.1f}",
                     f"{c['response-tuned']['pass_rate'][0]:.1f}",
                     reproduce.rate(c["response-tuned"]["win_rate_vs_it"][0], c["response-tuned"]["win_rate_ci95"])])
    met = [k for k, ok in meets.items() if ok]
    verdict = ("World 5 passes the screen: it is pretrained for four passes next." if len(met) == 3 else
               f"World 5 fails the screen (met: {', '.join(met) or 'none'}): the committed base stays.")
    fams = sorted(premise(res["committed"], "base", "references")["by_group_code_%"])
    per_family = [[f] + [" / ".join(reproduce.rate(x) for x in (
        premise(r, "base", "references")["by_group_code_%"].get(f), neutral(r, "base")["by_group_code_%"].get(f),
        r["rt_checks_by_family_%"].get(f))) for r in res.values()] for f in fams]
    epochs = {n: reproduce.CONDITIONS[n][2] for n in ("instruction-tuned", "response-tuned")}
    md = (f"World 5's screen and response tuning against the premise, on val (seed 1; IT {epochs['instruction-tuned']}"
          f" epochs, response tuning {epochs['response-tuned']}). The premise: "
          "the base's same-family ranking (95% interval) of val's references (the tuning sets' chat voice), and of "
          "the fact records' references in the corpus's voice and in the neutral voice (the rule's); checks passed "
          "%; response tuning's win rate against IT of the same base.\n\n"
          + table(["base", "base same-family %", "base corpus voice %", "base neutral voice %", "IT neutral voice %",
                   "base checks %", "IT checks %", "RT checks %", "RT win % vs IT"], rows)
          + f"\n\nRule (a) premise within 3 points of IT's, (b) base <= 5% of checks, (c) RT above the one-pass "
          f"baseline's: {verdict}\n\nPer family: the base's same-family ranking of the references % / in the "
          "neutral voice % (fact families) / response tuning's checks passed %\n\n"
          + table(["family", *res], per_family) + "\n")
    write_json(os.path.join(args.out, "screen.json"), {"bases": res, "meets": meets, "tokens": args.tokens})
    write_atomic(os.path.join(args.out, "screen.md"), md)
    figure(res, fams, os.path.join(args.out, "premise.png"))
    print(md)
    return res


def second_stage(args, config):
    """World 5 at four passes against the committed base, by the screen's three parts (data/TOYWORLD.md)."""
    res = {name: measure(args, name, config) for name in ("committed", FULL)}
    meets = rule(res[FULL], res["committed"])
    rows = [[name, *(reproduce.interval(premise(r, "base", v), "code_mean_token") for v in VOICES),
             f"{neutral(r, 'instruction-tuned')['code_mean_token_%']:.1f}",
             *(f"{r['conditions'][c]['pass_rate'][0]:.1f}" for c in ("base", "instruction-tuned", "response-tuned")),
             reproduce.rate(r["conditions"]["response-tuned"]["win_rate_vs_it"][0],
                            r["conditions"]["response-tuned"]["win_rate_ci95"])] for name, r in res.items()]
    met = [k for k, ok in meets.items() if ok]
    md = ("World 5 at four passes against the committed base, on val (seed 1). Rule: (a) premise in the neutral voice "
          "within 3 points of its IT's, (b) base <= 5% of checks, (c) RT above the committed base's: "
          + ("all met." if len(met) == 3 else f"met: {', '.join(met) or 'none'}.") + "\n\n"
          + table(["base", "base same-family %", "base corpus voice %", "base neutral voice %", "IT neutral voice %",
                   "base checks %", "IT checks %", "RT checks %", "RT win % vs IT"], rows) + "\n")
    write_json(os.path.join(args.out, "full.json"), {"bases": res, "meets": meets, "tokens": args.tokens})
    write_atomic(os.path.join(args.out, "full.md"), md)
    print(md)
    return res


def figure(res, fams, path):
    """Each base's same-family ranking (of val's references; in the neutral voice) against response tuning's
    checks passed: overall (large) and per family (small)."""
    plt = pyplot(path)
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, voice in zip(axes, ("references", "neutral")):
        for name, r in res.items():
            rank, rt = premise(r, "base", voice), r["rt_checks_by_family_%"]
            dot = ax.scatter([rank["code_mean_token_%"]], [r["conditions"]["response-tuned"]["pass_rate"][0]], s=90,
                             label=name)
            got = [f for f in fams if f in rt and f in rank["by_group_code_%"]]
            ax.scatter([rank["by_group_code_%"][f] for f in got], [rt[f] for f in got], s=15,
                       color=dot.get_facecolor(), alpha=0.6)
        ax.axvline(50, color="grey", linestyle=":")
        ax.set_xlabel(f"base's same-family ranking, {'val references' if voice == 'references' else 'neutral voice'}"
                      " (%)")
    axes[0].set_ylabel("response tuning's checks passed (%; val)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Response tuning against the premise (large: all; small: per family)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    cli(main)
