"""Criteria language (toy-world eval records carry one as "criterion"; every key given must hold, at least one key;
strings match case-insensitively; a "number" is a run of digits or a number word from zero to twenty):
  contains_any: [str]   some string occurs            contains_all: [str]   every string occurs
  not_contains: [str]   no string occurs              none_of: [str]        no word occurs (whole words)
  regex: str            re.search, MULTILINE|IGNORECASE, on at most 4,000 characters
  min_lines / max_lines: int   non-empty lines        min_words / max_words: int   whitespace-separated words
  final_answer: str     the last non-empty line is "#### <str>" or "Answer: <str>" (the corpus's two conventions)
  starts_with: str      after stripping leading whitespace
  numbers: [int]        the numbers in the output are exactly these, in this order
  first_number / final_number: int   the first / last number in the output
  count_of: {"n": int, "of": [str]}   exactly n different strings of the list occur (a list of n right items)
"""
# The toy world's evaluation records each carry a criterion, so that evaluate.py scores outputs with no judge
# model; evaluate.py --help prints this language.
import re
import signal
import threading

from lib.util import UserError

NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                "sixteen seventeen eighteen nineteen twenty").split()
NUMBER = re.compile(r"\d+|\b(?:" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
MAX_REGEX_CHARS = 4000              # a criterion's regex runs on at most this much output
MAX_REGEX_SECONDS = 2.0             # and for at most this long


def numbers(text):
    return [int(m) if m.isdigit() else NUMBER_WORDS.index(m.lower()) for m in NUMBER.findall(text)]


# The type of each key's value; `meets` says what each key asks.
KINDS = {"contains_any": list, "contains_all": list, "not_contains": list, "none_of": list, "regex": str,
         "min_lines": int, "max_lines": int, "min_words": int, "max_words": int, "final_answer": str,
         "starts_with": str, "numbers": list, "first_number": int, "final_number": int, "count_of": dict}


def meets(key, v, out):
    """Whether output `out` meets one criterion key with value `v` (the language in the module docstring)."""
    low = out.lower()
    lines = [line.strip() for line in low.splitlines() if line.strip()]
    if key == "contains_any":
        return any(s.lower() in low for s in v)
    if key == "contains_all":
        return all(s.lower() in low for s in v)
    if key == "not_contains":
        return not any(s.lower() in low for s in v)
    if key == "none_of":
        return not any(re.search(r"\b" + re.escape(s.lower()) + r"\b", low) for s in v)
    if key == "regex":
        return timed_search(v, out[:MAX_REGEX_CHARS]) is not None
    if key in ("min_lines", "max_lines"):
        return len(lines) >= v if key == "min_lines" else len(lines) <= v
    if key in ("min_words", "max_words"):
        return len(out.split()) >= v if key == "min_words" else len(out.split()) <= v
    # "#### N" (GSM) or "Answer: N", the corpus's two conventions.
    if key == "final_answer":
        pattern = rf"(####|answer:)\s*{re.escape(v.strip().lower())}\.?"
        return bool(lines) and re.fullmatch(pattern, lines[-1]) is not None
    if key == "starts_with":
        return low.lstrip().startswith(v.lower())
    if key == "numbers":
        return numbers(out) == v
    if key == "first_number":
        return numbers(out)[:1] == [v]
    if key == "final_number":
        return numbers(out)[-1:] == [v]
    if key == "count_of":                        # exactly n different right items
        return sum(s.lower() in low for s in set(v["of"])) == v["n"]
    raise KeyError(key)


def out_of_time(signum, frame):
    raise TimeoutError


def timed_search(pattern, text):
    """re.search(MULTILINE | IGNORECASE) stopped by SIGALRM after MAX_REGEX_SECONDS (Python's regex engine
    checks for signals as it backtracks): a pattern that backtracks exponentially, which validate() cannot
    always see (^(a|a)*$), is a one-line error, not a scoring run that never ends. Unbounded outside the
    main thread, where no signal handler can be set."""
    if threading.current_thread() is not threading.main_thread():
        return re.search(pattern, text, re.MULTILINE | re.IGNORECASE)
    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, MAX_REGEX_SECONDS)
    try:
        return re.search(pattern, text, re.MULTILINE | re.IGNORECASE)
    except TimeoutError:
        raise UserError(f"criterion 'regex' {pattern!r:.60} ran over {MAX_REGEX_SECONDS:g} s on one output: "
                        "it backtracks too much, rewrite it")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def valid_value(kind, key, v):
    if key == "numbers":
        return isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    if kind is list:
        return isinstance(v, list) and all(isinstance(s, str) for s in v)
    if kind is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if kind is dict:
        return isinstance(v, dict) and valid_value(int, "", v.get("n")) and valid_value(list, "", v.get("of"))
    return isinstance(v, str)


def validate(criterion, where="criterion"):
    if not isinstance(criterion, dict) or not criterion:
        raise UserError(f"{where}: criterion must be a non-empty object, got {criterion!r}"[:200])
    for key, v in criterion.items():
        if key not in KINDS:
            raise UserError(f"{where}: unknown criterion key {key!r} (known: {', '.join(KINDS)})")
        if not valid_value(KINDS[key], key, v):
            raise UserError(f"{where}: criterion {key!r} has a value of the wrong type: {v!r}"[:200])
        if key == "regex":
            try:
                re.compile(v)
            except re.error as e:
                raise UserError(f"{where}: criterion 'regex' does not compile: {e}")
            if nested_quantifier(v):
                raise UserError(f"{where}: criterion 'regex' repeats a group that itself repeats, e.g. (a+)+, "
                                "which can take exponential time: write it without the nesting")


def nested_quantifier(pattern):
    """Whether a quantified group holds a quantifier ((a+)+, (x*y)*, (\\w+){2,}): the shape that makes Python's
    regex engine backtrack exponentially. Character classes and escapes are skipped."""
    inner, i = [False], 0                           # per open group: whether it holds a quantifier
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":                              # a class: skip to its closing bracket
            i += 2 if pattern[i + 1:i + 2] in ("]", "^") else 1
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif c == "(":
            inner.append(False)
        elif c == ")" and len(inner) > 1:
            held = inner.pop()
            if held and pattern[i + 1:i + 2] in ("*", "+", "{"):
                return True
            inner[-1] = inner[-1] or held
        elif c in "*+{":
            inner[-1] = True
        i += 1
    return False


def check(output: str, criterion: dict) -> bool:
    """True when `output` meets every key of `criterion` (the criteria language in the module docstring)."""
    validate(criterion)
    return all(meets(key, v, output) for key, v in criterion.items())
