"""Each condition's tuning epochs, chosen on the validation set as the paper chose them (§4.1, App. A):

    python experiments/epoch_sweep.py                       # several hours of one core
    python experiments/epoch_sweep.py --grid 40 15 7 3 1 &  python experiments/epoch_sweep.py --grid 30 20 10 5 2
    python experiments/epoch_sweep.py                       # then once more, whole: it reuses every run

(The whole grid took 80 minutes of wall time on a 2-core CPU the second way.)

For each count in --grid, every tuned condition (instruction tuning, response tuning, each single-task set) is
trained from the base at the paper's validation seed and decodes val.jsonl (experiments/reproduce.py's training
and decoding, so every step resumes and a finished one is skipped). Instruction tuning takes the count with the
most checks passed; response tuning and each single-task set the count with the highest win rate against that
instruction tuning; ties go to the paper's count, else to the fewest epochs (the rule in data/TOYWORLD.md).
Instruction Modelling reuses instruction tuning's count. Each (condition, count) also reports how far the outputs
collapsed (criteria.collapse). Writes epochs.md, epochs.json and epochs.png under --out.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data import criteria
from experiments import reproduce
from lib.cli import UserError, cli
from lib.files import write_atomic, write_json
from lib.report import decisive_winrate, pyplot, table

SWEPT = [name for name in reproduce.CONDITIONS if name != "instruction-modelling"]


def choose(scores, paper):
    """The count with the highest score (an undefined win rate, no decisive instruction, lowest); ties to the
    paper's count, else to the fewest epochs."""
    scores = {e: -1 if s is None else s for e, s in scores.items()}
    best = max(scores.values())
    tied = [e for e, s in scores.items() if s == best]
    return paper if paper in tied else min(tied)


def sweep(args, records, val):
    """{(condition, count): (its outputs, their criteria.grades)} over the grid, each count's runs and outputs
    under --out/epochs-N (reused while what they are made of is the same)."""
    got = {}
    for epochs in args.grid:
        settings = reproduce.settings(base=args.base, out=os.path.join(args.out, f"epochs-{epochs}"), split="val",
                                      seeds=[args.seed], epochs=epochs, epochs_scale=args.epochs_scale,
                                      attribution_prompts=0, conditions=SWEPT, limit=args.limit)
        rule_sets, wanted = reproduce.rows_of(settings)
        results, _ = reproduce.train_and_decode(settings, rule_sets, wanted, val, records)
        got.update({(name, epochs): results[name][0] for name in SWEPT})
    return got


def figure(grid, score, shape, path):
    """Response tuning against its epochs: its win rate against the chosen instruction tuning and its checks
    passed, and how far its outputs collapsed (the most common output's share, the share verbatim from a tuning
    set)."""
    plt = pyplot(path)
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    name = "response-tuned"
    for label, ys in [("win rate vs IT %", [score[name, e] for e in grid]),
                      ("checks passed %", [shape[name, e]["checks_%"] for e in grid]),
                      ("most common output %", [shape[name, e]["most_common_%"] for e in grid]),
                      ("verbatim from a tuning set %", [shape[name, e]["verbatim_%"] for e in grid])]:
        ax.plot(grid, [float("nan") if y is None else y for y in ys], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xticks(grid, [str(e) for e in grid])
    ax.set_xlabel("epochs (validation seed, val.jsonl)")
    ax.set_ylabel("%")
    ax.set_title("Response tuning: over-training collapses it onto its tuning set")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", type=int, nargs="+", default=[1, 2, 3, 5, 7, 10, 15, 20, 30, 40],
                    help="epoch counts: the paper's 5-20 and, as data/TOYWORLD.md's rule for a best value at an "
                    "edge asks, 1-3 below and 30 and 40 above")
    ap.add_argument("--seed", type=int, default=42, help="tuning seed (the paper's validation runs use 42)")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "epochs"), help="where runs and results go")
    ap.add_argument("--base", default=os.path.join(ROOT, "checkpoints", "toy-base"), help="base model checkpoint")
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every count (tests)")
    ap.add_argument("--limit", type=int, help="only the first N validation instructions (tests)")
    args = ap.parse_args(argv)
    if min(args.grid) < 1:
        raise UserError("--grid: epoch counts must be at least 1")
    args.grid = sorted(set(args.grid))
    val = os.path.join(ROOT, "data", "toy", "val.jsonl")
    records = criteria.read_eval(val)[:args.limit]
    got, responses = sweep(args, records, val), reproduce.tuning_responses(os.path.join(ROOT, "data", "toy"))
    score, shape = {}, {}                          # (condition, count) -> the rule's score (%); its collapse
    for (name, epochs), (outs, graded) in got.items():
        shape[name, epochs] = {"checks_%": 100 * sum(p for p, _ in graded) / len(graded),
                               **criteria.collapse(outs, responses)}
    paper = reproduce.PAPER_EPOCHS
    for epochs in args.grid:
        score["instruction-tuned", epochs] = shape["instruction-tuned", epochs]["checks_%"]
    chosen = {"instruction-tuned": choose({e: score["instruction-tuned", e] for e in args.grid},
                                          paper["instruction-tuned"])}
    it = got["instruction-tuned", chosen["instruction-tuned"]][1]
    for name in SWEPT[1:]:
        for epochs in args.grid:
            score[name, epochs] = decisive_winrate(got[name, epochs][1], it)
        chosen[name] = choose({e: score[name, e] for e in args.grid}, paper[name])
    chosen["instruction-modelling"] = chosen["instruction-tuned"]
    rows = [[name, "checks %" if name == "instruction-tuned" else "win % vs IT"]
            + [reproduce.rate(score[name, e]) for e in args.grid] + [str(paper[name]), str(chosen[name])]
            for name in SWEPT]
    collapsed = [[name, measure] + [f"{shape[name, e][key]:.0f}" if key == "distinct" else
                                    f"{shape[name, e][key]:.1f}" for e in args.grid]
                 for name in SWEPT for measure, key in (("checks %", "checks_%"), ("distinct", "distinct"),
                                                        ("top %", "most_common_%"), ("verbatim %", "verbatim_%"))]
    # A count at the grid's edge means the grid is too narrow (data/TOYWORLD.md's rule grows it).
    edge = [name for name in SWEPT if chosen[name] in (min(args.grid), max(args.grid))]
    counts = [f"{e} epochs" for e in args.grid]
    md = (f"Tuning epochs on val.jsonl ({len(records)} instructions), seed {args.seed}: instruction tuning by checks "
          "passed, every other condition by win rate (decided by passes) against the chosen instruction tuning "
          f"({chosen['instruction-tuned']} epochs); Instruction Modelling reuses instruction tuning's count. "
          f"At the grid's edge: {', '.join(edge) or 'none'}.\n\n"
          + table(["condition", "score", *counts, "paper", "chosen"], rows)
          + "\n\nHow far each collapsed: checks passed, distinct outputs, the most common output's share and the "
          "share that is a tuning response verbatim (criteria.collapse)\n\n"
          + table(["condition", "measure", *counts], collapsed))
    write_json(os.path.join(args.out, "epochs.json"),
               {"seed": args.seed, "grid": args.grid, "chosen": chosen, "at_edge": edge,
                "scores": {name: {str(e): score[name, e] for e in args.grid} for name in SWEPT},
                "collapse": {name: {str(e): shape[name, e] for e in args.grid} for name in SWEPT}})
    write_atomic(os.path.join(args.out, "epochs.md"), md + "\n")
    figure(args.grid, score, shape, os.path.join(args.out, "epochs.png"))
    print(md)
    return chosen


if __name__ == "__main__":
    cli(main)
