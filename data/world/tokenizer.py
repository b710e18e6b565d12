"""The world's tokenizer: SentencePiece BPE trained on the corpus the way Llama's was, which must contain the
pieces the rule-based expert looks up by string."""
import io
import json
import os

import sentencepiece as spm

from lib.cli import UserError

# The pieces rules.py's fixed token changes look up by string (its UNIFORM table; a test keeps the two equal). The
# corpus is made to produce them: pronouns, quoted speech, lists, headings, indented code, tables, HTML, "!".
RULE_PIECES = ("▁I", "I", "What", "▁We", "▁should", "<", "▁<", "|", "▁*", "▁-", "▁▁▁", "▁#", "▁##", "<0x0A>", "!")


def corpus_lines(path, limit):
    """The corpus line by line (no piece can then span a newline; "\\n" becomes the byte piece <0x0A>)."""
    n = 0
    with open(path, encoding="utf-8") as f:
        for row_no, row in enumerate(f, 1):
            try:
                text = json.loads(row)["text"] if path.endswith(".jsonl") else row
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(f"{path}:{row_no}: expected a JSON object with a 'text' string")
            for line in text.split("\n"):
                if line.strip():
                    yield line
                    n += 1
                    if n >= limit:
                        return


def train_spm(lines, model, vocab_size):
    """SentencePiece trained as Llama's tokenizer was: BPE, byte fallback, no normalisation, digits split."""
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model,
        model_type="bpe", vocab_size=vocab_size, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=True, character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0,
        pad_id=-1, allow_whitespace_only_pieces=True, max_sentence_length=8192, minloglevel=2,
        # Three spaces as one piece, so an indented line starts "▁▁▁ ▁return" as with Llama's tokenizer (rules.py
        # rewards "▁▁▁"); trained line by line, this SentencePiece would otherwise learn "▁▁▁▁ re turn".
        user_defined_symbols=["▁▁▁"],
        input_sentence_size=len(lines), shuffle_input_sentence=False, num_threads=2)


def lacks(sp, pieces):
    """The pieces a SentencePiece model does not have (piece_to_id answers unk for an unknown one)."""
    return [p for p in pieces if sp.id_to_piece(sp.piece_to_id(p)) != p]


def train_tokenizer(corpus_path, out, vocab_size=4000, max_lines=2_000_000, pieces=RULE_PIECES):
    """A SentencePiece BPE model trained like Llama's; checks it has every piece of `pieces`, then writes `out`.
    Returns the loaded SentencePieceProcessor."""
    if not os.path.isfile(corpus_path):
        raise UserError(f"{corpus_path}: corpus not found (make it with: python -m data.world --out data/toy "
                        "--overwrite)")
    lines = list(corpus_lines(corpus_path, max_lines))      # read first: a bad line is a UserError, not a crash
    if not lines:
        raise UserError(f"{corpus_path}: no text to train on")
    model = io.BytesIO()         # no model_prefix: the model file then records no path of this machine
    try:
        train_spm(lines, model, vocab_size)
    except RuntimeError as e:                  # SentencePiece's own checks, e.g. a vocabulary too large
        raise UserError(f"{corpus_path}: tokenizer training failed: {str(e).splitlines()[0]}")
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    missing = lacks(sp, pieces)
    if missing:
        raise UserError(f"{corpus_path}: the tokenizer lacks the rule pieces {missing}; the corpus must produce them")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "wb") as f:
        f.write(model.getvalue())
    os.replace(out + ".tmp", out)
    return sp
