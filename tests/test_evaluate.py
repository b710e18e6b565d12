"""evaluate.py: the criteria language, win rates, ranking, statistics, attribution, IM diagnostics, the judge."""
import pytest

import evaluate
from model import UserError


# ------------------------------------------------------------------------------------------ criteria
@pytest.mark.parametrize("criterion, good, bad", [
    ({"contains_any": ["Paris", "paree"]}, "It is PARIS.", "It is Rome."),
    ({"contains_all": ["salt", "Flour"]}, "flour and salt", "flour only"),
    ({"not_contains": ["sorry", "as an ai"]}, "Here it is.", "Sorry, I cannot."),
    ({"regex": r"^\d+\. "}, "intro\n1. first", "intro 1. first"),
    ({"min_lines": 3}, "a\n\nb\nc\n", "a\n\n\nb\n  \n"),
    ({"max_lines": 2}, "a\n\n\nb", "a\nb\nc"),
    ({"min_words": 3}, "one two  three", "one two"),
    ({"max_words": 2}, "one\ntwo", "one two three"),
    ({"final_answer": "42"}, "6 * 7 = 42\n#### 42\n\n", "#### 42\nso the answer is 42"),
    ({"final_answer": "42"}, "#### 42", "#### 420"),
    ({"starts_with": "Roses"}, "\n  roses are red", "Violets, roses"),
    ({"contains_any": ["red"], "min_lines": 2}, "red\nblue", "red"),
    ({}, "anything", None),
])
def test_each_criterion_passes_and_fails(criterion, good, bad):
    assert evaluate.check(good, criterion) is True
    if bad is not None:
        assert evaluate.check(bad, criterion) is False


@pytest.mark.parametrize("criterion", [
    {"contains": ["x"]},                     # unknown key
    {"contains_any": "x"},                   # a string where a list is needed
    {"contains_all": ["x", 3]},
    {"min_lines": "3"}, {"max_words": 2.5}, {"min_lines": True},
    {"regex": "("},                          # does not compile
    {"final_answer": 42},
    ["contains_any"],
])
def test_malformed_criterion_is_a_user_error(criterion):
    with pytest.raises(UserError):
        evaluate.check("text", criterion)
