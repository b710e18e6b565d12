"""Choose token changes for a base model the way the paper's authors chose rule 2's for Llama-2 (Hewitt et al. §6),
by a procedure fixed in advance (data/TOYWORLD.md), on the validation set only:

    python experiments/base_rules.py --checkpoint checkpoints/toy-base --split val

Decode every instruction greedily in the chat format with the EOS ramp, the diversity rule and the changes found
so far; among the outputs that fail their criterion, take the most frequent first token; if it opens at least
--share of them (and is not EOS), give it -5 and decode again; stop otherwise, or after --max-changes. The list
printed is rules.py's OWN (the rule 'own'); --out keeps each round's numbers.
"""
import argparse
import collections
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from data import criteria
from generate import generate_ids
from model import Tokenizer, Transformer
from rules import OWN, RuleExpert
from lib.generation import threads
from lib.cli import UserError, cli, parse
from lib.files import write_json

SCORE = -5.0                        # the paper's code's value for `I` and `What`


def choose(model, tok, records, *, share=0.10, max_changes=8, max_new_tokens=128, batch_size=32):
    """The changes [(piece, score)] and one dict per decoding round (pass rate, wrong outputs, top openings)."""
    changes, rounds = [], []
    instructions = [r["instruction"] for r in records]
    while True:
        expert = RuleExpert(tok, ("eos", "own", "diversity"), own=tuple(changes))
        ids = generate_ids(model, tok, instructions, max_new_tokens=max_new_tokens, rules=expert,
                           batch_size=batch_size, progress=True)
        wrong = [out for out, r in zip(ids, records) if not criteria.check(tok.decode(out), r["criterion"])]
        openings = collections.Counter(out[0] if out else tok.eos_id for out in wrong)
        top = openings.most_common(5)
        rounds.append({"changes": list(changes), "passed_%": 100 * (1 - len(wrong) / len(records)),
                       "wrong": len(wrong), "openings": [[tok.piece(i), n] for i, n in top]})
        print(f"round {len(rounds)}: {rounds[-1]['passed_%']:.1f}% pass; most frequent wrong openings: "
              + ", ".join(f"{tok.piece(i)!r} {n}" for i, n in top), file=sys.stderr)
        if not top or len(changes) >= max_changes:
            return changes, rounds
        first, n = top[0]
        if first == tok.eos_id or n < share * len(wrong):
            return changes, rounds
        changes.append((tok.piece(first), SCORE))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(ROOT, "checkpoints", "toy-base"), help="the base model")
    ap.add_argument("--split", default="val", choices=["val"], help="the validation set (the eval set never "
                    "chooses anything)")
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "toy"), help="folder holding val.jsonl")
    ap.add_argument("--share", type=float, default=0.10, help="least share of the wrong outputs an opening must "
                    "start to be changed (the procedure's 10%%)")
    ap.add_argument("--max-changes", type=int, default=8, help="at most this many changes (the paper's 8 down)")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="as the tables decode")
    ap.add_argument("--limit", type=int, help="only the first N records (tests)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads")
    ap.add_argument("--out", help="a JSON file for the changes and each round's numbers")
    args = parse(ap, argv, command="base_rules")
    if not os.path.isfile(os.path.join(args.checkpoint, "config.json")):
        raise UserError(f"{args.checkpoint}: no checkpoint here")
    records = criteria.read_eval(os.path.join(args.data, f"{args.split}.jsonl"))[:args.limit]
    tok, model = Tokenizer(args.checkpoint), Transformer.from_pretrained(args.checkpoint, device="cpu")
    with threads(args.threads):                          # decoding runs under inference_mode already
        changes, rounds = choose(model, tok, records, share=args.share, max_changes=args.max_changes,
                                 max_new_tokens=args.max_new_tokens)
    if args.out:
        write_json(args.out, {"checkpoint": args.checkpoint, "split": args.split, "changes": changes, "rounds": rounds})
    print("OWN = (" + " ".join(f"({p!r}, {s:g})," for p, s in changes) + ")")
    print("rules.OWN " + ("matches." if tuple(changes) == OWN else
                          "differs: paste the list above into rules.py to use it."))


if __name__ == "__main__":
    cli(main)
