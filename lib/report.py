"""Results over seeds and the tables and figures that report them: win rates against a reference (how they are
decided), means, shares, intervals, which output files a comparison pairs, markdown tables; and the summaries
evaluate.py reports (BLEU-4 of an output, Wu et al.'s attribution over models)."""
import math
import statistics
import sys
from collections import Counter

import torch

from lib.cli import UserError


def mean_std(xs):
    """The mean and the sample standard deviation (0 for one value) of results over seeds."""
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def over_seeds(rates, name="winrate_%"):
    """A result over seeds as the tables report it: mean and spread of the seeds where it is defined (None where
    none is: a win rate without a decisive pair), and each seed's."""
    known = [r for r in rates if r is not None]
    mean, std = mean_std(known) if known else (None, None)
    return {name: mean, "std": std, "per_seed": rates}


def resample(n, resamples=2000, seed=0):
    """The bootstrap's resamples of n instructions: indices [resamples, n], drawn with replacement."""
    return torch.randint(n, (resamples, n), generator=torch.Generator().manual_seed(seed))


def interval(boot):
    """The 95% interval of a statistic's bootstrap values (float64), skipping those where it is undefined (NaN);
    None if none is left."""
    kept = boot[~boot.isnan()]
    return kept.quantile(torch.tensor([.025, .975], dtype=torch.float64)).tolist() if len(kept) else None


def bootstrap_ci(values):
    """The 95% interval of the mean of per-instruction values (e.g. paired differences) by the bootstrap."""
    return interval(torch.tensor(values, dtype=torch.float64)[resample(len(values))].mean(1))


def wilson(p, n):
    """The 95% Wilson interval (%) of a pass rate p (%) over n independent instructions."""
    p, z2 = p / 100, 1.96 ** 2
    mid = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = (z2 * p * (1 - p) / n + z2 * z2 / (4 * n * n)) ** 0.5 / (1 + z2 / n)
    return 100 * (mid - half), 100 * (mid + half)


def pct(xs):
    """The share of true values, in %; None for none."""
    return 100 * statistics.mean(xs) if xs else None


# ----------------------------------------------------------------------------------------------- win rates
def outcomes(a, b):
    """Per instruction, 1 where a passes and b fails (a win), -1 where b passes and a fails (a loss), 0 where both
    or neither pass (a tie). a, b: passes, or criteria.grades' (passed, score) pairs, whose score never decides:
    partial credit can be won by a dump of names and numbers that passes nothing (README.md)."""
    if len(a) != len(b) or not a:
        raise ValueError("win rate needs two equally long, non-empty lists")
    a, b = ([x[0] if isinstance(x, (tuple, list)) else x for x in v] for v in (a, b))
    return [int(bool(x)) - int(bool(y)) for x, y in zip(a, b)]


def decisive_rates(per_seed, draws=None):
    """The win rate (%) over the decisive pairs, wins / (wins + losses), of outcomes per seed (the mean of the
    seeds that have a decisive pair) on each row of instruction indices `draws` [R, n] (None: all, once): float64
    [R], NaN where no seed has one (itself against itself): undefined, never 50."""
    o = torch.tensor(per_seed, dtype=torch.int8)[:, torch.arange(len(per_seed[0]))[None] if draws is None else draws]
    wins, losses = (o == 1).sum(-1).double(), (o == -1).sum(-1).double()               # [S, R] each
    return (100 * wins / (wins + losses)).nanmean(0)


def decisive_winrate(a, b):
    """Win rate (%) of a over b on the instructions that one passes and the other fails; None if there is none."""
    rate = decisive_rates([outcomes(a, b)])[0].item()
    return None if math.isnan(rate) else rate


def paper_winrate(a, b):
    """Hewitt §3's and AlpacaEval's win rate (%), ties counting half: (wins + ties / 2) / n."""
    return 100 * statistics.mean((1 + o) / 2 for o in outcomes(a, b))


def versus(pairs):
    """Win rates of (results, the reference's results) per seed, each seed's and over seeds: the decisive rate
    with its paired bootstrap 95% interval (instructions resampled, each with its outcome in every seed; the
    rate over seeds recomputed per resample, those with no decisive pair skipped), the share of ties, and the
    paper-style rate for comparison with the paper."""
    per_seed = [outcomes(a, b) for a, b in pairs]
    return {"decisive": {**over_seeds([decisive_winrate(a, b) for a, b in pairs]),
                         "ci95": interval(decisive_rates(per_seed, resample(len(per_seed[0]))))},
            "ties": over_seeds([100 * o.count(0) / len(o) for o in per_seed], "share_%"),
            "paper": over_seeds([paper_winrate(a, b) for a, b in pairs])}


def seed_pairs(files, against):
    """(file, reference): seed i with seed i, or one output set (e.g. the rules, which have no seed) against
    every reference. Several seeds against one reference would pair them arbitrarily: an error."""
    if len(files) != len(against) and len(files) > 1:
        raise UserError(f"{len(files)} files against {len(against)} references: give one file, or one per seed")
    return list(zip(files, against)) if len(files) == len(against) else [(f, a) for f in files for a in against]


def conditions(against, files):
    """{condition: [(output file, reference file) per seed]} of the comma-separated lists --files (one per
    condition) against --against; says on stderr how to ask the paper's judge (AlpacaEval) the same."""
    if not all(f for c in [against, *files] for f in c.split(",")):
        raise UserError("--against and --files need file names, none empty")
    res = {cond: seed_pairs(cond.split(","), against.split(",")) for cond in files}
    print("the same pairs by the paper's judge (AlpacaEval's GPT-4, an API key needed), for comparison:",
          file=sys.stderr)
    for f, ref in (pair for pairs in res.values() for pair in pairs):
        print(f"  alpaca_eval --model_outputs {f} --reference_outputs {ref} --annotators_config "
              "weighted_alpaca_eval_gpt4_turbo", file=sys.stderr)
    return res


def fmt(x):
    if isinstance(x, (list, tuple)):
        return " / ".join(map(fmt, x))
    if isinstance(x, float):
        return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"
    return "n/a" if x is None else str(x)


def table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|---" * len(header) + "|"] +
                      ["| " + " | ".join(map(fmt, r)) + " |" for r in rows])


def results_table(res):
    """Markdown table of {file: {measure: value}}, nested measures as 'measure.key'. With many measures (a pass
    rate per family) they are the rows and the files the columns, so the table fits a terminal."""
    rows = {name: flatten(r) for name, r in res.items()}
    cols = list(dict.fromkeys(c for r in rows.values() for c in r))
    if len(cols) > 8:
        return table([""] + list(rows), [[c] + [r.get(c) for r in rows.values()] for c in cols])
    return table([""] + cols, [[name] + [r.get(c) for c in cols] for name, r in rows.items()])


def flatten(d, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def pyplot(path):
    """matplotlib.pyplot for a figure at `path`, or None with a note when matplotlib is not installed (it is
    optional: requirements-extra.txt)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"no figure {path}: matplotlib is not installed (pip install -r requirements-extra.txt)")
        return None
    return plt


def bleu4(hyp, ref):
    """Sentence BLEU-4 (x100) on whitespace words: clipped n-gram precisions for n = 1..4, add-one smoothing
    for n > 1, brevity penalty. Shi et al. Table 2 use it on greedy outputs for training prompts."""
    h, r, logp = hyp.split(), ref.split(), 0.0
    for n in range(1, 5):
        hg, rg = (Counter(tuple(w[i:i + n]) for i in range(len(w) - n + 1)) for w in (h, r))
        match, total, add = sum((hg & rg).values()), max(len(h) - n + 1, 0), int(n > 1)
        if match + add == 0:
            return 0.0
        logp += math.log((match + add) / (total + add)) / 4
    return 100 * math.exp(min(0.0, 1 - len(r) / len(h)) + logp)


def attribution_summary(per):
    """Wu et al.'s attribution per model (its (score, share) per prompt, None where dropped): the mean score and
    share, and the paired difference from the first model's score with a bootstrap 95% interval."""
    out = []
    for k, rows in enumerate(per):
        kept = [x for x in rows if x is not None]
        d = [x[0] - y[0] for x, y in zip(rows, per[0]) if x and y]
        out.append({"n": len(kept), "score": statistics.mean(x[0] for x in kept) if kept else None,
                    "share_%": 100 * statistics.mean(x[1] for x in kept) if kept else None,
                    "diff_vs_first": torch.tensor(d, dtype=torch.float64).mean().item() if k and d else None,
                    "diff_ci95": bootstrap_ci(d) if k and len(d) > 1 else None})
    return out
