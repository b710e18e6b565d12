"""Assignments 4-7, the experiments: graded on the evidence handed in under assignments/handin/N/: results.json
written by experiments/reproduce.py (with its provenance: the command line, the sha256 of the code it ran and of every
output file it scored, the rule specs and the seeds), the outputs/ it scored, and answers.md. The grader
re-scores the handed-in outputs against the graders' own evaluation set (criteria.check, criteria.grades,
evaluate.winrate; seconds), checks each output file against the hash results.json recorded and the recorded
code against the code handed in, and recomputes results.json's win rates, pass rates and style shares from the
outputs, and the base model's ranking and attribution from its weights: made-up numbers, outputs edited after
the run, or code changed after it, fail. What it cannot prove is in assignments/README.md. The answers are for
the lecturer to read."""
import hashlib
import json
import math
import os

import pytest

import evaluate
from data import criteria
import rules
from grading import HANDIN, OWN, ROOT, Grader
from lib.util import align

PAGES = {4: "4-response-tuning.md", 5: "5-single-task.md", 6: "6-new-rule.md", 7: "7-attribution.md"}
# The method files every layout of the project had (reproduce.py records these and more).
CODE = ("model.py", "train.py", "generate.py", "rules.py", "evaluate.py")
# The files experiments/reproduce.py records: a hand-in must list exactly these, each compared hash by hash with
# the code handed in.
CURRENT_CODE = {"model.py", "chat.py", "train.py", "generate.py", "rules.py", "evaluate.py", "data/criteria.py",
                "data/sandbox.py", "data/game.py", "lib/util.py", "lib/generation.py", "experiments/reproduce.py"}
SINGLE_TASK = ("poetry", "math (GSM)", "code (MBPP)", "recipes", "chess")
STYLE = {"poetry": "poetry", "math (GSM)": "math", "code (MBPP)": "code", "recipes": "recipes", "chess": "chess"}
TUNED = ("instruction-tuned", "response-tuned", "instruction-modelling") + SINGLE_TASK
UNSEEN_FAMILIES = ("revcap", "river", "legs", "opposite", "compare", "sort")


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


def close(a, b):
    """Recorded and recomputed numbers (or lists, or None) agree, to rounding."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(close(x, y) for x, y in zip(a, b)))
    if a is None or b is None:
        return a is None and b is None
    return isinstance(a, (int, float)) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def handed_in(n, folder=None):
    """results.json of assignment n's hand-in in `folder` (default assignments/handin/N), after checking
    answers.md, the provenance, every output file's hash, and every number against the re-scored outputs."""
    folder = folder or os.path.join(HANDIN, str(n))
    page = PAGES[n]
    path = os.path.join(folder, "results.json")
    if not os.path.exists(path):
        pytest.fail(f"assignment {n}: nothing handed in; run the command in assignments/{page} so that it "
                    f"writes {os.path.relpath(path)}", pytrace=False)
    answers = os.path.join(folder, "answers.md")
    if not os.path.exists(answers) or len(open(answers, encoding="utf-8").read().strip()) < 200:
        pytest.fail(f"assignment {n}: write your answers to the questions of assignments/{page} in "
                    f"{os.path.relpath(answers)} (a few paragraphs)", pytrace=False)
    try:
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
    except ValueError as e:
        r, error = None, f"{os.path.relpath(path)} is not JSON ({e})"
    need(r is not None, n, error if r is None else "")
    need(isinstance(r, dict) and isinstance(r.get("conditions"), dict) and r.get("seeds"), n,
         "results.json has no seeds or conditions: it was not written by experiments/reproduce.py")
    verify(n, folder, r)
    return r


def verify(n, folder, r):
    """The evidence: provenance present, outputs unedited, numbers those of the outputs."""
    p = r.get("provenance")
    keys = ("argv", "seeds", "rule_sets", "outputs", "code_sha256", "outputs_sha256")
    need(isinstance(p, dict) and all(k in p for k in keys), n, "results.json has no provenance (command line, "
         "code and output hashes): write it with the current experiments/reproduce.py")
    need(isinstance(p["code_sha256"], dict) and all(len(str(p["code_sha256"].get(f, ""))) == 64 for f in CODE), n,
         f"results.json's provenance lacks the sha256 of the code it ran ({', '.join(CODE)})")
    recorded = set(p["code_sha256"])
    need(recorded == CURRENT_CODE, n, "results.json records the code of another layout of the project "
         f"({', '.join(sorted(recorded))}): rerun the command with the current experiments/reproduce.py")
    for f in sorted(recorded):
        here = os.path.join(ROOT, f)
        need(os.path.isfile(here) and sha256(here) == p["code_sha256"][f], n, f"{f} is not the code the run "
             "ran (its sha256 differs from the one results.json recorded): hand in the code you ran, or rerun")
    need(p["seeds"] == r["seeds"], n, "results.json's seeds are not those of its provenance")
    files = p["outputs"]
    need(isinstance(files, dict) and isinstance(p["outputs_sha256"], dict) and
         sorted(f for fs in files.values() for f in fs) == sorted(p["outputs_sha256"]), n,
         "results.json's provenance does not list a hash for every output file it scored")
    for rel, digest in p["outputs_sha256"].items():
        f = os.path.normpath(os.path.join(folder, rel))
        need(rel.startswith("outputs/") and ".." not in rel and os.path.isfile(f), n,
             f"the output file {rel} that results.json scored is not handed in")
        need(sha256(f) == digest, n, f"{rel} is not the file the run scored (its sha256 differs from the one "
             "results.json recorded): hand in the outputs as the run wrote them")
    need(r.get("eval") == "data/toy/eval.jsonl", n, "results.json does not score the evaluation set "
         "(data/toy/eval.jsonl)")
    records = criteria.read_eval(os.path.join(OWN, r["eval"]))
    need(r.get("n") == len(records), n, "results.json does not score the whole evaluation set (no --limit)")
    instructions = [x["instruction"] for x in records]
    G = grader(n)
    outs = {name: [G.call(align, instructions, os.path.join(folder, f)) for f in fs] for name, fs in files.items()}
    graded = {name: [criteria.grades(records, o) for o in per] for name, per in outs.items()}
    need(set(graded) == set(r["conditions"]) and "instruction-tuned" in graded, n,
         "results.json's rows are not those of the outputs it scored")
    it = graded["instruction-tuned"]
    unseen = [x["family"] in UNSEEN_FAMILIES for x in records]
    for name, g in graded.items():
        need(len(g) == (1 if name not in TUNED else len(r["seeds"])) and g, n,
             f"{name!r} does not have one output file per seed")
        pairs = list(zip(g * len(it), it)) if len(g) == 1 else list(zip(g, it))
        again = {"win_rate_vs_it": [evaluate.winrate(a, b) for a, b in pairs],
                 "ties_%": [evaluate.tie_share(a, b) for a, b in pairs],
                 "pass_rate": [100 * sum(x for x, _ in s) / len(s) for s in g],
                 "pass_rate_unseen_families": [100 * sum(x for (x, _), u in zip(s, unseen) if u) / max(1, sum(unseen))
                                               for s in g]}
        if name in STYLE:
            stats = criteria.output_stats(list(zip(instructions, outs[name][0])), near=[x.get("near") for x in records])
            again["style_near_far_%"] = stats["style_near_vs_far_%"][STYLE[name]]
        c = r["conditions"][name]
        for key, value in again.items():
            need(close(c.get(key), value), n, f"results.json's {key} of {name!r} ({c.get(key)}) is not what its "
                 f"outputs score ({value}): hand in the numbers the run wrote, with its outputs")


def percent(x):
    return type(x) in (int, float) and 0 <= x <= 100


def flag(argv, name, default):
    """The value of a flag in a recorded command line."""
    return argv[argv.index(name) + 1] if name in argv[:-1] else default


BASE = []                                           # the base model, loaded once


def base_model():
    if not BASE:
        from model import Tokenizer, Transformer
        path = os.path.join(OWN, "checkpoints", "toy-base")
        BASE.append((Transformer.from_pretrained(path), Tokenizer(path)))
    return BASE[0]


def model_numbers(n, r):
    """Ranking and attribution: the base row's recomputed from the base model's weights (the graders' own copy;
    seconds), when the run used it; every row's checked for what such numbers can be. The tuned models' weights
    are not handed in, so their numbers are checked for form only (assignments/README.md)."""
    argv, records = r["provenance"]["argv"], criteria.read_eval(os.path.join(OWN, r["eval"]))
    for name, c in r["conditions"].items():
        k, a = c.get("ranking") or {}, c.get("attribution") or {}
        need(all(percent(k.get(x)) for x in ("code_mean_token_%", "eq3_raw_logprob_%")) and
             k.get("pairs", 0) + k.get("skipped", 0) == len(records) and k.get("comparisons") == 5 * k["pairs"]
             if k else True, n, f"results.json's ranking of {name!r} is not one the run could have written")
        need(a.get("share_%") is None or percent(a["share_%"]), n,
             f"results.json's attribution of {name!r} is not one the run could have written")
    base = r["conditions"].get("base", {})
    if "--base" in argv or not base.get("ranking"):
        return
    model, tok = base_model()
    pairs = [(x["instruction"], x["reference"]) for x in records]
    rank = evaluate.ranking(model, tok, pairs)
    need(all(close(base["ranking"].get(k), v) for k, v in rank.items()), n, "results.json's ranking of 'base' "
         f"({base['ranking']}) is not what the base model gives ({rank})")
    prompts = int(flag(argv, "--attribution-prompts", 24))
    if base.get("attribution") and prompts > 0:
        a = evaluate.attribution([(model, tok)], [x["instruction"] for x in records[:prompts]], max_new_tokens=32)[0]
        # Gradients summed in another order differ in the fifth digit.
        need(base["attribution"].get("n") == a["n"] and all(
            isinstance(base["attribution"].get(k), (int, float))
            and math.isclose(base["attribution"][k], a[k], rel_tol=1e-3) for k in ("score", "share_%")), n,
             f"results.json's attribution of 'base' ({base['attribution']}) is not what the base model gives ({a})")


def rows(results, names, key, n):
    for name in names:
        c = results["conditions"].get(name)
        need(c is not None and key in c, n, f"results.json has no {key!r} for {name!r}")


def check_4(folder=None):
    r = handed_in(4, folder)
    need(len(r["seeds"]) >= 2, 4, "use at least two seeds (--seeds 1 2)")
    rows(r, ["base", "response-tuned"], "win_rate_vs_it", 4)
    rows(r, ["base", "instruction-tuned"], "ranking", 4)
    model_numbers(4, r)


def check_5(folder=None):
    r = handed_in(5, folder)
    done = [n for n in SINGLE_TASK if "style_near_far_%" in r["conditions"].get(n, {})]
    need(done, 5, "results.json has no single-task model with its style measure")


def check_6(folder=None):
    r = handed_in(6, folder)
    rule_rows = [n for n in r["conditions"] if n not in ("base",) + TUNED]
    need(len(rule_rows) >= 2, 6, "compare your rule set with at least one other rules row")
    rows(r, ["base"] + rule_rows, "win_rate_vs_it", 6)
    specs = r["provenance"]["rule_sets"]
    G, new = grader(6), set()
    for name in rule_rows:
        need(isinstance(specs.get(name), dict), 6, f"results.json's provenance has no rule spec for {name!r}")
        new |= set(G.call(rules.parse_rules, specs[name].get("rules"))) - set(rules.PAPER_RULES)
    need(new, 6, "no rules row uses a rule of your own: add one to rules.RULES beyond the paper's "
         f"{', '.join(rules.PAPER_RULES)} and name it in --rule-set")


def check_7(folder=None):
    r = handed_in(7, folder)
    rows(r, ["base"], "attribution", 7)
    need(any("attribution" in r["conditions"].get(n, {}) for n in TUNED), 7, "no attribution of a tuned model")
    model_numbers(7, r)


def test_4_response_tuning():
    check_4()


def test_5_single_task():
    check_5()


def test_6_new_rule():
    check_6()


def test_7_attribution():
    check_7()
