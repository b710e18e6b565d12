"""Grade the assignments: run every grader once, print each assignment's score, write a JSON grade file.

    python assignments/grade.py                      # writes grade.json here
    python assignments/grade.py --out alice.json     # elsewhere
    python assignments/grade.py --hidden             # with the lecturer's hidden cases (not in the student copy)
    python assignments/grade.py --handin DIR         # a student's project (an unzipped handin.zip)
    python assignments/grade.py --only 4 6           # some assignments

The graders, their conftest and fixtures, the code that scores, the base model and the evaluation set are always
this project's (the lecturer's, when the lecturer runs it), never the hand-in's: --handin only says whose code and
hand-ins are graded. The hand-in's code runs only in processes of its own, which hand back data that the graders
judge (grading.py); its hand-ins are read as data. A line names each assignment as its grading starts.

The points are the table in assignments/README.md (POINTS below): a coding assignment's points are shared
equally among its grader's tests; an experiment's grader points are for the hand-in (results.json of the
right run, answers.md written), and its answer points are the lecturer's to give, so they are reported as
open. Exits 0 whatever the score; 2 if the graders could not run."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# assignment: (title, points from the grader, points for the answers, given by the lecturer)
POINTS = {1: ("the loss masks", 15, 0), 2: ("the rule-based expert", 15, 0), 3: ("the KV cache", 15, 0),
          4: ("response tuning vs instruction tuning", 5, 10), 5: ("single-task finetuning", 5, 5),
          6: ("a rule of your own", 5, 15), 7: ("instruction attribution", 5, 5)}
# How the graders' conftest marks, in pytest's output, that an assignment's tests start.
PROGRESS = "@grading assignment "


def assignment_of(module, name):
    """The assignment of a test: test_N_* files, or test_N_* functions in test_4_to_7 and in the hidden set."""
    module = module.rsplit(".", 1)[-1]
    by_name = "4_to_7" in module or module == "test_hidden"
    m = re.match(r"test_(\d+)_", name) if by_name else re.match(r"test_(\d+)_", module)
    return int(m[1]) if m else None


def run_graders(hidden=False, handin=ROOT, only=()):
    """{assignment: [(test, None or its failure message)]} from one pytest run over the graders (and the hidden
    set) of this project, on the code and hand-ins of the project `handin`, with a line as each assignment's tests
    start. Run from an empty folder with an empty pytest.ini, so that no conftest, plugin or setting of the
    hand-in's is read; the graders' conftest runs the hand-in's code in processes of its own (grading.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        xml, ini = os.path.join(tmp, "junit.xml"), os.path.join(tmp, "pytest.ini")
        with open(ini, "w") as f:
            f.write("[pytest]\n")
        skip = [] if hidden else [f"--ignore={os.path.join(HERE, 'lecturer')}"]
        env = {**os.environ, "GRADE_ROOT": os.path.abspath(handin), "GRADE_ONLY": " ".join(map(str, only)),
               "GRADE_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
        p = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", ini,
                              "--rootdir", ROOT, f"--junitxml={xml}", HERE, *skip], cwd=tmp, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in p.stdout:
            if PROGRESS in line:                           # after pytest's dots, on their line
                n = int(line.split(PROGRESS)[1])
                print(f"grading assignment {n} ({POINTS[n][0]}) ...", flush=True)
            lines.append(line)
        p.wait()
        if not os.path.exists(xml):
            sys.exit(f"error: the graders did not run:\n{''.join(lines)[-4000:]}")
        results = {n: [] for n in POINTS if not only or n in only}
        for case in ET.parse(xml).iter("testcase"):
            n = assignment_of(case.get("classname", ""), case.get("name", ""))
            if n in results:
                bad = case.find("failure")
                bad = bad if bad is not None else case.find("error")
                msg = None if bad is None else re.sub(r"^Failed: ", "",
                                                      (bad.text or bad.get("message") or "failed").strip())
                results[n].append((case.get("name"), msg))
        return results


def hints(tests):
    """The distinct HINT lines of an assignment's failures (its graders share one), each wrapped for a console."""
    last = [msg.splitlines()[-1] for _, msg in tests if msg]
    found = dict.fromkeys(line for line in last if line.startswith("HINT:"))
    return [textwrap.fill(h, 110, initial_indent="    ", subsequent_indent="      ") for h in found]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="grade.json", help="the JSON grade file to write (default: ./grade.json)")
    ap.add_argument("--hidden", action="store_true", help="also run the lecturer's hidden cases "
                    "(assignments/lecturer/, which the student copy does not hold)")
    ap.add_argument("--handin", default=ROOT, help="the project to grade: a student's copy, e.g. an unzipped "
                    "handin.zip (default: this one)")
    ap.add_argument("--only", type=int, nargs="+", choices=sorted(POINTS), metavar="N",
                    help="grade only these assignments (default: all)")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.handin, "model.py")):
        sys.exit(f"error: {args.handin}: not a copy of the project (no model.py)")
    results, grade = run_graders(args.hidden, args.handin, args.only or ()), {"assignments": {}}
    for n, tests in results.items():
        title, auto, answers = POINTS[n]
        passed = sum(msg is None for _, msg in tests)
        points = round(auto * passed / len(tests), 2) if tests else 0.0
        grade["assignments"][str(n)] = {
            "title": title, "points": points, "max": auto, "answers_max": answers,
            "tests": {name: "passed" if msg is None else msg for name, msg in tests}}
        line = f"assignment {n} ({title}): {points:g}/{auto}  ({passed}/{len(tests)} tests)"
        print(line + (f"  + answers: ?/{answers}, for the lecturer" if answers else ""))
        for name, msg in tests:
            if msg is not None:
                print(f"    {name}: {msg.splitlines()[0][:200]}")
        for line in hints(tests):
            print(line)
    a = grade["assignments"].values()
    grade.update(points=round(sum(x["points"] for x in a), 2), max=sum(x["max"] for x in a),
                 answers_max=sum(x["answers_max"] for x in a))
    print(f"total: {grade['points']:g}/{grade['max']} from the graders, "
          f"+ ?/{grade['answers_max']} for the answers (the lecturer's)")
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(grade, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
