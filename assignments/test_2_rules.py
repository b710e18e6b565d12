"""Assignment 2, the rule-based expert: the EOS ramp (rule 1) and the diversity rule (rule 3) in
rules.RuleExpert.scores, graded by exact scores on hand-made decoding states."""
import pytest
import torch

from grading import Grader
import rules

G = Grader(2, "rules.RuleExpert.scores(seen, length) returns r [B, V] float32: rule 1 adds 15*L/250 to EOS while "
              "0 < L < 250 and nothing from 250 on (with saturate=True: +15 from 250 on); rule 3 adds -1.5 to "
              "every token already seen, once, however often it was seen; each rule adds (+=) its scores to what "
              "the other rules gave. See assignments/2-rules.md.")
L = torch.tensor([0, 1, 100, 249, 250, 400])


def scores(tok, names, seen, length, **kw):
    r = G.call(rules.RuleExpert(tok, names, **kw).scores, seen, length)
    G.check(isinstance(r, torch.Tensor) and r.shape == seen.shape and r.dtype == torch.float32,
            f"scores should be a float32 tensor of shape {tuple(seen.shape)}; got "
            f"{getattr(r, 'dtype', type(r).__name__)} {tuple(getattr(r, 'shape', ()))}")
    return r


@pytest.mark.parametrize("saturate", [False, True])
def test_eos_ramp(tok, saturate):
    r = scores(tok, ["eos"], torch.zeros(6, tok.vocab_size, dtype=torch.bool), L, saturate=saturate)
    want = torch.tensor([0, 0.06, 6.0, 14.94] + ([15.0, 15.0] if saturate else [0.0, 0.0]))
    G.check(torch.allclose(r[:, tok.eos_id], want, atol=1e-4),
            f"saturate={saturate}: EOS scores at L = {L.tolist()} should be "
            f"{[round(x, 4) for x in want.tolist()]}, got "
            f"{[round(x, 4) for x in r[:, tok.eos_id].tolist()]}")
    r[:, tok.eos_id] = 0
    G.check(not r.any(), "the EOS rule changes only the EOS score")


def test_diversity(tok):
    seen = torch.zeros(3, tok.vocab_size, dtype=torch.bool)
    seen[0, [5, 9, 30]] = True
    seen[1, 7] = True
    r = scores(tok, ["diversity"], seen, torch.tensor([3, 40, 0]))
    G.check(torch.equal(r, -1.5 * seen.float()), "-1.5 on each seen token and 0 elsewhere, whatever the length")


def test_rules_add_up(tok):
    seen = torch.zeros(6, tok.vocab_size, dtype=torch.bool)
    seen[:, [11, tok.eos_id]] = True                 # EOS seen too: rule 1 adds on top of rule 3's -1.5
    parts = [scores(tok, [n], seen, L) for n in ("eos", "uniform", "diversity")]
    r = scores(tok, ["eos", "uniform", "diversity"], seen, L)
    G.check(torch.allclose(r, sum(parts)), "with several rules the scores are the sum of each rule's; at EOS got "
                                           f"{[round(x, 4) for x in r[:, tok.eos_id].tolist()]}, want "
                                           f"{[round(x, 4) for x in sum(parts)[:, tok.eos_id].tolist()]}")
