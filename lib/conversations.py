"""The chat data a command reads: conversations in the formats the papers' data come in (messages, Alpaca,
AlpacaEval outputs, the toy eval set), pretraining documents, and outputs aligned with an evaluation set. The
chat format they are turned into is chat.py's."""
from lib.cli import UserError
from lib.files import read_records, read_text


def conversation(where, r, need_response=True):
    """A record as chat messages: messages (LIMA, open-instruct, the toy sets), Alpaca (instruction, input,
    output), AlpacaEval outputs (instruction, output) or the toy eval set (instruction, reference)."""
    if "messages" not in r:
        ins, out = r.get("instruction"), r.get("output", r.get("reference", None if need_response else ""))
        if not isinstance(ins, str) or not isinstance(out, str):
            need = "missing 'messages', or string 'instruction'" + " and 'output'" * need_response
            raise UserError(f"{where}: {need}")
        if isinstance(r.get("input"), str) and r["input"]:
            ins += "\n\n" + r["input"]                  # open-instruct's join
        return [{"role": "user", "content": ins}, {"role": "assistant", "content": out}]
    msgs = r["messages"]
    if not isinstance(msgs, list) or not msgs:
        raise UserError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    for i, m in enumerate(msgs):                    # user, assistant, user, ... each with a content string
        role = m.get("role") if isinstance(m, dict) else None
        if role != ("user", "assistant")[i % 2] or not isinstance(m.get("content"), str):
            raise UserError(f"{where}: message {i + 1}: unknown role {role!r} or no 'content' string "
                            f"(expected {('user', 'assistant')[i % 2]!r}: turns alternate user, assistant)")
    return msgs


def load_conversations(path):
    """[(where, messages)] from messages JSONL (LIMA, open-instruct) or Alpaca records (JSON or JSONL)."""
    return [(where, conversation(where, r)) for where, r in read_records(path)]


def load_documents(path):
    """Pretraining documents: {"text": ...} JSONL, or plain text with documents separated by blank lines."""
    if not path.endswith(".jsonl"):
        docs = [d.strip("\n") for d in read_text(path).split("\n\n") if d.strip()]
        if not docs:
            raise UserError(f"{path}: no documents (empty file)")
        return docs
    docs = []
    for where, r in read_records(path):
        if not isinstance(r.get("text"), str):
            raise UserError(f"{where}: missing 'text' (a string)")
        docs.append(r["text"])
    return docs


def read_pairs(path):
    """(instruction, response) of the first turn of each record of a conversations or outputs file."""
    convs = load_conversations(path)
    for where, c in convs:
        if len(c) < 2:
            raise UserError(f"{where}: 'messages' has no assistant turn")
    return [(c[0]["content"], c[1]["content"]) for _, c in convs]


def align(instructions, path):
    """The outputs of `path` in the order of `instructions`. Matched by instruction text: the k-th occurrence of
    an instruction in one file matches its k-th occurrence in the other; anything unmatched is an error."""
    slots = {}
    for ins, out in read_pairs(path):
        slots.setdefault(ins.strip(), []).append(out)
    res = [slots[i.strip()].pop(0) if slots.get(i.strip()) else None for i in instructions]
    if None in res:
        missing = instructions[res.index(None)]
        raise UserError(f"{path}: no output for the evaluation instruction {missing[:60]!r}")
    if any(slots.values()):
        extra = next(k for k, v in slots.items() if v)
        raise UserError(f"{path}: {sum(map(len, slots.values()))} outputs whose instruction is not in the "
                        f"evaluation set, e.g. {extra[:60]!r}")
    return res
