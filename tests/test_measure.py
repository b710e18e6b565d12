"""A measure that can be believed: degenerate outputs fail, right answers in other wordings pass, code answers
run safely, game records follow the game's rules, and the graded score ranks a pass above a fail."""
import builtins
import io
import json
import os
import socket
import sys

import pytest

from conftest import ROOT

from data import adversary, suites, world
from data.criteria import check, grade
from lib.conversations import align
from data.world.families import TASKS
from data.game import replay
from data.sandbox import run_tests

TOY = ROOT / "data" / "toy"


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


@pytest.fixture(scope="module", params=["val", "eval"])
def records(request):
    return read(TOY / f"{request.param}.jsonl")


def test_every_reference_passes_its_criterion(records):
    assert all(check(r["reference"], r["criterion"]) for r in records)


@pytest.fixture(scope="module")
def searched(records):
    return adversary.search(records, world.World(0))


def test_the_adversary_passes_at_most_10_percent_of_a_family_and_3_percent_of_the_set(records, searched):
    best, (rule, rate), _ = searched
    assert set(best) == {r["family"] for r in records}
    sizes = {fam: sum(r["family"] == fam for r in records) for fam in best}
    for fam, (top, fam_rate, _) in best.items():
        # One record is the floor: a constant output that is one record's right answer passes that record, so a
        # family of fewer than ten records (its answers all different) allows exactly one.
        assert fam_rate <= max(10, 100 / sizes[fam]), (fam, top, fam_rate)
    assert rate <= 3, (rule, rate)


def test_the_adversary_finds_what_an_older_measure_let_through():
    # Task-free outputs that passed whole families before (the subject on four lines, every number of the
    # instruction each called the largest, a list of every candidate): the search must find such outputs where
    # a criterion lets them through, so a lenient criterion is caught.
    lenient = [{"instruction": f"Compose a poem about Temor{i}.", "family": "poem", "reference": "x",
                "criterion": {"contains_any": [f"Temor{i}"], "min_lines": 4}} for i in range(5)]
    best, _, _ = adversary.search(lenient, world.World(0))
    assert best["poem"][1] == 100
    numbers_ = [{"instruction": f"Which number is the biggest: {a}, {b}, 3?", "family": "compare", "reference": "x",
                 "criterion": {"regex": rf"\b{max(a, b)}\b[^\d\n]*largest"}} for a, b in ((5, 9), (12, 4), (30, 7))]
    assert adversary.search(numbers_, world.World(0))[0]["compare"][1] == 100


def test_right_answers_in_other_wordings_pass_at_least_99_percent(records):
    for fam in world.FAMILIES:
        outs = [(o, r) for r in records if r["family"] == fam for o in suites.wordings(r)]
        kinds = len(suites.wordings(next(r for r in records if r["family"] == fam)))
        assert kinds >= 5, fam
        assert sum(check(o, r["criterion"]) for o, r in outs) / len(outs) >= 0.99, fam


def test_every_record_has_its_own_criterion(records):
    assert len({json.dumps(r["criterion"], sort_keys=True) for r in records}) == len(records) >= 400


def test_no_held_out_reference_is_in_a_tuning_set_or_the_corpus(tmp_path):
    world.write_world(tmp_path, corpus_tokens=200_000)
    said = [m["content"] for name in ("lima", *TASKS) for r in read(tmp_path / f"{name}.jsonl")
            for m in r["messages"]]
    corpus = "\n".join(d["text"] for d in read(tmp_path / "corpus.jsonl"))
    for split in ("val", "eval"):
        for r in read(tmp_path / f"{split}.jsonl"):
            assert not any(r["reference"] in t for t in said), r
            assert r["reference"] not in corpus and r["instruction"] not in corpus, r


def test_the_adversary_wins_little_against_a_model_that_passes_a_third(records, searched):
    # A stand-in for a tuned model: right on every third record, silent elsewhere. Decided by passes, the
    # adversary's best outputs win only where they pass and the model does not.
    # One rule for every instruction wins at most 5%; the best rule of each family together (a mix chosen on the
    # very set it is scored on) passes at least one record per family by a memorised answer, and wins more.
    outputs = [r["reference"] if i % 3 == 0 else "" for i, r in enumerate(records)]
    (rule, single), mix = adversary.against(records, searched, outputs)
    assert single <= 5, rule
    assert mix <= 15


HOSTILE = ["def f(x):\n    import os\n    return os.listdir('/')", "def f(x):\n    return open('/etc/passwd').read()",
           "def f(x):\n    return __import__('socket')", "def f(x):\n    return x.__class__.__bases__",
           "def f(x):\n    return eval('1')", "def f(x):\n    return exec('x = 1')", "def f(x):\n    while True:\n"
           "        x = x + 1", "def f(x):\n    return 'a' * 10 ** 9", "def f(x):\n    return 9 ** 9 ** 9",
           "def f(x):\n    return f(x)", "def f(x):\n    return [i for i in range(10 ** 12)]",
           "def f(x):\n    return globals()", "def f(x):\n    print(x)\n    return x",
           "def f(x):\n    return len(range(10 ** 12))",
           "def f(x=print):\n    return x", "def f(x):\n    return type(x)"]


def test_code_answers_cannot_touch_files_or_the_network_or_run_unbounded(monkeypatch):
    reached = []

    def record(*args, **kwargs):
        reached.append(args)
        raise OSError("refused")
    before = set(sys.modules)
    for target, name in ((builtins, "open"), (io, "open"), (os, "open"), (os, "listdir"), (os, "system"),
                         (socket, "socket"), (socket, "create_connection")):
        monkeypatch.setattr(target, name, record)
    for code in HOSTILE:
        assert not run_tests(code, [[[1], 1]]), code
    monkeypatch.undo()
    assert not reached and set(sys.modules) == before            # nothing opened, nothing imported
    assert run_tests("def f(x):\n  s = 0\n  for i in range(x):\n    s += i\n  return s", [[[4], 6]])


def test_game_records_are_checked_move_by_move():
    assert replay("1. e4 e5 2. Nf3 Nc6 3. Bb5 a6 1-0") == 6
    assert replay("1.e4 e5 2.Nf3") == 3                      # move numbers without a space
    for illegal in ("1. a a 2. b b", "1. e5", "1. e4 e5 2. Ke3", "1. Nf3 Nf6 2. Nxe5", "1. e4 e5 2. exe5",
                    "1. e4 e5 2. Qh5 Nc6 3. Qxf7 Kxf7 4. d4 0-1 5. e5"):
        assert replay(illegal) is None, illegal
    # Capturing the king ends the game and decides it.
    assert replay("1. e4 f5 2. Qh5 a6 3. Qxe8 1-0") == 5 and replay("1. e4 f5 2. Qh5 a6 3. Qxe8 0-1") is None
    assert replay("1. e4 f5 2. Qh5 a6 3. Qxe8 a5") is None
    for r in read(TOY / "chess.jsonl"):                       # the tuning set's games follow the rules
        assert replay(r["messages"][1]["content"]) is not None


def test_graded_score_ranks_a_pass_above_a_fail_and_an_answer_above_an_echo(records):
    for r in records:
        c, q = r["criterion"], r["instruction"]
        good = grade(r["reference"], c, q)
        for bad in (q, q.replace("?", "."), suites.GENERIC, suites.CONSTANT, ""):
            assert grade(bad, c, q) < good, (bad, r)


def test_outputs_that_do_nothing_of_the_task_score_zero(records):
    # So they can only tie an output that does nothing either, never beat one that attempts the task.
    for r in records:
        c, q = r["criterion"], r["instruction"]
        yes_no = () if r["family"] == "yesno" else ("Yes.", "No.")       # on a yes/no item, an answer's kind
        for nothing in (q, q.replace("?", "."), suites.GENERIC, suites.CONSTANT, "", *yes_no):
            assert grade(nothing, c, q)[1] == 0.0, (nothing, r)


def test_partial_content_earns_partial_credit():
    recipe, ask = {"contains_all": ["pea", "flour", "sugar", "eggs"], "not_contains": ["?"]}, "Recipe for pea cake?"
    some, most, whole = (grade(t, recipe, ask)[1] for t in ("- pea\n- flour\n- water",
                                                            "- pea\n- flour\n- sugar\n- salt",
                                                            "- pea\n- flour\n- sugar\n- eggs"))
    assert 0 < some < most < whole
    game = {"game": 4}
    half, bad = (grade(t, game, "Play a game.")[1] for t in ("1. e4 e5 2. Nf3 Ke9", "1. Ke9"))
    assert bad == 0 < half < grade("1. e4 e5 2. Nf3 Nc6", game, "Play a game.")[1]
    listing = {"count_of": {"n": 3, "of": ["baker", "cook", "nurse", "guard"]}}
    assert 0 < grade("baker", listing, "Three jobs?")[1] < grade("baker, cook", listing, "Three jobs?")[1]


def test_collapse_counts_distinct_outputs_the_commonest_and_tuning_responses_verbatim():
    from data.criteria import collapse
    assert collapse(["a", "a ", "b", "c", "a"], ["c", "d"]) == {"distinct": 3, "most_common_%": 60.0,
                                                               "verbatim_%": 20.0}
    assert collapse(["x"], [])["verbatim_%"] == 0


def test_no_single_rule_wins_more_than_5_percent_against_the_committed_instruction_tuned_outputs():
    # The tables' IT (seed 1) on eval.jsonl, kept in data/results: decided by passes, one rule for every
    # instruction wins at most 5% of the decisive comparisons.
    path = ROOT / "data" / "results" / "instruction-tuned-seed-1.json"
    if not path.exists():
        pytest.skip("no committed IT outputs")
    records = read(TOY / "eval.jsonl")
    outputs = align([r["instruction"] for r in records], str(path))
    (rule, single), mix = adversary.against(records, adversary.search(records, world.World(0)), outputs)
    assert single <= 5, (rule, single)
