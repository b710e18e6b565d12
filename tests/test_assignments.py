"""The course assignments: the student copy is made from the solution; on it each coding grader fails with its
hint; blanking one assignment breaks nothing else; on the solution every grader passes."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

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


def test_student_copy_fails_each_coding_grader_with_its_hint(tmp_path):
    repo = student_copy(tmp_path / "student")
    assert not (repo / "assignments" / "handin").exists()
    for n, f in CODING.items():
        r = grade(repo, f)
        assert r.returncode == 1, r.stdout[-2000:]
        assert f"assignment {n}:" in r.stdout and "HINT:" in r.stdout


@pytest.mark.parametrize("n", CODING)
def test_blanking_one_assignment_breaks_nothing_else(tmp_path, n):
    repo = student_copy(tmp_path / f"only{n}", only=[n])
    imp = subprocess.run([sys.executable, "-c", "import model, train, rules, generate, evaluate"], cwd=repo,
                         capture_output=True, text=True)
    assert imp.returncode == 0, imp.stderr
    r = grade(repo, *[f for k, f in CODING.items() if k != n])
    assert r.returncode == 0, r.stdout[-2000:]
    assert grade(repo, CODING[n]).returncode == 1


def test_solution_gets_full_marks():
    r = grade(ROOT, "")
    assert r.returncode == 0, r.stdout[-3000:]
