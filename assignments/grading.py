"""What the graders share. The grader's process imports this project's code only (OWN, the lecturer's): the
project graded, ROOT ($GRADE_ROOT, which grade.py --handin sets to a student's copy, or this one), is never on its
path. Its code runs in processes of its own (Student), which hand back data for the grader to judge, and its
files are read as data (inside()); a symbolic link or compiled module anywhere in it fails every grade
(refused()).

`Grader(n, hint)` fails a grade as `assignment n: what went wrong` followed by the page's hint on the last line,
whatever went wrong: an unfinished assignment (the student copy's NotImplementedError), an exception from the
student's code, or a wrong result."""
import inspect
import os
import secrets
import signal
import subprocess
import sys
import tempfile

import pytest

from handin import SKIP_DIRS, SKIP_PATHS

HERE = os.path.dirname(os.path.abspath(__file__))
OWN = os.path.dirname(HERE)
ROOT = os.path.abspath(os.environ.get("GRADE_ROOT") or OWN)
# The runner of a probe in the hand-in's process, and how long a probe may take there (tiny models: seconds).
RUNNER = os.path.join(HERE, "probe.py")
TIMEOUT = 300
# Files that Python imports before or instead of a module's source (extension modules, bytecode): a hand-in's
# code is graded from its source only. (Its __pycache__/ is never read: the probe's process keeps its own.)
COMPILED = (".so", ".pyd", ".pyc", ".pyo", ".dylib", ".dll")


class Failed(Exception):
    """What went wrong in the student's code, as the grade says it."""


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
        """fn(*args, **kwargs), or the grade failed with what it raised (outside the except clause, so no chained
        traceback)."""
        try:
            return call(fn, *args, **kwargs)
        except Failed as e:
            what = str(e)
        self.fail(what)

    def run(self, student, probe, *args, **kwargs):
        """probe(*args, **kwargs) run by `student` (a Student: in the hand-in's own process): its result, data for
        the grader to judge, or the grade failed with what went wrong there."""
        got = student(probe, *args, **kwargs)
        if "error" in got:
            self.fail(str(got["error"])[:600])
        return got["result"]


def call(fn, *args, **kwargs):
    """fn(*args, **kwargs); an exception becomes Failed with its one-line message (what raised, not where)."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        what = "not done yet: the NotImplementedError between the markers is still there"
    except Exception as e:                                   # the student's code raised: say what, not where
        first = (str(e).strip().splitlines() or [""])[0][:300]
        name = getattr(fn, "__qualname__", None) or f"{type(fn).__name__}.forward"   # a module: its forward
        what = f"{name} raised {type(e).__name__}: {first}"
    raise Failed(what)


def run_probe(probe, args, kwargs):
    """{"result": probe's} or {"error": what went wrong}: what a probe hands back to the grader."""
    try:
        return {"result": probe(*args, **kwargs)}
    except Failed as e:
        return {"error": str(e)}
    except BaseException as e:                               # sys.exit or worse inside the student's code
        return {"error": f"the grader's {probe.__name__} stopped on {type(e).__name__}: {str(e)[:300]}"}


class Student:
    """Runs a grader's probe in a fresh process of the hand-in's own (probe.py): the hand-in's code is imported
    there and nowhere else, so whatever it patches (pytest, builtins, sys.exit) stays in that process, and what
    comes back is data, loaded without running any code (torch.load(weights_only=True)), for the grader's process
    to judge with its own code. The nonce ties the result to its request: an answer left by an earlier process is
    not taken."""

    def __init__(self, root):
        self.root = root

    def __call__(self, probe, *args, **kwargs):
        import torch
        bad = refused(self.root)
        if bad:
            return {"error": refusal(bad)}
        nonce = secrets.token_hex(16)
        with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
            request, result = os.path.join(tmp, "request.pt"), os.path.join(tmp, "result.pt")
            torch.save({"root": self.root, "file": inspect.getfile(probe), "probe": probe.__name__, "args": args,
                        "kwargs": kwargs, "nonce": nonce}, request)
            cache = f"pycache_prefix={os.path.join(tmp, 'pycache')}"
            # Output to a file, not a pipe: a child the probe leaves behind holding it cannot keep the grader waiting
            with open(os.path.join(tmp, "output.txt"), "w+b") as out:
                p = subprocess.Popen([sys.executable, "-I", "-B", "-X", cache, RUNNER, request, result], cwd=tmp,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
                try:
                    p.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    out.write(f"\nno result after {TIMEOUT} s".encode())
                finally:
                    stop(p)
                out.seek(0)
                last = (out.read().decode(errors="replace").strip().splitlines() or [""])[-1][:300]
            try:
                got = torch.load(result, weights_only=True)
            except Exception:                                # no file, or not one of plain data
                got = None
        if not (isinstance(got, dict) and got.get("nonce") == nonce and ("result" in got or "error" in got)):
            return {"error": f"the hand-in's process gave no result (exit status {p.returncode}): {last}"}
        return got


def stop(p):
    """End the process and whatever it started in its session (a child left running must not write later)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):        # the session has ended already
            pass
    else:
        p.kill()
    p.wait()


def skipped(rel):
    """Whether handin.py leaves this folder out of a zip (a student's virtual environment, say): no grader reads
    from it."""
    name = os.path.basename(rel)
    return name in SKIP_DIRS or name.startswith((".venv", ".tmp-")) or rel.replace(os.sep, "/") + "/" in SKIP_PATHS


def refused(root):
    """The hand-in's symbolic links and compiled code (paths from its root), in the folders a zip holds: unzip
    restores links, and one to the lecturer's file would be graded as the student's; a compiled module would be
    imported instead of the source beside it."""
    found = []
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            if os.path.islink(os.path.join(d, name)) or (name in files and name.endswith(COMPILED)):
                found.append(os.path.relpath(os.path.join(d, name), root))
        dirs[:] = [x for x in dirs if not skipped(os.path.relpath(os.path.join(d, x), root))]
    return sorted(found)


def refusal(bad):
    shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    return (f"the hand-in holds symbolic links or compiled code ({shown}); a grader takes plain source files "
            "only: hand in copies, as handin.py zips them")


def inside(root, rel):
    """root/rel if it is a plain file of the hand-in, reached through no link and not resolving outside it; else
    None."""
    root = os.path.normpath(root)
    path = os.path.normpath(os.path.join(root, rel))
    if not (path.startswith(root + os.sep) and os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)):
        return None
    part = path
    while part != root:
        if os.path.islink(part):
            return None
        part = os.path.dirname(part)
    return path if os.path.isfile(path) else None


def show(tok, ids, labels):
    """Token ids as text, the ones that carry loss in [brackets] (-100: no loss)."""
    out = []
    for i, l in zip(ids, labels):
        p = tok.piece(i) if 0 <= i < tok.vocab_size else f"<{i}?>"
        p = p.replace("▁", " ").replace("<0x0A>", "\n")
        out.append(f"[{p}]" if l != -100 else p)
    return "".join(out)


def ints(x):
    """x if it is a list or tuple of ints (data from the hand-in's process is judged only in a known shape)."""
    return isinstance(x, (list, tuple)) and all(type(i) is int for i in x)
