"""Grader fixtures: the project graded on the path ($GRADE_ROOT, see grading.py), and a tiny tokenizer and
checkpoint made with this project's tests/conftest.py (the graders' own, as are these files)."""
import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE]
from grading import OWN, ROOT

sys.path[:0] = [ROOT]
import model                        # the graded project's, before the fixtures' file puts OWN on the path
import rules

spec = importlib.util.spec_from_file_location("project_fixtures", os.path.join(OWN, "tests", "conftest.py"))
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)
if OWN != ROOT:                     # what is imported later comes from the graded project, never from OWN
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != OWN]


@pytest.fixture(scope="session")
def tok(tmp_path_factory):
    return fixtures.train_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, tok):
    return fixtures.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", tok)
