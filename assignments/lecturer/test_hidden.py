"""The lecturer's hidden cases for the coding assignments: other conversations, rule settings and cache shapes
than the graders students see, so a solution fitted to the visible graders fails here. Not in the student copy;
`python assignments/grade.py --hidden` counts them (test_N_* functions belong to assignment N). Like the visible
graders, they run the hand-in's code in its own process and judge what it hands back."""
import torch

import model
import test_1_loss_masks as g1
import test_2_rules as g2
import test_3_kv_cache as g3

TURNS = [("Sort: 3, 1, 2.", "1, 2, 3."), ("Now\nbackwards.", "3, 2, 1."), ("Why?", "You asked."),
         ("Thanks!", "You are welcome.")]


def test_1_four_turns_with_newlines(student, tok):
    g1.grade(student, tok, [("response", TURNS, False, False, "the chat text with every instruction emptied"),
                            ("instruction-modelling", TURNS, True, True, "the whole chat text"),
                            ("instruction", TURNS[1:], True, False, "the whole chat text")])


def test_2_scaled_ramp_and_seen_eos(student, tok):
    L = torch.tensor([0, 3, 7, 8, 20])
    seen = torch.zeros(5, tok.vocab_size, dtype=torch.bool)
    seen[:, tok.eos_id] = True
    runs = [(["eos", "diversity"], seen, L, {"saturate": saturate, "ramp": 8}) for saturate in (False, True)]
    for saturate, r in zip((False, True), g2.scores(student, tok, runs)):
        want = torch.tensor([0, 45 / 8, 105 / 8] + ([15.0, 15.0] if saturate else [0.0, 0.0])) - 1.5
        g2.G.check(torch.allclose(r[:, tok.eos_id], want, atol=1e-4),
                   f"ramp of 8 tokens, saturate={saturate}, EOS already seen: EOS scores at L = {L.tolist()} "
                   f"should be {[round(x, 4) for x in want.tolist()]}, got "
                   f"{[round(x, 4) for x in r[:, tok.eos_id].tolist()]}")


def test_3_padded_batch_in_uneven_chunks(student, checkpoint):
    m = model.Transformer.from_pretrained(checkpoint)
    pad = torch.tensor([0, 3, 6])
    ids = g3.random_ids(m, (3, 12))
    chunks = (7, 1, 3, 1)
    with torch.no_grad():
        full = m(ids, pad=pad)
    got, t = g3.chunk_logits(student, checkpoint, ids, chunks, pad), 0
    for n, logits in zip(chunks, got):
        for b in range(3):
            real = slice(max(t, int(pad[b])), t + n)
            g3.G.check((logits[b, real.start - t:] - full[b, real]).abs().max() < 1e-4,
                       f"a batch left-padded by {pad.tolist()}, fed in chunks 7, 1, 3, 1: row {b}'s logits "
                       f"at positions {real.start}..{t + n} differ from the padded full forward")
        t += n
