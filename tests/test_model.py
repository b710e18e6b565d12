"""model.py against transformers (the oracle), the KV cache, left padding, save/load, the tokenizer, bad input."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

import model
from lib import cli
from conftest import LLAMA2_TOKENIZER, ROOT, make_checkpoint, needs_llama2

transformers = pytest.importorskip("transformers")

VOCAB = 97
SMALL = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             max_position_embeddings=128)
CASES = {  # name: (HF class, config class, extra config, save kwargs)
    "llama-gqa": ("LlamaForCausalLM", "LlamaConfig", dict(num_key_value_heads=2), {}),
    "llama-tied-sharded": ("LlamaForCausalLM", "LlamaConfig", dict(tie_word_embeddings=True, rope_theta=1e6),
                           dict(max_shard_size="40KB")),
    "mistral-gqa-tied": ("MistralForCausalLM", "MistralConfig",
                         dict(num_key_value_heads=1, tie_word_embeddings=True, sliding_window=4096), {}),
    "mistral-sharded": ("MistralForCausalLM", "MistralConfig", dict(num_key_value_heads=2, sliding_window=None),
                        dict(max_shard_size="40KB")),
}


def hf_checkpoint(tmp_path, case):
    cls, cfg_cls, extra, save_kw = CASES[case]
    torch.manual_seed(0)
    hf = getattr(transformers, cls)(getattr(transformers, cfg_cls)(**SMALL, **extra)).eval()
    hf.save_pretrained(tmp_path, **save_kw)
    return hf, str(tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_logits_match_transformers(tmp_path, case):
    hf, path = hf_checkpoint(tmp_path, case)
    if "sharded" in case:
        assert os.path.exists(os.path.join(path, "model.safetensors.index.json"))
    ours = model.Transformer.from_pretrained(path)
    ids = torch.randint(0, VOCAB, (2, 23), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (ours(ids) - hf(ids).logits).abs().max() < 1e-4


def greedy(m, ids, n, cache):
    out = []
    with torch.no_grad():
        if cache:
            kv = model.KVCache(m, ids.shape[0], ids.shape[1] + n)
            logits = m(ids, cache=kv)
        for _ in range(n):
            if not cache:
                logits = m(ids)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            out.append(nxt)
            ids = torch.cat([ids, nxt], 1)
            if cache:
                logits = m(nxt, cache=kv)
    return torch.cat(out, 1)


def test_cached_decoding_equals_recomputation(tmp_path):
    _, path = hf_checkpoint(tmp_path, "llama-gqa")
    m = model.Transformer.from_pretrained(path)
    ids = torch.randint(0, VOCAB, (3, 9), generator=torch.Generator().manual_seed(2))
    assert torch.equal(greedy(m, ids, 20, cache=True), greedy(m, ids, 20, cache=False))


def test_left_padded_batch_equals_rows_alone(tmp_path):
    _, path = hf_checkpoint(tmp_path, "mistral-gqa-tied")
    m = model.Transformer.from_pretrained(path)
    g = torch.Generator().manual_seed(3)
    rows = [torch.randint(0, VOCAB, (n,), generator=g) for n in (5, 11, 8)]
    T = max(len(r) for r in rows)
    pad = torch.tensor([T - len(r) for r in rows])
    batch = torch.stack([torch.cat([torch.zeros(T - len(r), dtype=torch.long), r]) for r in rows])
    with torch.no_grad():
        full = m(batch, pad=pad)
        kv = model.KVCache(m, 3, T + 4, pad=pad)
        m(batch, cache=kv)
        step = m(torch.tensor([[7], [8], [9]]), cache=kv)             # one decode step after the padded prefill
        for i, r in enumerate(rows):
            alone = m(r[None])
            assert (full[i, pad[i]:] - alone[0]).abs().max() < 1e-5
            alone_next = m(torch.cat([r, torch.tensor([7 + i])])[None])[0, -1]
            assert (step[i, -1] - alone_next).abs().max() < 1e-5


def test_last_position_only_and_one_source_of_padding(tmp_path):
    _, path = hf_checkpoint(tmp_path, "llama-gqa")
    m = model.Transformer.from_pretrained(path)
    ids = torch.randint(0, VOCAB, (2, 7), generator=torch.Generator().manual_seed(4))
    pad = torch.tensor([0, 2])
    with torch.no_grad():
        full, cache = m(ids, pad=pad), model.KVCache(m, 2, 8, pad=pad)
        assert torch.allclose(m(ids, cache=cache, last=True), full[:, -1:], atol=1e-5)
        with pytest.raises(ValueError, match="the cache's"):
            m(ids[:, :1], cache=cache, pad=pad)
        # one token at a time from position 0, padding included (a padding query then sees no key: SDPA gives it
        # zeros, not NaN, and no real token attends to it)
        cache = model.KVCache(m, 2, 8, pad=pad)
        steps = torch.cat([m(ids[:, t:t + 1], cache=cache) for t in range(7)], 1)
        assert torch.allclose(steps[0], full[0], atol=1e-5) and torch.allclose(steps[1, 2:], full[1, 2:], atol=1e-5)


@pytest.mark.parametrize("case", ["llama-gqa", "llama-tied-sharded"])
def test_save_load_round_trip_and_transformers_loads_ours(tmp_path, case, tiny_tokenizer):
    hf, path = hf_checkpoint(tmp_path / "hf", case)
    ours = model.Transformer.from_pretrained(path)
    out = str(tmp_path / "ours")
    ours.save_pretrained(out, tokenizer=tiny_tokenizer, max_shard_bytes=30_000)
    assert os.path.exists(os.path.join(out, "model.safetensors.index.json"))     # sharded above the size
    assert os.path.exists(os.path.join(out, "tokenizer.model"))
    again = model.Transformer.from_pretrained(out)
    for (k, a), (_, b) in zip(ours.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    if ours.config.tie_word_embeddings:
        assert again.lm_head.weight is again.model.embed_tokens.weight
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ids = torch.randint(0, VOCAB, (2, 15))
    with torch.no_grad():
        assert (reloaded(ids).logits - hf(ids).logits).abs().max() < 1e-5


def test_save_replaces_existing_checkpoint_whole(tmp_path, tiny_checkpoint):
    m = model.Transformer.from_pretrained(tiny_checkpoint)
    out = tmp_path / "ck"
    m.save_pretrained(str(out))
    (out / "stale.txt").write_text("from an older save")
    m.save_pretrained(str(out))
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]          # no temporary left behind


def test_bf16_load(tiny_checkpoint):
    m = model.Transformer.from_pretrained(tiny_checkpoint, dtype=torch.bfloat16)
    assert next(m.parameters()).dtype == torch.bfloat16
    assert m(torch.tensor([[1, 5, 6]])).dtype == torch.bfloat16


@needs_llama2
def test_llama2_tokenizer():
    import sentencepiece as spm
    tok = model.Tokenizer(str(LLAMA2_TOKENIZER))
    sp = spm.SentencePieceProcessor(model_file=str(LLAMA2_TOKENIZER))
    for text in ["Hello world", "What is 2+2?\n  indented\n", "- a list\n## heading", "ünïcödé 東京"]:
        assert tok.encode(text) == sp.encode(text)
        assert tok.decode(tok.encode(text)) == sp.decode(sp.encode(text))
    assert tok.encode("I believe the meaning of life is", bos=True) == [1, 306, 4658, 278, 6593, 310, 2834, 338]
    assert (tok.bos_id, tok.eos_id, tok.vocab_size) == (1, 2, 32000)
    assert tok.piece_id("▁I") == 306 and tok.piece_id("What") == 5618 and tok.piece_id("no-such-piece") is None
    assert tok.encode_next("What is") == [5618, 338]


# ----------------------------------------------------------------------------------------------- bad input
def run_cli(path):
    return subprocess.run([sys.executable, str(ROOT / "model.py"), str(path)], capture_output=True, text=True)


def broken(tmp_path, tiny_checkpoint, what):
    d = tmp_path / what
    d.mkdir()
    for f in os.listdir(tiny_checkpoint):
        (d / f).write_bytes(open(os.path.join(tiny_checkpoint, f), "rb").read())
    cfg = json.loads((d / "config.json").read_text())
    if what == "no-config":
        os.remove(d / "config.json")
    elif what == "no-weights":
        os.remove(d / "model.safetensors")
    elif what == "no-tokenizer":
        os.remove(d / "tokenizer.model")
    elif what == "truncated":
        data = (d / "model.safetensors").read_bytes()
        (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif what == "architecture":
        cfg["architectures"] = ["GPT2LMHeadModel"]
    elif what == "rope-scaling":
        cfg["rope_scaling"] = {"type": "linear", "factor": 2.0}
    elif what == "wrong-shape":
        cfg["intermediate_size"] += 1
    (d / "config.json").write_text(json.dumps(cfg)) if what != "no-config" else None
    return d


@pytest.mark.parametrize("what,names", [("no-config", "config.json"), ("no-weights", "model.safetensors"),
                                        ("no-tokenizer", "tokenizer.model"), ("truncated", "model.safetensors"),
                                        ("architecture", "config.json"), ("rope-scaling", "config.json"),
                                        ("wrong-shape", "model.safetensors")])
def test_bad_checkpoint_is_one_line_exit_2(tmp_path, tiny_checkpoint, what, names):
    r = run_cli(broken(tmp_path, tiny_checkpoint, what))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert names in r.stderr


@pytest.mark.parametrize("config, message", [
    ([1, 2], "config must be a JSON object, not a list"),
    ({"num_hidden_layers": -1}, "num_hidden_layers=-1 is not an integer from 1"),
    ({"hidden_size": "64"}, "hidden_size='64' is not an integer"),
    ({"num_hidden_layers": 400000}, "num_hidden_layers=400000 is not an integer from 1 to 1,024"),
    ({"vocab_size": 4e9}, "vocab_size=4000000000.0 is not an integer"),
    ({"vocab_size": 4 * 10**9}, "vocab_size=4000000000 is not an integer from 1 to 4,194,304"),
    ({"num_attention_heads": 4, "num_key_value_heads": 3}, "a multiple of num_key_value_heads"),
    ("[" * 100000, "cannot read config"),
    # Values of the wrong type or out of range, which failed deep in the forward pass or decoded garbage.
    ({"rms_norm_eps": "1e-5"}, "rms_norm_eps='1e-5' is not a finite number > 0"),
    ({"rms_norm_eps": math.nan}, "rms_norm_eps=nan is not a finite number > 0"),
    ({"rms_norm_eps": -1e-5}, "rms_norm_eps=-1e-05 is not a finite number > 0"),
    ({"rope_theta": None}, "rope_theta=None is not a finite number > 0"),
    ({"torch_dtype": "int8"}, "torch_dtype='int8' is not one of float32, float16, bfloat16"),
    ({"tie_word_embeddings": "no"}, "tie_word_embeddings='no' is not true or false"),
    ({"sliding_window": "4096"}, "sliding_window='4096' is not an integer"),
    ({"vocab_size": 100, "eos_token_id": 99999}, "eos_token_id=99999 is not a token id below vocab_size 100"),
    ({"bos_token_id": -1}, "bos_token_id=-1 is not a token id below vocab_size 32000"),
])
def test_bad_config_is_a_clear_error_not_a_hang(tmp_path, config, message):
    path = tmp_path / "config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    with pytest.raises(cli.UserError, match=message):
        model.read_config(str(path))


def test_a_tokenizer_that_does_not_fit_the_model_is_one_line(tmp_path, tiny_tokenizer):
    """Smaller than the vocabulary, it cannot decode every id the model may choose."""
    ckpt = make_checkpoint(tmp_path / "ck", tiny_tokenizer, vocab_size=tiny_tokenizer.vocab_size + 100)
    r = run_cli(ckpt)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == (f"error: {ckpt}/tokenizer.model: {tiny_tokenizer.vocab_size} pieces, but {ckpt}/config.json"
                        f" says vocab_size {tiny_tokenizer.vocab_size + 100}: a model's tokenizer needs one "
                        "piece per row of the model\n")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_without_cuda_is_named_not_the_checkpoint(tiny_checkpoint):
    with pytest.raises(cli.UserError, match="device 'cuda' is not usable here"):
        model.Transformer.from_pretrained(tiny_checkpoint, device="cuda")


def test_saved_files_honour_the_umask(tmp_path, tiny_checkpoint):
    old = os.umask(0o022)
    try:
        model.Transformer.from_pretrained(tiny_checkpoint).save_pretrained(str(tmp_path / "ck"))
    finally:
        os.umask(old)
    assert {f: os.stat(tmp_path / "ck" / f).st_mode & 0o777 for f in os.listdir(tmp_path / "ck")} == {
        "config.json": 0o644, "model.safetensors": 0o644}
    assert os.stat(tmp_path / "ck").st_mode & 0o777 == 0o755


def test_max_new_tokens_must_be_positive(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["model.py", tiny_checkpoint, "--text", "a", "--max-new-tokens", "-5"])
    with pytest.raises(cli.UserError, match="need --max-new-tokens >= 1"):
        model.main()


def test_command_line_prints_the_whole_continued_text(tiny_checkpoint, tiny_tokenizer, capsys):
    # Decoded as one sequence: SentencePiece drops the space of a piece decoded alone ("isDimiburg").
    model.main([tiny_checkpoint, "--text", "the cat is", "--max-new-tokens", "5"])
    last = capsys.readouterr().out.splitlines()[-1]
    ids = tiny_tokenizer.encode("the cat is")
    assert last.startswith("the cat is") and len(tiny_tokenizer.encode(last)) >= len(ids)
