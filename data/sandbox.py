"""Run a code answer's function on test inputs, as MBPP's checks do, but safely: the answer is parsed, never
compiled or exec'd, and a small interpreter walks only a whitelist of Python's syntax (def and a lambda bound
to a name, return, if, for, while, assignment, arithmetic, comparisons, indexing, lists, comprehensions, a few
builtins and a few str and list methods). There is no import, other attribute, dunder name, file, or network to
reach. Each test case is limited in steps and in seconds, and every value's size is known before it is built (a
repetition, a %-format's width, a slice assignment, str() of a list that holds one list many times, a join, a
replace), so a hostile answer can only fail: any failure is one False."""
import ast
import copy
import operator
import re
import time

MAX_STEPS = 20_000                  # interpreted nodes per test case
MAX_SECONDS = 1.0                   # wall-clock seconds per test case: one step may walk MAX_WEIGHT items
MAX_SIZE = 10_000                   # items of a list or tuple, characters of a string
MAX_DIGITS = 100                    # digits of an int, and of round()'s second argument
# A value counted whole, as a comparison or sorted() walks it: its items, theirs, and their characters, a list
# held n times counted n times.
MAX_WEIGHT = 1_000_000
MAX_BUILT = 10_000_000              # items and characters built per test case, about 80 MB
SEQUENCES = (str, list, tuple)
# None takes a function (no key=); enumerate, zip and reversed build lists, so that every value can be sized.
BUILTINS = {"len": len, "range": range, "min": min, "max": max, "sum": sum, "abs": abs, "sorted": sorted,
            "str": str, "int": int, "float": float, "bool": bool, "list": list, "tuple": tuple, "round": round,
            "any": any, "all": all, "enumerate": lambda *a: list(enumerate(*a)), "zip": lambda *a: list(zip(*a)),
            "reversed": lambda a: list(reversed(a))}
METHODS = {str: set("lower upper strip lstrip rstrip startswith endswith count find index split join replace isdigit "
                    "isalpha isspace isupper islower title capitalize".split()),
           list: set("append extend insert pop remove count index reverse sort copy".split()),
           tuple: {"count", "index"}}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
           ast.NotIn: lambda a, b: a not in b}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
# One %-conversion: mapping key, flags, width, precision, length modifier, type.
CONVERSION = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)
FUNCTION = re.compile(r"def\s+\w|\w+\s*=\s*lambda\b")   # the line that begins a function


class Refused(Exception):
    """The answer uses syntax outside the whitelist, or exceeds a limit."""


class Return(Exception):
    def __init__(self, value):
        self.value = value


class Break(Exception):
    pass


class Continue(Exception):
    pass


def weight(*values):
    """The values counted whole: one each, plus a string's characters and a list's or tuple's items, counted
    the same way. A list held many times is counted each time, as a comparison or str() would walk it, so the
    count stops, refused, past MAX_WEIGHT."""
    total, stack = len(values), list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, SEQUENCES):
            total += len(v)
            if total > MAX_WEIGHT:
                raise Refused("value too large")
            # map(type) runs in C: a flat list of numbers, the common case, costs little more than len()
            if not isinstance(v, str) and not set(map(type, v)).isdisjoint(SEQUENCES):
                stack.extend(x for x in v if isinstance(x, SEQUENCES))
    return total


def text_size(value):
    """len(str(value)), counted without building it (str() of a list that holds one list 10,000 times, itself
    holding one 10,000 times, is larger than memory); refused past MAX_SIZE."""
    if isinstance(value, str):
        return len(value)
    total, stack = 0, [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            # brackets, ", " between items, and the comma of a 1-tuple
            total += 2 + 2 * max(len(v) - 1, 0) + (isinstance(v, tuple) and len(v) == 1)
            stack.extend(v)
        else:
            total += len(repr(v))
        if total > MAX_SIZE:
            raise Refused("value too large")
    return total


def format_size(fmt, args):
    """At most len(fmt % args), counted without building it: a width or a precision asks for any number of
    characters ('%1000000000d'). Arguments that do not fit the format are left to % to refuse."""
    args = list(args) if isinstance(args, tuple) else [args]
    total = len(fmt)
    for width, precision, kind in CONVERSION.findall(fmt):
        for n in (width, precision):
            # '*' takes the number from the arguments; a negative width pads on the right
            n = abs(args.pop(0) if n == "*" else int(n or 0))
            if n > MAX_SIZE:
                raise Refused("width too large")
            total += n
        value = args.pop(0) if kind != "%" and args else None
        if kind == "s":
            total += text_size(value)
        elif kind in ("r", "a"):
            total += 10 * text_size(value) + 2          # repr escapes a character in at most 10 ('\U0010ffff')
        else:
            total += text_size(value) + 400             # a number: '%f' % 1e308 writes 309 digits
    return total


class Interpreter:
    def __init__(self, functions, seconds=MAX_SECONDS):
        self.functions, self.steps, self.built = functions, 0, 0
        self.deadline = time.monotonic() + seconds

    def call(self, fn, args):
        """A def's or a lambda's result. Defaults are evaluated at each call (a def evaluates them once), all of
        them, so that one outside the whitelist is refused even when the arguments fill its place."""
        names, defaults = [a.arg for a in fn.args.args], [self.expr(d, {}) for d in fn.args.defaults]
        if not len(names) - len(defaults) <= len(args) <= len(names):
            raise Refused("wrong number of arguments")
        env = dict(zip(names, args + defaults[len(args) - len(names) + len(defaults):]))
        if isinstance(fn, ast.Lambda):
            return self.expr(fn.body, env)
        try:
            self.block(fn.body, env)
        except Return as r:
            return r.value
        return None

    def block(self, stmts, env):
        for s in stmts:
            self.stmt(s, env)

    def tick(self):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Refused("too many steps")
        if time.monotonic() > self.deadline:
            raise Refused("too slow")

    def fits(self, size, limit=MAX_SIZE):
        """Refuse a value of `size` items or characters before it is built."""
        if size > limit or self.built + size > MAX_BUILT:
            raise Refused("value too large")

    def small(self, v):
        """The value just built, counted against the test case's budget."""
        if isinstance(v, SEQUENCES):
            self.fits(len(v))
            self.built += len(v)
        if isinstance(v, int) and abs(v) > 10 ** MAX_DIGITS:
            raise Refused("number too large")
        return v

    def stmt(self, s, env):
        self.tick()
        if isinstance(s, ast.Return):
            raise Return(self.expr(s.value, env) if s.value else None)
        if isinstance(s, (ast.Assign, ast.AnnAssign)):
            targets = s.targets if isinstance(s, ast.Assign) else [s.target]
            value = self.expr(s.value, env)
            for t in targets:
                self.assign(t, value, env)
        elif isinstance(s, ast.AugAssign):
            self.assign(s.target, self.binary(s.op, self.expr(s.target, env), self.expr(s.value, env)), env)
        elif isinstance(s, ast.If):
            self.block(s.body if self.expr(s.test, env) else s.orelse, env)
        elif isinstance(s, (ast.For, ast.While)):
            self.loop(s, env)
        elif isinstance(s, ast.Break):
            raise Break()
        elif isinstance(s, ast.Continue):
            raise Continue()
        elif isinstance(s, ast.Expr):
            self.expr(s.value, env)                                # a docstring, or a call such as a.append(x)
        elif not isinstance(s, ast.Pass):
            raise Refused(type(s).__name__)

    def loop(self, s, env):
        items = iter(self.expr(s.iter, env)) if isinstance(s, ast.For) else None
        while True:
            self.tick()
            if items is not None:
                item = next(items, StopIteration)
                if item is StopIteration:
                    break
                self.assign(s.target, item, env)
            elif not self.expr(s.test, env):
                break
            try:
                self.block(s.body, env)
            except Break:
                return
            except Continue:
                continue
        self.block(s.orelse, env)

    def assign(self, t, value, env):
        if isinstance(t, ast.Name):
            env[t.id] = value
        elif isinstance(t, (ast.Tuple, ast.List)) and len(t.elts) == len(value):
            for e, v in zip(t.elts, value):
                self.assign(e, v, env)
        elif isinstance(t, ast.Subscript) and isinstance(self.expr(t.value, env), list):
            target, where = self.expr(t.value, env), self.expr(t.slice, env)
            if isinstance(where, slice):                # a[0:0] = a doubles a
                self.fits(len(target) - len(range(len(target))[where]) + len(value))
                self.built += len(value)
            target[where] = value
        else:
            raise Refused("assignment target")

    def binary(self, op, a, b):
        if type(op) not in BINARY:
            raise Refused(type(op).__name__)
        if isinstance(op, ast.Pow) and (not isinstance(b, int) or abs(b) > 64):
            raise Refused("power too large")
        if isinstance(op, ast.Mult) and isinstance(a, SEQUENCES) and isinstance(b, int):
            self.fits(len(a) * b)
        if isinstance(op, ast.Mult) and isinstance(b, SEQUENCES) and isinstance(a, int):
            self.fits(len(b) * a)
        if isinstance(op, ast.Add) and isinstance(a, SEQUENCES) and isinstance(b, SEQUENCES):
            self.fits(len(a) + len(b))
        if isinstance(op, ast.Mod) and isinstance(a, str):
            # only a bound, so a larger one: what % builds is then held to MAX_SIZE as any value
            self.fits(format_size(a, b), MAX_WEIGHT)
        return self.small(BINARY[type(op)](a, b))

    def builtin(self, f, args, kwargs):
        """A builtin's result, its size known before it is built and its work bounded by its arguments'."""
        if f in (min, max, sorted, sum):                # they compare or add whole values
            weight(*args)
        if f is sum and len(args) == 2 and isinstance(args[1], (list, tuple)):
            # each + copies the sum so far: sum(lists, []) is quadratic
            size = len(args[1])
            for x in args[0]:
                size += len(x)
                self.fits(size)
                self.built += size
        if f is str and args:
            self.fits(text_size(args[0]))
        if f is round and len(args) == 2 and isinstance(args[1], int) and abs(args[1]) > MAX_DIGITS:
            raise Refused("round to too many digits")   # round(5, -10 ** 7) computes 10 ** 10 ** 7
        if f is range and len(range(*args)) > MAX_SIZE:
            raise Refused("range too large")
        return self.small(f(*args, **kwargs))

    def method(self, obj, name, args, kwargs):
        """A whitelisted method of a str, list or tuple: what join, replace or a list's growth would build is
        sized first, and what count, index, remove and sort compare is weighed, as a comparison is."""
        if name not in METHODS.get(type(obj), ()):
            raise Refused(f"method {name}")
        if name == "join":                              # the parts, and the separator between each two
            parts = list(args[0])
            self.fits(sum(len(p) for p in parts) + len(obj) * max(len(parts) - 1, 0))
        elif name == "replace":                         # each match of old (each gap when old is "") becomes new
            self.fits(len(obj) + obj.count(args[0]) * max(len(args[1]) - len(args[0]), 0))
        elif name in ("append", "insert", "extend"):    # grows in place: counted as built, as a + b is
            grow = len(args[0]) if name == "extend" else 1
            self.fits(len(obj) + grow)
            self.built += grow
        elif name in ("count", "index", "remove", "sort") and not isinstance(obj, str):
            weight(obj, *args)
        return self.small(getattr(obj, name)(*args, **kwargs))

    def comprehension(self, e, generators, env, out):
        """A list comprehension's items, or a generator expression's, built as a list, one step each."""
        if not generators:
            self.fits(len(out) + 1)
            out.append(self.expr(e.elt, env))
            return out
        g = generators[0]
        for item in self.expr(g.iter, env):
            self.tick()
            self.assign(g.target, item, env)
            if all(self.expr(test, env) for test in g.ifs):
                self.comprehension(e, generators[1:], env, out)
        return out

    def expr(self, e, env):
        self.tick()
        if isinstance(e, ast.Constant) and isinstance(e.value, (int, float, str, bool, type(None))):
            return e.value
        if isinstance(e, ast.Name):
            if e.id in env:
                return env[e.id]
            if e.id in BUILTINS:
                return BUILTINS[e.id]
            if e.id in self.functions:
                return self.functions[e.id]
            raise Refused(f"unknown name {e.id}")
        if isinstance(e, ast.BinOp):
            return self.binary(e.op, self.expr(e.left, env), self.expr(e.right, env))
        if isinstance(e, ast.UnaryOp) and type(e.op) in UNARY:
            return UNARY[type(e.op)](self.expr(e.operand, env))
        if isinstance(e, ast.BoolOp):
            v = None
            for x in e.values:
                v = self.expr(x, env)
                if bool(v) == isinstance(e.op, ast.Or):
                    return v
            return v
        if isinstance(e, ast.Compare):
            left = self.expr(e.left, env)
            for op, right in zip(e.ops, e.comparators):
                right = self.expr(right, env)
                # Two lists compare item by item, however deep; a number or a string against anything is quick.
                if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
                    weight(left, right)
                if not COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(e, ast.IfExp):
            return self.expr(e.body if self.expr(e.test, env) else e.orelse, env)
        if isinstance(e, (ast.List, ast.Tuple)):
            items = [self.expr(x, env) for x in e.elts]
            return self.small(items if isinstance(e, ast.List) else tuple(items))
        if isinstance(e, ast.Subscript):
            v = self.expr(e.value, env)[self.expr(e.slice, env)]
            return self.small(v) if isinstance(e.slice, ast.Slice) else v
        if isinstance(e, ast.Slice):
            return slice(*(self.expr(x, env) if x else None for x in (e.lower, e.upper, e.step)))
        if isinstance(e, (ast.ListComp, ast.GeneratorExp)):
            # its own names, as in Python 3: the loop variables do not leak into the function's
            return self.small(self.comprehension(e, e.generators, dict(env), []))
        if isinstance(e, ast.Call) and all(k.arg == "reverse" for k in e.keywords):    # sorted(a, reverse=True)
            method = isinstance(e.func, ast.Attribute)
            f = self.expr(e.func.value if method else e.func, env)
            args, kwargs = [self.expr(a, env) for a in e.args], {k.arg: self.expr(k.value, env) for k in e.keywords}
            if isinstance(f, (ast.FunctionDef, ast.Lambda)) and not method and not kwargs:
                return self.call(f, args)
            return self.method(f, e.func.attr, args, kwargs) if method else self.builtin(f, args, kwargs)
        raise Refused(type(e).__name__)


def function_sources(text):
    """The answer's first function (a `def` and its indented body, or a lambda bound to a name), then the functions
    right after it at its indentation, which it may call; fences, prose and indentation around them dropped."""
    lines = text.replace("```python", "").replace("```", "").splitlines()
    first = next((i for i, line in enumerate(lines) if FUNCTION.match(line.lstrip())), None)
    if first is None:
        return []
    indent, blocks = len(lines[first]) - len(lines[first].lstrip()), []
    for line in lines[first:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            if len(line) - len(line.lstrip()) < indent or not FUNCTION.match(line.lstrip()):
                break
            blocks.append([])
        blocks[-1].append(line[indent:])
    return ["\n".join(b) for b in blocks]


def named_function(s):
    """(name, node) of a def or of a lambda bound to one name; None for any other statement."""
    if isinstance(s, ast.FunctionDef):
        return s.name, s
    if isinstance(s, ast.Assign) and isinstance(s.value, ast.Lambda) and [type(t) for t in s.targets] == [ast.Name]:
        return s.targets[0].id, s.value
    return None


def run_tests(text, tests, seconds=MAX_SECONDS):
    """Whether the answer's first function returns the expected value for every (args, expected) test, each
    within the limits (`seconds` of wall clock per test). Every failure is one False, never an exception."""
    sources, trees = function_sources(text), []
    if not sources or sum(map(len, sources)) > MAX_SIZE:
        return False
    for source in sources:
        try:
            trees.append(ast.parse(source))
        # The parser recurses: 5,000 chained + or 10,000 unary - are a RecursionError or a MemoryError. A tree
        # nested less deeply can still be too deep for the interpreter, which recurses too: a RecursionError below.
        # A later block that does not parse (prose that begins "def ", an answer cut short) is left out.
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            if not trees:
                return False
    first = named_function(trees[0].body[0])        # the block begins with a def or a lambda: a statement
    functions = dict(filter(None, map(named_function, (s for tree in trees for s in tree.body))))
    if first is None or any(getattr(f, "decorator_list", None) or f.args.vararg or f.args.kwarg or f.args.kwonlyargs
                            or f.args.posonlyargs for f in functions.values()):
        return False
    try:
        for args, expected in tests:
            # a copy: an answer's a.append(x) or a[0] = x must not change the tests' lists for the next answer
            got = Interpreter(functions, seconds).call(first[1], copy.deepcopy(list(args)))
            if got != expected or type(got) is bool and type(expected) is not bool:
                return False
    except (Refused, Return, Break, Continue, ArithmeticError, LookupError, TypeError, ValueError,
            RecursionError, MemoryError):
        return False
    return True
