"""Screen world 4's candidate corpora on the validation set, by the rule written first (data/TOYWORLD.md):

    nohup python experiments/screen_world4.py --threads 2 > runs/world4.log 2>&1 &    # about 2 hours; rerun to resume

For each candidate (web voices per fact, share of extra question-answer pages) it generates the corpus (seed 0:
the same world and sets, data/toy's), pretrains a base from scratch with the committed base's recipe for one pass
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
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data import criteria
from experiments import reproduce
from data import toyworld
from lib.util import UserError, cli, table, write_atomic, write_json

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
        if not os.path.exists(corpus):                         # written last by generate, atomically
            toyworld.generate(os.path.join(folder, "world"), seed=0, corpus_tokens=args.tokens, voices=voices,
                              qa_share=qa_share)
            os.replace(os.path.join(folder, "world", "corpus.jsonl"), corpus)
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
