"""Grader fixtures: the project on the path, and a tiny tokenizer and checkpoint made with tests/conftest.py."""
import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.dirname(os.path.abspath(__file__))]
spec = importlib.util.spec_from_file_location("project_fixtures", os.path.join(ROOT, "tests", "conftest.py"))
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)


@pytest.fixture(scope="session")
def tok(tmp_path_factory):
    return fixtures.train_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, tok):
    return fixtures.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", tok)
