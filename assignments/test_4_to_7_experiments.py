"""Assignments 4-7, the experiments: graded by the presence and format of the results handed in under
assignments/handin/N/ (results.json written by data/reproduce.py, and answers.md). The answers are for the
lecturer to read."""
import json
import os

import pytest

from grading import HANDIN, Grader

PAGES = {4: "4-response-tuning.md", 5: "5-single-task.md", 6: "6-new-rule.md", 7: "7-attribution.md"}


def need(ok, n, what):
    """Fail assignment n's grade with `what` and the page's hint unless ok."""
    Grader(n, f"run the command of assignments/{PAGES[n]} as written (it writes results.json) and answer the "
              f"page's questions in assignments/handin/{n}/answers.md.").check(ok, what)

SINGLE_TASK = ("poetry", "math (GSM)", "code (MBPP)", "recipes", "chess")
TUNED = ("instruction-tuned", "response-tuned", "instruction-modelling") + SINGLE_TASK


def handed_in(n, page):
    folder = os.path.join(HANDIN, str(n))
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
            return json.load(f)
    except ValueError as e:
        error = f"{os.path.relpath(path)} is not JSON ({e})"
    need(False, n, error)


def rows(results, names, key, n):
    for name in names:
        c = results["conditions"].get(name)
        need(c is not None and key in c, n, f"results.json has no {key!r} for {name!r}")


def test_4_response_tuning():
    r = handed_in(4, "4-response-tuning.md")
    need(len(r["seeds"]) >= 2, 4, "use at least two seeds (--seeds 1 2)")
    rows(r, ["base", "response-tuned"], "win_rate_vs_it", 4)
    need(len(r["conditions"]["response-tuned"]["win_rate_vs_it"]) == len(r["seeds"]), 4,
         "results.json should have a response-tuned win rate for every seed")
    rows(r, ["base", "instruction-tuned"], "ranking", 4)


def test_5_single_task():
    r = handed_in(5, "5-single-task.md")
    done = [n for n in SINGLE_TASK if "style_near_far_%" in r["conditions"].get(n, {})]
    need(done, 5, "results.json has no single-task model with its style measure")


def test_6_new_rule():
    r = handed_in(6, "6-new-rule.md")
    rule_rows = [n for n in r["conditions"] if n not in ("base",) + TUNED]
    need(len(rule_rows) >= 2, 6, "compare your rule set with at least one other rules row")
    rows(r, ["base"] + rule_rows, "win_rate_vs_it", 6)


def test_7_attribution():
    r = handed_in(7, "7-attribution.md")
    rows(r, ["base"], "attribution", 7)
    need(any("attribution" in r["conditions"].get(n, {}) for n in TUNED), 7, "no attribution of a tuned model")
