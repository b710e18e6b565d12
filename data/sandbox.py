"""Run a code answer's function on test inputs, as MBPP's checks do, but safely: the answer is parsed, never
compiled or exec'd, and a small interpreter walks only a whitelist of Python's syntax (def, return, if, for,
while, assignment, arithmetic, comparisons, indexing, lists and a few builtins). There is no import, attribute,
dunder name, file, or network to reach, every step and every value's size is limited, so a hostile answer can
only fail."""
import ast
import operator

MAX_STEPS = 20_000                  # interpreted nodes per call
MAX_SIZE = 10_000                   # items of a list, characters of a string, digits of an int
BUILTINS = {"len": len, "range": range, "min": min, "max": max, "sum": sum, "abs": abs, "sorted": sorted,
            "str": str, "int": int, "float": float, "bool": bool, "list": list, "round": round}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
           ast.NotIn: lambda a, b: a not in b}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}


class Refused(Exception):
    """The answer uses syntax outside the whitelist, or exceeds a limit."""


class Return(Exception):
    def __init__(self, value):
        self.value = value


class Break(Exception):
    pass


class Continue(Exception):
    pass


def small(v):
    if isinstance(v, (str, list, tuple)) and len(v) > MAX_SIZE:
        raise Refused("value too large")
    if isinstance(v, int) and abs(v) > 10 ** 100:
        raise Refused("number too large")
    return v


class Interpreter:
    def __init__(self, functions):
        self.functions, self.steps = functions, 0

    def call(self, fn, args):
        names = [a.arg for a in fn.args.args]
        if len(args) != len(names):
            raise Refused("wrong number of arguments")
        env = dict(zip(names, args))
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
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant):
            pass                                                   # a docstring
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
            self.expr(t.value, env)[self.expr(t.slice, env)] = value
        else:
            raise Refused("assignment target")

    def binary(self, op, a, b):
        if type(op) not in BINARY:
            raise Refused(type(op).__name__)
        if isinstance(op, ast.Pow) and (not isinstance(b, int) or abs(b) > 64):
            raise Refused("power too large")
        if isinstance(op, ast.Mult) and isinstance(a, (str, list)) and isinstance(b, int) and len(a) * b > MAX_SIZE:
            raise Refused("value too large")
        if isinstance(op, ast.Mult) and isinstance(b, (str, list)) and isinstance(a, int) and len(b) * a > MAX_SIZE:
            raise Refused("value too large")
        return small(BINARY[type(op)](a, b))

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
                if not COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(e, ast.IfExp):
            return self.expr(e.body if self.expr(e.test, env) else e.orelse, env)
        if isinstance(e, (ast.List, ast.Tuple)):
            items = [self.expr(x, env) for x in e.elts]
            return small(items if isinstance(e, ast.List) else tuple(items))
        if isinstance(e, ast.Subscript):
            return self.expr(e.value, env)[self.expr(e.slice, env)]
        if isinstance(e, ast.Slice):
            return slice(*(self.expr(x, env) if x else None for x in (e.lower, e.upper, e.step)))
        if isinstance(e, ast.Call) and not e.keywords:
            f, args = self.expr(e.func, env), [self.expr(a, env) for a in e.args]
            if isinstance(f, ast.FunctionDef):
                return self.call(f, args)
            if f is range and len(range(*args)) > MAX_SIZE:
                raise Refused("range too large")
            return small(f(*args))
        raise Refused(type(e).__name__)


def function_source(text):
    """The first `def` of an answer and its indented body (fences, prose and indentation around it dropped)."""
    lines = text.replace("```python", "").replace("```", "").splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("def "):
            indent = len(line) - len(line.lstrip())
            body = [line[indent:]]
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt[indent:])
            return "\n".join(body)
    return None


def run_tests(text, tests):
    """Whether the answer's first function returns the expected value for every (args, expected) test."""
    source = function_source(text)
    if source is None or len(source) > MAX_SIZE:
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    functions = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef)}
    if not functions or any(s.decorator_list or s.args.vararg or s.args.kwarg or s.args.defaults
                            or s.args.kwonlyargs for s in functions.values()):
        return False
    fn = tree.body[0]
    try:
        for args, expected in tests:
            got = Interpreter(functions).call(fn, list(args))
            if got != expected or type(got) is bool and type(expected) is not bool:
                return False
    except (Refused, Return, Break, Continue, ArithmeticError, TypeError, ValueError, IndexError, KeyError,
            RecursionError):
        return False
    return True
