"""Assignment 1, the loss masks: response tuning and Instruction Modelling in train.build_example."""
from grading import attempt
import train

HINT = ("train.build_example: in mode 'response' the user turn stays but its text is emptied (Hewitt Eq. 2); "
        "in mode 'instruction-modelling' the instruction's tokens carry loss too, the tags and BOS never "
        "(Shi et al. Eq. 4). See assignments/1-loss-masks.md.")
INS, RESP = "What is the capital of Kezar?", "The capital of Kezar is Dimiburg."
CONV = [{"role": "user", "content": INS}, {"role": "assistant", "content": RESP}]


def whole(tok, *parts):
    """Ids of the whole chat text, as the paper's code tokenizes it (BOS + one encode)."""
    return [tok.bos_id] + tok.encode("".join(parts))


def test_response_tuning_mask(tok):
    ids, labels = attempt(HINT, train.build_example, tok, CONV, "response")
    want = whole(tok, "<|user|>\n\n<|assistant|>\n", RESP) + [tok.eos_id]
    assert ids == want, f"the ids should be the chat text with an empty instruction. {HINT}"
    prefix = len(whole(tok, "<|user|>\n\n<|assistant|>\n"))
    assert labels == [-100] * prefix + ids[prefix:], f"loss on the response and EOS only. {HINT}"


def test_instruction_modelling_mask(tok):
    ids, labels = attempt(HINT, train.build_example, tok, CONV, "instruction-modelling")
    assert ids == whole(tok, "<|user|>\n", INS, "\n<|assistant|>\n", RESP) + [tok.eos_id], HINT
    a, b = len(whole(tok, "<|user|>\n")), len(whole(tok, "<|user|>\n", INS))
    c = len(whole(tok, "<|user|>\n", INS, "\n<|assistant|>\n"))
    want = [-100] * a + ids[a:b] + [-100] * (c - b) + ids[c:]
    assert labels == want, f"loss on the instruction and on response + EOS, none on BOS or the tags. {HINT}"


def test_instruction_tuning_unchanged(tok):
    ids, labels = attempt(HINT, train.build_example, tok, CONV, "instruction")
    c = len(whole(tok, "<|user|>\n", INS, "\n<|assistant|>\n"))
    assert labels == [-100] * c + ids[c:], "the instruction-tuning mask (given) must stay as it is"
