"""The paper's tables in the toy world, from the base model to one markdown table and one JSON file:

    python data/reproduce.py                  # 3 seeds; about 30 minutes on a 2-core CPU
    python data/reproduce.py --seeds 1        # one seed, a third of the time

For each seed it tunes the base model (checkpoints/toy-base) on the LIMA analog with instruction tuning (the
reference of every win rate), response tuning and Instruction Modelling, and on each single-task set; decodes
the held-out evaluation set greedily with every model, and with the base model alone and with the rules (all,
and each ablation of Table 4); then scores each output against its record's criterion, and reports win rates
against the instruction-tuned model of the same seed (ties count half), mean and spread over seeds. Also: the
response ranking capability of base and instruction-tuned models (Table 2), single-task style on near vs far
instructions (§5.2), instruction attribution (Wu et al.) and IM's train vs held-out loss.

Every step writes its result under --out and is skipped when the result is there, so an interrupted run
continues where it stopped."""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import evaluate  # noqa: E402
import generate  # noqa: E402
import train  # noqa: E402
from model import Tokenizer, Transformer, UserError, cli  # noqa: E402

# condition: (train.py mode, data set, epochs). Epochs are the paper's for Llama-2-7B (PAPERS.md §3).
CONDITIONS = {"instruction-tuned": ("instruction", "lima", 15), "response-tuned": ("response", "lima", 5),
              "instruction-modelling": ("instruction-modelling", "lima", 15),
              "poetry": ("single-task", "poetry", 15), "math (GSM)": ("single-task", "math", 7),
              "code (MBPP)": ("single-task", "code", 15), "recipes": ("single-task", "recipes", 20),
              "chess": ("single-task", "chess", 15)}
RULE_SETS = {"all rules": "eos,uniform,diversity", "- EOS rule": "uniform,diversity",
             "- diversity rule": "eos,uniform", "- uniform changes": "eos,diversity"}
PAPER = {"base": "2.4 ± 0.1", "response-tuned": "43.3 ± 1.1", "instruction-modelling": "-",
         "poetry": "22.9 ± 1.0", "math (GSM)": "23.7 ± 0.7", "code (MBPP)": "16.9 ± 0.7",
         "recipes": "14.6 ± 0.8", "chess": "2.1 ± 0.4", "all rules": "24.4 ± 0.4", "- EOS rule": "10.4 ± 0.3",
         "- diversity rule": "14.3 ± 0.6", "- uniform changes": "16.3 ± 0.3"}   # Llama-2-7B, Tables 1, 3, 4
STYLE = {"poetry": "poetry", "math (GSM)": "math", "code (MBPP)": "code", "recipes": "recipes", "chess": "chess"}


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=os.path.join(ROOT, "checkpoints", "toy-base"), help="base model checkpoint")
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "toy"), help="folder of the toy world's sets")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "tables"), help="where runs, outputs and "
                    "results go (results.md, results.json)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds")
    ap.add_argument("--lr", type=float, help="tuning learning rate, the same for every condition (default: "
                    "train.py's)")
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every condition's epochs (tests)")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="generation cap for every model")
    ap.add_argument("--limit", type=int, help="only the first N evaluation instructions (tests)")
    ap.add_argument("--attribution-prompts", type=int, default=24, help="prompts for Wu et al.'s attribution "
                    "(0: skip it)")
    ap.add_argument("--conditions", nargs="+", help="only these rows (names as in the table, e.g. base "
                    "response-tuned poetry 'all rules'); the instruction-tuned model, the reference, always runs")
    ap.add_argument("--rule-set", action="append", default=[], metavar="NAME=RULES",
                    help="an extra rules row, e.g. 'no uniform=eos,diversity' (repeatable)")
    args = ap.parse_args(argv)
    rule_sets = dict(RULE_SETS)
    for spec in args.rule_set:
        name, sep, rules = spec.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--rule-set {spec!r}: expected NAME=RULES, e.g. 'mine=eos,diversity'")
        rule_sets[name.strip()] = rules
    known = ["base", *rule_sets, *CONDITIONS]
    bad = [c for c in args.conditions or [] if c not in known]
    if bad:
        raise UserError(f"unknown condition {bad[0]!r}; known: {', '.join(known)}")
    wanted = {"instruction-tuned", *(args.conditions or known)}
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    eval_path = os.path.join(args.data, "eval.jsonl")
    records = evaluate.read_eval(eval_path)[:args.limit]
    instructions = [r["instruction"] for r in records]
    near = [r.get("near") for r in records]

    def decode(checkpoint, name, rules="none"):
        out = os.path.join(args.out, "outputs", slug(name) + ".json")
        if not os.path.exists(out):
            generate.main(["--checkpoint", checkpoint, "--input", eval_path, "--output", out, "--rules", rules,
                           "--max-new-tokens", str(args.max_new_tokens), "--batch-size", "32",
                           "--generator", name] + (["--limit", str(args.limit)] if args.limit else []))
        outs = evaluate.align(instructions, out)
        return outs, [evaluate.check(o, r["criterion"]) for o, r in zip(outs, records)]

    # ----------------------------------------------------------------------------- train and decode
    results = {}                                    # name -> list over seeds of (outputs, passed); base: one
    for name, rules in [("base", "none")] + list(rule_sets.items()):
        if name in wanted:
            results[name] = [decode(args.base, name, rules)]
    for seed in args.seeds:
        for name, (mode, data, epochs) in CONDITIONS.items():
            if name not in wanted:
                continue
            run = os.path.join(args.out, "runs", f"{slug(name)}-seed{seed}")
            if not os.path.exists(os.path.join(run, "model.safetensors")):
                lr = ["--lr", str(args.lr)] if args.lr else []
                train.main(["--mode", mode, "--data", os.path.join(args.data, data + ".jsonl"), "--model", args.base,
                            "--out", run, "--overwrite", "--seed", str(seed), "--save-every", "0",
                            "--epochs", str(max(1, round(epochs * args.epochs_scale)))] + lr)
            results.setdefault(name, []).append(decode(run, f"{name} seed {seed}"))

    # ------------------------------------------------------------------------------------ win rates
    it = [passed for _, passed in results["instruction-tuned"]]
    report = {"seeds": args.seeds, "eval": os.path.relpath(eval_path, ROOT), "n": len(records), "conditions": {}}
    rows = []
    for name, per_seed in results.items():
        passed = [p for _, p in per_seed]
        pairs = list(zip(passed * len(it), it)) if len(passed) == 1 else list(zip(passed, it))
        wins = [evaluate.winrate(a, b) for a, b in pairs]
        rates = [100 * sum(p) / len(p) for p in passed]
        (w, ws), (r, rs) = evaluate.mean_std(wins), evaluate.mean_std(rates)
        report["conditions"][name] = {"win_rate_vs_it": wins, "pass_rate": rates}
        rows.append([name, f"{r:.1f} ± {rs:.1f}", "-" if name == "instruction-tuned" else f"{w:.1f} ± {ws:.1f}",
                     PAPER.get(name, "-")])
    md = [f"Toy world, {len(records)} held-out instructions, seeds {args.seeds}, greedy, at most "
          f"{args.max_new_tokens} new tokens. Win rate against the instruction-tuned model of the same seed "
          "(ties half); mean ± std over seeds.\n",
          evaluate.table(["model", "checks passed %", "win rate vs IT %", "paper (Llama-2-7B, AlpacaEval LC)"],
                         rows)]

    # ------------------------------------------------------------------ §5.2 single-task style near vs far
    rows = []
    for name, style in [(n, s) for n, s in STYLE.items() if n in results]:
        outs = results[name][0][0]
        s = evaluate.output_stats(list(zip(instructions, outs)), near=near)["style_near_vs_far_%"][style]
        report["conditions"][name]["style_near_far_%"] = s
        rows.append([name, style] + ["-" if v is None else f"{v:.0f}" for v in s])
    md += [] if not rows else [f"\nSingle-task style (§5.2), seed {args.seeds[0]}: share of outputs in the task's "
                               "style on instructions near the task vs all others\n",
                               evaluate.table(["model", "style", "near %", "far %"], rows)]

    # --------------------------------------------------- Table 2 ranking, IM losses, attribution (seed 1)
    seed = args.seeds[0]
    ckpt = lambda name: os.path.join(args.out, "runs", f"{slug(name)}-seed{seed}")     # noqa: E731
    pairs = [(r["instruction"], r["reference"]) for r in records]
    held = [[{"role": "user", "content": i}, {"role": "assistant", "content": o}] for i, o in pairs]
    lima = [msgs for _, msgs in train.load_conversations(os.path.join(args.data, "lima.jsonl"))]
    rows, loaded = [], {}
    for name in ("base", "instruction-tuned", "response-tuned", "instruction-modelling"):
        if name not in results:
            continue
        path = args.base if name == "base" else ckpt(name)
        loaded[name] = (Transformer.from_pretrained(path), Tokenizer(path))
        rank = evaluate.ranking(*loaded[name], pairs)
        nll = {"train": evaluate.response_nll(*loaded[name], lima),
               "held-out": evaluate.response_nll(*loaded[name], held)}
        report["conditions"][name].update(ranking=rank, response_nll=nll)
        rows.append([name, f"{rank['code_mean_token_%']:.1f}", f"{rank['eq3_raw_logprob_%']:.1f}",
                     f"{nll['train']:.3f}", f"{nll['held-out']:.3f}"])
    md += ["\nResponse ranking capability (Table 2; paper, Llama-2-7B: base 80.4%, IT 77.4%) on the held-out "
           "(instruction, reference) pairs, 5 distractors each; and the response-only loss on the LIMA analog "
           "(train) vs the held-out references (Shi et al.)\n",
           evaluate.table(["model", "ranking % (code: mean token)", "ranking % (Eq. 3: raw)", "NLL train",
                           "NLL held-out"], rows)]
    names = [n for n in loaded if n != "instruction-modelling"]         # attribution costs a backward per token
    attr = evaluate.attribution([loaded[n] for n in names], instructions[:args.attribution_prompts],
                                max_new_tokens=32) if args.attribution_prompts else []
    rows = []
    for n, a in zip(names, attr):
        report["conditions"][n]["attribution"] = a
        ci = a["diff_ci95"]
        rows.append([n, a["n"], "-" if a["score"] is None else f"{a['score']:.3f}",
                     "-" if a["share_%"] is None else f"{a['share_%']:.1f}",
                     "-" if ci is None else f"{a['diff_vs_first']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"])
    md += [] if not rows else [f"\nInstruction attribution (Wu et al. 2024) on each model's own greedy response, "
                               f"first {args.attribution_prompts} prompts\n",
                               evaluate.table(["model", "responses", "instruction score", "instruction share %",
                           "vs first row (95% CI)"], rows)]
    report["minutes"] = (time.time() - t0) / 60
    md.append(f"\nRun time: {report['minutes']:.1f} minutes.\n")
    generate.write_json(os.path.join(args.out, "results.json"), report)      # atomic: never half-written
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    cli(main)
