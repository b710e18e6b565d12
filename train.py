"""Adapt a pretrained model. Every condition of the papers is a loss mask over the same chat format:

  python train.py --mode response            # Hewitt Eq. 2: the instruction emptied, loss on the response
"""
from model import Tokenizer

IGNORE = -100                                  # label of a token that carries no loss
MODES = ("instruction", "response", "single-task", "instruction-modelling", "pretrain")
USER_TAG, ASSISTANT_TAG = "<|user|>", "<|assistant|>"        # Tulu tags, plain text (never added tokens)
# Which roles carry loss in each mode (DESIGN.md, the conditions table). Tags and BOS never do.
LOSS_ROLES = {"instruction": {"resp"}, "response": {"resp"}, "single-task": {"resp"},
              # Shi et al. Eq. 4. Their released code also puts loss on the assistant tag and later user tags.
              "instruction-modelling": {"ins", "resp"}}


# --------------------------------------------------------------------------------------------- the data
def segments(tok: Tokenizer, messages, mode="instruction"):
    """The chat text <s><|user|>\\n{ins}\\n<|assistant|>\\n{resp}</s> (repeated per turn) as (ids, role)
    pieces, roles 'tmpl', 'ins', 'resp'. Each piece after the first starts right after a newline, so it is
    encoded without SentencePiece's dummy prefix: the ids equal the whole text's, as in the paper's code.
    A conversation ending in a user turn gives the generation prompt (ends with the assistant tag)."""
    segs, first = [([tok.bos_id], "tmpl")], True
    for m in messages:
        content = m["content"].strip()
        if m["role"] == "user":
            if mode == "response":              # Hewitt §2.2: the user turn is kept but emptied
                content = ""
            tag = USER_TAG + "\n" if first else "\n" + USER_TAG + "\n"
            segs.append((tok.encode(tag) if first else tok.encode_next(tag), "tmpl"))
            segs.append((tok.encode_next(content), "ins"))
            segs.append((tok.encode_next("\n" + ASSISTANT_TAG + "\n"), "tmpl"))
        else:
            segs.append((tok.encode_next(content) + [tok.eos_id], "resp"))   # EOS carries loss
        first = False
    return segs


def build_example(tok: Tokenizer, messages, mode):
    """(input_ids, labels) of one conversation for a mode; labels are IGNORE where there is no loss.
    The one-token shift happens in the loss, not here."""
    ids, labels = [], []
    for seg, role in segments(tok, messages, mode):
        ids += seg
        labels += seg if role in LOSS_ROLES[mode] else [IGNORE] * len(seg)
    return ids, labels


def build_prompt(tok: Tokenizer, instruction):
    """The generation prompt <s><|user|>\\n{instruction}\\n<|assistant|>\\n, from the builder training uses."""
    return [i for seg, _ in segments(tok, [{"role": "user", "content": instruction}]) for i in seg]


def show(tok: Tokenizer, ids, labels):
    """The example as text, with the tokens that carry loss in [brackets]."""
    out = []
    for i, l in zip(ids, labels):
        p = tok.piece(i).replace("▁", " ").replace("<0x0A>", "\n")
        out.append(f"[{p}]" if l != IGNORE else p)
    return "".join(out)
