"""What the graders share: `attempt` turns an unfinished assignment (NotImplementedError) into a failed grade
with a hint, and HANDIN is where experiment results are handed in."""
import os

import pytest

HANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "handin")


def attempt(hint, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as e:
        pytest.fail(f"{e}\nHINT: {hint}", pytrace=False)
