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

from data import suites, world
from data.criteria import check, grade
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


def test_degenerate_outputs_pass_at_most_2_percent_of_the_checks(records):
    w = world.World(0)
    kinds = {}
    for r in records:
        for kind, out in suites.degenerate(r, w)[:-1]:          # the family templates: below
            kinds.setdefault(kind, []).append(check(out, r["criterion"]))
    for kind, passed in kinds.items():
        assert sum(passed) / len(passed) <= 0.02, (kind, sum(passed))
    # Each family's cheapest template, given for every instruction of its family: a share of all the checks
    # (a guess among four leg counts or three classes passes a quarter or a third of its own family).
    for fam in world.FAMILIES:
        passed = sum(check(suites.cheap(r), r["criterion"]) for r in records if r["family"] == fam)
        assert passed / len(records) <= 0.02, (fam, passed)


def test_right_answers_in_other_wordings_pass_at_least_90_percent(records):
    for fam in world.FAMILIES:
        outs = [(o, r) for r in records if r["family"] == fam for o in suites.wordings(r)]
        kinds = len(suites.wordings(next(r for r in records if r["family"] == fam)))
        assert kinds >= 5, fam
        assert sum(check(o, r["criterion"]) for o, r in outs) / len(outs) >= 0.9, fam


def test_the_sets_hold_400_distinct_items_each(records):
    assert len({(json.dumps(r["criterion"], sort_keys=True), r["reference"]) for r in records}) >= 400


HOSTILE = ["def f(x):\n    import os\n    return os.listdir('/')", "def f(x):\n    return open('/etc/passwd').read()",
           "def f(x):\n    return __import__('socket')", "def f(x):\n    return x.__class__.__bases__",
           "def f(x):\n    return eval('1')", "def f(x):\n    return exec('x = 1')", "def f(x):\n    while True:\n"
           "        x = x + 1", "def f(x):\n    return 'a' * 10 ** 9", "def f(x):\n    return 9 ** 9 ** 9",
           "def f(x):\n    return f(x)", "def f(x):\n    return [i for i in range(10 ** 12)]",
           "def f(x):\n    return globals()", "def f(x):\n    print(x)\n    return x", "def f(x):\n    return len(range(10 ** 12))",
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
