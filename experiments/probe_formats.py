"""Does the base model know the answers, asked in its corpus's own formats instead of the chat format?

    python experiments/probe_formats.py --checkpoint checkpoints/toy-base --split val

Each instruction is put in a corpus format (a help-desk transcript, an FAQ page, a forum thread), the base model
continues it greedily, the answer is cut where the next turn, question or blank line begins (as a reader of the
page would), and scored by the record's criterion. Against the pass rate in the chat format (generate.py), it
separates what the model knows from what the chat prompt reaches.
"""
import argparse
import os
import sys

import torch
from tqdm import tqdm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data import criteria
from model import Tokenizer, Transformer
from lib.cli import cli
from lib.report import table

FORMATS = {"transcript": ("Visitor: {q}\nGuide:", "\nVisitor"), "faq": ("# FAQ\n\nQ: {q}\nA:", "\nQ:"),
           "forum": ("Thread: {q}\n\nann_3 wrote:\n{q}\n\nben.7 replied:\n", "\n\n")}


@torch.no_grad()
def continuation(model, tok, text, max_new_tokens):
    ids = [tok.bos_id] + tok.encode(text)
    out = []
    for _ in range(max_new_tokens):
        nxt = int(model(torch.tensor([ids + out]))[0, -1].argmax())      # greedy, no cache: short and simple
        if nxt == tok.eos_id:
            break
        out.append(nxt)
    return tok.decode(out).strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(ROOT, "checkpoints", "toy-base"), help="base model")
    ap.add_argument("--split", choices=("val", "eval"), default="val", help="the set of instructions")
    ap.add_argument("--max-new-tokens", type=int, default=60, help="continuation length")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, tok = Transformer.from_pretrained(args.checkpoint), Tokenizer(args.checkpoint)
    records = criteria.read_eval(os.path.join(ROOT, "data", "toy", f"{args.split}.jsonl"))
    rows = []
    for name, (form, turn) in FORMATS.items():
        passed = 0
        for r in tqdm(records, desc=name, unit="ins"):
            text = continuation(model, tok, form.format(q=r["instruction"]), args.max_new_tokens)
            answer = text.split(turn)[0] if r["near"] else text.split(turn)[0].split("\n\n")[0]
            passed += criteria.check(answer, r["criterion"])
        rows.append([name, f"{100 * passed / len(records):.1f}"])
    print(table(["format", f"checks passed on {args.split} %"], rows))


if __name__ == "__main__":
    cli(main)
