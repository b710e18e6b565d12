"""The code sandbox and the game scorer stay bounded on hostile answers: every size is known before a value is
built, each test case has a wall clock as well as a step limit, a syntax tree too deep to parse is one False,
and a long legal game is scored in one pass. Ordinary answers keep their verdicts."""
import random
import resource
import time

import pytest

from data import game
from data.sandbox import MAX_BUILT, MAX_SIZE, format_size, run_tests, text_size

F = "def f(x):\n"
NESTED = "[[[0] * 10 ** 4] * 10 ** 4] * 10 ** 4"       # 30,000 items in memory, 10 ** 12 when written out
# Each built a gigabyte, ran for minutes or raised out of run_tests.
HOSTILE = {
    "%-width": F + "    return '%1000000000d' % 1",
    "%-width from the arguments": F + "    return '%*d' % (-1000000000, 1)",
    "%-precision": F + "    return '%.1000000000f' % 1.0",
    "%-widths that add up": F + "    return '%9999d' * 2000 % tuple([1] * 2000)",
    "%s of a nested list": F + f"    return '%s' % ({NESTED},)",
    "tuple repetition": F + "    return (0,) * 10 ** 18",
    "tuple of tuples": F + "    t = (0,) * 10000\n    return t * 10000",
    "slice assignment": F + "    a = [0] * 100\n    for i in range(40):\n        a[0:0] = a\n    return a",
    "str of a nested list": F + f"    return str({NESTED})",
    "comparing nested lists": F + f"    return {NESTED} == {NESTED}",
    "sorting nested lists": F + f"    return sorted({NESTED})",
    "sum of lists": F + "    b = [[0] * 10 ** 4] * 10 ** 4\n    return sum(b, [])",
    "sum of many short lists": F + "    b = sum([[0]] * 10000, [])\n    return sum([b] * 1000, [])",
    "round to many digits": F + "    return round(5, -10 ** 7)",
    "a list holding itself": F + "    a = [0]\n    a[0] = a\n    return str(a)",
    "holding many copies": F + "    a = [0] * 10000\n    k = []\n    while True:\n"
                                   "        k = [k, a[:], a[:], a[:]]",
    "f-string width": F + "    return f'{x:1000000000}'",
    "str.format width": F + "    return '{:1000000000}'.format(x)",
    # The parser recurses: a RecursionError or a MemoryError, not a tree.
    "4,900 chained +": F + "    return x" + "+1" * 4900,
    "3,000 subscripts": F + "    return x" + "[0]" * 3000,
    "9,900 unary -": F + "    return " + "-" * 9900 + "x",
    "900 chained +": F + "    return x" + "+1" * 900,      # parsed, too deep to interpret
    # What a right answer may now use: str and list methods, comprehensions, defaults, a lambda.
    "join of long strings": F + "    return ''.join(['x' * 10000] * 10000)",
    "join with a long separator": F + "    return ('x' * 10000).join(['a'] * 10000)",
    "join of a generator": F + "    return ''.join('x' * 10000 for i in range(10000))",
    "replace of every gap": F + "    s = 'x' * 10000\n    return s.replace('', s)",
    "replace by a longer string": F + "    return ('x' * 10000).replace('x', 'y' * 10000)",
    "upper of a long string": F + "    s = 'ß' * 10000\n    while True:\n        s = s.upper()",
    "split in a loop": F + "    s = 'a ' * 5000\n    while True:\n        a = s.split()",
    "extend doubling": F + "    a = [0]\n    while True:\n        a.extend(a)",
    "append forever": F + "    a = []\n    while True:\n        a.append(a)",
    "insert at the front": F + "    a = [0] * 9999\n    while True:\n        a.insert(0, a)\n        a.pop()",
    "sort of nested lists": F + f"    a = {NESTED}\n    a.sort(reverse=True)\n    return a",
    "count of nested lists": F + f"    a = {NESTED}\n    return a.count(a[0])",
    "index of nested lists": F + f"    a = {NESTED}\n    return a.index([0])",
    "sorted in reverse": F + f"    return sorted({NESTED}, reverse=True)",
    "a comprehension's product": F + "    return [i * j for i in range(10000) for j in range(10000)]",
    "a generator summed": F + "    return sum(i for i in range(10 ** 12))",
    "zip of long ranges": F + "    return zip(range(10 ** 12), range(10 ** 12))",
    "count in a loop": F + "    s, t = 'a' * 10000, 'a' * 5000 + 'b'\n    while True:\n        n = s.count(t)",
    "center's width": F + "    return 'a'.center(10 ** 9)",       # not on the whitelist, as zfill and ljust
    "expandtabs's width": F + "    return 'a\\t'.expandtabs(10 ** 9)",
    "a default": "def f(x, y=[0] * 10 ** 9):\n    return x",
    "a lambda": "f = lambda x: 'a' * 10 ** 9",
    "a lambda calling itself": "f = lambda x: f(x)",
    "a helper calling the first": F + "    return g(x)\n\ndef g(x):\n    return f(x)",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_answers_fail_fast_and_small(name):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.monotonic()
    assert run_tests(HOSTILE[name], [[[1], 1]]) is False
    assert time.monotonic() - t < 1.0
    # ru_maxrss is in KiB: the process's peak grew by less than 200 MB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000


@pytest.mark.parametrize("loop", [
    "b = [[0] * 1000] * 900\n    t = [0] * 999 + [1]\n    while True:\n        if t in b:\n            x = 0",
    "b = list(range(10000))\n    while True:\n        x = max(b)",
])
def test_each_test_case_has_a_wall_clock_as_well_as_a_step_limit(loop):
    # Each step walks a large value: the step limit alone would allow minutes.
    t = time.monotonic()
    assert run_tests(F + "    " + loop, [[[1], 1]] * 5, seconds=0.2) is False
    assert time.monotonic() - t < 0.2 + 0.5                   # the first test case fails: no others are run


def test_the_step_limit_counts_as_it_did():
    count = F + "    i = 0\n    while i < x:\n        i += 1\n    return i"
    assert run_tests(count, [[[2855], 2855]]) and not run_tests(count, [[[2856], 2856]])


def test_ordinary_values_up_to_the_limits_are_built():
    ok = {"'a' * %d" % MAX_SIZE: "a" * MAX_SIZE, "(1,) * 3 + (2,)": (1, 1, 1, 2),
          "'%5d|%-4s|%.2f' % (3, 'ab', 2)": "    3|ab  |2.00", "'%*d' % (3, 7)": "  7",
          "str([1, (2,), 'a', None])": "[1, (2,), 'a', None]",
          "sum([[1], [2, 3]], [])": [1, 2, 3], "round(2.567, 2)": 2.57, "round(1234, -2)": 1200}
    for expr, value in ok.items():
        assert run_tests(F + "    return " + expr, [[[0], value]]), expr
    assert run_tests(F + "    a = [1, 2, 3]\n    a[1:2] = [7, 8]\n    return a", [[[0], [1, 7, 8, 3]]])
    for expr in ("'a' * %d" % (MAX_SIZE + 1), "[0] * %d + [1]" % MAX_SIZE, "str([0] * 5000)"):
        assert not run_tests(F + "    return " + expr, [[[0], 0]]), expr
    builds = F + "    s = ''\n    for i in range(x):\n        s = s + 'a'\n    return len(s)"
    assert run_tests(builds, [[[2000], 2000]]) and 2000 * 2001 // 2 < MAX_BUILT


def test_sizes_are_known_before_building():
    values = [0, -12, 2.5, 1e300, None, True, "it's \"x\"\n\t\x00é", [], (), (1,), [(1,), [2, "a"]], range(3),
              [[0] * 3] * 2, ("a", ("b",), [])]
    for v in values:
        assert text_size(v) == len(str(v)), v
    formats = [("%d", 5), ("%5d|%-8.3f|%s", (42, 3.14159, "abc")), ("%r %a", ("é", "é")),
               ("%x%o%e", (255, 8, 1.5)), ("%*.*f", (10, 3, 2.0)), ("%c%%", 65),
               ("%s", ([1, "a"],)), ("%f", 1e300), ("%.50g", 1 / 3)]
    for fmt, args in formats:
        assert format_size(fmt, args) >= len(fmt % args), fmt


# ------------------------------------------------------------------------------------------ the game
def knights(chars):
    """A legal record of knights going back and forth, `chars` long."""
    moves, i = [], 1
    while len(" ".join(moves)) < chars - 12:
        moves.append(f"{i}. Nf3 Nf6" if i % 2 else f"{i}. Ng1 Ng8")
        i += 1
    return " ".join(moves)


def test_a_long_legal_game_is_scored_in_one_pass():
    record = knights(4000)
    t = time.monotonic()
    assert game.replay(record) == game.legal_moves(record) == game.legal_moves(record + " Ke9 e4") == 632
    assert time.monotonic() - t < 1.0                        # each prefix replayed anew took 17 s
    too_long = knights(game.MAX_RECORD + 20)
    assert game.replay(too_long) is None and game.legal_moves(too_long) == 0


def test_legal_moves_is_replay_of_the_longest_legal_prefix():
    rnd = random.Random(0)
    pieces = ["1.", "2...", "e4", "e5", "Nf3", "Nc6", "f5", "Qh5", "Qxe8", "a6", "1-0", "0-1", "Ke9", "1.e4",
              "e4.2.e5"]
    for _ in range(300):
        tokens = [rnd.choice(pieces) for _ in range(rnd.randint(0, 8))]
        legal = max(k for k in range(len(tokens) + 1) if game.replay(" ".join(tokens[:k])) is not None)
        assert game.legal_moves(" ".join(tokens)) == game.replay(" ".join(tokens[:legal])), tokens
