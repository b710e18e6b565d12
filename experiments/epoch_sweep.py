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
A condition whose best is at an edge of the grid is run past it once (a quarter and a half of the lowest count,
one and a half and twice the highest; a fraction of an epoch is one pass over that share of the set) and chosen
again. Instruction Modelling reuses instruction tuning's count. Each (condition, count) also reports how far the outputs
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


def sweep(args, records, val, grid, names):
    """{(condition, count): (its outputs, their criteria.grades)} for the conditions `names` over the counts
    `grid`, each count's runs and outputs under --out/epochs-N (reused while what they are made of is the same).
    A count below 1 is that fraction of an epoch by steps: one epoch scaled by it, which reproduce.py trains as
    one pass over that share of the set."""
    got = {}
    for epochs in grid:
        settings = reproduce.settings(base=args.base, out=os.path.join(args.out, f"epochs-{epochs:g}"), split="val",
                                      seeds=[args.seed], epochs=max(1, epochs),
                                      epochs_scale=args.epochs_scale * min(1, epochs), attribution_prompts=0,
                                      conditions=names, limit=args.limit)
        rule_sets, _ = reproduce.rows_of(settings)
        results, _ = reproduce.train_and_decode(settings, rule_sets, set(names), val, records)   # no IT unasked
        got.update({(name, epochs): results[name][0] for name in names})
    return got


def grown(grid):
    """The counts past each edge of `grid` (the rule in data/TOYWORLD.md): a quarter and a half of the lowest,
    one and a half and twice the highest. {edge count: its new counts}."""
    low, high = min(grid), max(grid)
    return {low: [low / 4, low / 2], high: [round(high * 1.5), high * 2]}


def decide(grids, score):
    """Each condition's count: instruction tuning's by checks passed, then every other's by its win rate
    against that instruction tuning (scores from score(name, count, it_count))."""
    it = "instruction-tuned"
    chosen = {it: choose({e: score(it, e, None) for e in grids[it]}, reproduce.PAPER_EPOCHS[it])}
    for name in SWEPT[1:]:
        chosen[name] = choose({e: score(name, e, chosen[it]) for e in grids[name]}, reproduce.PAPER_EPOCHS[name])
    chosen["instruction-modelling"] = chosen[it]
    return chosen


def figure(grid, score, shape, path):
    """Response tuning against its epochs: its win rate against the chosen instruction tuning and its checks
    passed, and how far its outputs collapsed (the most common output's share, the share verbatim from a tuning
    set); `score` and `shape` by count."""
    plt = pyplot(path)
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, ys in [("win rate vs IT %", [score[e] for e in grid]),
                      ("checks passed %", [shape[e]["checks_%"] for e in grid]),
                      ("most common output %", [shape[e]["most_common_%"] for e in grid]),
                      ("verbatim from a tuning set %", [shape[e]["verbatim_%"] for e in grid])]:
        ax.plot(grid, [float("nan") if y is None else y for y in ys], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xticks(grid, [f"{e:g}" for e in grid])
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
    got, responses = sweep(args, records, val, args.grid, SWEPT), reproduce.tuning_responses(
        os.path.join(ROOT, "data", "toy"))

    def score(name, epochs, it):
        """The rule's score (%): instruction tuning's checks passed, any other's win rate against IT at `it`."""
        graded = got[name, epochs][1]
        if it is None:
            return 100 * sum(p for p, _ in graded) / len(graded)
        return decisive_winrate(graded, got["instruction-tuned", it][1])

    # A best count at an edge of the grid means the grid is too narrow: it grows past that edge once.
    grids = {name: list(args.grid) for name in SWEPT}
    first = decide(grids, score)
    growth = {name: grown(args.grid).get(first[name], []) for name in SWEPT}
    for epochs in sorted({e for counts in growth.values() for e in counts}):
        names = [name for name in SWEPT if epochs in growth[name]]
        got.update(sweep(args, records, val, [epochs], names))
        for name in names:
            grids[name] = sorted(grids[name] + [epochs])
    chosen = decide(grids, score)
    columns = sorted({e for counts in grids.values() for e in counts})
    shape = {(name, e): {"checks_%": score(name, e, None), **criteria.collapse(got[name, e][0], responses)}
             for name in SWEPT for e in grids[name]}
    scores = {(name, e): score(name, e, None if name == "instruction-tuned" else chosen["instruction-tuned"])
              for name in SWEPT for e in grids[name]}
    paper = reproduce.PAPER_EPOCHS
    rows = [[name, "checks %" if name == "instruction-tuned" else "win % vs IT"]
            + [reproduce.rate(scores[name, e]) if e in grids[name] else "" for e in columns]
            + [str(paper[name]), f"{chosen[name]:g}"] for name in SWEPT]
    collapsed = [[name, measure] + ["" if e not in grids[name] else f"{shape[name, e][key]:.0f}" if
                                    key == "distinct" else f"{shape[name, e][key]:.1f}" for e in columns]
                 for name in SWEPT for measure, key in (("checks %", "checks_%"), ("distinct", "distinct"),
                                                        ("top %", "most_common_%"), ("verbatim %", "verbatim_%"))]
    # Still at an edge once grown: taken there, and said so.
    edge = [name for name in SWEPT if chosen[name] in (min(grids[name]), max(grids[name]))]
    counts = [f"{e:g} epochs" for e in columns]
    md = (f"Tuning epochs on val.jsonl ({len(records)} instructions), seed {args.seed}: instruction tuning by checks "
          "passed, every other condition by win rate (decided by passes) against the chosen instruction tuning "
          f"({chosen['instruction-tuned']:g} epochs); Instruction Modelling reuses instruction tuning's count. "
          "A condition whose best was at an edge of the grid was run past it (a fraction of an epoch: one pass over "
          f"that share of its set); still at an edge: {', '.join(edge) or 'none'}.\n\n"
          + table(["condition", "score", *counts, "paper", "chosen"], rows)
          + "\n\nHow far each collapsed: checks passed, distinct outputs, the most common output's share and the "
          "share that is a tuning response verbatim (criteria.collapse)\n\n"
          + table(["condition", "measure", *counts], collapsed))
    write_json(os.path.join(args.out, "epochs.json"),
               {"seed": args.seed, "grid": args.grid, "grown": {name: growth[name] for name in SWEPT if growth[name]},
                "chosen": chosen, "at_edge": edge,
                "scores": {name: {f"{e:g}": scores[name, e] for e in grids[name]} for name in SWEPT},
                "collapse": {name: {f"{e:g}": shape[name, e] for e in grids[name]} for name in SWEPT}})
    write_atomic(os.path.join(args.out, "epochs.md"), md + "\n")
    rt = "response-tuned"
    figure(grids[rt], {e: scores[rt, e] for e in grids[rt]}, {e: shape[rt, e] for e in grids[rt]},
           os.path.join(args.out, "epochs.png"))
    print(md)
    return chosen


if __name__ == "__main__":
    cli(main)
