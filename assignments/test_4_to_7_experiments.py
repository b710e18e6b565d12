"""Assignments 4-7, the experiments: graded on the evidence handed in under assignments/handin/N/: results.json
written by experiments/reproduce.py (with its provenance: the command line, the sha256 of the code it ran and of
every output file it scored, the rule specs and the seeds), the outputs/ it scored, and answers.md.

Everything is judged with this project's code, base model and evaluation set, never the hand-in's: the hand-in's
files are read as data (plain files inside it; a symbolic link or compiled code fails the grade). The grader checks each output
file against the hash results.json recorded and the recorded code against the code handed in; recomputes every
number results.json gives of the outputs (win rates and their intervals, ties, pass rates, distinct outputs,
style shares, the differences between rows) with criteria.grades and reproduce.py; decodes again a few outputs, drawn
anew at each grading, of every row its own base model decodes (alone, or with rules it knows); and measures the
base model's ranking, first-token rank, losses and attribution again. The tuned models' weights are not handed
in (handin.py leaves runs/ out: too large), so their outputs are checked against their hashes and their model
numbers for form only, as is the base's ranking against same-family distractors (a minute more);
assignments/README.md says what that leaves open. The answers are for the lecturer to read."""
import hashlib
import json
import math
import os
import random
import statistics

import evaluate
from data import criteria
from experiments import reproduce
import generate
import rules
from grading import OWN, ROOT, Grader, Student, inside, refusal, refused
from model import Tokenizer, Transformer

PAGES = {4: "4-response-tuning.md", 5: "5-single-task.md", 6: "6-new-rule.md", 7: "7-attribution.md"}
# The code a hand-in must record (experiments/reproduce.py records these and the files they import), each
# compared hash by hash with the code handed in.
CODE = ("model.py", "train.py", "generate.py", "rules.py", "evaluate.py", "experiments/reproduce.py")
# Flags of reproduce.py that no page's command uses: they change the base model, the data, the evaluation set or
# the decoding that this grader's own are compared with.
NOT_THE_PAGES = ("--base", "--data", "--split", "--limit", "--max-new-tokens", "--epochs-scale")
SINGLE_TASK = ("poetry", "math (GSM)", "code (MBPP)", "recipes", "chess")
STYLE = {"poetry": "poetry", "math (GSM)": "math", "code (MBPP)": "code", "recipes": "recipes", "chess": "chess"}
TUNED = ("instruction-tuned", "response-tuned", "instruction-modelling") + SINGLE_TASK
UNSEEN_FAMILIES = ("revcap", "river", "legs", "opposite", "compare", "sort")
# A rules row's settings, as reproduce.py records them, and the RuleExpert argument each is.
RULE_SETTINGS = {"saturate": "saturate", "eos_ramp": "ramp", "response_only": "response_only"}
# Outputs of each row decoded again, and how much of each must agree: a greedy choice flipped by a last-bit
# difference between two machines' sums changes only what follows it, and rarely as early as this.
SAMPLE, AGREE = 5, 48


def grader(n):
    return Grader(n, f"run the command of assignments/{PAGES[n]} as written (it writes results.json and "
                     f"outputs/), hand in both unedited, and answer the page's questions in "
                     f"assignments/handin/{n}/answers.md.")


def need(ok, n, what):
    """Fail assignment n's grade with `what` and the page's hint unless ok."""
    grader(n).check(ok, what)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def close(a, b, rel=1e-9):
    """Recorded and recomputed numbers (or lists, dicts, None) agree, to rounding."""
    if isinstance(b, dict):
        return isinstance(a, dict) and set(a) == set(b) and all(close(a[k], b[k], rel) for k in b)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(close(x, y, rel) for x, y in zip(a, b)))
    if a is None or b is None:
        return a is None and b is None
    return type(a) in (int, float) and math.isclose(a, b, rel_tol=rel, abs_tol=1e-6)


def flag(argv, name, default):
    """The value of a flag in a recorded command line."""
    return argv[argv.index(name) + 1] if name in argv[:-1] else default


def read_outputs(path, name, instructions):
    """The outputs of the AlpacaEval list at `path` (`name`, as the grade says it) in the order of `instructions`,
    matched by instruction text (the k-th occurrence with the k-th); anything unmatched is an error."""
    try:
        with open(path, encoding="utf-8") as f:
            pairs = [(str(x["instruction"]).strip(), str(x["output"])) for x in json.load(f)]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{name} is not an AlpacaEval list of instructions and outputs ({e})")
    slots = {}
    for ins, out in pairs:
        slots.setdefault(ins, []).append(out)
    outs = [slots[i.strip()].pop(0) if slots.get(i.strip()) else None for i in instructions]
    if None in outs:
        raise ValueError(f"{name} has no output for the instruction {instructions[outs.index(None)][:60]!r}")
    if any(slots.values()):
        raise ValueError(f"{name} has outputs for instructions that are not in the evaluation set")
    return outs


def spec_names(text):
    """The rule names of a recorded rule spec, as rules.parse_rules reads them, known here or not."""
    return [x.strip() for x in text.replace("-", ",").split(",") if x.strip()]


def handed_in(n, root=None):
    """results.json of assignment n's hand-in in the project `root` (default: the one graded) and the outputs it
    scored ({row: [outputs per seed]}), after checking answers.md, the provenance, every output file's hash, and
    every number against the re-scored outputs."""
    root = root or ROOT
    folder, page = f"assignments/handin/{n}", PAGES[n]
    bad = refused(root)
    need(not bad, n, refusal(bad))
    path = inside(root, f"{folder}/results.json")
    need(path, n, f"nothing handed in; run the command in assignments/{page} so that it writes "
                  f"{folder}/results.json")
    answers, written = inside(root, f"{folder}/answers.md"), ""
    if answers:
        with open(answers, encoding="utf-8", errors="replace") as f:
            written = f.read().strip()
    need(len(written) >= 200, n, f"write your answers to the questions of assignments/{page} in {folder}/answers.md (a few paragraphs)")
    try:
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
    except ValueError as e:
        r, error = None, f"{folder}/results.json is not JSON ({e})"
    need(r is not None, n, error if r is None else "")
    need(isinstance(r, dict) and isinstance(r.get("conditions"), dict) and r.get("seeds"), n,
         f"{folder}/results.json has no seeds or conditions: it was not written by experiments/reproduce.py")
    return r, verify(n, root, folder, r)


def verify(n, root, folder, r):
    """The evidence: provenance present, code and outputs unedited, numbers those of the outputs. Returns the
    outputs."""
    p = r.get("provenance")
    keys = ("argv", "seeds", "rule_sets", "outputs", "code_sha256", "outputs_sha256")
    need(isinstance(p, dict) and all(k in p for k in keys), n, "results.json has no provenance (command line, "
         "code and output hashes): write it with the current experiments/reproduce.py")
    code = p["code_sha256"]
    need(isinstance(code, dict) and all(f in code for f in CODE), n, "results.json's provenance lacks the sha256 of "
         f"the code it ran ({', '.join(CODE)}): rerun the command with the current experiments/reproduce.py")
    for f in sorted(code):
        here = inside(root, f)
        need(here and sha256(here) == code[f], n, f"{f} is not the code the run ran (its sha256 differs from the "
             "one results.json recorded): hand in the code you ran, or rerun")
    argv = p["argv"]
    need(isinstance(argv, list) and not [a for a in argv if a in NOT_THE_PAGES], n, "results.json was written by "
         f"another command than the page's (with {', '.join(a for a in argv if a in NOT_THE_PAGES)}): run it as "
         "written")
    need(p["seeds"] == r["seeds"], n, "results.json's seeds are not those of its provenance")
    files = p["outputs"]
    need(isinstance(files, dict) and isinstance(p["outputs_sha256"], dict) and
         sorted(f for fs in files.values() for f in fs) == sorted(p["outputs_sha256"]), n,
         "results.json's provenance does not list a hash for every output file it scored")
    for rel, digest in p["outputs_sha256"].items():
        f = inside(root, f"{folder}/{rel}") if str(rel).startswith("outputs/") else None
        need(f, n, f"the output file {folder}/{rel} that results.json scored is not handed in")
        need(sha256(f) == digest, n, f"{folder}/{rel} is not the file the run scored (its sha256 differs from the "
             "one results.json recorded): hand in the outputs as the run wrote them")
    need(r.get("eval") == "data/toy/eval.jsonl", n, "results.json does not score the evaluation set "
         "(data/toy/eval.jsonl)")
    records = criteria.read_eval(os.path.join(OWN, r["eval"]))
    need(r.get("n") == len(records), n, "results.json does not score the whole evaluation set (no --limit)")
    instructions = [x["instruction"] for x in records]
    G = grader(n)
    outs = {}
    for name, fs in files.items():
        outs[name] = [G.call(read_outputs, inside(root, f"{folder}/{f}"), f"{folder}/{f}", instructions) for f in fs]
    need(set(outs) == set(r["conditions"]) and "instruction-tuned" in outs, n,
         "results.json's rows are not those of the outputs it scored")
    for name, per in outs.items():
        need(len(per) == (1 if name not in TUNED else len(r["seeds"])) and per, n,
             f"{name!r} does not have one output file per seed")
    rows, per_ins = recompute(records, outs)
    for name, again in rows.items():
        c = r["conditions"][name]
        for key, value in again.items():
            need(close(c.get(key), value), n, f"results.json's {key} of {name!r} ({c.get(key)}) is not what its "
                 f"outputs score ({value}): hand in the numbers the run wrote, with its outputs")
    differences = r.get("differences", {})
    need(isinstance(differences, dict), n, "results.json's differences are not a table of rows")
    for key, d in differences.items():
        a, _, b = key.partition(" - ")
        need(a in per_ins and b in per_ins, n, f"results.json's difference {key!r} is not between two of its rows")
        value = reproduce.difference(per_ins, a, b)
        need(close(d, value), n, f"results.json's difference {key!r} ({d}) is not what the outputs score ({value})")
    return outs


def recompute(records, outs):
    """What reproduce.py writes of each row from its outputs, scored here: {name: {key: value}}, and each row's
    outcomes against IT per pair and pass per instruction (mean over seeds) for the differences between rows. The
    win rates are reproduce.against_it's (passes decide: lib/report.versus), so the two cannot disagree."""
    instructions, near = [x["instruction"] for x in records], [x.get("near") for x in records]
    graded = {name: [criteria.grades(records, o) for o in per] for name, per in outs.items()}
    it = graded["instruction-tuned"]
    unseen = [x["family"] in UNSEEN_FAMILIES for x in records]
    rows, per_ins = {}, {}
    for name, g in graded.items():
        wins, outcome = reproduce.against_it(g, it)
        per_ins[name] = (outcome, [sum(p for p, _ in x) / len(g) for x in zip(*g)])
        rows[name] = {**wins, "pass_rate": [100 * sum(x for x, _ in s) / len(s) for s in g],
                      "pass_rate_unseen_families": [100 * sum(x for (x, _), u in zip(s, unseen) if u)
                                                    / max(1, sum(unseen)) for s in g],
                      "distinct": [criteria.collapse(o)["distinct"] for o in outs[name]]}
        if name in STYLE:
            stats = criteria.output_stats(list(zip(instructions, outs[name][0])), near=near)
            rows[name]["style_near_far_%"] = stats["style_near_vs_far_%"][STYLE[name]]
    return rows, per_ins


BASE = {}                                           # the base model and its measures, made once per grading


def base_model():
    if "model" not in BASE:
        path = os.path.join(OWN, "checkpoints", "toy-base")
        BASE.update(model=Transformer.from_pretrained(path), tok=Tokenizer(path))
    return BASE["model"], BASE["tok"]


def measured_again(n, r, outs):
    """What the grader's own base model gives: outputs decoded again, and the base row's measures."""
    decoded_again(n, r, outs)
    model_numbers(n, r)


def decoded_again(n, r, outs):
    """Each row that this project's base model decodes (alone, or with rules this project knows): a sample of
    its outputs, drawn anew at each grading, decoded again here greedily as reproduce.py decodes, must agree with
    the handed-in ones. Rows with a rule of the student's own are their code's to decode, and tuned rows need
    weights that are not handed in."""
    specs = r["provenance"]["rule_sets"]
    need(isinstance(specs, dict), n, "results.json's provenance has no table of rule specs")
    instructions = [x["instruction"] for x in criteria.read_eval(os.path.join(OWN, r["eval"]))]
    m, tok = base_model()
    for name, per in outs.items():
        spec = {"rules": "none", "extra": {}} if name == "base" else specs.get(name)
        known = isinstance(spec, dict) and isinstance(spec.get("rules"), str)
        # Not a rules row (a tuned one), or one with a rule this project does not know (the student's own)
        if not known or not set(spec_names(spec["rules"])) <= {*rules.RULES, "none"}:
            continue
        names = rules.parse_rules(spec["rules"])
        extra = spec.get("extra") or {}
        need(isinstance(extra, dict) and set(extra) <= set(RULE_SETTINGS), n, f"results.json's rule spec of "
             f"{name!r} has settings that reproduce.py does not write ({extra})")
        settings = {RULE_SETTINGS[k]: v for k, v in extra.items()}
        expert = grader(n).call(rules.RuleExpert, tok, names, **settings) if names else None
        sample = random.SystemRandom().sample(range(len(instructions)), SAMPLE)
        again = generate.generate(m, tok, [instructions[i] for i in sample], max_new_tokens=128, rules=expert)
        for i, a in zip(sample, again):
            h = per[0][i]
            need(a[:AGREE] == h[:AGREE], n, f"the {name!r} output for {instructions[i][:50]!r} is not what the base "
                 f"model decodes{' with ' + ','.join(names) if names else ''}: handed in {h[:AGREE]!r}, decoded "
                 f"again {a[:AGREE]!r}")


def base_measures(records):
    """What reproduce.py measures of the base model, measured again on this project's copy (a minute or two;
    the ranking against same-family distractors, as long again, is checked for form only)."""
    if "measures" not in BASE:
        m, tok = base_model()
        pairs = [(x["instruction"], x["reference"]) for x in records]
        held = [[{"role": "user", "content": i}, {"role": "assistant", "content": o}] for i, o in pairs]
        with open(os.path.join(OWN, "data", "toy", "lima.jsonl"), encoding="utf-8") as f:
            lima = [json.loads(line)["messages"] for line in f if line.strip()]
        BASE["measures"] = {
            "ranking": evaluate.ranking(m, tok, pairs),
            "first_token_rank": statistics.median(evaluate.first_token_ranks(m, tok, pairs)),
            "response_nll": {"train": evaluate.response_nll(m, tok, lima),
                             "held-out": evaluate.response_nll(m, tok, held)}}
    return BASE["measures"]


def percent(x):
    return type(x) in (int, float) and 0 <= x <= 100


def model_numbers(n, r):
    """Ranking, first-token rank, losses and attribution: the base row's measured again on this project's base
    model; the tuned rows' checked for what such numbers can be (their weights are not handed in)."""
    argv, records = r["provenance"]["argv"], criteria.read_eval(os.path.join(OWN, r["eval"]))
    for name, c in r["conditions"].items():
        a = c.get("attribution") or {}
        need(isinstance(a, dict) and (a.get("share_%") is None or percent(a["share_%"])), n,
             f"results.json's attribution of {name!r} is not one the run could have written")
        for key in ("ranking", "ranking_same_family"):
            k = c.get(key) or {}
            need(isinstance(k, dict) and (not k or all(percent(k.get(x)) for x in ("code_mean_token_%",
                                                                                  "eq3_raw_logprob_%")) and
                 k.get("pairs", 0) + k.get("skipped", 0) == len(records) and k.get("comparisons") == 5 * k["pairs"]),
                 n, f"results.json's {key} of {name!r} is not one the run could have written")
    base = r["conditions"].get("base", {})
    for key in [key for key in ("ranking", "first_token_rank", "response_nll") if key in base]:
        # Sums over other batches differ in the last bits: the losses agree to 1e-4, not to rounding.
        value = base_measures(records)[key]
        need(close(base[key], value, rel=1e-4), n, f"results.json's {key} of 'base' ({base[key]}) is not what the "
             f"base model gives ({value})")
    prompts = int(flag(argv, "--attribution-prompts", 24))
    if base.get("attribution") and prompts > 0:
        if ("attribution", prompts) not in BASE:
            ins = [x["instruction"] for x in records[:prompts]]
            BASE["attribution", prompts] = evaluate.attribution([base_model()], ins, max_new_tokens=32)[0]
        a = BASE["attribution", prompts]
        # Gradients summed in another order differ in the fifth digit.
        need(base["attribution"].get("n") == a["n"] and all(
            type(base["attribution"].get(k)) in (int, float)
            and math.isclose(base["attribution"][k], a[k], rel_tol=1e-3) for k in ("score", "share_%")), n,
             f"results.json's attribution of 'base' ({base['attribution']}) is not what the base model gives ({a})")


def rows(results, names, key, n):
    for name in names:
        c = results["conditions"].get(name)
        need(c is not None and key in c, n, f"results.json has no {key!r} for {name!r}")


def check_4(root=None):
    r, outs = handed_in(4, root)
    need(len(r["seeds"]) >= 2, 4, "use at least two seeds (--seeds 1 2)")
    rows(r, ["base", "response-tuned"], "win_rate_vs_it", 4)
    rows(r, ["base", "instruction-tuned"], "ranking", 4)
    measured_again(4, r, outs)


def check_5(root=None):
    r, outs = handed_in(5, root)
    done = [n for n in SINGLE_TASK if "style_near_far_%" in r["conditions"].get(n, {})]
    need(done, 5, "results.json has no single-task model with its style measure")
    measured_again(5, r, outs)


def rule_names():
    """In the hand-in's process: the rules its rules.py knows."""
    import rules
    return [str(name) for name in rules.RULES]


def check_6(root=None, student=None):
    root = root or ROOT
    r, outs = handed_in(6, root)
    rule_rows = [n for n in r["conditions"] if n not in ("base",) + TUNED]
    need(len(rule_rows) >= 2, 6, "compare your rule set with at least one other rules row")
    rows(r, ["base"] + rule_rows, "win_rate_vs_it", 6)
    specs, new = r["provenance"]["rule_sets"], set()
    for name in rule_rows:
        need(isinstance(specs.get(name), dict) and isinstance(specs[name].get("rules"), str), 6,
             f"results.json's provenance has no rule spec for {name!r}")
        new |= set(spec_names(specs[name]["rules"])) - {*rules.PAPER_RULES, "none"}
    need(new, 6, "no rules row uses a rule of your own: add one to rules.RULES beyond the paper's "
         f"{', '.join(rules.PAPER_RULES)} and name it in --rule-set")
    known = grader(6).run(student or Student(root), rule_names)
    need(isinstance(known, list) and new <= set(known), 6, f"the rules {', '.join(sorted(new))} of results.json's "
         "rule specs are not in the rules.RULES handed in")
    measured_again(6, r, outs)


def check_7(root=None):
    r, outs = handed_in(7, root)
    rows(r, ["base"], "attribution", 7)
    need(any("attribution" in r["conditions"].get(n, {}) for n in TUNED), 7, "no attribution of a tuned model")
    measured_again(7, r, outs)


def test_4_response_tuning():
    check_4()


def test_5_single_task():
    check_5()


def test_6_new_rule(student):
    check_6(student=student)


def test_7_attribution():
    check_7()
