"""The toy world's command line (run from the repository's root):

  python -m data.world --out data/toy --overwrite     # corpus.jsonl ("the web"), tuning sets, val and eval sets
  python -m data.world tokenizer --corpus data/toy/corpus.jsonl --out checkpoints/toy-base/tokenizer.model --overwrite
  python -m data.world voices --out data/toy --overwrite    # held-out fact references in three voices, and probes
"""
import argparse
import os
import sys
import time

from data.world.sets import FILES, write_world
from data.world.tokenizer import train_tokenizer
from data.world.voices import voice_files, write_voices
from data.world.web import DIALOGUE, HTML
from lib.cli import UserError, cli


def tokenizer_command(argv):
    ap = argparse.ArgumentParser(prog="python -m data.world tokenizer",
                                 description="Train the toy world's SentencePiece tokenizer on the corpus.")
    ap.add_argument("--corpus", default="data/toy/corpus.jsonl", help="corpus JSONL ({\"text\"} per line) "
                    "or plain text (default: data/toy/corpus.jsonl)")
    ap.add_argument("--out", default="runs/toy-tokenizer/tokenizer.model", help="where to write the "
                    "tokenizer model (default: runs/toy-tokenizer/tokenizer.model; the committed one is "
                    "checkpoints/toy-base/tokenizer.model)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    ap.add_argument("--vocab-size", type=int, default=4000, help="number of pieces (default: 4000)")
    ap.add_argument("--max-lines", type=int, default=2_000_000, help="train on at most this many corpus "
                    "lines (default: 2,000,000)")
    args = ap.parse_args(argv)
    if os.path.exists(args.out) and not args.overwrite:
        raise UserError(f"{args.out}: exists (a model's tokenizer must match its weights); pass --overwrite "
                        "to replace it")
    t0 = time.time()
    sp = train_tokenizer(args.corpus, args.out, args.vocab_size, args.max_lines)
    print(f"wrote {args.out}: {sp.get_piece_size()} pieces in {time.time() - t0:.0f}s; rule pieces all present")


def voices_command(argv):
    ap = argparse.ArgumentParser(prog="python -m data.world voices",
                                 description="Write the held-out fact records' references in three voices (chat, "
                                 "corpus, neutral) and a knowledge probe per record: voices-val.jsonl and "
                                 "voices-eval.jsonl (data/world/voices.py says why).")
    ap.add_argument("--sets", default="data/toy", help="folder holding the val.jsonl and eval.jsonl to read "
                    "(default: data/toy, the committed sets)")
    ap.add_argument("--out", default="data/toy", help="folder to write voices-val.jsonl and voices-eval.jsonl "
                    "in (default: data/toy, where the committed ones are)")
    ap.add_argument("--seed", type=int, default=0, help="the seed of the world that made the sets (default: 0, "
                    "data/toy's)")
    ap.add_argument("--overwrite", action="store_true", help="replace voices files that --out already holds")
    args = ap.parse_args(argv)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"{args.out}: exists and is not a folder")
    there = [p for p in voice_files(args.out).values() if os.path.exists(p)]
    if there and not args.overwrite:
        raise UserError(f"{there[0]}: exists; pass --overwrite to replace it")
    made = write_voices(args.sets, args.out, args.seed)
    print(f"wrote {args.out}: " + ", ".join(f"voices-{split}.jsonl {n} records ({skipped} skipped: entities not "
                                             f"resolved)" for split, (n, skipped) in made.items()))


def world_command(argv):
    ap = argparse.ArgumentParser(prog="python -m data.world", description="Generate the toy world: corpus, "
                                 "tuning sets, validation and evaluation sets. (Train its tokenizer with: "
                                 "python -m data.world tokenizer --help; the held-out facts in three voices: "
                                 "python -m data.world voices --help)")
    ap.add_argument("--out", default="runs/toy", help="output folder (default: runs/toy; the committed sets are "
                    "data/toy's, and the pretraining command reads data/toy/corpus.jsonl)")
    ap.add_argument("--overwrite", action="store_true", help="replace the world's files if --out holds any")
    ap.add_argument("--seed", type=int, default=0, help="the world's seed; the same seed gives the same bytes")
    ap.add_argument("--dialogue", type=float, default=DIALOGUE, help=f"share of the corpus that is dialogue "
                    f"transcripts (default: {DIALOGUE})")
    ap.add_argument("--html", type=float, default=HTML, help="share of the other pages (without code, tables "
                    f"or worked math) left in HTML (default: {HTML})")
    ap.add_argument("--corpus-tokens", type=int, default=6_000_000, help="approximate corpus size in tokens of "
                    "the toy tokenizer (default: 6,000,000, the committed base's corpus; 0 writes no corpus)")
    args = ap.parse_args(argv)
    if args.corpus_tokens < 0:
        raise UserError(f"--corpus-tokens must be >= 0, got {args.corpus_tokens}")
    for flag, share in (("--dialogue", args.dialogue), ("--html", args.html)):
        if not 0 <= share <= 1:
            raise UserError(f"{flag} must be a share in [0, 1], got {share}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"{args.out}: exists and is not a folder")
    there = [f for f in FILES if os.path.exists(os.path.join(args.out, f))]
    if there and not args.overwrite:
        named = ", ".join(there[:3]) + (f" and {len(there) - 3} more" if len(there) > 3 else "")
        raise UserError(f"{args.out}: already holds the world's files ({named}); pass --overwrite to replace them")
    t0 = time.time()
    stats = write_world(args.out, args.seed, args.corpus_tokens, args.dialogue, html_share=args.html)
    corpus_note = (f"corpus.jsonl {os.path.getsize(os.path.join(args.out, 'corpus.jsonl')) / 1e6:.1f} MB"
                   if args.corpus_tokens else "no corpus")
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in stats.items())
          + f"; {corpus_note}; {time.time() - t0:.1f}s")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tokenizer"]:
        tokenizer_command(argv[1:])
    elif argv[:1] == ["voices"]:
        voices_command(argv[1:])
    else:
        world_command(argv)


if __name__ == "__main__":
    cli(main)
