"""Assignment 2, the rule-based expert: the EOS ramp (rule 1) and the diversity rule (rule 3) in rules.py."""
import pytest
import torch

from grading import attempt
import rules

HINT = ("rules.RuleExpert.scores: rule 1 adds 15*L/250 to EOS while 0 < L < 250 and nothing from 250 on (with "
        "saturate: +15 from 250 on); rule 3 adds -1.5 to every token already seen, once, however often it was "
        "seen. See assignments/2-rules.md.")


@pytest.mark.parametrize("saturate", [False, True])
def test_eos_ramp(tok, saturate):
    expert = rules.RuleExpert(tok, ["eos"], saturate=saturate)
    L = torch.tensor([0, 1, 100, 249, 250, 400])
    r = attempt(HINT, expert.scores, torch.zeros(6, tok.vocab_size, dtype=torch.bool), L)
    want = torch.tensor([0, 0.06, 6.0, 14.94] + ([15.0, 15.0] if saturate else [0.0, 0.0]))
    assert torch.allclose(r[:, tok.eos_id], want, atol=1e-4), f"EOS scores {r[:, tok.eos_id].tolist()}. {HINT}"
    r[:, tok.eos_id] = 0
    assert not r.any(), f"the EOS rule changes only the EOS score. {HINT}"


def test_diversity(tok):
    expert = rules.RuleExpert(tok, ["diversity"])
    seen = torch.zeros(2, tok.vocab_size, dtype=torch.bool)
    seen[0, [5, 9, 30]] = True
    seen[1, 7] = True
    r = attempt(HINT, expert.scores, seen, torch.tensor([3, 40]))
    assert torch.equal(r, -1.5 * seen.float()), f"-1.5 on each seen token, 0 elsewhere. {HINT}"


def test_all_rules_add_up(tok):
    all3 = rules.RuleExpert(tok, ["eos", "uniform", "diversity"])
    seen = torch.zeros(1, tok.vocab_size, dtype=torch.bool)
    seen[0, 11] = True
    L = torch.tensor([50])
    parts = [attempt(HINT, rules.RuleExpert(tok, [n]).scores, seen, L) for n in ("eos", "uniform", "diversity")]
    assert torch.allclose(attempt(HINT, all3.scores, seen, L), sum(parts)), f"the rules' scores add up. {HINT}"
