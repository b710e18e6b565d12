"""Assignment 2, the rule-based expert: the EOS ramp (rule 1) and the diversity rule (rule 3) in
rules.RuleExpert.scores, graded by exact scores on decoding states made here (the tokens seen drawn anew at each
grading). The probe runs the hand-in's rules.py in its own process (grading.Student); the grader judges the scores
it hands back."""
import secrets

import pytest
import torch

from grading import Grader, call

G = Grader(2, "rules.RuleExpert.scores(seen, length) returns r [B, V] float32: rule 1 adds 15*L/250 to EOS while "
              "0 < L < 250 and nothing from 250 on (with saturate=True: +15 from 250 on); rule 3 adds -1.5 to "
              "every token already seen, once, however often it was seen; each rule adds (+=) its scores to what "
              "the other rules gave. See assignments/2-rules.md.")
L = torch.tensor([0, 1, 100, 249, 250, 400])


def expert(tok_path, runs):
    """In the hand-in's process: RuleExpert(tok, names, **kw).scores(seen, length) for each (names, seen, length,
    kw) of `runs`, or the type of what it returned if not a tensor."""
    import model
    import rules
    tok = model.Tokenizer(tok_path)
    out = []
    for names, seen, length, kw in runs:
        r = call(call(rules.RuleExpert, tok, names, **kw).scores, seen, length)
        out.append(r if isinstance(r, torch.Tensor) else type(r).__name__)
    return out


def scores(student, tok, runs):
    """The hand-in's scores of each run, checked for type, shape and dtype."""
    got = G.run(student, expert, tok.path, runs)
    G.check(isinstance(got, list) and len(got) == len(runs), "RuleExpert.scores gave no scores")
    for r, (_, seen, _, _) in zip(got, runs):
        G.check(isinstance(r, torch.Tensor) and r.shape == seen.shape and r.dtype == torch.float32,
                f"scores should be a float32 tensor of shape {tuple(seen.shape)}; got "
                f"{getattr(r, 'dtype', r)} {tuple(getattr(r, 'shape', ()))}")
    return got


def seen_at_random(rows, vocab_size):
    """[rows, V] bool: row k has k + 1 tokens seen, drawn anew each grading (a solution cannot know them)."""
    g = torch.Generator().manual_seed(secrets.randbelow(2**31))
    seen = torch.zeros(rows, vocab_size, dtype=torch.bool)
    for k in range(rows):
        seen[k, torch.randperm(vocab_size, generator=g)[:k + 1]] = True
    return seen


@pytest.mark.parametrize("saturate", [False, True])
def test_eos_ramp(student, tok, saturate):
    [r] = scores(student, tok, [(["eos"], torch.zeros(6, tok.vocab_size, dtype=torch.bool), L,
                                 {"saturate": saturate})])
    want = torch.tensor([0, 0.06, 6.0, 14.94] + ([15.0, 15.0] if saturate else [0.0, 0.0]))
    G.check(torch.allclose(r[:, tok.eos_id], want, atol=1e-4),
            f"saturate={saturate}: EOS scores at L = {L.tolist()} should be "
            f"{[round(x, 4) for x in want.tolist()]}, got "
            f"{[round(x, 4) for x in r[:, tok.eos_id].tolist()]}")
    r[:, tok.eos_id] = 0
    G.check(not r.any(), "the EOS rule changes only the EOS score")


def test_diversity(student, tok):
    seen = seen_at_random(3, tok.vocab_size)
    [r] = scores(student, tok, [(["diversity"], seen, torch.tensor([3, 40, 0]), {})])
    G.check(torch.equal(r, -1.5 * seen.float()), "-1.5 on each seen token and 0 elsewhere, whatever the length")


def test_rules_add_up(student, tok):
    seen = seen_at_random(6, tok.vocab_size)
    seen[:, [11, tok.eos_id]] = True                 # EOS seen too: rule 1 adds on top of rule 3's -1.5
    runs = [([n], seen, L, {}) for n in ("eos", "uniform", "diversity")]
    *parts, r = scores(student, tok, runs + [(["eos", "uniform", "diversity"], seen, L, {})])
    G.check(torch.allclose(r, sum(parts)), "with several rules the scores are the sum of each rule's; at EOS got "
                                           f"{[round(x, 4) for x in r[:, tok.eos_id].tolist()]}, want "
                                           f"{[round(x, 4) for x in sum(parts)[:, tok.eos_id].tolist()]}")
