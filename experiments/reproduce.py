"""The paper's tables in the toy world, from the base model to one markdown table and one JSON file:

    python experiments/reproduce.py                  # 3 seeds; over an hour on a 2-core CPU (RESULTS.md)
    python experiments/reproduce.py --seeds 1        # one seed, with the base and rule rows

For each seed it tunes the base model (checkpoints/toy-base) on the LIMA analog with instruction tuning (the
reference of every win rate), response tuning and Instruction Modelling, and on each single-task set; decodes
the held-out evaluation set greedily with every model, and with the base model alone and with the rules (all,
and each ablation of Table 4); then scores each output against its record's criterion, and reports win rates
against the instruction-tuned model of the same seed, decided by passes alone (a pass beats a fail, two passes or
two fails tie; wins / (wins + losses) with its paired bootstrap interval, beside the ties' share and the
paper-style rate that counts ties half), mean and spread over seeds. Also: the response ranking capability of
the base and the LIMA-tuned models (Table 2), single-task style on near vs far instructions (§5.2), instruction
attribution (Wu et al.) and IM's train vs held-out loss.

Every step writes its result under --out. A rerun skips what finished (a model's ranking and attribution measures
too, while the checkpoint, the data and the code are the same), resumes a training run or a decoding that was
interrupted part-way, and gives the same tables as an uninterrupted run."""
import argparse
import functools
import json
import math
import os
import random
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import evaluate
from data import criteria
import generate
import train
from model import Tokenizer, Transformer
from rules import parse_rules
from lib.cli import UserError, cli, parse
from lib.conversations import align, load_conversations
from lib.files import read_records, write_atomic, write_json
from lib.generation import outputs_made_of
from lib.provenance import CODE, code_sha256, differences, fingerprint, kept, sha256, stale
from lib.report import (bootstrap_ci, decisive_rates, interval as bootstrap_interval, mean_std, outcomes, over_seeds,
                        pyplot, resample, table, versus, wilson)
from lib.run import run_made_of

# condition: (train.py mode, data set, epochs). The epochs were chosen on the validation set as the paper chose
# its own (§4.1: a sweep, the final checkpoint), over 1-40 and past an edge where the best was there (a quarter
# and a half of an epoch, 60 and 80; experiments/epoch_sweep.py, data/results/epochs.md). Below 1: a fraction of
# an epoch (fraction_of).
CONDITIONS = {"instruction-tuned": ("instruction", "lima", 5), "response-tuned": ("response", "lima", 2),
              "instruction-modelling": ("instruction-modelling", "lima", 5),
              "poetry": ("single-task", "poetry", 60), "math (GSM)": ("single-task", "math", 20),
              "code (MBPP)": ("single-task", "code", 1), "recipes": ("single-task", "recipes", 0.5),
              "chess": ("single-task", "chess", 15)}
# What the paper chose for Llama-2-7B (Tables 1 and 3's models); the sweep's ties go to these.
PAPER_EPOCHS = {"instruction-tuned": 15, "response-tuned": 5, "instruction-modelling": 15, "poetry": 15,
                "math (GSM)": 7, "code (MBPP)": 15, "recipes": 20, "chess": 15}
# Rule rows: the paper's constants (Table 4), and the EOS ramp scaled to the toy world's response lengths by the
# rule in data/TOYWORLD.md (8 tokens, kept at +15 after it). "- EOS rule" has no ramp, so it has one row.
SCALED = {"eos_ramp": 8, "saturate": True}
RULE_SETS = {"all rules": ("eos,uniform,diversity", {}), "- EOS rule": ("uniform,diversity", {}),
             "- diversity rule": ("eos,uniform", {}), "- uniform changes": ("eos,diversity", {}),
             "all rules, ramp 8": ("eos,uniform,diversity", SCALED),
             "- diversity rule, ramp 8": ("eos,uniform", SCALED),
             "- uniform changes, ramp 8": ("eos,diversity", SCALED),
             "own changes": ("eos,own,diversity", {})}     # beyond the paper: rule 2 chosen for the toy base
PAPER = {"base": "2.4 ± 0.1", "response-tuned": "43.3 ± 1.1", "instruction-modelling": "-",
         "poetry": "22.9 ± 1.0", "math (GSM)": "23.7 ± 0.7", "code (MBPP)": "16.9 ± 0.7",
         "recipes": "14.6 ± 0.8", "chess": "2.1 ± 0.4", "all rules": "24.4 ± 0.4", "- EOS rule": "10.4 ± 0.3",
         "- diversity rule": "14.3 ± 0.6", "- uniform changes": "16.3 ± 0.3"}   # Llama-2-7B, Tables 1, 3, 4
UNSEEN_FAMILIES = ("revcap", "river", "legs", "opposite", "compare", "sort")
# The differences the README calls findings: response tuning and the rules against the base (Tables 1, 4),
# each ablation against all rules (Table 4), each single task against the base (Table 3).
FINDINGS = [("response-tuned", "base"), ("all rules", "base"), ("all rules, ramp 8", "base"),
            ("own changes", "base"), ("own changes", "all rules"),
            ("- EOS rule", "all rules"), ("- diversity rule", "all rules"), ("- uniform changes", "all rules"),
            ("poetry", "base"), ("math (GSM)", "base"), ("code (MBPP)", "base"), ("recipes", "base"),
            ("chess", "base"), ("instruction-modelling", "instruction-tuned")]
STYLE = {"poetry": "poetry", "math (GSM)": "math", "code (MBPP)": "code", "recipes": "recipes", "chess": "chess"}


def train_once(out, **values):
    """train.py's run with these settings into `out`: a run interrupted part-way is resumed, a finished one
    left as it is, one made of other settings, inputs or code trained again (a line says what differs)."""
    args = train.settings(out=out, **values)
    path = os.path.join(out, "state.pt")
    state = torch.load(path, weights_only=True) if os.path.isfile(path) else None
    saved, wanted = state and state["args"].get("made_of"), run_made_of(args)
    if state and saved != wanted:
        print(f"{out}: made with another {differences(saved, wanted)}; training it again", file=sys.stderr)
        state = None
    if state and not state["optimizer"]:                  # finished: save() keeps no optimizer state
        return
    args.resume, args.overwrite = bool(state), not state
    train.train(args)


def fraction_of(path, fraction, seed, folder):
    """A fraction of an epoch by steps, as one pass over that share of the set at `path`: its first
    ceil(fraction * n) records in the order `seed` shuffles them (so the learning rate warms up and decays over
    those steps, as in a run of that length), written once into `folder`. Returns the file's path."""
    records = [r for _, r in read_records(path)]
    random.Random(seed).shuffle(records)
    name, _ = os.path.splitext(os.path.basename(path))
    out = os.path.join(folder, f"{name}-{fraction:g}-seed{seed}.jsonl")
    if not os.path.exists(out):
        os.makedirs(folder, exist_ok=True)
        write_atomic(out, "".join(json.dumps(r) + "\n" for r in records[:math.ceil(fraction * len(records))]))
    return out


def interval(rank, key):
    """A ranking rate with its bootstrap 95% interval over pairs, e.g. '73.6 [71.2, 75.9]'."""
    low, high = rank[f"{key}_ci95_%"]
    return f"{rank[f'{key}_%']:.1f} [{low:.1f}, {high:.1f}]"


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def run_dir(out, name, seed):
    """Where the tuning run of condition `name` at `seed` lives."""
    return os.path.join(out, "runs", f"{slug(name)}-seed{seed}")


def settings(argv=None, **values):
    """The tables' settings: from the command line, or `values` by flag name (as the sweeps call it)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=os.path.join(ROOT, "checkpoints", "toy-base"), help="base model checkpoint")
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "toy"), help="folder of the toy world's sets")
    ap.add_argument("--split", choices=("val", "eval"), default="eval", help="score the validation set (every "
                    "choice about the world is made there) or the evaluation set (the final tables)")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "tables"), help="where runs, outputs, model "
                    "measures and results go (results.md, results.json)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds")
    ap.add_argument("--lr", type=float, help="tuning learning rate, the same for every condition (default: "
                    "train.py's)")
    ap.add_argument("--epochs", type=int, help="every tuned condition's epochs (experiments/epoch_sweep.py; default: "
                    "each condition's own, in CONDITIONS)")
    ap.add_argument("--paper-epochs", action="store_true", help="also each tuned condition whose chosen epochs "
                    "differ from the paper's at the paper's count (a row \"<name>, paper's N epochs\")")
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every condition's epochs (tests)")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="generation cap for every model")
    ap.add_argument("--limit", type=int, help="only the first N evaluation instructions (tests)")
    ap.add_argument("--attribution-prompts", type=int, default=24, help="prompts for Wu et al.'s attribution "
                    "(0: skip it)")
    ap.add_argument("--conditions", nargs="+", help="only these rows (names as in the table, e.g. base "
                    "response-tuned poetry 'all rules'); the instruction-tuned model, the reference, always runs")
    ap.add_argument("--rule-set", action="append", default=[], metavar="NAME=RULES",
                    help="an extra rules row, e.g. 'no uniform=eos,diversity' (repeatable)")
    args = parse(ap, argv, values, "reproduce")
    args.argv = list(sys.argv[1:] if argv is None else argv) if not values else values
    return args


def paper_row(name):
    """The row of a tuned condition at the paper's epochs (--paper-epochs), where the chosen count differs."""
    return f"{name}, paper's {PAPER_EPOCHS[name]} epochs"


def conditions_of(args):
    """The tuned rows: CONDITIONS at their chosen epochs, and with --paper-epochs each whose count is not the
    paper's at the paper's count too."""
    rows = dict(CONDITIONS)
    if args.paper_epochs:
        rows.update({paper_row(name): (mode, data, PAPER_EPOCHS[name])
                     for name, (mode, data, epochs) in CONDITIONS.items() if PAPER_EPOCHS[name] != epochs})
    return rows


def rows_of(args):
    """The rule rows (the paper's and --rule-set's: name -> (rules, decoding settings)) and the rows to run."""
    rule_sets = dict(RULE_SETS)
    for spec in args.rule_set:
        name, sep, rules = spec.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--rule-set {spec!r}: expected NAME=RULES, e.g. 'mine=eos,diversity'")
        rule_sets[name.strip()] = (rules, {})
    tuned = conditions_of(args)
    known = ["base", *rule_sets, *tuned]
    clash = [(a, b) for i, a in enumerate(known) for b in known[i + 1:] if slug(a) == slug(b)]
    if clash:
        raise UserError(f"rows {clash[0][0]!r} and {clash[0][1]!r} would share the file outputs/"
                        f"{slug(clash[0][0])}.json: name them apart")
    bad = [c for c in args.conditions or [] if c not in known]
    if bad:
        raise UserError(f"unknown condition {bad[0]!r}; known: {', '.join(known)}")
    wanted = args.conditions or known
    return rule_sets, {"instruction-tuned", *wanted, *(r for r in tuned if r.split(",")[0] in wanted)}


def decode(args, eval_path, records, checkpoint, name, rules="none", extra=None):
    """Outputs and grades of one model on the records; resumed, it decodes only what an interrupted run left
    undone, and decodes again what other settings, a changed checkpoint or changed code made."""
    out = os.path.join(args.out, "outputs", slug(name) + ".json")
    settings = generate.settings(checkpoint=checkpoint, input=eval_path, output=out, rules=rules,
                                 max_new_tokens=args.max_new_tokens, batch_size=32, resume=True, generator=name,
                                 limit=args.limit, **(extra or {}))
    why = stale(out, outputs_made_of(settings, parse_rules(rules)))
    if why:
        print(f"{out}: made with another {why}; decoding it again", file=sys.stderr)
        settings.overwrite = True
    generate.run(settings)
    outs = align([r["instruction"] for r in records], out)
    return outs, criteria.grades(records, outs)


def train_and_decode(args, rule_sets, wanted, eval_path, records):
    """Every wanted row's outputs and grades ({name: [(outputs, grades) per seed]}; the base and the rules: one)
    and their files ({name: [path relative to --out]})."""
    results, files = {}, {}
    for name, (rules, extra) in [("base", ("none", {}))] + list(rule_sets.items()):
        if name in wanted:
            results[name] = [decode(args, eval_path, records, args.base, name, rules, extra)]
            files[name] = [f"outputs/{slug(name)}.json"]
    for seed in args.seeds:
        for name, (mode, data, epochs) in conditions_of(args).items():
            if name not in wanted:
                continue
            run = run_dir(args.out, name, seed)
            lr = {"lr": args.lr} if args.lr else {}
            count = (args.epochs or epochs) if name in CONDITIONS else epochs       # a paper row keeps its own
            path, count = os.path.join(args.data, data + ".jsonl"), count * args.epochs_scale
            if count < 1:                       # a fraction of an epoch: one pass over that share of the set
                path = fraction_of(path, count, seed, os.path.join(args.out, "data"))
            train_once(run, mode=mode, data=path, model=args.base, seed=seed, save_every=50,
                       epochs=max(1, round(count)), **lr)
            results.setdefault(name, []).append(decode(args, eval_path, records, run, f"{name} seed {seed}"))
            files.setdefault(name, []).append(f"outputs/{slug(f'{name} seed {seed}')}.json")
    return results, files


# ------------------------------------------------------------------------------ one function a table
WIN_RATE = ("Win rate against the instruction-tuned model of the same seed, decided by passes alone: on an "
            "instruction a pass beats a fail, two passes or two fails are a tie; the rate is wins / (wins + "
            "losses) over the decisive instructions (n/a where there is none), the mean over seeds, with the "
            "paired bootstrap 95% interval (instructions resampled with their outcome in every seed, the rate "
            "recomputed on each resample, those without a decisive instruction skipped). Partial credit "
            "(data/criteria.py grade) decides nothing: a fixed dump of names and numbers, which passes nothing, "
            "could win on it (README.md). 'Ties %': the instructions both or neither pass. 'Paper-style': ties "
            "count half, (wins + ties / 2) / n, as Hewitt et al. (§3) and AlpacaEval count them, beside the "
            "paper's column.")


def against_it(graded, it):
    """A row's win rates against IT as results.json keeps them (lib/report.versus: decided by passes), from its
    criteria.grades per seed (one set: against every IT seed), and its outcomes per pair (for differences)."""
    pairs = list(zip(graded * len(it), it)) if len(graded) == 1 else list(zip(graded, it))
    v = versus(pairs)
    return ({"win_rate_vs_it": v["decisive"]["per_seed"], "win_rate_ci95": v["decisive"]["ci95"],
             "ties_%": v["ties"]["per_seed"], "paper_win_rate_vs_it": v["paper"]["per_seed"]},
            [outcomes(a, b) for a, b in pairs])


def rate(x, ci=None, sign=""):
    """A rate (sign '+': a difference) for the tables, with its interval: 'n/a' where it is undefined (a win rate
    without a decisive instruction)."""
    if x is None:
        return "n/a"
    return f"{x:{sign}.1f}" + ("" if ci is None else f" [{ci[0]:{sign}.1f}, {ci[1]:{sign}.1f}]")


def tuning_responses(data):
    """Every response of the tuning sets in the folder `data`: what a collapsed model repeats verbatim."""
    tuning = {os.path.join(data, name + ".jsonl") for _, name, _ in CONDITIONS.values()}
    return [m["content"] for path in sorted(tuning) if os.path.exists(path)
            for _, r in read_records(path) for m in r["messages"] if m["role"] == "assistant"]


def win_rates(args, results, records):
    """The main table: checks passed, on unseen families, win rate against IT with its interval, ties, the
    paper-style rate, distinct outputs. Returns ({name: its measures}, markdown, {name: (outcomes per pair,
    share of seeds passing) per instruction})."""
    it, responses = [graded for _, graded in results["instruction-tuned"]], tuning_responses(args.data)
    paper_of = {paper_row(name): name for name in CONDITIONS}       # a row at the paper's epochs: its number
    # Instructions far from every tuning task: the families that no tuning set has (data/TOYWORLD.md)
    unseen = [r["family"] in UNSEEN_FAMILIES for r in records]
    rows, per_ins, res = [], {}, {}
    for name, per_seed in results.items():
        graded = [g for _, g in per_seed]
        wins, outcome = against_it(graded, it)
        rates = [100 * sum(p for p, _ in g) / len(g) for g in graded]
        far = [100 * sum(p for (p, _), u in zip(g, unseen) if u) / max(1, sum(unseen)) for g in graded]
        (r, rs), (f, fs), (t, _), (pw, _) = (mean_std(x) for x in (rates, far, wins["ties_%"],
                                                                   wins["paper_win_rate_vs_it"]))
        per_ins[name] = (outcome, [sum(p for p, _ in x) / len(graded) for x in zip(*graded)])
        shape = [criteria.collapse(outs, responses) for outs, _ in per_seed]
        distinct, top, verbatim = ([c[k] for c in shape] for k in ("distinct", "most_common_%", "verbatim_%"))
        res[name] = {**wins, "pass_rate": rates, "pass_rate_unseen_families": far, "distinct": distinct,
                     "most_common_%": top, "verbatim_%": verbatim}
        w = over_seeds(wins["win_rate_vs_it"])["winrate_%"]
        is_it = name == "instruction-tuned"
        rows.append([name, f"{r:.1f} ± {rs:.1f}", f"{f:.1f} ± {fs:.1f}",
                     *(["-"] * 3 if is_it else [rate(w, wins["win_rate_ci95"]), f"{t:.0f}", rate(pw)]),
                     f"{statistics.mean(distinct):.0f}", f"{statistics.mean(top):.1f}",
                     f"{statistics.mean(verbatim):.1f}", PAPER.get(paper_of.get(name, name), "-")])
    md = (f"Toy world, {len(records)} held-out instructions ({args.split}.jsonl), seeds {args.seeds}, greedy, at "
          f"most {args.max_new_tokens} new tokens. {WIN_RATE} Checks: mean ± std over seeds. 'Unseen families': "
          "the instructions of families no tuning set has. 'Distinct': different outputs in the row; 'top %': the "
          "share of its most common output; 'verbatim %': outputs that are a response of a tuning set word for "
          "word (each the mean over seeds): a model that memorised its tuning set shows it here.\n\n"
          + table(["model", "checks passed %", "unseen families %", "win rate vs IT % [95% CI]", "ties %",
                   "paper-style win rate %", "distinct", "top %", "verbatim %", "paper (Llama-2-7B, AlpacaEval LC)"],
                  rows))
    return res, md, per_ins


def difference(per_ins, a, b):
    """Row a minus row b (results.json's differences), paired over instructions, with bootstrap 95% intervals:
    the win rates against IT (both recomputed on each resample of the instructions, as in the main table) and
    the checks passed (each instruction's share of seeds)."""
    (oa, pa), (ob, pb) = per_ins[a], per_ins[b]
    draws, d = resample(len(pa)), [x - y for x, y in zip(pa, pb)]
    win = (decisive_rates(oa) - decisive_rates(ob))[0].item()
    return {"win_rate": None if math.isnan(win) else win,
            "win_rate_ci95": bootstrap_interval(decisive_rates(oa, draws) - decisive_rates(ob, draws)),
            "checks": 100 * statistics.mean(d), "checks_ci95": [100 * x for x in bootstrap_ci(d)]}


def differences_table(per_ins):
    """The differences the README calls findings (FINDINGS), paired over instructions, with intervals."""
    res, rows = {}, []
    for a, b in FINDINGS:
        if a in per_ins and b in per_ins:
            d = res[f"{a} - {b}"] = difference(per_ins, a, b)
            rows.append([f"{a} − {b}", rate(d["win_rate"], d["win_rate_ci95"], "+"),
                         rate(d["checks"], d["checks_ci95"], "+")])
    md = "" if not rows else ("\nDifferences between rows (points), paired over instructions, with the bootstrap "
                              "95% interval: the win rate vs IT as above (decided by passes, over the decisive "
                              "instructions; each resample recomputes both rows' rates), and the checks passed "
                              "(each instruction's share of the seeds)\n\n"
                              + table(["comparison", "win rate vs IT", "checks passed"], rows))
    return res, md


def style_table(args, results, records):
    """§5.2: each single-task model's share of outputs in its task's style, near the task vs far from it."""
    res, rows = {}, []
    for name, style in [(n, s) for n, s in STYLE.items() if n in results]:
        pairs = list(zip([r["instruction"] for r in records], results[name][0][0]))
        s = criteria.output_stats(pairs, near=[r.get("near") for r in records])["style_near_vs_far_%"][style]
        res[name] = s
        rows.append([name, style] + ["-" if v is None else f"{v:.0f}" for v in s])
    md = "" if not rows else (f"\nSingle-task style (§5.2), seed {args.seeds[0]}: share of outputs in the task's "
                              "style on instructions near the task vs all others\n\n"
                              + table(["model", "style", "near %", "far %"], rows))
    return res, md


class Models:
    """The first seed's base and LIMA-tuned models, loaded once, and their measures kept under --out/measures
    with what they were made of (checkpoint and data by content, code): a rerun that changed none of these
    scores no model again."""

    def __init__(self, args, results, eval_path, code):
        self.args, self.seed, self.loaded = args, args.seeds[0], {}
        self.paths = {name: args.base if name == "base" else run_dir(args.out, name, self.seed)
                      for name in ("base", "instruction-tuned", "response-tuned", "instruction-modelling")
                      if name in results}
        lima_path = os.path.join(args.data, "lima.jsonl")
        # The held-out fact records in three voices, where the world has them (data/world/voices.py)
        voices = os.path.join(args.data, f"voices-{args.split}.jsonl")
        self.facts = criteria.read_voices(voices) if os.path.isfile(voices) else []
        self.made_of = {"eval": sha256(eval_path), "limit": args.limit, "lima": sha256(lima_path), "code": code,
                        "voices": self.facts and sha256(voices)}
        self.lima = [msgs for _, msgs in load_conversations(lima_path)]

    def model(self, name):
        if name not in self.loaded:
            self.loaded[name] = (Transformer.from_pretrained(self.paths[name]), Tokenizer(self.paths[name]))
        return self.loaded[name]

    def kept(self, file, made_of, compute):
        return kept(os.path.join(self.args.out, "measures", file), {**self.made_of, **made_of}, compute)


def ranking_table(models, records):
    """Table 2: response ranking (all pairs' and same-family distractors, the swap control), the reference's
    first-token rank, and the response-only loss on train vs held-out (Shi et al.)."""
    pairs = [(r["instruction"], r["reference"]) for r in records]
    held = [[{"role": "user", "content": i}, {"role": "assistant", "content": o}] for i, o in pairs]

    def measures(name):
        m = models.model(name)
        return {**premise_in_voices(m, models.facts), "ranking": evaluate.ranking(*m, pairs),
                "ranking_same_family": evaluate.ranking(*m, pairs, groups=[r["family"] for r in records]),
                "first_token_rank": statistics.median(evaluate.first_token_ranks(*m, pairs)),
                "response_nll": {"train": evaluate.response_nll(*m, models.lima),
                                 "held-out": evaluate.response_nll(*m, held)}}
    res, rows = {}, []
    for name, path in models.paths.items():
        file = slug(name if name == "base" else f"{name} seed {models.seed}") + ".json"
        got = res[name] = models.kept(file, {"checkpoint": fingerprint(path)}, functools.partial(measures, name))
        rank, same, first, nll = (got[k] for k in ("ranking", "ranking_same_family", "first_token_rank",
                                                    "response_nll"))
        rows.append([name, interval(rank, "code_mean_token"), f"{rank['eq3_raw_logprob_%']:.1f}",
                     interval(same, "code_mean_token"), interval(same, "swap_control"), f"{first:g}",
                     f"{nll['train']:.3f}", f"{nll['held-out']:.3f}"])
    md = ("\nResponse ranking capability (Table 2; paper, Llama-2-7B: base 80.4%, IT 77.4%; chance 50%) on the "
          "held-out (instruction, reference) pairs, 5 distractors each: drawn from all pairs as the paper does, "
          "and (beyond the paper) from the pair's own family, with the swapped-instruction control p(y_i | x_i) "
          "> p(y_i | x_j), with bootstrap 95% intervals over pairs; the median rank of the reference's first token "
          "after the chat prompt; and the "
          "response-only loss on the LIMA analog (train) vs the held-out references (Shi et al.)\n\n"
          + table(["model", "ranking % (code: mean token)", "ranking % (Eq. 3: raw)", "same family %",
                   "swap control %", "first token rank", "NLL train", "NLL held-out"], rows))
    rows = [[name, *(interval(got["voices"][v], "code_mean_token") for v in criteria.VOICES),
             *(f"{k['true_first_%']:.1f} [{k['ci95_%'][0]:.1f}, {k['ci95_%'][1]:.1f}]"
               for k in (got["knowledge"]["plain"], got["knowledge"]["chat"]))]
            for name, got in res.items() if "voices" in got]
    if rows:
        md += (f"\n\nThe premise in three voices, on the {len(models.facts)} fact records: same-family "
               "ranking (code: mean token, 95% intervals over pairs) with the reference in the tuning sets' chat "
               "voice, in the corpus's own voice, and in a neutral voice neither uses; and the knowledge probe: "
               "how often the true statement of the record's first fact, in the corpus's wording, is likelier "
               "than all its wrong ones (five; legs three: chance 16.7% or 25%), as plain text and as the answer "
               "after the chat prompt\n\n"
               + table(["model", "chat voice %", "corpus voice %", "neutral voice %", "knows: plain text %",
                        "knows: after the prompt %"], rows))
    return res, md


def premise_in_voices(model, facts):
    """The premise (§4.2) where the voice of the reference is varied: the same-family ranking of the fact
    records' references in each voice, and the knowledge probe, as plain text and after the chat prompt."""
    if not facts:
        return {}
    groups, probes = [r["family"] for r in facts], [r["knowledge"] for r in facts]
    voices = {v: evaluate.ranking(*model, [(r["instruction"], r["voices"][v]) for r in facts], groups=groups)
              for v in criteria.VOICES}
    return {"voices": voices, "knowledge": {"plain": evaluate.knowledge(*model, probes),
                                            "chat": evaluate.knowledge(*model, probes,
                                                                       [r["instruction"] for r in facts])}}


def attribution_table(models, records):
    """Wu et al.'s instruction attribution of the base and the LIMA-tuned models (not IM: a backward pass per
    token) on their own greedy responses to the first --attribution-prompts instructions."""
    n = models.args.attribution_prompts
    names = [name for name in models.paths if name != "instruction-modelling"]
    instructions = [r["instruction"] for r in records][:n]

    def compute():
        return evaluate.attribution([models.model(name) for name in names], instructions, max_new_tokens=32)
    made_of = {"checkpoints": [fingerprint(models.paths[name]) for name in names], "n": n}
    attr = models.kept(f"attribution-seed-{models.seed}.json", made_of, compute) if n else []
    res, rows = {}, []
    for name, a in zip(names, attr):
        res[name] = a
        ci = a["diff_ci95"]
        rows.append([name, a["n"], "-" if a["score"] is None else f"{a['score']:.3f}",
                     "-" if a["share_%"] is None else f"{a['share_%']:.1f}",
                     "-" if ci is None else f"{a['diff_vs_first']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"])
    md = "" if not rows else (f"\nInstruction attribution (Wu et al. 2024) on each model's own greedy response, "
                              f"first {n} prompts\n\n"
                              + table(["model", "responses", "instruction score", "instruction share %",
                                       "vs first row (95% CI)"], rows))
    return res, md


def run(args):
    """Train, decode and score every condition of `args` (settings()); write results.md, results.json and the
    figure under args.out (each model's measures under measures/); return the report."""
    rule_sets, wanted = rows_of(args)
    t0, code = time.time(), code_sha256(CODE["tables"])     # the code that runs, even if edited while it runs
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {args.out}: cannot make it ({e.strerror})")
    eval_path = os.path.join(args.data, f"{args.split}.jsonl")
    records = criteria.read_eval(eval_path)[:args.limit]
    results, files = train_and_decode(args, rule_sets, wanted, eval_path, records)
    conditions, md, per_ins = win_rates(args, results, records)
    report = {"seeds": args.seeds, "eval": os.path.relpath(eval_path, ROOT), "n": len(records),
              "conditions": conditions}
    # Provenance: what ran (the command line, the code's hashes) and what was scored (each output file's hash)
    report["provenance"] = {
        "argv": args.argv, "seeds": args.seeds,
        "rule_sets": {n: {"rules": r, "extra": e} for n, (r, e) in rule_sets.items() if n in results},
        "outputs": files, "code_sha256": code,
        "outputs_sha256": {f: sha256(os.path.join(args.out, f)) for fs in files.values() for f in fs}}
    differences, text = differences_table(per_ins)
    report.update({"differences": differences} if differences else {})
    models, parts = Models(args, results, eval_path, code), [md, text]
    # Each measure of a row goes into its conditions entry: under a key, or (ranking) its keys
    for key, (res, text) in [("style_near_far_%", style_table(args, results, records)),
                             (None, ranking_table(models, records)),
                             ("attribution", attribution_table(models, records))]:
        for name, value in res.items():
            conditions[name].update({key: value} if key else value)
        parts.append(text)
    md = "\n".join(p for p in parts if p)
    write_json(os.path.join(args.out, "results.json"), report)      # atomic: never half-written
    write_atomic(os.path.join(args.out, "results.md"), md + "\n")
    print(md + f"\nRun time: {(time.time() - t0) / 60:.1f} minutes.")
    figure(report["conditions"], os.path.join(args.out, "results.png"), len(records))
    return report


def figure(conditions, path, n):
    """Win rate against IT (with its 95% interval) and checks passed per row (with the Wilson 95% interval over
    its n instructions: the seeds share them), as bars; IT's own pass rate as a line (only with matplotlib)."""
    plt = pyplot(path)
    if plt is None:
        return
    names = [c for c in conditions if c != "instruction-tuned"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    # A rate without a decisive instruction (None) is no bar
    wins = [over_seeds(conditions[c]["win_rate_vs_it"])["winrate_%"] for c in names]
    wins = [math.nan if w is None else w for w in wins]
    ci = [conditions[c]["win_rate_ci95"] or [w, w] for w, c in zip(wins, names)]
    # (a mean over seeds may lie just outside the pooled interval, a rounding error outside Wilson's: no bar
    # below zero length)
    low, high = [max(0, w - lo) for w, (lo, _) in zip(wins, ci)], [max(0, hi - w) for w, (_, hi) in zip(wins, ci)]
    checks = [sum(conditions[c]["pass_rate"]) / len(conditions[c]["pass_rate"]) for c in names]
    spans = [wilson(p, n) for p in checks]
    ax.bar([i for i in range(len(names))], wins, width=0.4, yerr=[low, high], capsize=2,
           label="win rate vs IT % (passes decide; ties left out; bootstrap 95% interval)")
    ax.bar([i + 0.4 for i in range(len(names))], checks, width=0.4, capsize=2, label="checks passed % (Wilson)",
           yerr=[[max(0, p - lo) for p, (lo, _) in zip(checks, spans)],
                 [max(0, hi - p) for p, (_, hi) in zip(checks, spans)]])
    it = conditions["instruction-tuned"]["pass_rate"]
    ax.axhline(sum(it) / len(it), color="black", linestyle="--", linewidth=0.8, label="IT's checks passed %")
    ax.axhline(50, color="grey", linewidth=0.5)
    ax.set_xticks([i + 0.2 for i in range(len(names))], names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("win rate vs IT, checks passed (%)")
    ax.set_xlabel("model or rule set (a row of the table)")
    ax.set_title("The toy world: each adaptation against instruction tuning (IT)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)                              # the sweeps call run() many times in one process


def main(argv=None):
    return run(settings(argv))


if __name__ == "__main__":
    cli(main)
