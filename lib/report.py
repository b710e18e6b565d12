"""Results over seeds and the tables and figures that report them: means, shares, which output files a
comparison pairs, markdown tables."""
import statistics
import sys

from lib.cli import UserError


def mean_std(xs):
    """The mean and the sample standard deviation (0 for one value) of results over seeds."""
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def over_seeds(rates):
    """A win rate over seeds as the tables report it: mean, spread and each seed's."""
    mean, std = mean_std(rates)
    return {"winrate_%": mean, "std": std, "per_seed": rates}


def wilson(p, n):
    """The 95% Wilson interval (%) of a pass rate p (%) over n independent instructions."""
    p, z2 = p / 100, 1.96 ** 2
    mid = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = (z2 * p * (1 - p) / n + z2 * z2 / (4 * n * n)) ** 0.5 / (1 + z2 / n)
    return 100 * (mid - half), 100 * (mid + half)


def pct(xs):
    """The share of true values, in %; None for none."""
    return 100 * statistics.mean(xs) if xs else None


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
    return "-" if x is None else str(x)


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
