"""Each rule's scores on a hand-made decoding state (rules.py), one test per rule."""
import pytest
import torch

import rules
from lib.cli import UserError


def test_parse_rules():
    assert rules.parse_rules("eos,uniform,diversity") == ("eos", "uniform", "diversity")
    assert rules.parse_rules("uniform-diversity") == ("uniform", "diversity")     # the paper's flag spelling
    assert rules.parse_rules("none") == () and rules.parse_rules("") == ()
    with pytest.raises(UserError, match="unknown rule 'eso'"):
        rules.parse_rules("eos,eso")
    with pytest.raises(UserError):
        rules.RuleExpert(None, rules=("bogus",))


def state(V, lengths, seen_ids=()):
    seen = torch.zeros(len(lengths), V, dtype=torch.bool)
    for b, ids in enumerate(seen_ids):
        seen[b, list(ids)] = True
    return seen, torch.tensor(lengths)


def test_eos_ramp(tiny_tokenizer):
    tok, V = tiny_tokenizer, tiny_tokenizer.vocab_size
    lengths = [0, 1, 125, 249, 250, 400]
    seen, L = state(V, lengths, [range(V)] * 6)                 # seen tokens must not matter to this rule
    r = rules.RuleExpert(tok, rules=("eos",)).scores(seen, L)
    assert r.dtype == torch.float32 and r.shape == (6, V)
    # 15·L/250 while 0 < L < 250, and nothing from 250 on (the code's behaviour)
    assert torch.allclose(r[:, tok.eos_id], torch.tensor([0, 0.06, 7.5, 14.94, 0, 0]))
    r[:, tok.eos_id] = 0
    assert (r == 0).all()
    sat = rules.RuleExpert(tok, rules=("eos",), saturate=True).scores(seen, L)
    assert torch.allclose(sat[:, tok.eos_id], torch.tensor([0, 0.06, 7.5, 14.94, 15, 15]))


def test_uniform(tiny_tokenizer):
    tok, V = tiny_tokenizer, tiny_tokenizer.vocab_size
    seen, L = state(V, [0, 100], [[5, 6], []])
    r = rules.RuleExpert(tok, rules=("uniform",)).scores(seen, L)
    want = torch.zeros(V)
    table = {"<": -4, "▁<": -4, "|": -4, "▁I": -5, "I": -5, "▁We": -3, "What": -5, "▁should": -6, "▁*": 1,
             "▁-": 1, "▁▁▁": 1, "▁#": 1, "▁##": 1, "<0x0A>": 1, "!": 1}
    for piece, score in table.items():
        assert tok.piece_id(piece) is not None, piece
        want[tok.piece_id(piece)] = score
    assert torch.equal(r, want.expand(2, V))                    # the same at every step, for every row
    assert dict(rules.UNIFORM) == table


class Vocab:
    """A stand-in tokenizer whose vocabulary lacks most rule pieces."""
    path, eos_id, vocab_size = "fake.model", 2, 6
    pieces = ["<unk>", "<s>", "</s>", "▁I", "!", "x"]

    def piece_id(self, p):
        return self.pieces.index(p) if p in self.pieces else None

    def piece(self, i):
        return self.pieces[i]


def test_uniform_missing_pieces_reported_once_and_skipped(capsys):
    expert = rules.RuleExpert(Vocab(), rules=("uniform",))
    assert capsys.readouterr().err.count("lacks") == 1
    assert "▁should" in expert.missing and "▁I" not in expert.missing
    r = expert.scores(*state(6, [3]))
    assert r.tolist() == [[0, 0, 0, -5, 1, 0]]
    assert capsys.readouterr().err == ""


def test_diversity(tiny_tokenizer):
    tok, V = tiny_tokenizer, tiny_tokenizer.vocab_size
    seen, L = state(V, [0, 7, 300], [[3, 4, 4, 9], [], list(range(V))])
    r = rules.RuleExpert(tok, rules=("diversity",)).scores(seen, L)
    want = torch.zeros(3, V)
    want[0, [3, 4, 9]] = -1.5                                   # once per distinct token, however often seen
    want[2] = -1.5
    assert torch.equal(r, want)


def test_start_rule(tiny_tokenizer):
    assert rules.start_score("▁Okay") == 10 and rules.start_score("I") == -3 and rules.start_score("▁I") == -3
    assert rules.start_score("▁the") == 1 and rules.start_score("Ж") == 1 and rules.start_score("▁(") == -1
    assert rules.start_score("▁") == 0 and rules.start_score("<0x0A>") == -1 and rules.start_score("1") == 0
    tok, V = tiny_tokenizer, tiny_tokenizer.vocab_size
    r = rules.RuleExpert(tok, rules=("start",)).scores(*state(V, [0, 1, 2, 3]))
    assert torch.equal(r[0], torch.tensor([5.0 * rules.start_score(tok.piece(i)) for i in range(V)]))
    bang, nl = tok.piece_id("!"), tok.piece_id("<0x0A>")
    assert r[1, bang] == 15 and r[2, nl] == -10
    r[1, bang] = r[2, nl] = 0
    assert (r[1:] == 0).all()
    assert "start" not in rules.PAPER_RULES


def test_rules_add_up(tiny_tokenizer):
    tok, V = tiny_tokenizer, tiny_tokenizer.vocab_size
    seen, L = state(V, [0, 50, 260], [[5], [tok.piece_id("!"), 7], [tok.eos_id]])
    parts = sum(rules.RuleExpert(tok, rules=(n,)).scores(seen, L) for n in rules.PAPER_RULES)
    assert torch.allclose(rules.RuleExpert(tok).scores(seen, L), parts)
    assert torch.equal(rules.RuleExpert(tok, rules=()).scores(seen, L), torch.zeros(3, V))


def test_vocab_wider_than_tokenizer(tiny_tokenizer):
    """A model may have more logits than the tokenizer has pieces: the extra columns get no rule score."""
    tok, V = tiny_tokenizer, tiny_tokenizer.vocab_size
    seen, L = state(V + 3, [10])
    r = rules.RuleExpert(tok, rules=("uniform", "eos")).scores(seen, L)
    assert r.shape == (1, V + 3) and (r[0, V:] == 0).all()
    assert torch.equal(r[0, :V], rules.RuleExpert(tok, rules=("uniform", "eos")).scores(*state(V, [10]))[0])


def test_own_changes_add_up_and_leave_the_papers_list_out():
    r = rules.RuleExpert(Vocab(), rules=("own",), own=(("x", -5), ("x", -5), ("▁I", 2))).scores(*state(6, [3]))
    assert r.tolist() == [[0, 0, 0, 2, 0, -10]]                     # no "!" +1: the paper's list is not in 'own'
    both = rules.RuleExpert(Vocab(), rules=("uniform", "own"), own=(("x", -5),)).scores(*state(6, [3]))
    assert both.tolist() == [[0, 0, 0, -5, 1, -5]]
    assert rules.parse_rules("eos,own,diversity") == ("eos", "own", "diversity")
