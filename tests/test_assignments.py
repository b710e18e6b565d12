"""The course assignments: the student copy is made from the solution and holds no solution and no measured
answer; on it each coding grader fails with its hint and nothing passes; blanking one assignment breaks nothing
else; each grader fails plausible wrong solutions with its hint; on the solution every grader passes; and a hand-in
that attacks the grader (its own scoring code, symbolic links to the solution, patches of pytest or of its
process's exits, made-up outputs or numbers) scores nothing."""
import hashlib
import importlib
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
import model
import rules
import train

sys.path.insert(0, str(ROOT / "assignments"))

CODING = {1: "test_1_loss_masks.py", 2: "test_2_rules.py", 3: "test_3_kv_cache.py"}


def student_copy(dest, only=None):
    cmd = [sys.executable, str(ROOT / "assignments" / "make_student_copy.py"), str(dest)]
    subprocess.run(cmd + (["--only", *map(str, only)] if only else []), check=True, capture_output=True)
    return dest


def grade(repo, *files):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *[os.path.join("assignments", f) for f in files]],
                          cwd=repo, capture_output=True, text=True)


def test_blank_replaces_only_marked_regions():
    sys.path.insert(0, str(ROOT / "assignments"))
    from make_student_copy import blank
    text = "a\n    # >>> assignment 2: rules\n    x = 1\n    y = 2\n    # <<< assignment 2\nb\n"
    assert blank(text) == ("a\n    # >>> assignment 2: rules\n    raise NotImplementedError(\"assignment 2: rules "
                           "(see assignments/)\")\n    # <<< assignment 2\nb\n")
    assert blank(text, only={1}) == text
    with pytest.raises(ValueError):
        blank("# >>> assignment 1: x\nz\n")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return student_copy(tmp_path_factory.mktemp("copy") / "student")


def test_student_copy_fails_each_coding_grader_with_its_hint(student):
    for lecturers in ("assignments/handin", "assignments/lecturer", ".ci", "tests/test_assignments.py"):
        assert not (student / lecturers).exists(), lecturers
    git = subprocess.run(["git", "status", "--porcelain"], cwd=student, capture_output=True, text=True)
    assert git.returncode == 0 and git.stdout == "", "the copy is a clean git repository of its own"
    for n, f in CODING.items():
        r = grade(student, f)
        assert r.returncode == 1 and " passed" not in r.stdout, r.stdout[-2000:]
        assert f"assignment {n}: not done yet" in r.stdout and "HINT:" in r.stdout, r.stdout[-2000:]
        assert "Traceback" not in r.stdout and "During handling" not in r.stdout, r.stdout[-2000:]
    r = grade(student, "test_4_to_7_experiments.py")          # nothing handed in: nothing passes
    assert r.returncode == 1 and " passed" not in r.stdout, r.stdout[-2000:]


def solution_regions():
    """{(file, first line): [solution lines]} of every marked region in the files make_student_copy blanks."""
    from make_student_copy import CLOSE, OPEN, files
    regions = {}
    for rel in files():
        if not rel.endswith(".py") or rel.startswith("assignments/"):
            continue
        key = None
        for n, line in enumerate(open(ROOT / rel, encoding="utf-8"), 1):
            if OPEN.match(line):
                key = (rel, n)
                regions[key] = []
            elif CLOSE.match(line):
                key = None
            elif key:
                regions[key].append(line)
    return regions


def test_student_copy_holds_no_solution(student):
    """Every line of solution code (a marked region's, and found nowhere else in the solution) is absent from
    every file of the student copy."""
    regions = solution_regions()
    assert {rel for rel, _ in regions} >= {"train.py", "rules.py", "model.py", "tests/test_generate.py",
                                           "bench/bench_generate.py"}
    inside = {l.strip() for lines in regions.values() for l in lines}
    outside = set()
    for rel in {rel for rel, _ in regions}:
        text = open(ROOT / rel, encoding="utf-8").read()
        outside |= {l.strip() for l in re.sub(r"# >>> assignment.*?# <<< assignment \d+", "", text,
                                               flags=re.S).splitlines()}
    code = {l for l in inside - outside if len(l) >= 20 and not l.startswith("#")}   # not `return x, y`
    assert len(code) >= 12, code
    for path in student.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".md", ".txt", ".json", ""):
            text = path.read_text(encoding="utf-8", errors="replace")
            leaked = [l for l in code if l in text]
            assert not leaked, f"{path.relative_to(student)} holds solution code: {leaked}"


def test_markdown_regions_become_their_stand_in():
    from make_student_copy import for_students
    stand_in = (ROOT / "assignments" / "student-copy" / "results.md").read_text(encoding="utf-8")
    text = "a\n<!-- >>> student copy: assignments/student-copy/results.md -->\nanswers\n<!-- <<< student copy -->\nb\n"
    assert for_students(text) == "a\n" + stand_in + "b\n"
    with pytest.raises(ValueError):
        for_students("<!-- >>> student copy: assignments/student-copy/results.md -->\nanswers\n")
    with pytest.raises(ValueError):
        for_students("<!-- <<< student copy -->\n")


def test_student_readme_says_what_runs_first_and_leaves_out_the_results(student):
    """The copy's README opens with which commands run before assignments 1 and 3; the results and observations
    that pages 4-8 ask for are in the solution's README and RESULTS.md, and in neither of the copy's."""
    ours, theirs = (ROOT / "README.md").read_text(encoding="utf-8"), (student / "README.md").read_text(encoding="utf-8")
    answers = ["## What the toy world shows", "| 4.6 ± 0.2 | 26.9 [16.4, 37.6] |", "non-follower", "RESULTS.md"]
    assert all(a in ours for a in answers) and (ROOT / "RESULTS.md").exists()
    assert not [a for a in answers if a in theirs], [a for a in answers if a in theirs]
    assert not (student / "RESULTS.md").exists() and not (student / "assignments" / "student-copy").exists()
    assert "<!--" not in theirs
    headings = [l for l in theirs.splitlines() if l.startswith("## ")]
    assert headings[0] == "## In this copy: what runs before assignments 1 and 3", headings
    assert "## Results" in headings and headings.index("## Results") > headings.index("## Quickstart")


def test_student_copy_commands_say_which_assignment_they_need(student, tmp_path):
    """Before 1 and 3 are done, the quickstart's commands stop with one line naming the assignment, not a
    traceback, and writes nothing; what the copy's README says runs does."""
    def run(*argv):
        return subprocess.run([sys.executable, *argv], cwd=student, capture_output=True, text=True)
    for argv, n in [(["train.py", "--mode", "response", "--out", str(tmp_path / "rt")], 1),
                    (["generate.py", "--limit", "1", "--output", str(tmp_path / "g.json")], 3)]:
        r = run(*argv)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert r.stderr.splitlines()[-1].startswith(f"error: not done yet: assignment {n}: "), r.stderr[-2000:]
    assert not (tmp_path / "rt").exists() and not (tmp_path / "g.json").exists()
    records = [json.loads(l) for l in (student / "data" / "toy" / "eval.jsonl").read_text().splitlines() if l]
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps([{"instruction": r["instruction"], "output": "No."} for r in records]))
    r = run("evaluate.py", "checks", "--eval", "data/toy/eval.jsonl", str(outputs))
    assert r.returncode == 0 and "| pass |" in r.stdout, r.stderr[-2000:]


def test_grade_json_is_ignored_by_git(student):
    (student / "grade.json").write_text("{}")
    r = subprocess.run(["git", "check-ignore", "-q", "grade.json"], cwd=student)
    (student / "grade.json").unlink()
    assert r.returncode == 0, "grade.json would be committed with the student's code"


@pytest.mark.parametrize("n", CODING)
def test_blanking_one_assignment_breaks_nothing_else(tmp_path, n):
    repo = student_copy(tmp_path / f"only{n}", only=[n])
    imp = subprocess.run([sys.executable, "-c", "import model, train, rules, generate, evaluate"], cwd=repo,
                         capture_output=True, text=True)
    assert imp.returncode == 0, imp.stderr
    r = grade(repo, *[f for k, f in CODING.items() if k != n])
    assert r.returncode == 0, r.stdout[-2000:]
    assert grade(repo, CODING[n]).returncode == 1


def test_student_copy_leaves_out_the_measured_results(student):
    """No table, sweep or screening of data/results/ (a note stands there), and none of data/TOYWORLD.md's numbers
    on the evaluation set, which pages 4-8 ask for; the rest of that file stays."""
    from make_student_copy import HIDDEN, NOTE
    assert sorted(p.name for p in (student / "data" / "results").iterdir()) == ["README.md"]
    ours = (ROOT / "data" / "TOYWORLD.md").read_text(encoding="utf-8")
    theirs = (student / "data" / "TOYWORLD.md").read_text(encoding="utf-8")
    assert all(a in ours for a in HIDDEN["data/TOYWORLD.md"]), "an anchor of make_student_copy.HIDDEN is gone"
    for answer in ("9.7% win rate", "17.9% against 12.2%", "| IT | 26.0 / 26.9 |", "ranks 73.6% on eval",
                   "IT seeds 2 and 3 on eval", "26.5% for IT", "(7.6%, still none)", "answering half of the"):
        assert answer in ours and answer not in theirs, answer
    assert theirs.count(NOTE.strip()) >= 3 and "## World 4: knowledge in many voices" in theirs
    assert len(theirs) > 0.8 * len(ours)
    readme = (student / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    assert "results/" not in layout[:layout.index("## ", 3)], "the copy's layout names results/"


def test_without_answers_leaves_one_note_for_a_run_of_units():
    from make_student_copy import NOTE, units, without_answers
    text = "Intro.\n\n1. kept\n2. secret 9.7%\n   more\n3. kept\n\nsecret table:\n\n| a |\n|---|\n\nEnd.\n"
    assert units(text)[2:5] == ["1. kept\n", "2. secret 9.7%\n   more\n", "3. kept\n"]
    assert without_answers(text, ["secret"]) == f"Intro.\n\n1. kept\n{NOTE}3. kept\n\n{NOTE}\n| a |\n|---|\n\nEnd.\n"
    assert without_answers(text, ["secret", "| a |"]) == f"Intro.\n\n1. kept\n{NOTE}3. kept\n\n{NOTE}\nEnd.\n"


def grade_py(repo, out, *flags, handin=None):
    """grade.py of the project `repo` (with --handin `handin`): its console output and its grade file."""
    cmd = [sys.executable, os.path.join(repo, "assignments", "grade.py"), "--out", str(out), *flags]
    r = subprocess.run(cmd + (["--handin", str(handin)] if handin else []), cwd=out.parent, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout, json.loads(out.read_text())


def test_solution_gets_full_marks(tmp_path):
    """The solution graded as its own hand-in. (Hand-ins 4-7 record the code they ran: while the method files
    change, they fail their hash check until they are run again.)"""
    out, g = grade_py(ROOT, tmp_path / "grade.json")
    assert "grading assignment 1 (the loss masks) ..." in out and "grading assignment 7 " in out, out
    assert g["points"] == g["max"] == 65 and g["answers_max"] == 35, out
    assert "assignment 3 (the KV cache): 15/15" in out and "total: 65/65" in out


TESTS = {4: "test_4_response_tuning", 5: "test_5_single_task", 6: "test_6_new_rule", 7: "test_7_attribution"}


def test_student_copy_scores_nothing(student, tmp_path):
    """Every grade fails with its hint, on the console too, and names paths from the hand-in's root; a line
    names each assignment as its grading starts."""
    out, g = grade_py(ROOT, tmp_path / "grade.json", handin=student)
    assert g["points"] == 0 and "total: 0/65" in out, out
    for n, a in g["assignments"].items():
        assert a["tests"] and all(m != "passed" for m in a["tests"].values()), (n, a)
        if int(n) <= 3:
            assert all(m.startswith(f"assignment {n}: not done yet") and "HINT:" in m for m in a["tests"].values())
        else:
            assert f"writes assignments/handin/{n}/results.json\nHINT:" in a["tests"][TESTS[int(n)]], a
    assert "../" not in out and out.count("\n    HINT: ") == 7, out
    assert all(f"grading assignment {n} (" in out for n in range(1, 8)), out


def handin_copy(repo, dest, handins=True):
    """The project `repo` as an unzipped handin.zip: the files the zip holds (its hand-ins too, or not)."""
    from handin import members
    for rel in members(repo):
        if handins or not rel.startswith("assignments/handin/"):
            os.makedirs(os.path.dirname(dest / rel), exist_ok=True)
            shutil.copy2(os.path.join(repo, rel), dest / rel)
    return dest


HOOK = """
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    report.outcome = "passed"
"""


def test_grading_uses_the_lecturers_graders_never_the_handins(student, tmp_path):
    """A hand-in whose conftest passes every test and whose grader of assignment 3 is deleted: graded by this
    project's grade.py --handin, with this project's graders, it scores what its code earns (nothing)."""
    h = handin_copy(student, tmp_path / "handin")
    with open(h / "assignments" / "conftest.py", "a") as f:
        f.write(HOOK)
    (h / "conftest.py").write_text(HOOK)
    (h / "assignments" / "test_3_kv_cache.py").unlink()
    out, g = grade_py(ROOT, tmp_path / "g.json", handin=h)
    assert g["points"] == 0 and len(g["assignments"]["3"]["tests"]) == 3, out


# Code of the hand-in that patches pytest as it is imported (issue 33): a test run in the hand-in's process would
# pass whatever it checked.
PATCH_PYTEST = """
try:
    import _pytest.python
    _pytest.python.Function.runtest = lambda self: None
except ImportError:
    pass
"""
# Code of the hand-in that writes a result saying all is well, makes every way out of its process a clean one,
# and leaves.
FORGE = """
import builtins, os, signal, sys
import torch
try:
    request = torch.load(sys.argv[1], weights_only=True)
    torch.save({"nonce": request["nonce"], "result": "passed", "passed": True}, sys.argv[2])
except (IndexError, OSError, KeyError):
    pass
sys.exit = os._exit = builtins.exit = builtins.quit = print
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("attack", ["PATCH_PYTEST", "FORGE"])
def test_code_that_attacks_the_grader_from_its_process_scores_nothing(student, tmp_path, attack):
    """The student copy with model.py patching pytest, or forging a result and its process's exits, as it is
    imported: the verdict is taken in the grader's process, from data: no point."""
    h = handin_copy(student, tmp_path / "handin")
    with open(h / "model.py", "a") as f:
        f.write(globals()[attack])
    out, g = grade_py(ROOT, tmp_path / "g.json", "--only", "1", "2", "3", handin=h)
    assert g["points"] == 0 and g["max"] == 45, out
    assert all(len(g["assignments"][str(n)]["tests"]) >= 3 for n in CODING), g


def test_symbolic_links_to_the_solution_score_nothing(student, tmp_path):
    """The student copy with model.py, train.py, rules.py and assignments/handin/ as links to the solution's
    (unzip restores the links a zip holds): every grade fails, naming them."""
    h = handin_copy(student, tmp_path / "handin")
    for rel in ("model.py", "train.py", "rules.py"):
        (h / rel).unlink()
        (h / rel).symlink_to(ROOT / rel)
    (h / "assignments" / "handin").symlink_to(ROOT / "assignments" / "handin")
    out, g = grade_py(ROOT, tmp_path / "g.json", handin=h)
    assert g["points"] == 0, out
    for n, a in g["assignments"].items():
        assert all("symbolic links or compiled code (assignments/handin, model.py, rules.py and 1 more)" in m
                   for m in a["tests"].values()), (n, a)


def test_compiled_code_in_the_handin_is_refused_or_never_read(student, tmp_path):
    """The solution's model.py compiled into the hand-in's __pycache__, stamped as the student's model.py (Python
    would import it instead of that source): never read. A compiled module in the hand-in: refused."""
    import importlib._bootstrap_external as bootstrap
    from importlib.util import cache_from_source
    h = handin_copy(student, tmp_path / "handin")
    stat = (h / "model.py").stat()
    code = compile((ROOT / "model.py").read_text(encoding="utf-8"), str(h / "model.py"), "exec")
    cached = cache_from_source(str(h / "model.py"))
    os.makedirs(os.path.dirname(cached))
    with open(cached, "wb") as f:
        f.write(bootstrap._code_to_timestamp_pyc(code, int(stat.st_mtime), stat.st_size))
    out, g = grade_py(ROOT, tmp_path / "g.json", "--only", "3", handin=h)
    assert g["points"] == 0 and "not done yet" in out, out
    (h / "rules.abi3.so").write_bytes(b"\x7fELF")
    out, g = grade_py(ROOT, tmp_path / "g.json", "--only", "2", handin=h)
    assert g["points"] == 0 and "symbolic links or compiled code (rules.abi3.so)" in out, out


def test_a_handins_own_scoring_code_is_never_used(tmp_path):
    """Issue 33's attack: a hand-in whose win rate (lib/report.decisive_winrate, which reproduce.py uses) returns
    99, with results.json saying 99 and the recorded code hashes updated. The lecturer's code scores it: no point.
    The same hand-in with the solution's code passes (the control, in this process)."""
    h = handin_copy(ROOT, tmp_path / "handin")
    rehash(h, 6)
    experiments().check_6(str(h))
    with open(h / "lib" / "report.py", "a") as f:
        f.write("\n\ndef decisive_winrate(a, b):\n    return 99.0\n")

    def ninety_nine(r):
        for c in r["conditions"].values():
            c["win_rate_vs_it"] = [99.0] * len(c["win_rate_vs_it"])
    edit_json(h / "assignments" / "handin" / "6" / "results.json", ninety_nine)
    rehash(h, 6)
    out, g = grade_py(ROOT, tmp_path / "g.json", "--only", "6", handin=h)
    assert g["points"] == 0 and "win_rate_vs_it of 'base' ([99.0]) is not what its outputs score" in out, out


# ------------------------------------------------------------------------- wrong solutions fail with the hint
def patched(fn, *edits):
    """fn rebuilt from its source with each (old, new) text edit applied once: a student's wrong solution."""
    src = textwrap.dedent(inspect.getsource(fn))
    for old, new in edits:
        assert src.count(old) == 1, f"{old!r} not (once) in {fn.__qualname__}; update this wrong solution"
        src = src.replace(old, new)
    ns = {}
    exec(compile(src, f"<wrong {fn.__qualname__}>", "exec"), fn.__globals__, ns)
    return ns[fn.__name__]


def here(probe, *args, **kwargs):
    """grading.Student's contract kept in this process, on the code as it is now patched: the probe's result
    through the same save and weights-only load."""
    import torch
    from grading import run_probe
    buf = io.BytesIO()
    torch.save(run_probe(probe, args, kwargs), buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def run_tests(module, tok, checkpoint):
    """Failure messages of a grader module's tests, run in-process on the code as it is now patched."""
    failures = []
    for name, fn in vars(module).items():
        if not name.startswith("test_") or not callable(fn):
            continue
        params = inspect.signature(fn).parameters
        fixtures = {k: v for k, v in {"tok": tok, "checkpoint": checkpoint, "student": here}.items() if k in params}
        for extra in ([{"saturate": s} for s in (False, True)] if "saturate" in params else [{}]):
            try:
                fn(**fixtures, **extra)
            except pytest.fail.Exception as e:
                assert e.__context__ is None, f"{name}: the failure chains another exception"
                failures.append(str(e.msg))
    return failures


def run_grader(n, tok, checkpoint):
    return run_tests(importlib.import_module(CODING[n][:-3]), tok, checkpoint)


EMPTY_FIRST_ONLY = ('if role == "ins" and not keep_instruction:',          # the later user turns keep their text
                    'if role == "ins" and not keep_instruction and all(l == IGNORE for l in labels):')
IM_FIRST_ONLY = ("labels += seg if role in loss else",                      # IM loss on the first instruction only
                 'labels += seg if role in loss and not (role == "ins" and any(l != IGNORE for l in labels)) else')
WRITE = "self.k[layer][:, :, start:self.pos], self.v[layer][:, :, start:self.pos] = k, v"
READ = "return self.k[layer][:, :, :self.pos], self.v[layer][:, :, :self.pos]"


WRONG = {
    1: {"only the first user turn emptied": [(train, "apply_mask", [EMPTY_FIRST_ONLY])],
        "IM loss on the first instruction only": [(train, "apply_mask", [IM_FIRST_ONLY])],
        "IM loss on the tags too": [(train.MASKS, "instruction-modelling", (True, {"tmpl", "ins", "resp"}))],
        "response mode keeps the instruction": [(train.MASKS, "response", (True, {"resp"}))],
        "labels shifted by one here too": [(train, "apply_mask", [("return ids, labels",
                                                                  "return ids, labels[1:] + [IGNORE]")])]},
    2: {"EOS bonus assigned, not added": [(rules.RuleExpert, "scores", [("r[:, self.eos_id] += ramp",
                                                                         "r[:, self.eos_id] = ramp")])],
        "ramp still on at L = 250": [(rules.RuleExpert, "scores", [("length < self.ramp",
                                                                    "length <= self.ramp")])],
        "always saturated": [(rules.RuleExpert, "scores", [("if self.saturate:", "if True:")])],
        "integer ramp": [(rules.RuleExpert, "scores", [("length.float() * (EOS_SCALE / self.ramp)",
                                                        "length * int(EOS_SCALE) // self.ramp")])],
        "diversity with the wrong sign": [(rules.RuleExpert, "scores", [(".mul_(DIVERSITY)",
                                                                         ".mul_(-DIVERSITY)")])]},
    3: {"a prefill of T > 1 only at position 0": [(model.KVCache, "update", [(WRITE, (
            "if start == 0:\n        " + WRITE + "\n    else:\n        "
            "self.k[layer][:, :, start], self.v[layer][:, :, start] = k[:, :, -1], v[:, :, -1]"))])],
        "cache written at 0..T": [(model.KVCache, "update", [(WRITE, WRITE.replace("start:self.pos",
                                                                                 ":k.shape[2]"))])],
        "cache written and read at 0..T (a shape error)": [(model.KVCache, "update", [
            (WRITE, WRITE.replace("start:self.pos", ":k.shape[2]")), (READ, READ.replace(":self.pos", ":k.shape[2]"))])],
        "attends over the whole buffer (a shape error)": [(model.KVCache, "update", [(READ, "return self.k[layer], "
                                                                                          "self.v[layer]")])],
        "values cached from the keys": [(model.KVCache, "update", [(WRITE, WRITE[:-4] + "k, k")])],
        "no causal mask at a prefill": [(model.KVCache, "step", [(
            "attention_mask(q_pos, torch.arange(self.pos, device=q_pos.device), self.pad)",
            "self.real[..., :self.pos].expand(-1, -1, T, -1)")])],
        "padding keys seen at a decoding step": [(model.KVCache, "step", [(
            "mask = self.real[..., :self.pos]", "mask = torch.ones_like(self.real[..., :self.pos])")])],
        "position not advanced": [(model.KVCache, "step", [("self.pos += T", "pass")])]},
}


def apply_wrong(monkeypatch, n, wrong):
    """Patch the code into the wrong solution WRONG[n][wrong], for this test only."""
    for where, name, how in WRONG[n][wrong]:
        if isinstance(where, dict):
            monkeypatch.setitem(where, name, how)
        else:
            monkeypatch.setattr(where, name, patched(getattr(where, name), *how))


@pytest.mark.parametrize("n, wrong", [(n, w) for n in WRONG for w in WRONG[n]])
def test_each_grader_fails_wrong_solutions_with_its_hint(n, wrong, monkeypatch, tiny_tokenizer, tiny_checkpoint):
    apply_wrong(monkeypatch, n, wrong)
    failures = run_grader(n, tiny_tokenizer, tiny_checkpoint)
    assert failures, f"assignment {n}'s grader passes a wrong solution: {wrong}"
    hint = importlib.import_module(CODING[n][:-3]).G.hint
    for msg in failures:
        assert msg.startswith(f"assignment {n}: ") and msg.endswith(f"\nHINT: {hint}"), msg
        assert "Traceback" not in msg and len(msg.splitlines()) <= 3, msg


@pytest.mark.parametrize("n, wrong", [(1, "IM loss on the first instruction only"), (2, "always saturated"),
                                      (3, "padding keys seen at a decoding step")])
def test_hidden_cases_pass_the_solution_and_fail_a_wrong_one(n, wrong, monkeypatch, tiny_tokenizer,
                                                             tiny_checkpoint):
    sys.path.insert(0, str(ROOT / "assignments" / "lecturer"))
    hidden = importlib.import_module("test_hidden")
    test = next(f for name, f in vars(hidden).items() if name.startswith(f"test_{n}_"))
    fixtures = {"tok": tiny_tokenizer, "checkpoint": tiny_checkpoint, "student": here}
    fixtures = {k: v for k, v in fixtures.items() if k in inspect.signature(test).parameters}
    test(**fixtures)
    apply_wrong(monkeypatch, n, wrong)
    with pytest.raises(pytest.fail.Exception, match=f"^assignment {n}: "):
        test(**fixtures)


def test_graders_pass_the_solution_in_process(tiny_tokenizer, tiny_checkpoint):
    for n in CODING:                                  # the harness above sees a right solution as right
        assert run_grader(n, tiny_tokenizer, tiny_checkpoint) == [], n


# ------------------------------------------------------------- experiment hand-ins: graded on their evidence
def experiments():
    return importlib.import_module("test_4_to_7_experiments")


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))


def rehash(root, n, outputs=False):
    """Record in hand-in n's results.json the sha256 of the code beside it now (the method files change while the
    hand-ins are not run again), and with `outputs` of its output files: what a student who edits them writes."""
    folder = root / "assignments" / "handin" / str(n)

    def update(r):
        p = r["provenance"]
        p["code_sha256"] = {f: sha(root / f) for f in p["code_sha256"] if (root / f).is_file()}
        if outputs:
            p["outputs_sha256"] = {f: sha(folder / f) for f in p["outputs_sha256"]}
    edit_json(folder / "results.json", update)


@pytest.fixture(scope="module")
def code_tree(tmp_path_factory):
    """The solution's code as a hand-in holds it, without hand-ins."""
    return handin_copy(ROOT, tmp_path_factory.mktemp("code") / "project", handins=False)


@pytest.fixture
def handin(tmp_path, code_tree):
    """handin(n): a project with the solution's code and its hand-in n, the code's hashes recorded anew, for a
    test to fabricate from."""
    def make(n):
        root = tmp_path / f"project-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(code_tree, root)
        shutil.copytree(ROOT / "assignments" / "handin" / str(n), root / "assignments" / "handin" / str(n),
                        ignore=shutil.ignore_patterns("runs", "measures"))
        rehash(root, n)
        return root
    return make


def results(root, n):
    return root / "assignments" / "handin" / str(n) / "results.json"


def fails(n, root, what):
    """Assignment n's grader fails the hand-in in the project `root` with a message holding `what`, and the hint."""
    with pytest.raises(pytest.fail.Exception) as e:
        getattr(experiments(), f"check_{n}")(str(root))
    msg = str(e.value.msg)
    assert msg.startswith(f"assignment {n}: ") and what in msg and "HINT:" in msg, msg


@pytest.mark.parametrize("n", [4, 5, 6, 7])
def test_solution_handins_pass_the_evidence_checks(n):
    """As committed (their code hashes fail while the method files change, until they are run again)."""
    getattr(experiments(), f"check_{n}")()


@pytest.mark.parametrize("n", [4, 5, 6, 7])
def test_solution_handins_pass_with_the_code_beside_them(n, handin):
    """The same hand-ins with the hashes of today's code: re-scored, decoded again in part, the base measured."""
    getattr(experiments(), f"check_{n}")(str(handin(n)))


def test_made_up_numbers_fail(handin):
    h = handin(4)
    edit_json(results(h, 4), lambda r: r["conditions"]["response-tuned"].update(win_rate_vs_it=[45.0, 41.0]))
    fails(4, h, "win_rate_vs_it of 'response-tuned'")
    h = handin(5)                                   # a style share made up
    edit_json(results(h, 5), lambda r: r["conditions"]["poetry"].update({"style_near_far_%": [90.0, 10.0]}))
    fails(5, h, "style_near_far_%")
    h = handin(5)                                   # a difference between rows made up
    edit_json(results(h, 5), lambda r: r["differences"]["poetry - base"].update(win_rate=70.0))
    fails(5, h, "difference 'poetry - base'")


def test_results_without_provenance_fail(handin):
    """A results.json typed by hand or written by the old reproduce.py: no evidence, no points."""
    h = handin(7)
    edit_json(results(h, 7), lambda r: r.pop("provenance"))
    fails(7, h, "no provenance")


def test_outputs_that_do_not_give_the_numbers_fail(handin):
    """Outputs swapped for others (and their hashes updated to match): the numbers are not theirs."""
    h = handin(4)
    folder = h / "assignments" / "handin" / "4"
    (folder / "outputs/response-tuned-seed-1.json").write_bytes((folder / "outputs/instruction-tuned-seed-1.json")
                                                                .read_bytes())
    rehash(h, 4, outputs=True)
    fails(4, h, "is not what its outputs score")


def test_edited_outputs_fail(handin):
    h = handin(6)
    f = h / "assignments" / "handin" / "6" / "outputs" / "base.json"
    data = json.loads(f.read_text())
    data[0]["output"] = "A better answer."
    f.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    fails(6, h, "assignments/handin/6/outputs/base.json is not the file the run scored")
    f.unlink()
    fails(6, h, "assignments/handin/6/outputs/base.json that results.json scored is not handed in")


def test_made_up_base_outputs_fail_when_decoded_again(handin):
    """The base model's outputs made up (each the record's reference) with every number and hash recomputed from
    them by the lecturer's own functions: the grader decodes a few of them again from its base model."""
    h = handin(4)
    folder = h / "assignments" / "handin" / "4"
    x = experiments()
    records = x.criteria.read_eval(str(ROOT / "data" / "toy" / "eval.jsonl"))
    base = folder / "outputs" / "base.json"
    data = json.loads(base.read_text())
    by_instruction = {r["instruction"]: r["reference"] for r in records}
    base.write_text(json.dumps([{**d, "output": by_instruction[d["instruction"]]} for d in data], indent=2))
    rehash(h, 4, outputs=True)
    r = json.loads(results(h, 4).read_text())
    instructions = [x["instruction"] for x in records]
    outs = {name: [x.read_outputs(str(folder / f), f, instructions) for f in fs]
            for name, fs in r["provenance"]["outputs"].items()}
    rows, per_ins = x.recompute(records, outs)

    def forge(r):
        for name, row in rows.items():
            r["conditions"][name].update(row)
        for key in r["differences"]:
            r["differences"][key] = x.reproduce.difference(per_ins, *key.split(" - "))
    edit_json(results(h, 4), forge)
    fails(4, h, "is not what the base model decodes")


def test_page_6_needs_a_rule_of_ones_own(handin):
    h = handin(6)
    edit_json(results(h, 6), lambda r: r["provenance"]["rule_sets"]["mine"].update(rules="eos,uniform,diversity"))
    fails(6, h, "no rules row uses a rule of your own")
    edit_json(results(h, 6), lambda r: r["provenance"]["rule_sets"]["mine"].update(rules="eos,uniform,mystery"))
    fails(6, h, "the rules mystery of results.json's rule specs are not in the rules.RULES handed in")


def test_handin_zips_code_and_handins_without_runs(tmp_path):
    import zipfile
    student = student_copy(tmp_path / "student")
    (student / "runs" / "x").mkdir(parents=True, exist_ok=True)
    (student / "runs" / "x" / "log.json").write_text("{}")
    h = student / "assignments" / "handin" / "4"
    (h / "outputs").mkdir(parents=True, exist_ok=True)
    (h / "runs" / "instruction-tuned-seed1").mkdir(parents=True, exist_ok=True)
    (h / "runs" / "instruction-tuned-seed1" / "config.json").write_text("{}")
    for f in ("results.json", "answers.md", "outputs/base.json"):
        (h / f).write_text("{}")
    out = tmp_path / "handin.zip"
    r = subprocess.run([sys.executable, str(ROOT / "assignments" / "handin.py"), "--root", str(student),
                        "--out", str(out)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = set(zipfile.ZipFile(out).namelist())
    assert {"train.py", "rules.py", "model.py", "tests/test_rules.py", "assignments/handin/4/results.json",
            "assignments/handin/4/answers.md", "assignments/handin/4/outputs/base.json"} <= names, sorted(names)
    assert not [n for n in names if n.startswith(("runs/", "checkpoints/", "data/toy/")) or "/runs/" in n]
    assert "assignment 4: results.json, answers.md" in r.stdout and "assignment 5: nothing" in r.stdout


def test_typed_model_numbers_fail(handin):
    """The base row's are measured again on the base model; any row's must be numbers the run could write."""
    for n, key, change, what in [
            (7, "attribution", {"share_%": 123.456}, "attribution of 'base'"),
            (4, "ranking", {"code_mean_token_%": 99.9}, "ranking of 'base'"),
            (4, "response_nll", {"held-out": 1.5}, "response_nll of 'base'"),
            (7, "ranking", {"eq3_raw_logprob_%": 123.4}, "ranking of 'response-tuned'")]:
        h = handin(n)
        row = "response-tuned" if "response-tuned" in what else "base"
        edit_json(results(h, n), lambda r: r["conditions"][row][key].update(change))
        fails(n, h, what)
        shutil.rmtree(h)


def test_code_hashes_are_compared_with_the_code_handed_in(handin):
    """Each recorded hash must be that of the code beside it, and the method files must be among them."""
    h = handin(7)
    edit_json(results(h, 7), lambda r: r["provenance"]["code_sha256"].update({"rules.py": "0" * 64}))
    fails(7, h, "rules.py is not the code the run ran")
    edit_json(results(h, 7), lambda r: r["provenance"]["code_sha256"].update(
        {"rules.py": sha(h / "rules.py"), "mine.py": "0" * 64}))
    fails(7, h, "mine.py is not the code the run ran")

    def drop(r):
        for f in ("mine.py", "train.py"):
            del r["provenance"]["code_sha256"][f]
    edit_json(results(h, 7), drop)
    fails(7, h, "lacks the sha256 of the code it ran")


def test_another_command_than_the_pages_is_refused(handin):
    """A run on another base, data or evaluation split, or with other decoding, is not compared with the grader's
    own base model and evaluation set."""
    h = handin(4)
    edit_json(results(h, 4), lambda r: r["provenance"]["argv"].extend(["--base", "runs/other"]))
    fails(4, h, "another command than the page's (with --base)")


def test_the_handin_is_read_through_no_link(handin):
    """An output file that is a link (to the solution's, which has the recorded hash), or a recorded path that
    leads out of the hand-in, fails."""
    h = handin(6)
    base = h / "assignments" / "handin" / "6" / "outputs" / "base.json"
    base.unlink()
    base.symlink_to(ROOT / "assignments" / "handin" / "6" / "outputs" / "base.json")
    fails(6, h, "symbolic links or compiled code (assignments/handin/6/outputs/base.json)")
    base.unlink()
    shutil.copy2(ROOT / "assignments" / "handin" / "6" / "outputs" / "base.json", base)
    outside = "outputs/../../../../../base.json"               # beside the hand-in's project, not in it
    shutil.copy2(base, h.parent / "base.json")

    def add(r):
        r["provenance"]["outputs"]["base"].append(outside)
        r["provenance"]["outputs_sha256"][outside] = sha(base)
    edit_json(results(h, 6), add)
    fails(6, h, f"the output file assignments/handin/6/{outside} that results.json scored is not handed in")
