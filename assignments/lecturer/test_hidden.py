"""The lecturer's hidden cases for the coding assignments: other conversations, rule settings and cache shapes
than the graders students see, so a solution fitted to the visible graders fails here. Not in the student copy;
`python assignments/grade.py --hidden` counts them (test_N_* functions belong to assignment N)."""
import torch

import model
import test_1_loss_masks as g1
import test_2_rules as g2
import test_3_kv_cache as g3

TURNS = [("Sort: 3, 1, 2.", "1, 2, 3."), ("Now\nbackwards.", "3, 2, 1."), ("Why?", "You asked."),
         ("Thanks!", "You are welcome.")]


def test_1_four_turns_with_newlines(tok):
    g1.grade(tok, "response", TURNS, False, False, "the chat text with every instruction emptied")
    g1.grade(tok, "instruction-modelling", TURNS, True, True, "the whole chat text")
    g1.grade(tok, "instruction", TURNS[1:], True, False, "the whole chat text")


def test_2_scaled_ramp_and_seen_eos(tok):
    L = torch.tensor([0, 3, 7, 8, 20])
    seen = torch.zeros(5, tok.vocab_size, dtype=torch.bool)
    seen[:, tok.eos_id] = True
    for saturate in (False, True):
        r = g2.scores(tok, ["eos", "diversity"], seen, L, saturate=saturate, ramp=8)
        want = torch.tensor([0, 45 / 8, 105 / 8] + ([15.0, 15.0] if saturate else [0.0, 0.0])) - 1.5
        g2.G.check(torch.allclose(r[:, tok.eos_id], want, atol=1e-4),
                   f"ramp of 8 tokens, saturate={saturate}, EOS already seen: EOS scores at L = {L.tolist()} "
                   f"should be {[round(x, 4) for x in want.tolist()]}, got "
                   f"{[round(x, 4) for x in r[:, tok.eos_id].tolist()]}")


def test_3_padded_batch_in_uneven_chunks(checkpoint):
    m = model.Transformer.from_pretrained(checkpoint)
    g = torch.Generator().manual_seed(5)
    pad = torch.tensor([0, 3, 6])
    ids = torch.randint(3, m.config.vocab_size, (3, 12), generator=g)
    with torch.no_grad():
        full = m(ids, pad=pad)
        cache, t = model.KVCache(m, 3, 12, pad=pad), 0
        for n in (7, 1, 3, 1):
            got = g3.G.call(m, ids[:, t:t + n], cache=cache)
            for b in range(3):
                real = slice(max(t, int(pad[b])), t + n)
                g3.G.check((got[b, real.start - t:] - full[b, real]).abs().max() < 1e-4,
                           f"a batch left-padded by {pad.tolist()}, fed in chunks 7, 1, 3, 1: row {b}'s logits "
                           f"at positions {real.start}..{t + n} differ from the padded full forward")
            t += n
