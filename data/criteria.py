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
  any_of: [criterion]   at least one of these criteria holds (other right wordings)
  yes_no: [str]         the words "yes" and "no" in the output are exactly these, in this order
  function: [[args, expected]]   the output's first Python function returns `expected` for each list of `args`
                        (run by sandbox.py: a whitelist of syntax, no imports, files or network, limited steps)
  game: int             the output holds a game record (from "1." on) of at least n moves, every move legal in
                        the toy world's game (game.py), with an optional result at its end
  distinct_lines: int   at least n different non-empty lines
  max_line_words: int   no non-empty line has more words
  kind_any: [str]       some word of the list occurs (whole words): an answer of the asked kind, right or not
  min_numbers: int      at least n numbers occur (an answer in numbers, right or not)
  sequences: [{"of": [str], "is": [str]}]   for each: the strings of "of" that occur (whole words, in the order
                        they occur) are exactly "is": the asked answers in the asked order, and no other candidate
  min_line_words: int   every non-empty line has at least n different words (verse, not a word or a name repeated)
  rhymes: int           at least n pairs of lines end in different words that rhyme (rhyme_of)
  full_moves: int       the game record (as for "game") is legal and has exactly n numbered moves
A "number" is not a list's marker ("1. ", "2) " opening a line).
"""
# The toy world's evaluation records each carry a criterion, so that evaluate.py scores outputs with no judge
# model; evaluate.py --help prints this language.
import argparse
import functools
import os
import re
import signal
import statistics
import sys
import threading
from collections import Counter

if __name__ == "__main__":                      # run as a script: the repository's root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from data.game import legal_moves, replay
from data.sandbox import run_tests
from lib.cli import UserError, cli
from lib.conversations import align
from lib.files import read_records
from lib.report import pct

NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                "sixteen seventeen eighteen nineteen twenty").split()
NUMBER = re.compile(r"\d+|\b(?:" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
MAX_REGEX_CHARS = 4000              # a criterion's regex runs on at most this much output
MAX_REGEX_SECONDS = 2.0             # and for at most this long


LIST_MARKER = re.compile(r"^\s*\d+[.)][ \t]+(?=\S)", re.MULTILINE)
YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def numbers(text):
    text = LIST_MARKER.sub("", text)
    return [int(m) if m.isdigit() else NUMBER_WORDS.index(m.lower()) for m in NUMBER.findall(text)]


def game_record(text):
    """The text from the first move number "1." on (prose before a record is allowed)."""
    m = re.search(r"(^|\s)1\.", text)
    return text[m.start():] if m else ""


# The type of each key's value; `meets` says what each key asks.
KINDS = {"contains_any": list, "contains_all": list, "not_contains": list, "none_of": list, "regex": str,
         "min_lines": int, "max_lines": int, "min_words": int, "max_words": int, "final_answer": str,
         "starts_with": str, "numbers": list, "first_number": int, "final_number": int, "count_of": dict,
         "any_of": list, "yes_no": list, "function": list, "game": int, "distinct_lines": int,
         "max_line_words": int, "kind_any": list, "min_numbers": int, "sequences": list, "min_line_words": int,
         "rhymes": int, "full_moves": int}
SLOW = ("function", "game", "full_moves")           # checked last: a cheaper key usually decides first


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
    if key in ("none_of", "kind_any"):
        named = any(re.search(r"\b" + re.escape(s.lower()) + r"\b", low) for s in v)
        return named if key == "kind_any" else not named
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
    if key == "any_of":
        return any(check(out, c) for c in v)
    if key == "yes_no":
        return [w.lower() for w in YES_NO.findall(out)] == v
    if key == "function":
        return run_tests(out, v)
    if key == "game":
        moves = replay(game_record(out[:MAX_REGEX_CHARS]))
        return moves is not None and moves >= v
    if key == "min_numbers":
        return len(numbers(out)) >= v
    if key == "sequences":
        return all(named_in_order(low, s["of"]) == [x.lower() for x in s["is"]] for s in v)
    if key == "min_line_words":
        return all(len(set(re.findall(r"[\w']+", line))) >= v for line in lines)
    if key == "rhymes":
        return rhyming_pairs(lines) >= v
    if key == "full_moves":
        moves = replay(game_record(out[:MAX_REGEX_CHARS]))
        return moves is not None and (moves + 1) // 2 == v
    if key == "distinct_lines":
        return len(set(lines)) >= v
    if key == "max_line_words":
        return all(len(line.split()) <= v for line in lines)
    raise KeyError(key)


def named_in_order(low, names):
    """The strings of `names` that occur in the lower-cased text `low` as whole words, in the order they occur
    (a longer name before a shorter one inside it)."""
    return alternation(tuple(names)).findall(low) if names else []


@functools.lru_cache(maxsize=4096)
def alternation(names):
    return re.compile(r"\b(?:" + "|".join(re.escape(x.lower()) for x in sorted(set(names), key=len, reverse=True))
                      + r")\b")


# Spellings of one sound at a word's end (longest first): "sea" rhymes with "me", "sky" with "high".
SOUNDS = [("igh", "y", "ie"), ("ome", "oam"), ("one", "un"), ("ee", "ea", "e"), ("ew", "ou", "oo", "ue")]


def rhyme_of(word):
    """What a word's ending sounds like: its sound class (SOUNDS) or else its last two letters."""
    for sound in SOUNDS:
        for spelling in sorted(sound, key=len, reverse=True):
            if word.endswith(spelling) and len(word) > len(spelling):
                return sound[0]
    return word[-2:]


def rhyming_pairs(lines):
    """How many pairs of lines end in different words that rhyme."""
    ends = [re.sub(r"[^a-z]", "", line.split()[-1]) for line in lines]
    return sum(a != b and len(a) > 1 and len(b) > 1 and rhyme_of(a) == rhyme_of(b)
               for i, a in enumerate(ends) for b in ends[i + 1:])


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
    if key == "any_of":
        return isinstance(v, list) and bool(v) and all(isinstance(c, dict) and c for c in v)
    if key == "sequences":
        return isinstance(v, list) and bool(v) and all(
            isinstance(s, dict) and valid_value(list, "", s.get("of")) and valid_value(list, "", s.get("is"))
            for s in v)
    if key == "function":
        return isinstance(v, list) and bool(v) and all(isinstance(x, list) and len(x) == 2
                                                        and isinstance(x[0], list) for x in v)
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
        if key == "any_of":
            for c in v:
                validate(c, where)
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
    return all(meets(key, criterion[key], output) for key in sorted(criterion, key=lambda k: k in SLOW))


def restates(output, instruction, n=4):
    """Whether the output repeats a run of n words of the instruction (an echo, not an answer)."""
    ins, out = re.findall(r"\w+", instruction.lower()), re.findall(r"\w+", output.lower())
    n = min(n, len(ins))                    # a short instruction, whole ("Find 3 + 3.")
    runs = {tuple(ins[i:i + n]) for i in range(len(ins) - n + 1)} if n else set()
    return any(tuple(out[i:i + n]) in runs for i in range(len(out) - n + 1))


def ends_cleanly(output):
    """Not empty, asks nothing (no new request), repeats no line (no rambling)."""
    lines = [line.strip().lower() for line in output.splitlines() if line.strip()]
    return bool(lines) and "?" not in output and len(set(lines)) == len(lines)


# Words of an instruction that do not name its subject (the request's own words).
NOT_SUBJECT = set("what which does have write tell about with that this from give please name many much into "
                  "there their they them your were when where would could should will these those than then some "
                  "more most very just like make made also been over under after before here each every only same "
                  "such other another answer question short sentence words word list letter using says said know "
                  "want need the and for are how can you one who its has was".split())


def subject(instruction):
    """The instruction's words that name what it is about (its entities, its topic)."""
    return {w for w in re.findall(r"[a-z]+", instruction.lower()) if len(w) >= 3 and w not in NOT_SUBJECT}


SHAPE = {"min_words", "max_words", "min_lines", "max_lines", "distinct_lines", "max_line_words"}


def credit(key, v, out):
    """How much of one asking key an output meets, in [0, 1]: a list of items that must all occur earns the
    share that does (a recipe with some of its ingredients), a list of n right items the share of n found, a
    game record the share of its n moves that are legal before the first that is not; any other key all or
    nothing."""
    if key == "contains_all":
        return sum(x.lower() in out.lower() for x in v) / len(v)
    if key == "count_of":
        return min(v["n"], sum(x.lower() in out.lower() for x in v["of"])) / v["n"]
    if key == "game":
        return min(1.0, legal_moves(game_record(out[:MAX_REGEX_CHARS])) / v)
    return float(meets(key, v, out))


def grade(output: str, criterion: dict, instruction: str = ""):
    """(passed, graded score in [0, 1]), a diagnostic of how near a failing output came (no win rate uses it).
    An output that passes scores 1. Otherwise the score is the mean of: each key of the criterion that asks for
    something (one the empty output does not already meet: the content and the form), credited only if the keys
    that forbid something (another candidate, a question) hold and the output does not restate the instruction;
    naming the instruction's subject; not restating it; ending cleanly. All count only for an attempt (some
    content, the asked kind of answer, or the subject): a sentence that could answer anything, or an echo,
    scores 0."""
    validate(criterion)
    if all(meets(k, v, output) for k, v in criterion.items()):
        return True, 1.0
    asks = [k for k, v in criterion.items() if not meets(k, v, "")]
    # An echo's content is the instruction's: credited only to an output that does not restate it.
    echo = restates(output, instruction)
    forbids_ok = not echo and all(meets(k, v, output) for k, v in criterion.items() if k not in asks)
    met = {k: credit(k, criterion[k], output) if forbids_ok else 0.0 for k in asks}
    met["subject"] = float(not echo and bool(subject(instruction) & set(re.findall(r"[a-z]+", output.lower()))))
    # Any text of the right length meets a shape key: alone, it is no attempt.
    if not any(v for k, v in met.items() if k not in SHAPE):
        return False, 0.0
    met = list(met.values()) + [float(not echo), float(ends_cleanly(output))]
    return False, sum(met) / len(met)


# ------------------------------------------------------------------------------------ the toy eval set
def read_eval(path):
    """The toy eval set's records, each with an 'instruction' and a valid 'criterion'."""
    records = read_records(path, need="instruction")
    for where, r in records:
        validate(r.get("criterion"), where)
    return [r for _, r in records]


VOICES = ("chat", "corpus", "neutral")


def read_voices(path):
    """The held-out fact records in three voices (data/world/voices.py): each with its instruction, family, its
    reference in every voice of VOICES and its knowledge probe (a true statement and wrong ones)."""
    records = read_records(path, need="instruction")
    for where, r in records:
        v, k = r.get("voices"), r.get("knowledge")
        if not (isinstance(v, dict) and all(isinstance(v.get(x), str) for x in VOICES) and isinstance(k, dict)
                and isinstance(k.get("true"), str) and isinstance(k.get("wrong"), list) and k["wrong"]
                and all(isinstance(x, str) for x in k["wrong"]) and isinstance(r.get("family"), str)):
            raise UserError(f"{where}: need a family, voices {{{', '.join(VOICES)}}} (strings) and knowledge "
                            "{true: a string, wrong: a list of strings}")
    return [r for _, r in records]


def grades(records, outputs):
    """(passed, graded score) per output, from the record's criterion (grade: 1 for a pass, else the share of
    its checks met, staying off the instruction's words, ending cleanly; an echo meets none)."""
    return [grade(o, r["criterion"], r.get("instruction", "")) for o, r in zip(outputs, records)]


def graded_files(path):
    """The eval records of `path`, and a function file -> grades of that output file against them (each file
    read once)."""
    records, memo = read_eval(path), {}

    def graded(outputs):
        if outputs not in memo:
            memo[outputs] = grades(records, align([r["instruction"] for r in records], outputs))
        return memo[outputs]
    return records, graded


def pass_rates(records, passed):
    """The share of outputs that pass (%), overall and per family."""
    fam = {}
    for r, p in zip(records, passed):
        fam.setdefault(str(r.get("family")), []).append(p)
    return {"pass": 100 * statistics.mean(passed), "n": len(passed),
            "by_family": {k: 100 * statistics.mean(v) for k, v in sorted(fam.items())}}


# The single-task styles of Hewitt §5, each a test of (output, its non-empty lines); §5.2 finds they leak
# mostly into similar instructions.
STYLES = {
    "math": lambda o, ls: bool(ls) and re.fullmatch(r"####\s*\S+", ls[-1]) is not None,
    "poetry": lambda o, ls: len(ls) >= 4 and max(len(x.split()) for x in ls) <= 12,
    # Three short "- " ingredient lines.
    "recipes": lambda o, ls: sum(x.startswith("- ") and len(x.split()) <= 8 for x in ls) >= 3,
    "code": lambda o, ls: re.search(r"^\s*(def |class |return |import |for .*:$)", o, re.MULTILINE) is not None,
    "chess": lambda o, ls: re.search(r"(^|\s)1\.\s*([KQRBN]?[a-h]?[1-8]?x?[a-h][1-8]|O-O)\S*\s", o) is not None}


def output_stats(pairs, tok=None, max_new_tokens=256, near=None, n=4):
    """Statistics (%) of (instruction, output) pairs, in tokens with `tok`, else words. eos: shorter than the
    cap. rep_ngram: n-grams repeating an earlier one of the output. restates: the first line holds a 4-word run
    of the instruction. continues: chat tags, or a first line that asks a question (the user's turn goes on).
    style: each task's, and with `near` (eval records' task names) split into near that task / the others."""
    units = [tok.encode(o) if tok else o.split() for _, o in pairs]
    grams = [[tuple(u[i:i + n]) for i in range(len(u) - n + 1)] for u in units]
    restate, cont, style = [], [], {k: [] for k in STYLES}
    for ins, out in pairs:
        lines = [x.strip() for x in out.splitlines() if x.strip()]
        restate.append(restates(lines[0] if lines else "", ins))
        cont.append("<|user|>" in out or "<|assistant|>" in out or bool(lines) and lines[0].endswith("?"))
        for name, f in STYLES.items():
            style[name].append(f(out, lines))
    res = {"n": len(pairs), "mean_len": statistics.mean(map(len, units)),
           "eos_%": pct([len(u) < max_new_tokens for u in units]),
           "rep_ngram_%": 100 * sum(len(g) - len(set(g)) for g in grams) / max(1, sum(map(len, grams))),
           "restates_%": pct(restate), "continues_%": pct(cont),
           "style_%": {k: pct(v) for k, v in style.items()}}
    if near is not None:
        res["style_near_vs_far_%"] = {k: (pct([s for s, t in zip(v, near) if t == k]),
                                          pct([s for s, t in zip(v, near) if t != k]))
                                      for k, v in style.items()}
    return res


def first_lines(outputs, k=5):
    """The k most common first lines of the outputs, with their share (%): what a model opens with."""
    lines = Counter(o.strip().split("\n")[0][:60] for o in outputs)
    return {line: 100 * c / len(outputs) for line, c in lines.most_common(k)}


def collapse(outputs, responses=()):
    """How far a model's outputs collapsed onto a few answers: how many are distinct, the most common one's share
    (%), and the share (%) that are a response of a tuning set verbatim (`responses`): a model that memorised
    its tuning set answers everything with one of them."""
    counts, known = Counter(o.strip() for o in outputs), {r.strip() for r in responses}
    return {"distinct": len(counts), "most_common_%": 100 * counts.most_common(1)[0][1] / len(outputs),
            "verbatim_%": pct([o.strip() in known for o in outputs])}


def main(argv=None):
    """Print the criteria language, or check that every record of the given sets carries a valid criterion."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="e.g. python data/criteria.py data/toy/val.jsonl data/toy/eval.jsonl")
    ap.add_argument("sets", nargs="*", help="eval records (JSONL or JSON) whose criteria to validate; none: print "
                    "the language")
    args = ap.parse_args(argv)
    if not args.sets:
        print(__doc__.rstrip())
    for path in args.sets:
        print(f"{path}: {len(read_eval(path))} records, every criterion valid")


if __name__ == "__main__":
    cli(main)
