"""The repository speaks for itself: it cites the papers, never notes a clone of it does not have."""
import subprocess

import pytest

from conftest import ROOT


def tracked_text_files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / f for f in out.splitlines() if f.endswith((".py", ".md", ".txt"))]


def test_no_reference_to_notes_outside_the_repository():
    files = tracked_text_files()
    assert files
    # Built from pieces, so that this file does not name them itself.
    notes = ["DESIGN" + ".md", "PAPERS" + ".md"]
    bad = [f"{f.relative_to(ROOT)}: {n}" for f in files for n in notes if n in f.read_text(encoding="utf-8")]
    assert not bad
