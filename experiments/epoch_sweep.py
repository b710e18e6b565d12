"""Each condition's tuning epochs, chosen on the validation set as the paper chose them (§4.1, App. A):

    python experiments/epoch_sweep.py                       # several hours of one core
    python experiments/epoch_sweep.py --grid 40 15 7 3 1 &  python experiments/epoch_sweep.py --grid 30 20 10 5 2
    python experiments/epoch_sweep.py                       # then once more, whole: it reuses every run

(The paper's five counts alone took 33 minutes of wall time on a 2-core CPU the second way, measured.)

For each count in --grid, every tuned condition (instruction tuning, response tuning, each single-task set) is
trained from the base at the paper's validation seed and decodes val.jsonl (experiments/reproduce.py, so every step
resumes and a finished one is skipped). Instruction tuning takes the count with the most checks passed;
response tuning and each single-task set the count with the highest win rate against that instruction tuning;
ties go to the paper's count, else to the fewest epochs (the rule in data/TOYWORLD.md). Instruction Modelling
reuses instruction tuning's count. Writes epochs.md and epochs.json under --out.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data import criteria
from experiments import reproduce
from lib.cli import UserError, cli
from lib.conversations import align
from lib.files import write_atomic, write_json
from lib.report import decisive_winrate, table

SWEPT = [name for name in reproduce.CONDITIONS if name != "instruction-modelling"]


def choose(scores, paper):
    """The count with the highest score (an undefined win rate, no decisive instruction, lowest); ties to the
    paper's count, else to the fewest epochs."""
    scores = {e: -1 if s is None else s for e, s in scores.items()}
    best = max(scores.values())
    tied = [e for e, s in scores.items() if s == best]
    return paper if paper in tied else min(tied)


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
    records = criteria.read_eval(os.path.join(ROOT, "data", "toy", "val.jsonl"))[:args.limit]
    graded = {}                                 # (condition, count) -> [(passed, graded score)] per instruction
    for epochs in args.grid:
        folder = os.path.join(args.out, f"epochs-{epochs}")
        reproduce.run(reproduce.settings(base=args.base, out=folder, split="val", seeds=[args.seed], epochs=epochs,
                                         epochs_scale=args.epochs_scale, attribution_prompts=0,
                                         conditions=SWEPT, limit=args.limit))
        for name in SWEPT:
            path = os.path.join(folder, "outputs", reproduce.slug(f"{name} seed {args.seed}") + ".json")
            outs = align([r["instruction"] for r in records], path)
            graded[name, epochs] = criteria.grades(records, outs)
    score = {}                                          # (condition, count) -> the rule's score, in %
    for epochs in args.grid:
        g = graded["instruction-tuned", epochs]
        score["instruction-tuned", epochs] = 100 * sum(p for p, _ in g) / len(g)
    paper = reproduce.PAPER_EPOCHS
    chosen = {"instruction-tuned": choose({e: score["instruction-tuned", e] for e in args.grid},
                                          paper["instruction-tuned"])}
    it = graded["instruction-tuned", chosen["instruction-tuned"]]
    for name in SWEPT[1:]:
        for epochs in args.grid:
            score[name, epochs] = decisive_winrate(graded[name, epochs], it)
        chosen[name] = choose({e: score[name, e] for e in args.grid}, paper[name])
    chosen["instruction-modelling"] = chosen["instruction-tuned"]
    rows = [[name, "checks %" if name == "instruction-tuned" else "win % vs IT"]
            + [reproduce.rate(score[name, e]) for e in args.grid] + [str(paper[name]), str(chosen[name])]
            for name in SWEPT]
    # A count at the grid's edge means the grid is too narrow (data/TOYWORLD.md's rule grows it).
    edge = [name for name in SWEPT if chosen[name] in (min(args.grid), max(args.grid))]
    md = (f"Tuning epochs on val.jsonl, seed {args.seed}: instruction tuning by checks passed, every other "
          "condition by win rate (decided by passes) against the chosen instruction tuning "
          f"({chosen['instruction-tuned']} epochs); Instruction Modelling reuses instruction tuning's count. "
          f"At the grid's edge: {', '.join(edge) or 'none'}.\n\n"
          + table(["condition", "score", *[f"{e} epochs" for e in args.grid], "paper", "chosen"], rows))
    write_json(os.path.join(args.out, "epochs.json"),
                        {"seed": args.seed, "grid": args.grid, "chosen": chosen,
                         "scores": {name: {str(e): score[name, e] for e in args.grid} for name in SWEPT},
                         "at_edge": edge})
    write_atomic(os.path.join(args.out, "epochs.md"), md + "\n")
    print(md)
    return chosen


if __name__ == "__main__":
    cli(main)
