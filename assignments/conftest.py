"""Grader fixtures: a tiny tokenizer and checkpoint made with this project's tests/conftest.py, and `student`,
which runs a probe in a process of the graded project's own (grading.py). This process imports this project's code
only: the graded project's is never on its path. For grade.py, $GRADE_ONLY (--only) keeps some assignments' tests,
and with $GRADE_PROGRESS a line marks each assignment's first test as it starts."""
import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE]
from grade import PROGRESS, assignment_of
from grading import OWN, ROOT, Student

sys.path[:0] = [OWN]
spec = importlib.util.spec_from_file_location("project_fixtures", os.path.join(OWN, "tests", "conftest.py"))
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)
ONLY = {int(n) for n in os.environ.get("GRADE_ONLY", "").split()}
STARTED, CONFIG = [], []


@pytest.fixture(scope="session")
def tok(tmp_path_factory):
    return fixtures.train_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, tok):
    return fixtures.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", tok)


@pytest.fixture(scope="session")
def student():
    return Student(ROOT)


def of(item):
    return assignment_of(item.module.__name__, item.name)


def pytest_collection_modifyitems(config, items):
    """Each assignment's tests together (the hidden ones beside the visible), in order; only $GRADE_ONLY's."""
    dropped = [i for i in items if ONLY and of(i) not in ONLY]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = sorted((i for i in items if i not in dropped), key=lambda i: of(i) or 0)


def pytest_configure(config):
    CONFIG.append(config)


def pytest_runtest_logstart(nodeid, location):
    """A line for grade.py to show as an assignment's first test starts (a slow grade does not look hung)."""
    n = assignment_of(os.path.basename(location[0])[:-3], location[2])
    reporter = CONFIG[0].pluginmanager.get_plugin("terminalreporter")
    if n and n not in STARTED and reporter and os.environ.get("GRADE_PROGRESS"):
        STARTED.append(n)
        reporter.write_line(f"{PROGRESS}{n}")
