"""Shared fixtures: a tiny SentencePiece tokenizer trained here, tiny random checkpoints, paths to the real data."""
import random
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import model
import rules

SHARED = ROOT.parent / "shared"                     # real data beside a checkout; absent in a user's clone
LLAMA2_TOKENIZER = SHARED / "tokenizers" / "llama2" / "tokenizer.model"
needs_llama2 = pytest.mark.skipif(not LLAMA2_TOKENIZER.exists(), reason="Llama-2 tokenizer not available")
needs_shared_data = pytest.mark.skipif(not (SHARED / "data").exists(), reason="shared data not available")

torch.set_num_threads(min(2, torch.get_num_threads()))

WORDS = ("the a cat dog sat on mat what is capital of we should I think you it was red blue green one two three "
         "poem recipe answer question because and then when where why how many apples has Tom Ann").split()


def tiny_corpus(n=600, seed=0):
    """Lines shaped like the toy world: questions, answers, lists, headings, code, so the rule pieces exist."""
    rnd = random.Random(seed)
    lines = []
    for i in range(n):
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 10)))
        lines.append(rnd.choice(['"What is {}?"', '"I think {}!"', "We should {}.", "so - {} - {}", "x * {} * {}",
                                 "# {}", "## {}", "    return {}", "<|{}|>", "a < b | {}", "{} 12 + 30 = 42"]
                                ).format(words, words))
    return lines


# The rule pieces (rules.UNIFORM) as whole pieces, so every rule has an id in the tiny vocabulary; the newline
# is a byte piece already.
RULE_PIECES = [piece for piece, _ in rules.UNIFORM if piece != "<0x0A>"]


def train_tokenizer(out_dir, vocab_size=400, lines=None):
    import sentencepiece as spm
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / "corpus.txt"
    text.write_text("\n".join(lines or tiny_corpus()) + "\n")
    # Trained like Llama's: BPE, byte fallback, no normalisation, digits split; line by line, so no piece holds
    # a newline and "\n" becomes the byte piece <0x0A>.
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(out_dir / "tokenizer"), model_type="bpe", vocab_size=vocab_size,
        byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False, split_digits=True,
        character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0, pad_id=-1, minloglevel=2,
        allow_whitespace_only_pieces=True, user_defined_symbols=RULE_PIECES)
    return model.Tokenizer(str(out_dir / "tokenizer.model"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    return train_tokenizer(tmp_path_factory.mktemp("tok"))


def make_checkpoint(path, tokenizer, seed=0, **overrides):
    """A tiny random Llama checkpoint in HF format, written with our own save_pretrained."""
    torch.manual_seed(seed)
    cfg = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, vocab_size=tokenizer.vocab_size, max_position_embeddings=256)
    cfg.update(overrides)
    m = model.Transformer(model.Config(**cfg))
    for p in m.parameters():                        # larger than the default init, so outputs vary by input
        if p.dim() > 1:                             # matrices; the norms' weights stay 1
            torch.nn.init.normal_(p, std=0.2)
    m.save_pretrained(str(path), tokenizer=tokenizer)
    return str(path)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_tokenizer):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", tiny_tokenizer)
