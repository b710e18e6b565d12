"""The held-out code items catch wrong functions: every task has at least six tests that follow its words (zero,
negative numbers, the boundaries around k, unsorted lists with repeated items, a word inside a longer word, a
large n), the reference passes them for every k and word, plausible wrong functions fail them, and right
answers in ordinary Python (methods, comprehensions, a default argument, a lambda, loops) pass them."""
import copy
import re

import pytest

from data.sandbox import run_tests
from data.world.kb import CODE_TASKS, CODE_WORDS
from data.world.skills import CODE_K, code_tests

KS = sorted({k for ks in CODE_K.values() for k in ks})
NEEDS = {task: ("{k}" in text + code, "{w}" in text + code) for task, (text, code, _) in CODE_TASKS.items()}


def cases(task):
    """Every (k, w) the task can be asked with: each k if its text names one, each word if it names one."""
    uses_k, uses_w = NEEDS[task]
    return [(k, w) for k in (KS if uses_k else [KS[0]]) for w in (CODE_WORDS if uses_w else CODE_WORDS[:1])]


def answer(task, body, k, w):
    """A function of the task's reference name and argument: `body` is its expression, or its whole body."""
    header = CODE_TASKS[task][1].format(k=k, w=w).split("\n")[0]
    body = body.format(k=k, w=w)
    return header + "\n    " + (body if "\n" in body or body.startswith("for ") else "return " + body)


def passes_natively(code, tests):
    """What run_tests should say, with Python itself running the (trusted) code: every test's value, no error."""
    space, first = {}, re.search(r"^(?:def (\w+)|(\w+) = lambda)", code, re.M)
    exec(code, space)
    fn = space[first.group(1) or first.group(2)]
    for args, expected in tests:
        try:
            got = fn(*copy.deepcopy(args))
        except Exception:
            return False
        if got != expected or type(got) is bool and type(expected) is not bool:
            return False
    return True


def test_every_task_has_six_tests_and_its_instruction_shows_none():
    for task, (text, _, _) in CODE_TASKS.items():
        for k, w in cases(task):
            tests = code_tests(task, k, w)
            assert len({repr(args) for args, _ in tests}) >= 6, (task, k)       # six different inputs
            # the instruction names k and the word, nothing else a test could be read from
            assert not re.search(r"\d|\"|\(", text.format(k="", w="")), task


def test_the_reference_passes_every_test_for_every_k_and_word():
    for task, (_, code, _) in CODE_TASKS.items():
        for k, w in cases(task):
            ref, tests = code.format(k=k, w=w), code_tests(task, k, w)
            assert passes_natively(ref, tests) and run_tests(ref, tests), (task, k, w)


def test_lists_are_never_empty_where_the_task_needs_an_item():
    for task in ("first", "last", "largest"):
        assert all(args[0] for args, _ in code_tests(task, 3, "dog")), task
    for task in ("sum", "length", "count"):
        assert [[]] in [args for args, _ in code_tests(task, 3, "dog")], task


# A body is an expression returned, or (with a newline, or a for) the function's whole body.
WRONG = {
    "add": ["x + {k} + 1", "x - {k}", "abs(x) + {k}", "int(x) + {k}", "x + {k} if x > 0 else {k}", "{k} - x"],
    "times": ["x + {k}", "x * ({k} + 1)", "abs(x) * {k}", "x ** {k}", "int(x) * {k}", "x * {k} if x > 0 else 0"],
    "less": ["x >= 0 and x < {k}", "x <= {k}", "x < {k} - 1", "x <= {k} - 1", "x < {k} + 1", "abs(x) < {k}",
             "x > {k}", "x != {k}"],
    "greater": ["x >= {k}", "abs(x) > {k}", "x > {k} - 1", "x >= {k} + 1", "x > {k} + 1", "x != {k}", "x < {k}"],
    "minus": ["{k} - x", "abs(x - {k})", "x + {k}", "max(x - {k}, 0)", "x - {k} + 1", "int(x) - {k}"],
    "divide": ["x // {k}", "{k} / x", "round(x / {k}, 2)", "x * {k}", "int(x / {k})", "x / ({k} + 1)",
               "abs(x) / {k}"],
    "square": ["x * 2", "x ** 3", "abs(x) * x", "x + x", "x * x if x > 0 else 0", "int(x) * int(x)"],
    "even": ["x % 2 == 1", "x > 0 and x % 2 == 0", "x % 4 == 0", "x % 2 != 0", "x // 2 == 0",
             "x % 2 == 0 and x != 0"],
    "sum": ["sum(set(items))", "items[0] + items[-1]", "sum(abs(x) for x in items)", "sum(x for x in items if x > 0)",
            "sum(items[1:])", "max(items)", "len(items)", "sum(int(x) for x in items)"],
    "count": ['1 if "{w}" in items else 0', "len(items)", '" ".join(items).count("{w}")',
              'sum("{w}" in x for x in items)', 'len([x for x in items if x.startswith("{w}")])',
              'items.index("{w}")', 'items.count("{w}") + 1'],
    "greet": ['"Hello, " + name', '"Hello " + name + "!"', '"Hello, Ann!"', '"Hello, " + name.split()[0] + "!"',
              '"Hello, " + name[0] + "!"', '"Hi, " + name + "!"'],
    "first": ["min(items)", "max(items)", "items[-1]", "sorted(items)[0]", "items[1]", "items[:1]"],
    "last": ["max(items)", "items[1]", "sorted(items)[-1]", "items[0]", "items[-2]", "items[len(items) // 2]"],
    "largest": ["items[len(items)//2]", "items[0]", "items[-1]", "items[1]", "sorted(items)[len(items) // 2]",
                "max(abs(x) for x in items)",
                "m = 0\n    for x in items:\n        if x > m:\n            m = x\n    return m",
                "m = items[0]\n    for x in items:\n        if x < m:\n            m = x\n    return m"],
    "length": ["len(items) - 1", "len(set(items))", "sum(1 for x in items if x)", "max(len(items), 1)",
               "items.index(items[-1]) + 1", "len(items) + 1"],
    "isword": ['"{w}" in x', 'x.startswith("{w}")', 'x in "{w}"', 'len(x) == len("{w}")', 'x[0] == "{w}"[0]',
               'x.endswith("{w}")', 'sorted(x) == sorted("{w}")'],
    "repeat": ['"{w}" * (n % 4)', '"{w}" * (n + 1)', '" ".join(["{w}"] * n)', '"{w}" * max(n, 1)',
               '"{w}" * min(n, 10)', '("{w}" + " ") * n', '"{w}" * (n - 1)'],
}


def test_every_task_has_wrong_functions_to_catch():
    assert set(WRONG) == set(CODE_TASKS) and all(len(v) >= 6 for v in WRONG.values())


@pytest.mark.parametrize("task", sorted(WRONG))
def test_plausible_wrong_functions_fail_for_every_k_and_word(task):
    for body in WRONG[task]:
        for k, w in cases(task):
            code, tests = answer(task, body, k, w), code_tests(task, k, w)
            # the tests' values catch it (not only the sandbox's refusal of something it does not know)
            assert not passes_natively(code, tests), code
            assert not run_tests(code, tests), code


def test_the_issues_wrong_functions_fail():
    for task, k, w, code in [("less", 11, "dog", "def is_less_11(x):\n    return x >= 0 and x < 11"),
                             ("repeat", 3, "dog", 'def repeat_dog(n):\n    return "dog" * (n % 4)'),
                             ("last", 3, "dog", "def last(items):\n    return max(items)"),
                             ("largest", 3, "dog", "def largest(items):\n    return items[len(items)//2]")]:
        assert not run_tests(code, code_tests(task, k, w)), code


RIGHT = {
    "add": ["x += {k}\n    return x", "sum([x, {k}])", "{k} + x"],
    "times": ["sum([x] * {k})", "{k} * x",
              "result = 0\n    for _ in range({k}):\n        result += x\n    return result"],
    "less": ["True if x < {k} else False", "if x < {k}:\n        return True\n    else:\n        return False",
             "not x >= {k}"],
    "greater": ["x - {k} > 0", "{k} < x", "bool(x > {k})"],
    "minus": ["x + -{k}", "result = x\n    result -= {k}\n    return result"],
    "divide": ["float(x) / {k}", "x / {k}"],
    "square": ['"""The square of x."""\n    return x ** 2', "abs(x) * abs(x)", "x * x"],
    "even": ["not x % 2", "abs(x) % 2 == 0", "x % 2 == 0 if True else None"],
    "sum": ["total = 0\n    for x in items:\n        total += x\n    return total", "sum(items)",
            "i, s = 0, 0\n    while i < len(items):\n        s, i = s + items[i], i + 1\n    return s",
            "sum(x for x in items)"],
    "count": ['items.count("{w}")', 'sum(1 for x in items if x == "{w}")', 'len([x for x in items if x == "{w}"])',
              'n = 0\n    for x in items:\n        if x == "{w}":\n            n += 1\n    return n',
              '" ".join(items).split().count("{w}")'],
    "greet": ['"Hello, " + name.strip() + "!"', '"".join(["Hello, ", name, "!"])', '"Hello, %s!" % name',
              '", ".join(["Hello", name]) + "!"'],
    "first": ["for x in items:\n        return x", "items[:1][0]", "list(reversed(items))[-1]"],
    "last": ["items[len(items) - 1]", "list(reversed(items))[0]", "items[::-1][0]",
             "n = len(items)\n    i, j = 0, n - 1\n    return items[j]"],
    "largest": ["max(items)", "sorted(items)[-1]", "sorted(items, reverse=True)[0]", "items[items.index(max(items))]",
                "a = items.copy()\n    a.sort()\n    return a.pop()", "return biggest(items)\n\n\ndef biggest(items):\n"
                "    return max(items)"],
    "length": ["len(items)", "sum(1 for _ in items)", "n = 0\n    for _ in items:\n        n += 1\n    return n",
               "i = 0\n    while True:\n        if i == len(items):\n            break\n        else:\n"
               "            i += 1\n    return i", "len([i for i, _ in enumerate(items)])"],
    "isword": ['x.lower() == "{w}"', 'x.startswith("{w}") and len(x) == len("{w}")', 'x.split() == ["{w}"]',
               '[c for c in x] == list("{w}")'],
    "repeat": ['"".join(["{w}"] * n)', 's = ""\n    for i in range(n):\n        s += "{w}"\n    return s',
               '"".join("{w}" for _ in range(n))', 'parts = []\n    while len(parts) < n:\n        parts.append("{w}")'
               '\n    return "".join(parts)'],
}


@pytest.mark.parametrize("task", sorted(RIGHT))
def test_right_answers_in_ordinary_python_pass_for_every_k_and_word(task):
    for body in RIGHT[task]:
        for k, w in cases(task):
            code, tests = answer(task, body, k, w), code_tests(task, k, w)
            assert passes_natively(code, tests), code            # a right answer, as Python runs it
            assert run_tests(code, tests), code


def test_the_issues_right_answers_pass():
    for task, k, w, code in [("repeat", 3, "dog", 'def repeat_dog(n):\n    return "".join(["dog"] * n)'),
                             ("less", 11, "dog", "def is_less_11(x, k=11):\n    return x < k"),
                             ("square", 3, "dog", "square = lambda x: x * x"),
                             ("square", 3, "dog", "Here it is:\n\n```python\nsquare = lambda x: x * x\n```\nDone.")]:
        assert run_tests(code, code_tests(task, k, w)), code


F = "def f(x):\n"
ORDINARY = {  # an answer's body: the value it returns for x = "A b a"
    "    return x.lower().split()": ["a", "b", "a"],
    "    return [w.upper() for w in x.split() if w != 'b']": ["A", "A"],
    "    return x.count('a'), x.find('b'), x.index('b'), x.startswith('A'), x.endswith('a')": (1, 2, 2, True, True),
    "    return '-'.join(x.split(' ')).replace('-', '+')": "A+b+a",
    "    return ' ' + x.strip().title() + '|' + x.capitalize()": " A B A|A b a",
    "    return x.isalpha(), x.isspace(), 'ab12'.isdigit(), x.lower().islower(), x.upper().isupper()":
        (False, False, False, True, True),
    "    a = x.split()\n    a.append('c')\n    a.insert(0, 'z')\n    a.remove('b')\n    a.extend(['d', 'e'])\n"
    "    a.pop()\n    a.reverse()\n    return a, a.count('a'), a.index('c')": (["d", "c", "a", "A", "z"], 1, 1),
    "    a = x.split()\n    a.sort(reverse=True)\n    return a, sorted(a), (1, 2, 1).count(1)": (["b", "a", "A"],
                                                                                              ["A", "a", "b"], 2),
    "    return list(zip(x.split(), range(3))), list(enumerate('ab', 1)), tuple(reversed([1, 2]))":
        ([("A", 0), ("b", 1), ("a", 2)], [(1, "a"), (2, "b")], (2, 1)),
    "    return any(c == 'b' for c in x), all(c for c in x), abs(-2), round(2.5), min(3, 1), max([1, 4])":
        (True, True, 2, 2, 1, 4),
    "    n = 0\n    i = 0\n    while i < len(x):\n        if x[i] == 'a':\n            n += 1\n        else:\n"
    "            n -= 0\n        i += 1\n    return n": 1,
    "    a, b = 1, 2\n    a, b = b, a\n    return [a, b] if x else None": [2, 1],
    "    return [(i, j) for i in range(2) for j in range(i, 2) if i + j > 0]": [(0, 1), (1, 1)],
    "    i = 'kept'\n    s = [i * i for i in range(3)]\n    return s, i": ([0, 1, 4], "kept"),   # i does not leak
    "    return g(x) + h(x)\n\n\ndef g(y):\n    return len(y)\n\nh = lambda y: y.count(' ')": 7,
}


@pytest.mark.parametrize("body", ORDINARY)
def test_ordinary_python_runs_as_python_runs_it(body):
    code = F + body
    assert passes_natively(code, [[["A b a"], ORDINARY[body]]]), code
    assert run_tests(code, [[["A b a"], ORDINARY[body]]]), code


def test_the_first_function_is_the_one_run_and_prose_around_it_is_dropped():
    tests = [[[2], 4]]
    assert run_tests("Sure!\n\ndef f(x):\n    return g(x)\n\ndef g(x):\n    return x * 2\n\nIt doubles x.", tests)
    assert run_tests("def f(x):\n    return x * 2\n\ndef is a keyword, so def g(", tests)   # not parsed: left out
    assert not run_tests("def g(x):\n    return x\n\ndef f(x):\n    return x * 2", tests)   # the helper is run
    assert run_tests("def f(x):\n    return x * 2\nprint(f(2))\ndef g(x):\n    return 1", tests)
    # the answer ends at the first line that begins no function: a function after it is not there
    assert not run_tests("def f(x):\n    return g(x)\nprint(f(2))\ndef g(x):\n    return x * 2", tests)


def test_an_answer_cannot_change_the_tests():
    items = [1, 2]
    tests = [[[items], 3], [[items], 3]]
    assert run_tests("def f(items):\n    items.append(0)\n    items[0] = 2\n    return len(items)", tests)
    assert items == [1, 2]


def test_what_stays_refused():
    # each expects what Python returns: the answer fails because it is refused
    for body in ("x.__class__", "x.format(1)", "x.center(5)", "sorted([2, 1], key=abs)", "len.__call__(x)",
                 "(lambda y: y)(x)", "{c for c in x}", "x.lower", "[].append.__self__", "type(x)",
                 "max([1], default=0)", "x.split(maxsplit=1)", "[x for x in x if x.__len__()]"):
        assert not run_tests(F + "    return " + body, [[["ab"], eval(body, {"x": "ab"})]]), body
    for code in ("def f(x, *a):\n    return x", "def f(x, **a):\n    return x", "def f(x, *, y=1):\n    return x",
                 "def f(x, /):\n    return x", "def f(x=print):\n    return x", "f, g = lambda x: x, 1"):
        assert not run_tests(code, [[["ab"], "ab"]]), code
