"""Assignment 1, the loss masks: the table train.MASKS and train.apply_mask, graded through
train.build_example on multi-turn conversations against the paper code's whole-text tokenization."""
from grading import Grader
import train

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


def grade(tok, mode, turns, keep_instruction, loss_on_instruction, what):
    ids, labels = G.call(train.build_example, tok, conversation(turns), mode)
    want_ids, want_labels = reference(tok, turns, keep_instruction, loss_on_instruction)
    n = len(turns)
    G.check(list(ids) == want_ids, f"mode {mode!r}, {n} turn(s): the ids should be {what}; got "
                                   f"{train.show(tok, ids, [-100] * len(ids))!r}")
    G.check(list(labels) == want_labels, f"mode {mode!r}, {n} turn(s): wrong loss mask; tokens in [brackets] "
                                         f"carry loss: got {train.show(tok, ids, labels)!r}, want "
                                         f"{train.show(tok, want_ids, want_labels)!r}")


def test_response_tuning_mask(tok):
    for turns in (TURNS[:1], TURNS):
        grade(tok, "response", turns, False, False, "the chat text with every instruction emptied")


def test_instruction_modelling_mask(tok):
    for turns in (TURNS[:1], TURNS):
        grade(tok, "instruction-modelling", turns, True, True, "the whole chat text")


def test_instruction_tuning_mask(tok):
    for mode in ("instruction", "single-task"):
        grade(tok, mode, TURNS, True, False, "the whole chat text")


def test_pretraining_mask():
    ids, labels = G.call(train.apply_mask, [([1, 7, 8, 9, 2], "text")], "pretrain")
    G.check((list(ids), list(labels)) == ([1, 7, 8, 9, 2],) * 2, "mode 'pretrain': every token of a document "
                                                                 "carries loss")
