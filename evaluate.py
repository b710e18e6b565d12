"""Offline measurements of instruction following (no GPT-4 judge needed):

  python evaluate.py checks --eval data/toy/eval.jsonl outputs.json      # pass/fail per declarative criterion

Criteria language (toy-world eval records carry one as "criterion"; every key given must hold, strings match
case-insensitively):
  contains_any: [str]   some string occurs            contains_all: [str]   every string occurs
  not_contains: [str]   no string occurs              regex: str            re.search, MULTILINE|IGNORECASE
  min_lines / max_lines: int   non-empty lines        min_words / max_words: int   whitespace-separated words
  final_answer: str     the last non-empty line is exactly "#### <str>"   (GSM style, Hewitt §5)
  starts_with: str      after stripping leading whitespace
"""
import re

from model import UserError

CRITERIA = {"contains_any": list, "contains_all": list, "not_contains": list, "regex": str, "min_lines": int,
            "max_lines": int, "min_words": int, "max_words": int, "final_answer": str, "starts_with": str}


def validate(criterion, where="criterion"):
    """Raise UserError naming `where` if the criterion has an unknown key or a value of the wrong type."""
    if not isinstance(criterion, dict):
        raise UserError(f"{where}: criterion must be an object, got {type(criterion).__name__}")
    for key, value in criterion.items():
        kind = CRITERIA.get(key)
        if kind is None:
            raise UserError(f"{where}: unknown criterion key {key!r} (known: {', '.join(CRITERIA)})")
        ok = (isinstance(value, list) and all(isinstance(s, str) for s in value) if kind is list else
              isinstance(value, int) and not isinstance(value, bool) if kind is int else isinstance(value, str))
        if not ok:
            raise UserError(f"{where}: criterion {key!r} must be {'a list of strings' if kind is list else kind.__name__}"
                            f", got {value!r}")
        if key == "regex":
            try:
                re.compile(value)
            except re.error as e:
                raise UserError(f"{where}: criterion 'regex' does not compile: {e}")


def check(output: str, criterion: dict) -> bool:
    """True when `output` meets every key of `criterion` (the criteria language in the module docstring)."""
    validate(criterion)
    low = output.lower()
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    words = len(output.split())
    c = criterion
    tests = {
        "contains_any": lambda v: any(s.lower() in low for s in v),
        "contains_all": lambda v: all(s.lower() in low for s in v),
        "not_contains": lambda v: not any(s.lower() in low for s in v),
        "regex": lambda v: re.search(v, output, re.MULTILINE | re.IGNORECASE) is not None,
        "min_lines": lambda v: len(lines) >= v, "max_lines": lambda v: len(lines) <= v,
        "min_words": lambda v: words >= v, "max_words": lambda v: words <= v,
        "final_answer": lambda v: bool(lines) and lines[-1].lower() == f"#### {v.strip()}".lower(),
        "starts_with": lambda v: output.lstrip().lower().startswith(v.lower()),
    }
    return all(tests[k](v) for k, v in c.items())
