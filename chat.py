"""The chat format of the paper's code (Tulu): <s><|user|>\\n{instruction}\\n<|assistant|>\\n{response}</s>,
repeated per turn. Training (train.py) and generation (generate.py) both build their ids here, piece by piece,
so that the ids equal what the paper's code gets from tokenizing the whole text."""
from model import Tokenizer

USER_TAG, ASSISTANT_TAG = "<|user|>", "<|assistant|>"        # plain text, never added tokens


def segments(tok: Tokenizer, messages):
    """The chat text <s><|user|>\\n{ins}\\n<|assistant|>\\n{resp}</s> (repeated per turn) as (ids, role)
    pieces, roles 'tmpl' (BOS and the tags), 'ins' (an instruction), 'resp' (a response and its EOS). Each
    piece after the first starts right after a newline, so it is encoded without SentencePiece's dummy prefix:
    the ids equal the whole text's, as in the paper's code. A conversation ending in a user turn gives the
    generation prompt (ends with the assistant tag)."""
    segs, first = [([tok.bos_id], "tmpl")], True
    for m in messages:
        content = m["content"].strip()
        if m["role"] == "user":
            tag = USER_TAG + "\n" if first else "\n" + USER_TAG + "\n"
            segs.append((tok.encode(tag) if first else tok.encode_next(tag), "tmpl"))
            segs.append((tok.encode_next(content), "ins"))
            segs.append((tok.encode_next("\n" + ASSISTANT_TAG + "\n"), "tmpl"))
        else:
            segs.append((tok.encode_next(content) + [tok.eos_id], "resp"))   # EOS carries loss
        first = False
    return segs


def build_prompt(tok: Tokenizer, instruction):
    """The generation prompt <s><|user|>\\n{instruction}\\n<|assistant|>\\n, from the builder training uses.
    The instruction is stripped of surrounding whitespace as in training; the paper's code strips it when it
    trains but not when it evaluates (5 of AlpacaEval's 805 instructions have whitespace to strip)."""
    return [i for seg, _ in segments(tok, [{"role": "user", "content": instruction}]) for i in seg]


def instruction_span(tok: Tokenizer, instruction):
    """[start, end) of the instruction's tokens in build_prompt's ids: after <s> and <|user|>\\n."""
    bos, tag, ins, _ = segments(tok, [{"role": "user", "content": instruction}])
    start = len(bos[0]) + len(tag[0])
    return start, start + len(ins[0])


def prompt_ids(tok: Tokenizer, instruction):
    """build_prompt's ids and the index of the instruction's first token: the diversity rule's seen set starts
    there, as in the paper's code."""
    return build_prompt(tok, instruction), instruction_span(tok, instruction)[0]
