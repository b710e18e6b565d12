"""What the graders share. `Grader(n, hint)` fails a grade as `assignment n: what went wrong` followed by the
page's hint on the last line, whatever went wrong: an unfinished assignment (the student copy's
NotImplementedError), an exception from the student's code, or a wrong result. ROOT is the project graded:
$GRADE_ROOT, which grade.py --handin sets to a student's copy, or this one; HANDIN is where its experiment
results are handed in. OWN is the project these graders come from, whose evaluation set is the one graded."""
import os

import pytest

OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.abspath(os.environ.get("GRADE_ROOT") or OWN)
HANDIN = os.path.join(ROOT, "assignments", "handin")


class Grader:
    def __init__(self, n, hint):
        self.n, self.hint = n, hint

    def fail(self, what):
        pytest.fail(f"assignment {self.n}: {what}\nHINT: {self.hint}", pytrace=False)

    def check(self, ok, what):
        """Fail with `what` and the hint unless ok."""
        if not ok:
            self.fail(what)

    def call(self, fn, *args, **kwargs):
        """fn(*args, **kwargs); any exception fails the grade with its one-line message and the hint (outside
        the except clause, so no chained traceback)."""
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            what = "not done yet: the NotImplementedError between the markers is still there"
        except Exception as e:                               # the student's code raised: say what, not where
            first = (str(e).strip().splitlines() or [""])[0][:300]
            name = getattr(fn, "__qualname__", None) or f"{type(fn).__name__}.forward"   # a module: its forward
            what = f"{name} raised {type(e).__name__}: {first}"
        self.fail(what)
