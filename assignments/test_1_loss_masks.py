"""Assignment 1, the loss masks: the table train.MASKS and train.apply_mask, graded through
train.build_example on multi-turn conversations against the paper code's whole-text tokenization. The probes run
the hand-in's code in its own process (grading.Student); the grader judges what they hand back."""
from grading import Grader, call, ints, show

G = Grader(1, "train.MASKS gives each mode (is the instruction's text kept, which roles carry loss) and "
              "train.apply_mask applies it to every piece of every turn: in 'response' mode each user turn stays, "
              "tags included, with its text emptied (Hewitt Eq. 2), loss on each response and its EOS; in "
              "'instruction-modelling' each instruction's tokens carry loss too (Shi et al. Eq. 4); BOS and the "
              "tags never carry loss. See assignments/1-loss-masks.md.")
TURNS = [("What is the capital of Kezar?", "The capital of Kezar is Dimiburg."),
         ("And of Olvend?", "Olvend's capital is Marrow."),
         ("Write a poem.", "Stone and rain,\nrain and stone.")]


def conversation(turns):
    return [{"role": r, "content": c} for ins, resp in turns for r, c in (("user", ins), ("assistant", resp))]


def build(tok_path, cases):
    """In the hand-in's process: the (ids, labels) its train.build_example gives each (turns, mode)."""
    import model
    import train
    tok = model.Tokenizer(tok_path)
    out = []
    for turns, mode in cases:
        ids, labels = call(train.build_example, tok, conversation(turns), mode)
        out.append(([int(i) for i in ids], [int(i) for i in labels]))
    return out


def reference(tok, turns, keep_instruction, loss_on_instruction):
    """(ids, labels) built from whole-text tokenizations, as the paper's code tokenizes: BOS + the first
    turn's text, then each later turn's text right after the previous EOS."""
    ids, labels = [tok.bos_id], [-100]
    for k, (ins, resp) in enumerate(turns):
        enc = tok.encode if k == 0 else tok.encode_next
        tag = "<|user|>\n" if k == 0 else "\n<|user|>\n"
        ins = ins if keep_instruction else ""
        a, b = len(enc(tag)), len(enc(tag + ins))
        text = enc(tag + ins + "\n<|assistant|>\n" + resp) + [tok.eos_id]
        c = len(enc(tag + ins + "\n<|assistant|>\n"))
        loss = [False] * a + [loss_on_instruction] * (b - a) + [False] * (c - b) + [True] * (len(text) - c)
        ids += text
        labels += [i if l else -100 for i, l in zip(text, loss)]
    return ids, labels


def grade(student, tok, cases):
    """Each case (mode, turns, keep_instruction, loss_on_instruction, what the ids should be), built by the
    hand-in's train.py in its own process, against the reference built here."""
    got = G.run(student, build, tok.path, [(turns, mode) for mode, turns, *_ in cases])
    G.check(isinstance(got, list) and len(got) == len(cases), "train.build_example gave no (ids, labels)")
    for (mode, turns, keep, loss, what), pair in zip(cases, got):
        ids, labels = pair
        G.check(ints(ids) and ints(labels), f"mode {mode!r}: build_example should give lists of token ids")
        want_ids, want_labels = reference(tok, turns, keep, loss)
        n = len(turns)
        G.check(list(ids) == want_ids, f"mode {mode!r}, {n} turn(s): the ids should be {what}; got "
                                       f"{show(tok, ids, [-100] * len(ids))!r}")
        G.check(list(labels) == want_labels, f"mode {mode!r}, {n} turn(s): wrong loss mask; tokens in [brackets] "
                                             f"carry loss: got {show(tok, ids, labels)!r}, want "
                                             f"{show(tok, want_ids, want_labels)!r}")


def test_response_tuning_mask(student, tok):
    what = "the chat text with every instruction emptied"
    grade(student, tok, [("response", turns, False, False, what) for turns in (TURNS[:1], TURNS)])


def test_instruction_modelling_mask(student, tok):
    grade(student, tok, [("instruction-modelling", turns, True, True, "the whole chat text")
                         for turns in (TURNS[:1], TURNS)])


def test_instruction_tuning_mask(student, tok):
    modes = ("instruction", "single-task")
    grade(student, tok, [(mode, TURNS, True, False, "the whole chat text") for mode in modes])


def pretrain():
    """In the hand-in's process: its train.apply_mask on one pretraining document."""
    import train
    ids, labels = call(train.apply_mask, [([1, 7, 8, 9, 2], "text")], "pretrain")
    return [int(i) for i in ids], [int(i) for i in labels]


def test_pretraining_mask(student):
    ids, labels = G.run(student, pretrain)
    G.check((list(ids), list(labels)) == ([1, 7, 8, 9, 2],) * 2, "mode 'pretrain': every token of a document "
                                                                 "carries loss")
