"""How much dialogue in pretraining it takes for instruction following to be latent (beyond the paper):

    python experiments/dose_sweep.py --base runs/toy-base-0      # a base pretrained on a corpus without dialogue

For each dialogue share of the corpus (--doses, in %), the base is pretrained further on fresh documents of the
toy world with that share (--tokens, one pass at --lr), then scored on the validation set by experiments/reproduce.py:
the premise (the base's first-token rank, same-family ranking and swap control, beside IT's ranking), the base alone
in the chat format, the rules at the paper's and the toy world's EOS ramp, and response tuning, each against
instruction tuning of the same continued base. Writes sweep.md, sweep.json and, when matplotlib
is installed, sweep.png under --out. Every step resumes as reproduce.py's do.
"""
import argparse
import os
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from experiments import reproduce
from data.world import write_world
from lib.cli import UserError, cli
from lib.files import write_atomic, write_json
from lib.report import pyplot, table, wilson

ROWS = ["base", "all rules", "all rules, ramp 8", "response-tuned"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="base checkpoint pretrained without dialogue")
    ap.add_argument("--doses", type=float, nargs="+", default=[0, 1, 2, 5, 10, 20], help="dialogue shares in %%")
    ap.add_argument("--tokens", type=int, default=250_000, help="continued-pretraining tokens per dose")
    ap.add_argument("--lr", type=float, default=5e-4, help="continued-pretraining peak learning rate")
    ap.add_argument("--seed", type=int, default=1, help="tuning seed")
    ap.add_argument("--split", choices=("val", "eval"), default="val", help="the set scored")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "sweep"), help="where runs and results go")
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every tuning run's epochs (tests)")
    ap.add_argument("--limit", type=int, help="only the first N instructions (tests)")
    args = ap.parse_args(argv)
    if any(not 0 <= d <= 100 for d in args.doses) or args.tokens < 1000:
        raise UserError("--doses must be shares in [0, 100] and --tokens at least 1000")
    results = {}
    for dose in args.doses:
        name = f"dose-{dose:g}"
        folder = os.path.join(args.out, name)
        # The same world and sets, fresh documents (another corpus seed) at this dialogue share.
        corpus = os.path.join(folder, "corpus.jsonl")
        if not os.path.exists(corpus):
            write_world(os.path.join(folder, "world"), seed=0, corpus_tokens=args.tokens,
                        dialogue=dose / 100, corpus_seed=1000 + round(10 * dose))
            os.replace(os.path.join(folder, "world", "corpus.jsonl"), corpus)
        base = os.path.join(folder, "base")
        reproduce.train_once(base, mode="pretrain", model=args.base, data=corpus, epochs=1, lr=args.lr,
                             batch_size=32, micro_batch_size=16, max_seq_len=256, seed=args.seed, save_every=50)
        report = reproduce.run(reproduce.settings(base=base, out=os.path.join(folder, "tables"), split=args.split,
                                                  seeds=[args.seed], attribution_prompts=0,
                                                  epochs_scale=args.epochs_scale, conditions=ROWS, limit=args.limit))
        results[dose] = report["conditions"]
    rows = []
    for d, res in results.items():
        # The premise measures (reproduce.py's, for the base and IT of this dose), then what the methods get
        base, it = res["base"]["ranking_same_family"], res["instruction-tuned"]["ranking_same_family"]
        rows.append([f"{d:g}", f"{res['base']['first_token_rank']:g}", reproduce.interval(base, "code_mean_token"),
                     reproduce.interval(it, "code_mean_token"), reproduce.interval(base, "swap_control")]
                    + [f"{res[r]['pass_rate'][0]:.1f}" for r in ROWS]
                    + [reproduce.rate(res[r]['win_rate_vs_it'][0]) for r in ROWS[1:]])
    md = (f"Dialogue share of continued pretraining ({args.tokens} tokens) vs the premise and instruction following, "
          f"on {args.split}.jsonl: the base's median rank of the reference's first token after the chat prompt, "
          f"its same-family ranking (IT's beside it) and swapped-instruction control with 95% intervals over pairs; "
          f"checks passed %, and win rates against instruction tuning of the same base\n\n"
          + table(["dialogue %", "first token rank", "base same-family %", "IT same-family %", "base swap %",
                   *[f"{r} %" for r in ROWS], "rules win %", "rules (ramp 8) win %", "RT win %"], rows))
    write_json(os.path.join(args.out, "sweep.json"), {f"{d:g}": r for d, r in results.items()})
    write_atomic(os.path.join(args.out, "sweep.md"), md + "\n")
    print(md)
    plot(results, args.split, os.path.join(args.out, "sweep.png"), report["n"])


def plot(results, split, path, n):
    """The figure at `path` from {dose: reproduce.py's conditions} on `n` instructions: checks passed per row,
    and the premise (each dose's base and IT same-family ranking), each with its 95% interval. Skipped, with a
    note, without matplotlib."""
    plt = pyplot(path)
    if plt is None:
        return
    doses = [float(d) for d in results]
    fig, (ax, premise) = plt.subplots(1, 2, figsize=(12, 4.8))
    for r in ROWS:
        y = [res[r]["pass_rate"][0] for res in results.values()]
        low, high = zip(*(wilson(v, n) for v in y))
        ax.errorbar(doses, y, yerr=[[v - lo for v, lo in zip(y, low)], [hi - v for v, hi in zip(y, high)]],
                    marker="o", capsize=3, label=r)
    ax.set_ylabel(f"checks passed on {split} (%, Wilson 95% interval)")
    ax.set_title("What each method gets from a base of each dose")
    # The premise: each base's (and its IT's) same-family ranking, with its bootstrap 95% interval
    for name in ("base", "instruction-tuned"):
        ranks = [res[name]["ranking_same_family"] for res in results.values()]
        y = [r["code_mean_token_%"] for r in ranks]
        err = [[v - r["code_mean_token_ci95_%"][0] for v, r in zip(y, ranks)],
               [r["code_mean_token_ci95_%"][1] - v for v, r in zip(y, ranks)]]
        premise.errorbar(doses, y, yerr=err, marker="o", capsize=3, label=name)
    premise.axhline(50, color="grey", linestyle=":", label="chance")
    premise.set_ylabel(f"same-family ranking on {split} (%, 95% interval)")
    premise.set_title("The premise (Hewitt §4.2): does the base rank the answer first?")
    for axis in (ax, premise):
        axis.set_xlabel("dialogue share of the pretraining corpus (%)")
        axis.set_xticks(doses, [f"{d:g}" for d in doses])
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)                              # a script running several sweeps keeps no figure open


if __name__ == "__main__":
    cli(main)
