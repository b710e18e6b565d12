"""evaluate.py: the criteria language, win rates, ranking, statistics, attribution, IM diagnostics, the judge."""
import pytest

import evaluate
from model import UserError


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
    ({}, "anything", None),
])
def test_each_criterion_passes_and_fails(criterion, good, bad):
    assert evaluate.check(good, criterion) is True
    if bad is not None:
        assert evaluate.check(bad, criterion) is False


@pytest.mark.parametrize("criterion", [
    {"contains": ["x"]},                     # unknown key
    {"contains_any": "x"},                   # a string where a list is needed
    {"contains_all": ["x", 3]},
    {"min_lines": "3"}, {"max_words": 2.5}, {"min_lines": True},
    {"regex": "("},                          # does not compile
    {"final_answer": 42},
    ["contains_any"],
])
def test_malformed_criterion_is_a_user_error(criterion):
    with pytest.raises(UserError):
        evaluate.check("text", criterion)


# ------------------------------------------------------------------------------------------ helpers
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import model  # noqa: E402
import train  # noqa: E402
from conftest import LLAMA2_TOKENIZER, SHARED, make_checkpoint, needs_llama2, needs_shared_data  # noqa: E402


def run_cli(monkeypatch, *argv):
    """evaluate.py's command line in this process: the exit code (0 when main returns)."""
    monkeypatch.setattr(sys, "argv", ["evaluate.py", *map(str, argv)])
    try:
        model.cli(evaluate.main)
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
def test_winrate_of_a_file_against_itself_is_50_and_ties_count_half():
    a, b = [True, False, True, False], [False, False, True, True]
    assert evaluate.winrate(a, a) == 50.0
    assert evaluate.winrate(a, b) == 100 * (1 + 0.5 + 0.5 + 0) / 4
    assert evaluate.winrate(a, b) + evaluate.winrate(b, a) == 100.0


def test_checks_and_winrate_cli_match_outputs_by_instruction(tmp_path, monkeypatch, capsys):
    ev = write(tmp_path / "eval.jsonl", EVAL, jsonl=True)
    good = write(tmp_path / "good.json", outputs(["so\n#### 5", "an apple", "a\nb", "cherry"], order=(2, 0, 1, 3)))
    bad = write(tmp_path / "bad.json", outputs(["#### 6", "an apple", "one line", "no"]))
    it1 = write(tmp_path / "it1.json", outputs(["#### 5", "pear", "x", "no"]))
    it2 = write(tmp_path / "it2.json", outputs(["#### 5", "apple", "a\nb", "cherry"]))
    assert run_cli(monkeypatch, "checks", "--eval", ev, good, bad, "--json", tmp_path / "c.json") == 0
    res = json.loads((tmp_path / "c.json").read_text())
    assert res[str(good)]["pass"] == 100.0 and res[str(bad)]["pass"] == 25.0    # the k-th duplicate matches k-th
    assert res[str(bad)]["by_family"] == {"math": 0.0, "poem": 0.0, "qa": 50.0}
    code = run_cli(monkeypatch, "winrate", "--eval", ev, "--against", f"{it1},{it2}", "--files", f"{good},{good}",
                   "--files", f"{it1},{it2}", "--files", str(bad), "--json", tmp_path / "w.json")
    assert code == 0
    w = json.loads((tmp_path / "w.json").read_text())
    assert w[f"{good},{good}"]["per_seed"] == [100 * 3.5 / 4, 50.0]          # vs it1: 3 wins 1 tie; vs it2: ties
    assert w[f"{it1},{it2}"]["per_seed"] == [50.0, 50.0] and w[f"{it1},{it2}"]["std"] == 0.0
    assert w[str(bad)]["per_seed"] == [100 * 2.0 / 4, 100 * 0.5 / 4]       # one output set against every seed
    out = capsys.readouterr().out
    assert "| condition |" in out and f"alpaca_eval --model_outputs {good} --reference_outputs {it1}" in out


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
    assert res == {"pairs": 4, "comparisons": 20, "code_mean_token_%": 100.0, "eq3_raw_logprob_%": 100.0}


def test_ranking_variants_differ_where_lengths_differ(tmp_path, tiny_tokenizer):
    m = model.Transformer.from_pretrained(make_checkpoint(tmp_path / "u", tiny_tokenizer))
    torch.nn.init.zeros_(m.lm_head.weight)                   # uniform next-token distribution: p = 1/V each
    pairs = [("first", "a short one"), ("second", "a much longer response than the other one is")]
    res = evaluate.ranking(m, tiny_tokenizer, pairs, distractors=5)
    assert res["code_mean_token_%"] == 0.0                   # per-token means tie: a tie is not a win
    assert res["eq3_raw_logprob_%"] == 50.0                  # the shorter true response wins, the longer loses


def test_response_nll_is_the_mean_of_per_example_means_and_batch_invariant(tiny_checkpoint, tiny_tokenizer):
    m = model.Transformer.from_pretrained(tiny_checkpoint)
    convs = [[{"role": "user", "content": u}, {"role": "assistant", "content": a}]
             for u, a in [("What is red?", "A colour."), ("Hi", "Hello there, how are you today?"), ("x", "y")]]
    want = []
    for c in convs:
        ids, labels = train.build_example(tiny_tokenizer, c, "instruction")
        logits = m(torch.tensor([ids]))[0, :-1]
        want.append(F.cross_entropy(logits, torch.tensor(labels[1:]), ignore_index=train.IGNORE).item())
    for bs in (1, 2, 16):
        assert abs(evaluate.response_nll(m, tiny_tokenizer, convs, batch_size=bs) - sum(want) / 3) < 1e-5


# ------------------------------------------------------------------------------------- statistics, BLEU
def test_output_stats(tiny_tokenizer):
    pairs = [("Add 2 and 3 please", "Add 2 and 3 please: it is\n#### 5"),
             ("Write a poem about the sea", "waves\nand more waves\nthe sea\nis blue"),
             ("Name a fruit", "Do you like fruit?\n<|user|>\nName a vegetable"),
             ("Cook rice", "- rice\n- water\n- salt\n\nBoil it. la la la la la la la la")]
    s = evaluate.output_stats(pairs, max_new_tokens=9, near=["math", "poetry", None, "math"])
    assert s["n"] == 4 and s["mean_len"] == (9 + 8 + 8 + 16) / 4
    assert s["eos_%"] == 50.0                                 # two outputs are under the 9-word cap
    assert s["rep_ngram_%"] == 100 * 4 / (6 + 5 + 5 + 13)     # "la la la la" repeats 4 times
    assert s["restates_%"] == 25.0 and s["continues_%"] == 25.0
    assert s["style_%"] == {"math": 25.0, "poetry": 50.0, "recipes": 25.0, "code": 0.0, "chess": 0.0}
    assert s["style_near_vs_far_%"]["math"] == (50.0, 0.0)
    assert evaluate.output_stats(pairs, tiny_tokenizer)["mean_len"] == sum(
        len(tiny_tokenizer.encode(o)) for _, o in pairs) / 4


def test_bleu4():
    ref = "the cat sat on the mat today"
    assert evaluate.bleu4(ref, ref) == pytest.approx(100.0)
    assert evaluate.bleu4("dog runs far away", ref) == 0.0 and evaluate.bleu4("", ref) == 0.0
    close, short = evaluate.bleu4("the cat sat on a mat today", ref), evaluate.bleu4("the cat sat", ref)
    assert 0 < short < close < 100                            # brevity penalty for the short one
