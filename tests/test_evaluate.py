"""evaluate.py: the criteria language, win rates, ranking, statistics, attribution, IM diagnostics, the judge."""
import math

import pytest

import evaluate
from data import criteria
from data.criteria import check
from lib.cli import UserError
from lib.report import bleu4, mean_std


# ------------------------------------------------------------------------------------------ criteria
@pytest.mark.parametrize("criterion, good, bad", [
    ({"contains_any": ["Paris", "paree"]}, "It is PARIS.", "It is Rome."),
    ({"contains_all": ["salt", "Flour"]}, "flour and salt", "flour only"),
    ({"not_contains": ["sorry", "as an ai"]}, "Here it is.", "Sorry, I cannot."),
    ({"regex": r"^\d+\. "}, "intro\n1. first", "intro 1. first"),
    ({"min_lines": 3}, "a\n\nb\nc\n", "a\n\n\nb\n  \n"),
    ({"max_lines": 2}, "a\n\n\nb", "a\nb\nc"),
    ({"min_words": 3}, "one two  three", "one two"),
    ({"max_words": 2}, "one\ntwo", "one two three"),
    ({"final_answer": "42"}, "6 * 7 = 42\n#### 42\n\n", "#### 42\nso the answer is 42"),
    ({"final_answer": "42"}, "#### 42", "#### 420"),
    ({"starts_with": "Roses"}, "\n  roses are red", "Violets, roses"),
    ({"contains_any": ["red"], "min_lines": 2}, "red\nblue", "red"),
    ({"final_answer": "7"}, "We add.\nAnswer: 7.", "Answer: 7\nor 8"),
    ({"none_of": ["up", "Bemdal"]}, "a cup and a supper in bemdalia", "It is up there."),
    ({"numbers": [1, 5, 9]}, "1 < five < 9", "1, 5, 9, 10"),
    ({"first_number": 49}, "Forty... no: 49 is bigger than 12.", "12 is smaller than 49."),
    ({"final_number": 16}, "sixteen", "16 or 17"),
    ({"count_of": {"n": 2, "of": ["Tovik", "Bemdal", "Zor"]}}, "- tovik\n- Zor", "Tovik, Bemdal, Zor"),
])
def test_each_criterion_passes_and_fails(criterion, good, bad):
    assert check(good, criterion) is True
    if bad is not None:
        assert check(bad, criterion) is False


@pytest.mark.parametrize("criterion", [
    {"contains": ["x"]},                     # unknown key
    {"contains_any": "x"},                   # a string where a list is needed
    {"contains_all": ["x", 3]},
    {"min_lines": "3"}, {"max_words": 2.5}, {"min_lines": True},
    {"regex": "("},                          # does not compile
    {"regex": "^(a+)+$"}, {"regex": r"(\w+ ?){2,}x"},   # nested repeats: exponential time on "aaaa...b"
    {"final_answer": 42},
    ["contains_any"],
    {},                                      # no key: it would pass everything
    {"numbers": ["1"]}, {"count_of": {"n": 2}}, {"first_number": "3"},
])
def test_malformed_criterion_is_a_user_error(criterion):
    with pytest.raises(UserError):
        check("text", criterion)


def test_a_regex_that_backtracks_for_ever_is_stopped():
    """Alternation in a repeat, which the nested-repeat check does not catch: a one-line error in seconds."""
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom data.criteria import check\n"
            "from lib.cli import cli\ncli(lambda: print(check('a' * 36 + 'b', {'regex': '^(a|a)*$'})))\n")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("error: criterion 'regex' '^(a|a)*$' ran over"), r.stderr
    assert check("aaa", {"regex": "^(a|a)*$"}) is True       # and a short output still matches


# --------------------------------------------------------------------------------- shared test code
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
import torch.nn.functional as F

from lib import judge as judge_mod
import chat
import model
from lib import cli, report
import train
from conftest import LLAMA2_TOKENIZER, ROOT, SHARED, make_checkpoint, needs_llama2, needs_shared_data


def run_cli(monkeypatch, *argv):
    """evaluate.py's command line in this process: the exit code (0 when main returns)."""
    monkeypatch.setattr(sys, "argv", ["evaluate.py", *map(str, argv)])
    try:
        cli.cli(evaluate.main)
    except SystemExit as e:
        return e.code
    return 0


def write(path, records, jsonl=False):
    path.write_text("\n".join(map(json.dumps, records)) + "\n" if jsonl else json.dumps(records, indent=1))
    return path


EVAL = [{"instruction": "Add 2 and 3.", "family": "math", "near": "math", "criterion": {"final_answer": "5"}},
        {"instruction": "Name a red fruit.", "family": "qa", "near": None, "criterion": {"contains_any": ["apple"]}},
        {"instruction": "Write two lines.", "family": "poem", "near": "poetry", "criterion": {"min_lines": 2}},
        {"instruction": "Name a red fruit.", "family": "qa", "near": None, "criterion": {"contains_any": ["cherry"]}}]


def outputs(texts, order=(0, 1, 2, 3)):
    return [{"instruction": EVAL[i]["instruction"], "output": texts[i], "generator": "t", "dataset": "toy"}
            for i in order]


# ----------------------------------------------------------------------------- checks and win rates
def test_a_pass_beats_a_fail_and_ties_are_left_out_of_the_decisive_rate():
    a, b = [True, False, True, False, True], [False, False, True, True, False]
    assert report.outcomes(a, b) == [1, 0, 0, -1, 1]
    assert report.decisive_winrate(a, b) == 100 * 2 / 3                  # 2 wins, 1 loss; the 2 ties left out
    assert report.decisive_winrate(a, b) + report.decisive_winrate(b, a) == 100.0
    # The graded score never decides: a pass scored 0 beats a fail scored 1, two fails or two passes tie
    assert report.outcomes([(True, 0.0), (False, 0.9), (True, 0.1)], [(False, 1.0), (False, 0.1), (True, 1.0)]) \
        == [1, 0, 0]
    v = report.versus([(a, b)])
    assert v["ties"]["per_seed"] == [40.0] and v["decisive"]["per_seed"] == [100 * 2 / 3]


def test_paper_style_rate_counts_ties_half():
    g = torch.Generator().manual_seed(1)
    a, b = (torch.rand(50, generator=g) < p for p in (0.5, 0.4))
    a, b = a.tolist(), b.tolist()
    o = report.outcomes(a, b)
    wins, ties = o.count(1), o.count(0)
    assert 0 < wins and 0 < ties and 0 < o.count(-1)
    assert report.paper_winrate(a, b) == pytest.approx(100 * (wins + ties / 2) / len(a))
    assert report.paper_winrate(a, a) == 50.0                           # itself: all ties, half each


def test_a_dump_that_passes_nothing_wins_nothing():
    reference = [True, False, True, False]
    dump = [(False, 1.0)] * 4                                       # every partial credit, no pass
    assert report.decisive_winrate(dump, reference) == 0.0
    assert report.versus([(dump, reference)])["decisive"]["ci95"] == [0.0, 0.0]
    assert report.paper_winrate(dump, reference) == 25.0             # half of the two ties: what the paper counts


def test_no_decisive_pair_is_no_rate_not_50():
    a, fails = [True, False, True], [False, False, False]
    assert report.decisive_winrate(a, a) is None and report.decisive_winrate(fails, fails) is None
    v = report.versus([(a, a), (fails, fails)])
    assert v["decisive"] == {"winrate_%": None, "std": None, "per_seed": [None, None], "ci95": None}
    assert v["ties"]["per_seed"] == [100.0, 100.0] and v["paper"]["winrate_%"] == 50.0
    assert "| decisive.winrate_% | n/a |" in report.results_table({"x": v}).replace("  ", " ")
    # Over seeds, a seed with no decisive pair is left out of the mean, not counted as 50
    assert report.versus([(a, fails), (a, a)])["decisive"] == {"winrate_%": 100.0, "std": 0.0,
                                                           "per_seed": [100.0, None], "ci95": [100.0, 100.0]}


def test_the_interval_contains_the_rate_and_is_paired_over_seeds():
    g = torch.Generator().manual_seed(0)
    seeds = [[(torch.rand(120, generator=g) < p).tolist() for p in (0.5, 0.35)] for _ in range(3)]
    for pairs in ([seeds[0]], seeds):
        d = report.versus(pairs)["decisive"]
        low, high = d["ci95"]
        assert low < d["winrate_%"] < high and high - low < 40
        assert d["winrate_%"] == pytest.approx(sum(d["per_seed"]) / len(pairs))
    # Resamples without a decisive pair are skipped: one decisive instruction of 40 still gives an interval
    one = report.versus([([True] + [False] * 39, [False] * 40)])["decisive"]
    assert one["per_seed"] == [100.0] and one["ci95"] == [100.0, 100.0]


def test_tables_and_mean_std():
    m, s = mean_std([50.0, 70.0])
    assert m == 60.0 and s == pytest.approx(200 ** 0.5) and mean_std([5.0]) == (5.0, 0.0)
    assert report.table(["a", "b"], [["x", 1.25]]).splitlines() == ["| a | b |", "|---|---|", "| x | 1.25 |"]
    assert report.results_table({"f": {"w": 50.0, "per": [1, 2], "by": {"q": None}}}).splitlines() == [
        "|  | w | per | by.q |", "|---|---|---|---|", "| f | 50.0 | 1 / 2 | n/a |"]


def test_checks_and_winrate_cli_match_outputs_by_instruction(tmp_path, monkeypatch, capsys):
    ev = write(tmp_path / "eval.jsonl", EVAL, jsonl=True)
    good = write(tmp_path / "good.json", outputs(["so\n#### 5", "an apple", "a\nb", "cherry"], order=(2, 0, 1, 3)))
    bad = write(tmp_path / "bad.json", outputs(["#### 6", "an apple", "one line", "no"]))
    it1 = write(tmp_path / "it1.json", outputs(["#### 5", "pear", "x", "no"]))
    it2 = write(tmp_path / "it2.json", outputs(["#### 5", "apple", "a\nb", "cherry"]))
    assert run_cli(monkeypatch, "checks", "--eval", ev, good, bad, "--json", tmp_path / "c.json") == 0
    res = json.loads((tmp_path / "c.json").read_text())
    assert run_cli(monkeypatch, "checks", "--eval", ev, bad, "--json", tmp_path / "c.json") == 2    # kept
    assert "c.json: exists; pass --overwrite" in capsys.readouterr().err
    assert json.loads((tmp_path / "c.json").read_text()) == res
    # A --json that cannot be written is an error before the work: a directory, a path under a file
    for where, why in [(tmp_path, "is a directory"), (tmp_path / "c.json" / "x.json", "cannot write there")]:
        assert run_cli(monkeypatch, "checks", "--eval", ev, "missing.json", "--json", where) == 2
        assert why in capsys.readouterr().err
    assert res[str(good)]["pass"] == 100.0 and res[str(bad)]["pass"] == 25.0    # the k-th duplicate matches k-th
    assert res[str(bad)]["by_family"] == {"math": 0.0, "poem": 0.0, "qa": 50.0}
    assert 0 < res[str(bad)]["mean_grade_%"] < res[str(good)]["mean_grade_%"] <= 100    # a diagnostic beside
    code = run_cli(monkeypatch, "winrate", "--eval", ev, "--against", f"{it1},{it2}", "--files", f"{good},{good}",
                   "--files", f"{it1},{it2}", "--files", str(bad), "--json", tmp_path / "w.json")
    assert code == 0
    w = json.loads((tmp_path / "w.json").read_text())
    good2, same, once = w[f"{good},{good}"], w[f"{it1},{it2}"], w[str(bad)]
    # vs it1: 3 wins, 1 tie; vs it2: all ties, no decisive pair (left out of the mean)
    assert good2["decisive"]["per_seed"] == [100.0, None] and good2["decisive"]["winrate_%"] == 100.0
    assert good2["ties"]["per_seed"] == [25.0, 100.0] and good2["paper"]["per_seed"] == [100 * 3.5 / 4, 50.0]
    assert same["decisive"] == {"winrate_%": None, "std": None, "per_seed": [None, None], "ci95": None}
    # One output set against every seed: vs it1 a win and a loss, vs it2 three losses and a tie
    assert once["decisive"]["per_seed"] == [50.0, 0.0] and once["paper"]["per_seed"] == [50.0, 100 * 0.5 / 4]
    low, high = once["decisive"]["ci95"]
    assert low <= once["decisive"]["winrate_%"] == 25.0 <= high
    out = capsys.readouterr()
    assert "| decisive.winrate_% | 100.0 | n/a | 25.0 |" in out.out and "paper's judge" in out.err
    assert f"alpaca_eval --model_outputs {good} --reference_outputs {it1}" in out.err
    assert run_cli(monkeypatch, "winrate", "--eval", ev, "--against", str(it1), "--files", f"{it1},{it2}") == 2
    assert "2 files against 1 references" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors_with_exit_2(tmp_path, monkeypatch, capsys):
    ev = write(tmp_path / "eval.jsonl", EVAL, jsonl=True)
    (tmp_path / "empty.json").write_text("")
    missing = write(tmp_path / "missing.json", outputs(["a", "b", "c", "d"], order=(0, 1, 2)))
    other = write(tmp_path / "other.json", outputs(["a", "b", "c", "d"]) + [{"instruction": "Other?", "output": ""}])
    broken = tmp_path / "broken.json"
    broken.write_text('[\n {"instruction": "Add 2 and 3.", "output": "x"},\n {"instruction": oops}\n]')
    bad_eval = write(tmp_path / "bad_eval.jsonl", EVAL[:1] + [dict(EVAL[1], criterion={"containz": ["x"]})], True)
    cases = [(tmp_path / "empty.json", "empty.json: no records"), (missing, "no output for the evaluation"),
             (other, "1 outputs whose instruction is not in the evaluation set"), (broken, "broken.json:3: not valid")]
    for f, msg in cases:
        assert run_cli(monkeypatch, "checks", "--eval", ev, f, "--json", tmp_path / "r.json") == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert run_cli(monkeypatch, "checks", "--eval", bad_eval, missing) == 2
    assert "bad_eval.jsonl:2: unknown criterion key 'containz'" in capsys.readouterr().err
    assert run_cli(monkeypatch, "winrate", "--eval", ev, "--against", f"{missing},{missing}", "--files",
                   f"{other},{other},{other}") == 2
    assert "3 files against 2 references" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()                                # nothing half-written


# ------------------------------------------------------------------------------------------ ranking
class CopyModel(torch.nn.Module):
    """Logit 10 on every token already in the sequence: it always prefers a response that repeats its
    instruction, so the ranking capability on such pairs must be 100%."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size, self.unused = vocab_size, torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids=None, **_):
        return 10.0 * (F.one_hot(input_ids, self.vocab_size).cumsum(1) > 0).float()


WORD_SETS = ["Tom green blue", "Ann poem capital", "apples one two", "recipe cat three"]


def test_ranking_is_100_for_a_model_that_prefers_the_true_response(tiny_tokenizer):
    pairs = [(w, w) for w in WORD_SETS]
    res = evaluate.ranking(CopyModel(tiny_tokenizer.vocab_size), tiny_tokenizer, pairs, distractors=5, batch_size=3)
    assert res == {"pairs": 4, "skipped": 0, "comparisons": 20, "code_mean_token_%": 100.0,
                   "eq3_raw_logprob_%": 100.0, "swap_control_%": 100.0, "code_mean_token_ci95_%": [100.0, 100.0],
                   "swap_control_ci95_%": [100.0, 100.0]}
    long = [(" ".join([WORD_SETS[0]] * 30), "x")]                           # its prompt fills --max-len
    res = evaluate.ranking(CopyModel(tiny_tokenizer.vocab_size), tiny_tokenizer, pairs + long, max_len=60)
    assert res["pairs"] == 4 and res["skipped"] == 1 and res["code_mean_token_%"] == 100.0


def test_ranking_within_groups_draws_only_from_the_pairs_group(tmp_path, tiny_tokenizer):
    m = model.Transformer.from_pretrained(make_checkpoint(tmp_path / "r", tiny_tokenizer))
    pairs = [(f"q {w}", w) for w in WORD_SETS * 3]
    plain = evaluate.ranking(m, tiny_tokenizer, pairs, seed=3)
    one_group = evaluate.ranking(m, tiny_tokenizer, pairs, seed=3, groups=["all"] * len(pairs))
    assert {k: one_group[k] for k in plain} == plain             # one group: the paper's uniform draws
    groups = ["a", "b"] * 6
    res = evaluate.ranking(m, tiny_tokenizer, pairs, seed=3, groups=groups)
    assert set(res["by_group_code_%"]) == {"a", "b"} and res["comparisons"] == 5 * len(pairs)
    low, high = res["code_mean_token_ci95_%"]           # over the pairs: the rate lies inside, the width is real
    assert low <= res["code_mean_token_%"] <= high and 0 < high - low < 100
    # A pair alone in its group has no distractor: skipped, and counted.
    res = evaluate.ranking(m, tiny_tokenizer, pairs, groups=groups[:-1] + ["alone"])
    assert res["skipped"] == 1 and res["pairs"] == len(pairs) - 1
    with pytest.raises(cli.UserError, match="no pair has a distractor"):
        evaluate.ranking(m, tiny_tokenizer, pairs[:3], groups=["x", "y", "z"])


def test_swap_control_cancels_a_responses_own_likelihood(tiny_tokenizer):
    # The copying model prefers a response made of the prompt's words: after its own instruction, not another's.
    pairs = [(w, w) for w in WORD_SETS]
    res = evaluate.ranking(CopyModel(tiny_tokenizer.vocab_size), tiny_tokenizer, pairs, groups=[0, 0, 1, 1])
    assert res["swap_control_%"] == 100.0 and res["by_group_code_%"] == {0: 100.0, 1: 100.0}


def test_knowledge_counts_a_fact_only_where_its_true_statement_is_the_likeliest(tiny_tokenizer):
    copy, tok = CopyModel(tiny_tokenizer.vocab_size), tiny_tokenizer
    probes = [{"true": w, "wrong": [x for x in WORD_SETS if x != w]} for w in WORD_SETS]
    # The copying model prefers the statement made of its question's words: after its own question, the true one
    res = evaluate.knowledge(copy, tok, probes, WORD_SETS, batch_size=3)
    assert res["facts"] == 4 and res["true_first_%"] == 100.0 and res["ci95_%"] == [100.0, 100.0]
    # After another probe's question it prefers one of the wrong ones: each probe is scored against its own
    assert evaluate.knowledge(copy, tok, probes, WORD_SETS[1:] + WORD_SETS[:1])["true_first_%"] == 0.0
    # A tie is not knowledge (the true statement among the wrong ones), as plain text or after the prompt
    tied = [{"true": w, "wrong": [WORD_SETS[0], w]} for w in WORD_SETS]
    assert evaluate.knowledge(copy, tok, tied)["true_first_%"] == 0.0
    assert evaluate.knowledge(copy, tok, tied, WORD_SETS)["true_first_%"] == 0.0


def test_premise_ranks_each_voice_and_probes_knowledge(tmp_path, tiny_checkpoint, capsys):
    words = WORD_SETS * 2
    ev = [{"instruction": f"q {w}", "family": "ab"[i % 2], "reference": w, "criterion": {"contains_any": ["x"]}}
          for i, w in enumerate(words)]
    voices = [{"instruction": r["instruction"], "family": r["family"],
               "voices": {"chat": r["reference"], "corpus": r["reference"] + " too", "neutral": "so " + r["reference"]},
               "knowledge": {"true": r["reference"], "wrong": ["Tom blue", "Ann cat"]}} for r in ev]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ev))
    (tmp_path / "voices.jsonl").write_text("".join(json.dumps(r) + "\n" for r in voices))
    base = ["premise", "--checkpoint", tiny_checkpoint, "--eval", str(tmp_path / "eval.jsonl"), "--distractors", "2"]
    evaluate.main(base + ["--voices", str(tmp_path / "voices.jsonl"), "--json", str(tmp_path / "p.json")])
    res = json.loads((tmp_path / "p.json").read_text())[tiny_checkpoint]
    for voice in ("chat", "corpus", "neutral"):
        assert res[f"same_family_{voice}_voice"]["pairs"] == len(ev)
    # The chat voice is the eval set's own reference: the same draws give the same ranking
    assert res["same_family_chat_voice"] == res["same_family"]
    assert res["knowledge_plain"]["facts"] == res["knowledge_chat"]["facts"] == len(ev)
    voices[3]["knowledge"]["wrong"] = "Tom blue"                     # not a list: one line names the record
    (tmp_path / "voices.jsonl").write_text("".join(json.dumps(r) + "\n" for r in voices))
    with pytest.raises(cli.UserError, match=r"voices.jsonl:4: need a family, voices"):
        evaluate.main(base + ["--voices", str(tmp_path / "voices.jsonl")])


def test_first_token_rank_and_first_lines(tiny_checkpoint, tiny_tokenizer):
    m = model.Transformer.from_pretrained(tiny_checkpoint)
    logits = m(torch.tensor([chat.build_prompt(tiny_tokenizer, "a cat")]))[0, -1]
    order = logits.argsort(descending=True).tolist()
    best, fifth = (tiny_tokenizer.decode([order[k]]) for k in (0, 5))
    ranks = evaluate.first_token_ranks(m, tiny_tokenizer, [("a cat", best + " x"), ("a cat", fifth + " y")])
    assert [order[r] for r in ranks] == [tiny_tokenizer.encode_next(t)[0] for t in (best + " x", fifth + " y")]
    assert criteria.first_lines(["<p> a\nb", "<p> a", "Yes."]) == {"<p> a": 200 / 3, "Yes.": 100 / 3}


def test_ranking_variants_differ_where_lengths_differ(tmp_path, tiny_tokenizer):
    m = model.Transformer.from_pretrained(make_checkpoint(tmp_path / "u", tiny_tokenizer))
    torch.nn.init.zeros_(m.lm_head.weight)                   # uniform next-token distribution: p = 1/V each
    pairs = [("first", "a short one"), ("second", "a much longer response than the other one is")]
    res = evaluate.ranking(m, tiny_tokenizer, pairs, distractors=5)
    assert res["code_mean_token_%"] == 0.0                   # per-token means tie: a tie is not a win
    assert res["eq3_raw_logprob_%"] == 50.0                  # the shorter true response wins, the longer loses


def test_response_nll_is_the_mean_of_per_example_means_and_batch_invariant(tiny_checkpoint, tiny_tokenizer, capsys):
    m = model.Transformer.from_pretrained(tiny_checkpoint)
    convs = [[{"role": "user", "content": u}, {"role": "assistant", "content": a}]
             for u, a in [("What is red?", "A colour."), ("Hi", "Hello there, how are you today?"), ("x", "y")]]
    want, longest = [], 0
    for c in convs:
        ids, labels = train.build_example(tiny_tokenizer, c, "instruction")
        longest = max(longest, len(ids))
        logits = m(torch.tensor([ids]))[0, :-1]
        want.append(F.cross_entropy(logits, torch.tensor(labels[1:]), ignore_index=train.IGNORE).item())
    for bs in (1, 2, 16):
        assert abs(evaluate.response_nll(m, tiny_tokenizer, convs, batch_size=bs) - sum(want) / 3) < 1e-5
    long = [[{"role": "user", "content": "What is red? " * 20}, {"role": "assistant", "content": "A colour."}]]
    nll = evaluate.response_nll(m, tiny_tokenizer, convs + long, max_len=longest)
    assert nll == pytest.approx(sum(want) / 3, abs=1e-5)                      # skipped, not averaged in,
    assert "1 of 4 conversations skipped" in capsys.readouterr().err           # and said so


# ------------------------------------------------------------------------------------- statistics, BLEU
def test_output_stats(tiny_tokenizer):
    pairs = [("Add 2 and 3 please", "Add 2 and 3 please: it is\n#### 5"),
             ("Write a poem about the sea", "waves\nand more waves\nthe sea\nis blue"),
             ("Name a fruit", "Do you like fruit?\n<|user|>\nName a vegetable"),
             ("Cook rice", "- rice\n- water\n- salt\n\nBoil it. la la la la la la la la")]
    s = criteria.output_stats(pairs, max_new_tokens=9, near=["math", "poetry", None, "math"])
    assert s["n"] == 4 and s["mean_len"] == (9 + 8 + 8 + 16) / 4
    assert s["eos_%"] == 50.0                                 # two outputs are under the 9-word cap
    assert s["rep_ngram_%"] == 100 * 4 / (6 + 5 + 5 + 13)     # "la la la la" repeats 4 times
    assert s["restates_%"] == 25.0 and s["continues_%"] == 25.0
    assert s["style_%"] == {"math": 25.0, "poetry": 50.0, "recipes": 25.0, "code": 0.0, "chess": 0.0}
    assert s["style_near_vs_far_%"]["math"] == (50.0, 0.0)
    assert criteria.output_stats(pairs, tiny_tokenizer)["mean_len"] == sum(
        len(tiny_tokenizer.encode(o)) for _, o in pairs) / 4


def test_bleu4():
    ref = "the cat sat on the mat today"
    assert bleu4(ref, ref) == pytest.approx(100.0)
    assert bleu4("dog runs far away", ref) == 0.0 and bleu4("", ref) == 0.0
    close, short = bleu4("the cat sat on a mat today", ref), bleu4("the cat sat", ref)
    assert 0 < short < close < 100                            # brevity penalty for the short one


# --------------------------------------------------------------------------------------- attribution
def test_wu_score_by_hand():
    I = torch.tensor([[10., 10.], [8., 0.], [1., 9.], [0., -3.]])     # [prompt tokens, response tokens]
    # levels > 7 kept: rows [10, 10], [8, 0], [0, 9], [0, 0]; density 2^(3/4), 1, 1, 0; divided by the max
    score, share = evaluate.wu_score(I, torch.tensor([False, True, True, False]))
    assert score == pytest.approx(2 * 2 ** -0.75 / 2, rel=1e-6)             # log2(2 + 2 instruction tokens) = 2
    assert share == pytest.approx(2 * 2 ** -0.75 / (1 + 2 * 2 ** -0.75), rel=1e-6)


def test_attribution_matrix_is_gradient_times_input(tmp_path, tiny_tokenizer):
    """e_n . dp/de_n is the derivative of p along scaling e_n: check it by central differences (the norms
    compute in float32 whatever the weights' dtype, so a step of 1e-2 keeps rounding out of the way)."""
    m = model.Transformer.from_pretrained(make_checkpoint(tmp_path / "c", tiny_tokenizer), dtype=torch.float64)
    prompt, resp = chat.build_prompt(tiny_tokenizer, "What is red?"), tiny_tokenizer.encode_next("A colour")
    I = evaluate.attribution_matrix(m, prompt, resp)
    P, h = len(prompt), 1e-2
    ids = torch.tensor([prompt + resp])
    emb = m.model.embed_tokens(ids).detach()

    def p(e):
        return m(embeds=e)[0, P - 1:-1].softmax(-1).gather(-1, ids[0, P:, None])[:, 0]      # [M]
    for n in (1, P // 2, P - 1):
        up, down = emb.clone(), emb.clone()
        up[0, n], down[0, n] = up[0, n] * (1 + h), down[0, n] * (1 - h)
        assert I[n - 1].abs().max() > 1e-5
        assert torch.allclose((p(up) - p(down)) / (2 * h), I[n - 1].double(), atol=1e-6, rtol=1e-3)


class SoftCopy(torch.nn.Module):
    """A differentiable copier: each position attends (causally) to the tokens whose embedding has a large
    feature 0 (the 'names') and predicts the identity of what it attends to. Its answer copies the name in
    the instruction, so Wu's attribution must put the mass on that token."""

    def __init__(self, vocab_size, names, dim=16):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        E = torch.randn(vocab_size, dim, generator=g)
        E[:, 0] = 0.0
        E[names, 0] = 3.0
        self.model = torch.nn.Module()
        self.model.embed_tokens = torch.nn.Embedding.from_pretrained(E)

    def forward(self, input_ids=None, embeds=None, **_):
        x = self.model.embed_tokens(input_ids) if embeds is None else embeds      # [B, T, D]
        T = x.shape[1]
        s = (4 * x[..., 0])[:, None, :].expand(-1, T, -1)                          # [B, T, T] attention scores
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        return 0.2 * (s.softmax(-1) @ x) @ self.model.embed_tokens.weight.T        # [B, T, V], p(name) ~ 0.3


def test_attribution_puts_the_mass_on_the_copied_instruction_token(tiny_tokenizer):
    tok = tiny_tokenizer
    name = tok.piece_id("▁Tom")
    m = SoftCopy(tok.vocab_size, [name, tok.piece_id("▁Ann")])
    prompt = chat.build_prompt(tok, "cat blue Tom one two")
    assert prompt.count(name) == 1 and m(torch.tensor([prompt]))[0, -1].argmax() == name      # it copies
    for resp in ([name], [name, name, name]):
        I = evaluate.attribution_matrix(m, prompt, resp)
        assert (I.argmax(0) + 1 == prompt.index(name)).all()                   # row n-1 is prompt token n
        is_name = torch.tensor(prompt[1:]) == name
        assert evaluate.wu_score(I, is_name) == pytest.approx((1 / math.log2(3), 1.0), abs=1e-6)
        score, share = evaluate.instruction_attribution(m, tok, "cat blue Tom one two", resp)
        n_ins = len(tok.encode_next("cat blue Tom one two"))                 # Wu's log2(2 + |instruction|)
        assert share == pytest.approx(1.0) and score == pytest.approx(1 / math.log2(2 + n_ins))


def test_attribution_protocol_base_vs_tuned(tmp_path, tiny_tokenizer):
    models = [(model.Transformer.from_pretrained(make_checkpoint(tmp_path / f"m{s}", tiny_tokenizer, seed=s)),
               tiny_tokenizer) for s in (0, 1)]
    res = evaluate.attribution(models, ["What is red?", "Name two apples", "Why?"], max_new_tokens=6, min_tokens=1)
    assert len(res) == 2 and res[0]["diff_vs_first"] is None and [r["n"] for r in res] == [3, 3]
    # The paired difference of the two models' scores on the same prompts, inside its bootstrap interval.
    assert res[1]["diff_vs_first"] == pytest.approx(res[1]["score"] - res[0]["score"])
    lo, hi = res[1]["diff_ci95"]
    assert lo <= res[1]["diff_vs_first"] <= hi and lo < hi
    none = evaluate.attribution(models, ["What is red?", "Why?"], max_new_tokens=3, min_tokens=5)   # all too short
    assert [r["n"] for r in none] == [0, 0] and none[1]["score"] is None and none[1]["diff_ci95"] is None


def test_model_subcommands_run_from_the_command_line(tmp_path, tiny_tokenizer, monkeypatch, capsys):
    pytest.importorskip("generate")
    a, b = (make_checkpoint(tmp_path / n, tiny_tokenizer, seed=s) for n, s in (("base", 0), ("tuned", 1)))
    convs = [{"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": r}]}
             for u, r in [("What is red?", "A colour."), ("Name a dog", "Tom"), ("Add 2 and 3", "#### 5")]]
    data = write(tmp_path / "train.jsonl", convs, jsonl=True)
    assert run_cli(monkeypatch, "attribution", "--checkpoints", a, b, "--eval", data, "--max-new-tokens", 6,
                   "--device", "cpu", "--json", tmp_path / "a.json") == 0
    assert set(json.loads((tmp_path / "a.json").read_text())) == {a, b}
    assert run_cli(monkeypatch, "im", "--checkpoint", a, b, "--train", data, "--heldout", data, "--bleu", 2,
                   "--device", "cpu", "--json", tmp_path / "im.json") == 0
    im = json.loads((tmp_path / "im.json").read_text())
    assert im[a]["train_nll"] == im[a]["heldout_nll"] and im[a]["train_bleu4"] < 100
    assert "| train_nll | heldout_nll | train_bleu4 |" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ the judge
class FakeEndpoint:
    """An OpenAI-like /v1/chat/completions on 127.0.0.1. `script` answers each request in turn (then repeats
    its last entry): "judge" prefers the output that contains GOOD; an int is an HTTP error status; "slow"
    sleeps past the client's timeout; "trickle" sends its answer a byte every 0.05 s; "junk" is a reply without
    choices; "redirect URL" answers 302 to URL; any other string is the answer. `auth` keeps each request's
    Authorization header; a GET is answered "Output (a)" and kept in `gets`."""

    def __init__(self, script):
        self.script, self.prompts, self.auth, self.gets = list(script), [], [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_GET(self):                   # what urllib turns a POST into when it follows a 302
                outer.gets.append(self.headers.get("Authorization"))
                data = json.dumps({"choices": [{"message": {"content": "Output (a)"}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.prompts.append(body["messages"][0]["content"])
                outer.auth.append(self.headers.get("Authorization"))
                act = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                if isinstance(act, int):
                    return self.send_error(act)
                if act.startswith("redirect "):
                    self.send_response(302)
                    self.send_header("Location", act.split()[1])
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if act == "slow":
                    time.sleep(1.0)
                prompt = outer.prompts[-1]
                trickle = act == "trickle"
                act = "Output (a)" if trickle else act
                if act == "judge":
                    act = "Output (a)" if "GOOD" in prompt.split("# Output (a)")[1].split("# Output (b)")[0] \
                        else "Output (b)"
                reply = {"id": "x"} if act == "junk" else {"choices": [{"message": {"role": "assistant",
                                                                                     "content": act}}]}
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for k in range(len(data) if trickle else 1):
                        self.wfile.write(data[k:k + 1] if trickle else data)
                        self.wfile.flush()
                        time.sleep(0.05 if trickle else 0)
                except OSError:                  # the client gave up (timeout) before the answer came
                    pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    servers = []

    def start(*script):
        servers.append(FakeEndpoint(script))
        return servers[-1]
    yield start
    for s in servers:
        s.close()


def judge(url, cache, **kw):
    return judge_mod.Judge(url, "judge-model", cache=str(cache), **{"retries": 2, "timeout": 0.3, "backoff": 0.01, **kw})


def test_judge_order_is_randomised_and_answers_are_cached(endpoint, tmp_path):
    srv = endpoint("judge")
    items = [(f"question {i}", f"GOOD answer {i}", f"weak answer {i}") for i in range(12)]
    j = judge(srv.url, tmp_path / "cache.jsonl")
    assert [j.compare(*it) for it in items] == [1.0] * 12                     # a wins whatever the order shown
    assert [j.compare(q, b, a) for q, a, b in items] == [0.0] * 12
    first = [p.split("# Output (a)")[1].split("# Output (b)")[0] for p in srv.prompts]
    assert 0 < sum("GOOD" in f for f in first) < len(first)                   # both orders occurred
    assert j.compare("q", "same", "same ") == 0.5 and len(srv.prompts) == 24  # identical outputs: a tie, not asked
    again = judge(srv.url, tmp_path / "cache.jsonl")
    assert [again.compare(*it) for it in items] == [1.0] * 12 and again.calls == 0 and len(srv.prompts) == 24


def test_judge_retries_server_errors_then_answers(endpoint, tmp_path):
    srv = endpoint(500, 503, "Output (a)")
    j = judge(srv.url + "/chat/completions", tmp_path / "c.jsonl", seed=1)
    assert j.ask("prompt") == "a" and j.calls == 3


@pytest.mark.parametrize("script, calls, msg", [
    (("slow",), 3, "timed out"),                 # timeouts: retried, then reported
    ((429,), 3, "HTTP 429"), (("junk",), 3, "KeyError"), (("I like both",), 3, "unusable answer"),
    ((401,), 1, "HTTP 401"),                     # a bad key: asking again will not help
])
def test_judge_failures_are_reported_never_scored(endpoint, tmp_path, script, calls, msg):
    srv = endpoint(*script)
    j = judge(srv.url, tmp_path / "c.jsonl")
    t = time.time()
    with pytest.raises(judge_mod.JudgeError, match=msg):
        j.compare("q", "one", "two")
    assert j.calls == calls and time.time() - t < 5
    assert not (tmp_path / "c.jsonl").exists() or (tmp_path / "c.jsonl").read_text() == ""    # nothing cached


def test_judge_cli_reports_failures_with_exit_2_and_scores_otherwise(endpoint, tmp_path, monkeypatch, capsys):
    ref = write(tmp_path / "it.json", outputs(["weak", "weak", "weak", "GOOD"]))
    a = write(tmp_path / "a.json", outputs(["GOOD", "GOOD", "weak", "GOOD"]))
    args = ["judge", "--model", "m", "--against", ref, "--files", a, "--retries", "1", "--timeout", "0.3",
            "--cache", tmp_path / "cache.jsonl", "--json", tmp_path / "j.json"]
    bad = endpoint(500)
    assert run_cli(monkeypatch, *args, "--url", bad.url) == 2
    assert "judgements failed, none scored" in capsys.readouterr().err and not (tmp_path / "j.json").exists()
    good = endpoint("judge")
    assert run_cli(monkeypatch, *args, "--url", good.url) == 0
    res = json.loads((tmp_path / "j.json").read_text())
    assert res[str(a)]["per_seed"] == [100 * (1 + 1 + 0.5 + 0.5) / 4]        # identical outputs tie
    assert "alpaca_eval --model_outputs" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- the paper's real files
ALPACA = SHARED / "data" / "alpaca_eval" / "gpt4_1106_preview_outputs.json"
LIMA = SHARED / "data" / "lima" / "lima_data.jsonl"


@needs_shared_data
def test_stats_on_alpaca_eval_and_lima_files(monkeypatch, tmp_path, capsys):
    tok = ["--tokenizer", LLAMA2_TOKENIZER] if LLAMA2_TOKENIZER.exists() else []
    code = run_cli(monkeypatch, "stats", ALPACA, LIMA, *tok, "--max-new-tokens", 8192, "--json", tmp_path / "s.json")
    assert code == 0
    res = json.loads((tmp_path / "s.json").read_text())
    assert res[str(ALPACA)]["n"] == 805 and res[str(LIMA)]["n"] == 1030
    for r in res.values():
        assert r["mean_len"] > 50 and 0 <= r["rep_ngram_%"] < 50 and r["eos_%"] > 90
    out = capsys.readouterr().out                          # many measures: one row each, a column per file
    assert "| n | 805 | 1030 |" in out and "\n| mean_len | " in out


@needs_shared_data
@needs_llama2
def test_ranking_and_nll_on_alpaca_eval_and_lima_files(tmp_path, monkeypatch):
    ckpt = make_checkpoint(tmp_path / "llama-vocab", model.Tokenizer(str(LLAMA2_TOKENIZER)), hidden_size=16,
                           intermediate_size=32, num_attention_heads=2, num_key_value_heads=1)
    for data in (ALPACA, LIMA):
        out = tmp_path / f"{data.stem}.json"
        assert run_cli(monkeypatch, "rank", "--checkpoint", ckpt, "--data", data, "--limit", 6, "--max-len", 96,
                       "--batch-size", 4, "--device", "cpu", "--json", out) == 0
        res = json.loads(out.read_text())[ckpt]
        assert res["pairs"] + res["skipped"] == 6 and res["comparisons"] == 5 * res["pairs"] > 0
        # A random model ranks the true response by chance: neither always nor never.
        assert 0 < res["code_mean_token_%"] < 100 and 0 < res["eq3_raw_logprob_%"] < 100
    assert run_cli(monkeypatch, "im", "--checkpoint", ckpt, "--train", LIMA, "--heldout", ALPACA, "--limit", 4,
                   "--max-len", 64, "--device", "cpu", "--json", tmp_path / "im.json") == 0
    im = json.loads((tmp_path / "im.json").read_text())[ckpt]
    assert 9 < im["train_nll"] < 12 and 9 < im["heldout_nll"] < 12          # a random model: about ln(32000)


def test_empty_file_names_and_no_distractors_are_clear_errors(tmp_path, monkeypatch, capsys):
    ev = write(tmp_path / "eval.jsonl", EVAL, jsonl=True)
    f = write(tmp_path / "f.json", outputs(["a", "b", "c", "d"]))
    for against, files in [("", f), (f"{f},", f), (f, "")]:
        assert run_cli(monkeypatch, "winrate", "--eval", ev, "--against", against, "--files", files) == 2
        err = capsys.readouterr().err
        assert err == "error: --against and --files need file names, none empty\n", err
    assert run_cli(monkeypatch, "rank", "--checkpoint", "nowhere", "--data", f, "--distractors", "0") == 2
    assert capsys.readouterr().err == "error: need 1 <= --distractors <= 1000\n"          # before loading a model


def test_judge_deadline_bounds_the_whole_call_and_flags_cache_and_key_are_checked(tmp_path, monkeypatch):
    from lib.judge import Judge, JudgeError
    server = FakeEndpoint(["trickle"])                  # ~60 bytes at 0.05 s each: 3 s, each read fast
    judge = Judge(server.url, "m", retries=0, timeout=0.5, backoff=0)
    t0 = time.time()
    with pytest.raises(JudgeError, match="longer than --timeout"):
        judge.ask("which?")
    assert time.time() - t0 < 1.5
    for retries, timeout in ((-1, 1.0), (0, 0.0)):
        with pytest.raises(UserError, match="--retries >= 0 and --timeout > 0"):
            Judge(server.url, "m", retries=retries, timeout=timeout)
    (tmp_path / "a-file").write_text("")                # a cache under a file cannot be written, even by root
    with pytest.raises(UserError, match="cannot write the judge's cache"):
        Judge(server.url, "m", cache=str(tmp_path / "a-file" / "cache.jsonl"))
    # The key goes only over https: a plain http endpoint never sees it.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    ok = FakeEndpoint(["Output (a)"])
    assert Judge(ok.url, "m", backoff=0).ask("which?") == "a" and ok.auth == [None]


def test_stats_defaults_are_the_tables(tmp_path):
    # Lengths in the toy base's tokens and EOS against the tables' 128-token cap, as data/results reports them.
    a = evaluate.parser().parse_args(["stats", str(tmp_path / "out.json")])
    assert a.max_new_tokens == 128 and model.Tokenizer(a.tokenizer).vocab_size == 4000


def test_judge_never_follows_a_redirect(endpoint, tmp_path, monkeypatch):
    """A 302 to another host: not followed, so the key never goes there and its reply is never a verdict."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    elsewhere = endpoint("Output (a)")
    srv = endpoint(f"redirect {elsewhere.url}/chat/completions")
    with pytest.raises(judge_mod.JudgeError, match="HTTP 302 .* not followed"):
        judge(srv.url, tmp_path / "c.jsonl").ask("which?")
    assert len(srv.prompts) == 1 and elsewhere.gets == elsewhere.prompts == []


def test_each_command_keeps_its_own_limit_default():
    # argparse parents share their actions: a set_defaults on one subcommand once gave every model command 50
    p = evaluate.parser()
    limits = {c.split()[0]: p.parse_args(c.split()).limit for c in
              ["rank --checkpoint x --data y", "premise --checkpoint x --eval y", "attribution --checkpoints x "
               "--prompts y", "im --checkpoint x --train a --heldout b"]}
    assert limits == {"rank": 1000, "premise": None, "attribution": 50, "im": None}
