"""The paper's tables in the toy world, from the base model to one markdown table and one JSON file:

    python experiments/reproduce.py                  # 3 seeds; over an hour on a 2-core CPU (RESULTS.md)
    python experiments/reproduce.py --seeds 1        # one seed, with the base and rule rows

For each seed it tunes the base model (checkpoints/toy-base) on the LIMA analog with instruction tuning (the
reference of every win rate), response tuning and Instruction Modelling, and on each single-task set; decodes
the held-out evaluation set greedily with every model, and with the base model alone and with the rules (all,
and each ablation of Table 4); then scores each output against its record's criterion, and reports win rates
against the instruction-tuned model of the same seed (a pass beats a fail, then the higher graded score of
criteria.grade wins, exact ties count half), mean and spread over seeds. Also: the
response ranking capability of the base and the LIMA-tuned models (Table 2), single-task style on near vs far
instructions (§5.2), instruction attribution (Wu et al.) and IM's train vs held-out loss.

Every step writes its result under --out. A rerun skips what finished (a model's ranking and attribution measures
too, while the checkpoint, the data and the code are the same), resumes a training run or a decoding that was
interrupted part-way, and gives the same tables as an uninterrupted run."""
import argparse
import json
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import evaluate
from data import criteria
import generate
from lib import runtime
from lib.generation import stale
import train
from model import Tokenizer, Transformer
from lib.util import (UserError, align, cli, code_sha256, differences, fingerprint, load_conversations, mean_std,
                      parse, pyplot, require, sha256, table, write_atomic, write_json)

# condition: (train.py mode, data set, epochs). The epochs were chosen on the validation set as the paper chose
# its own (§4.1: a sweep over 5-20, the final checkpoint; experiments/epoch_sweep.py, data/results/epochs.md).
CONDITIONS = {"instruction-tuned": ("instruction", "lima", 15), "response-tuned": ("response", "lima", 5),
              "instruction-modelling": ("instruction-modelling", "lima", 15),
              "poetry": ("single-task", "poetry", 7), "math (GSM)": ("single-task", "math", 5),
              "code (MBPP)": ("single-task", "code", 10), "recipes": ("single-task", "recipes", 10),
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


# The code a run depends on: results.json records each file's sha256, the evidence of what was run.
CODE = ("model.py", "chat.py", "train.py", "generate.py", "rules.py", "evaluate.py", "data/criteria.py",
        "data/sandbox.py", "data/game.py", "lib/util.py", "lib/generation.py", "experiments/reproduce.py")
CODE_SHA256 = code_sha256(CODE)     # read as the process starts: what ran, even if edited while it ran


def train_once(out, **values):
    """train.py's run with these settings into `out`: a run interrupted part-way is resumed, a finished one
    left as it is, one made of other settings, inputs or code trained again (a line says what differs)."""
    args = train.settings(out=out, **values)
    path = os.path.join(out, "state.pt")
    state = torch.load(path, weights_only=True) if os.path.isfile(path) else None
    saved, wanted = state and state["args"].get("made_of"), runtime.made_of(args)
    if state and saved != wanted:
        print(f"{out}: made with another {differences(saved, wanted)}; training it again", file=sys.stderr)
        state = None
    if state and not state["optimizer"]:                  # finished: save() keeps no optimizer state
        return
    args.resume, args.overwrite = bool(state), not state
    train.train(args)


def interval(rank, key):
    """A ranking rate with its bootstrap 95% interval over pairs, e.g. '73.6 [71.2, 75.9]'."""
    low, high = rank[f"{key}_ci95_%"]
    return f"{rank[f'{key}_%']:.1f} [{low:.1f}, {high:.1f}]"


def kept(path, made_of, compute):
    """compute()'s result (JSON), kept at `path` with what it was made of and reused while that is the same:
    a rerun that changed no checkpoint, data or code does not score the models again."""
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        if saved["made_of"] == made_of:
            return saved["result"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = compute()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_json(path, {"made_of": made_of, "result": result})
    return result


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
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every condition's epochs (tests)")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="generation cap for every model")
    ap.add_argument("--limit", type=int, help="only the first N evaluation instructions (tests)")
    ap.add_argument("--attribution-prompts", type=int, default=24, help="prompts for Wu et al.'s attribution "
                    "(0: skip it)")
    ap.add_argument("--conditions", nargs="+", help="only these rows (names as in the table, e.g. base "
                    "response-tuned poetry 'all rules'); the instruction-tuned model, the reference, always runs")
    ap.add_argument("--rule-set", action="append", default=[], metavar="NAME=RULES",
                    help="an extra rules row, e.g. 'no uniform=eos,diversity' (repeatable)")
    args = parse(ap, argv, values)
    require({"0 <= each of --seeds < 2**63": all(0 <= s < 2**63 for s in args.seeds),
             "0 < --lr <= 1": args.lr is None or 0 < args.lr <= 1,
             "1 <= --epochs <= 1000": args.epochs is None or 1 <= args.epochs <= 1000,
             "0 < --epochs-scale <= 100": 0 < args.epochs_scale <= 100,
             "--max-new-tokens >= 1": args.max_new_tokens >= 1, "--limit >= 1": args.limit is None or args.limit >= 1,
             "--attribution-prompts >= 0": args.attribution_prompts >= 0})
    args.argv = list(sys.argv[1:] if argv is None else argv) if not values else values
    return args


def run(args):
    """Train, decode and score every condition of `args` (settings()); write results.md, results.json and the
    figure under args.out (each model's measures under measures/); return the report."""
    rule_sets = dict(RULE_SETS)
    for spec in args.rule_set:
        name, sep, rules = spec.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--rule-set {spec!r}: expected NAME=RULES, e.g. 'mine=eos,diversity'")
        rule_sets[name.strip()] = (rules, {})
    known = ["base", *rule_sets, *CONDITIONS]
    bad = [c for c in args.conditions or [] if c not in known]
    if bad:
        raise UserError(f"unknown condition {bad[0]!r}; known: {', '.join(known)}")
    wanted = {"instruction-tuned", *(args.conditions or known)}
    t0 = time.time()
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {args.out}: cannot make it ({e.strerror})")
    eval_path = os.path.join(args.data, f"{args.split}.jsonl")
    records = criteria.read_eval(eval_path)[:args.limit]
    instructions = [r["instruction"] for r in records]
    near = [r.get("near") for r in records]

    def decode(checkpoint, name, rules="none", extra=None):
        """Outputs and grades of one model; resumed, it decodes only what an interrupted run left undone."""
        out = os.path.join(args.out, "outputs", slug(name) + ".json")
        settings = generate.settings(checkpoint=checkpoint, input=eval_path, output=out, rules=rules,
                                     max_new_tokens=args.max_new_tokens, batch_size=32, resume=True,
                                     generator=name, limit=args.limit, **(extra or {}))
        why = stale(out, generate.record(settings))
        if why:
            print(f"{out}: made with another {why}; decoding it again", file=sys.stderr)
            settings.overwrite = True
        generate.run(settings)
        outs = align(instructions, out)
        return outs, criteria.grades(records, outs)

    def tune(run, mode, data, epochs, seed):
        lr = {"lr": args.lr} if args.lr else {}
        train_once(run, mode=mode, data=os.path.join(args.data, data + ".jsonl"), model=args.base, seed=seed,
                   save_every=50, epochs=max(1, round(epochs * args.epochs_scale)), **lr)

    # ----------------------------------------------------------------------------- train and decode
    results = {}                                    # name -> list over seeds of (outputs, grades); base: one
    files = {}                                      # name -> its output files, relative to --out, per seed
    for name, (rules, extra) in [("base", ("none", {}))] + list(rule_sets.items()):
        if name in wanted:
            results[name] = [decode(args.base, name, rules, extra)]
            files[name] = [f"outputs/{slug(name)}.json"]
    for seed in args.seeds:
        for name, (mode, data, epochs) in CONDITIONS.items():
            if name not in wanted:
                continue
            run = run_dir(args.out, name, seed)
            tune(run, mode, data, args.epochs or epochs, seed)
            results.setdefault(name, []).append(decode(run, f"{name} seed {seed}"))
            files.setdefault(name, []).append(f"outputs/{slug(f'{name} seed {seed}')}.json")

    # ------------------------------------------------------------------------------------ win rates
    it = [graded for _, graded in results["instruction-tuned"]]
    report = {"seeds": args.seeds, "eval": os.path.relpath(eval_path, ROOT), "n": len(records), "conditions": {}}
    # Provenance: what ran (the command line, the code's hashes) and what was scored (each output file's hash)
    report["provenance"] = {
        "argv": args.argv, "seeds": args.seeds,
        "rule_sets": {n: {"rules": r, "extra": e} for n, (r, e) in rule_sets.items() if n in results},
        "outputs": files, "code_sha256": CODE_SHA256,
        "outputs_sha256": {f: sha256(os.path.join(args.out, f)) for fs in files.values() for f in fs}}
    # Instructions far from every tuning task: the families that no tuning set has (data/TOYWORLD.md)
    unseen = [r["family"] in UNSEEN_FAMILIES for r in records]
    rows, per_ins = [], {}                  # per_ins: name -> (win outcome, passed) per instruction, seed-mean
    for name, per_seed in results.items():
        graded = [g for _, g in per_seed]
        pairs = list(zip(graded * len(it), it)) if len(graded) == 1 else list(zip(graded, it))
        wins = [evaluate.winrate(a, b) for a, b in pairs]
        ties = [evaluate.tie_share(a, b) for a, b in pairs]
        rates = [100 * sum(p for p, _ in g) / len(g) for g in graded]
        far = [100 * sum(p for (p, _), u in zip(g, unseen) if u) / max(1, sum(unseen)) for g in graded]
        (w, _), (r, rs), (f, fs) = mean_std(wins), mean_std(rates), mean_std(far)
        # Paired over instructions: each instruction's outcome averaged over the seeds, then resampled.
        outcome = [sum(o) / len(pairs) for o in zip(*(evaluate.outcomes(a, b) for a, b in pairs))]
        per_ins[name] = (outcome, [sum(p for p, _ in x) / len(graded) for x in zip(*graded)])
        ci = [100 * x for x in evaluate.bootstrap_ci(outcome)]
        distinct = [len(set(outs)) for outs, _ in per_seed]
        report["conditions"][name] = {"win_rate_vs_it": wins, "win_rate_ci95": ci, "ties_%": ties,
                                      "pass_rate": rates, "pass_rate_unseen_families": far, "distinct": distinct}
        is_it = name == "instruction-tuned"
        rows.append([name, f"{r:.1f} ± {rs:.1f}", f"{f:.1f} ± {fs:.1f}",
                     "-" if is_it else f"{w:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]",
                     "-" if is_it else f"{sum(ties) / len(ties):.0f}", f"{statistics.mean(distinct):.0f}",
                     PAPER.get(name, "-")])
    md = [f"Toy world, {len(records)} held-out instructions ({args.split}.jsonl), seeds {args.seeds}, greedy, at "
          f"most {args.max_new_tokens} new tokens. Win rate against the instruction-tuned model of the same seed: "
          "a pass beats a fail, equal results go to the output that meets more of the criterion's checks "
          "(data/criteria.py grade), exact ties count half; mean over seeds with the paired bootstrap 95% "
          "interval over instructions. Checks: mean ± std over seeds. 'Unseen families': the instructions of "
          "families no tuning set has. 'Distinct': different outputs in the row (mean over seeds).\n",
          table(["model", "checks passed %", "unseen families %", "win rate vs IT % [95% CI]", "ties %",
                 "distinct", "paper (Llama-2-7B, AlpacaEval LC)"], rows)]
    rows = []
    for a, b in FINDINGS:
        if a in per_ins and b in per_ins:
            d = [[x - y for x, y in zip(per_ins[a][k], per_ins[b][k])] for k in (0, 1)]
            ci = [[100 * x for x in evaluate.bootstrap_ci(v)] for v in d]
            report.setdefault("differences", {})[f"{a} - {b}"] = {"win_rate": 100 * statistics.mean(d[0]),
                                                                "win_rate_ci95": ci[0],
                                                                "checks": 100 * statistics.mean(d[1]),
                                                                "checks_ci95": ci[1]}
            rows.append([f"{a} − {b}"] + [f"{100 * statistics.mean(v):+.1f} [{c[0]:+.1f}, {c[1]:+.1f}]"
                                          for v, c in zip(d, ci)])
    md += [] if not rows else ["\nDifferences between rows (points), paired over instructions (each averaged over "
                               "the seeds), with the bootstrap 95% interval\n",
                               table(["comparison", "win rate vs IT", "checks passed"], rows)]

    # ------------------------------------------------------------------ §5.2 single-task style near vs far
    rows = []
    for name, style in [(n, s) for n, s in STYLE.items() if n in results]:
        outs = results[name][0][0]
        s = criteria.output_stats(list(zip(instructions, outs)), near=near)["style_near_vs_far_%"][style]
        report["conditions"][name]["style_near_far_%"] = s
        rows.append([name, style] + ["-" if v is None else f"{v:.0f}" for v in s])
    md += [] if not rows else [f"\nSingle-task style (§5.2), seed {args.seeds[0]}: share of outputs in the task's "
                               "style on instructions near the task vs all others\n",
                               table(["model", "style", "near %", "far %"], rows)]

    # --------------------------------------- Table 2 ranking, IM losses, attribution (the first seed's models)
    seed = args.seeds[0]
    pairs = [(r["instruction"], r["reference"]) for r in records]
    held = [[{"role": "user", "content": i}, {"role": "assistant", "content": o}] for i, o in pairs]
    lima_path = os.path.join(args.data, "lima.jsonl")
    lima = [msgs for _, msgs in load_conversations(lima_path)]
    paths = {name: args.base if name == "base" else run_dir(args.out, name, seed)
             for name in ("base", "instruction-tuned", "response-tuned", "instruction-modelling") if name in results}
    made_of = {"eval": sha256(eval_path), "limit": args.limit, "lima": sha256(lima_path), "code": CODE_SHA256}
    loaded, rows = {}, []

    def model(name):
        if name not in loaded:
            loaded[name] = (Transformer.from_pretrained(paths[name]), Tokenizer(paths[name]))
        return loaded[name]

    def measures(name):
        m = model(name)
        return {"ranking": evaluate.ranking(*m, pairs),
                "ranking_same_family": evaluate.ranking(*m, pairs, groups=[r["family"] for r in records]),
                "first_token_rank": statistics.median(evaluate.first_token_ranks(*m, pairs)),
                "response_nll": {"train": evaluate.response_nll(*m, lima),
                                 "held-out": evaluate.response_nll(*m, held)}}
    for name, path in paths.items():
        kept_at = os.path.join(args.out, "measures", slug(name if name == "base" else f"{name} seed {seed}"))
        got = kept(kept_at + ".json", {**made_of, "checkpoint": fingerprint(path)}, lambda: measures(name))
        report["conditions"][name].update(got)
        rank, same, first, nll = (got[k] for k in ("ranking", "ranking_same_family", "first_token_rank",
                                                    "response_nll"))
        rows.append([name, interval(rank, "code_mean_token"), f"{rank['eq3_raw_logprob_%']:.1f}",
                     interval(same, "code_mean_token"), interval(same, "swap_control"), f"{first:g}",
                     f"{nll['train']:.3f}", f"{nll['held-out']:.3f}"])
    md += ["\nResponse ranking capability (Table 2; paper, Llama-2-7B: base 80.4%, IT 77.4%; chance 50%) on the "
           "held-out (instruction, reference) pairs, 5 distractors each: drawn from all pairs as the paper does, "
           "and (beyond the paper) from the pair's own family, with the swapped-instruction control p(y_i | x_i) "
           "> p(y_i | x_j), with bootstrap 95% intervals over pairs; the median rank of the reference's first token "
           "after the chat prompt; and the "
           "response-only loss on the LIMA analog (train) vs the held-out references (Shi et al.)\n",
           table(["model", "ranking % (code: mean token)", "ranking % (Eq. 3: raw)", "same family %",
                  "swap control %", "first token rank", "NLL train", "NLL held-out"], rows)]
    names = [n for n in paths if n != "instruction-modelling"]          # attribution costs a backward per token
    attr = kept(os.path.join(args.out, "measures", f"attribution-seed-{seed}.json"),
                {**made_of, "checkpoints": [fingerprint(paths[n]) for n in names], "n": args.attribution_prompts},
                lambda: evaluate.attribution([model(n) for n in names], instructions[:args.attribution_prompts],
                                             max_new_tokens=32)) if args.attribution_prompts else []
    rows = []
    for n, a in zip(names, attr):
        report["conditions"][n]["attribution"] = a
        ci = a["diff_ci95"]
        rows.append([n, a["n"], "-" if a["score"] is None else f"{a['score']:.3f}",
                     "-" if a["share_%"] is None else f"{a['share_%']:.1f}",
                     "-" if ci is None else f"{a['diff_vs_first']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"])
    md += [] if not rows else [f"\nInstruction attribution (Wu et al. 2024) on each model's own greedy response, "
                               f"first {args.attribution_prompts} prompts\n",
                               table(["model", "responses", "instruction score", "instruction share %",
                           "vs first row (95% CI)"], rows)]
    write_json(os.path.join(args.out, "results.json"), report)      # atomic: never half-written
    write_atomic(os.path.join(args.out, "results.md"), "\n".join(md) + "\n")
    print("\n".join(md) + f"\nRun time: {(time.time() - t0) / 60:.1f} minutes.")
    figure(report["conditions"], os.path.join(args.out, "results.png"))
    return report


def figure(conditions, path):
    """Win rate against IT (with its 95% interval) and checks passed per row, as bars; IT's own pass rate as a
    line (only when matplotlib is installed)."""
    plt = pyplot(path)
    if plt is None:
        return
    names = [n for n in conditions if n != "instruction-tuned"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    wins = [sum(conditions[n]["win_rate_vs_it"]) / len(conditions[n]["win_rate_vs_it"]) for n in names]
    low, high = ([w - conditions[n]["win_rate_ci95"][0] for w, n in zip(wins, names)],
                 [conditions[n]["win_rate_ci95"][1] - w for w, n in zip(wins, names)])
    checks = [sum(conditions[n]["pass_rate"]) / len(conditions[n]["pass_rate"]) for n in names]
    ax.bar([i for i in range(len(names))], wins, width=0.4, yerr=[low, high], capsize=2,
           label="win rate vs IT % (95% interval)")
    ax.bar([i + 0.4 for i in range(len(names))], checks, width=0.4, label="checks passed %")
    it = conditions["instruction-tuned"]["pass_rate"]
    ax.axhline(sum(it) / len(it), color="black", linestyle="--", linewidth=0.8, label="IT's checks passed %")
    ax.axhline(50, color="grey", linewidth=0.5)
    ax.set_xticks([i + 0.2 for i in range(len(names))], names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_title("The toy world: each adaptation against instruction tuning (IT)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)                              # the sweeps call run() many times in one process


def main(argv=None):
    return run(settings(argv))


if __name__ == "__main__":
    cli(main)
