"""Assignment 3, the KV cache: cached decoding must equal recomputing the whole sequence (model.Attention)."""
import torch

from grading import attempt
import model

HINT = ("model.Attention.forward: write this step's keys and values into the cache buffers at positions "
        "start..start+T, then attend over all cached positions 0..start+T. See assignments/3-kv-cache.md.")


def test_prefill_equals_full_forward(checkpoint):
    m = model.Transformer.from_pretrained(checkpoint)
    ids = torch.randint(3, m.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = m(ids)
        cache = model.KVCache(m, 2, 20)
        first = attempt(HINT, m, ids[:, :8], cache=cache)
        rest = torch.cat([attempt(HINT, m, ids[:, t:t + 1], cache=cache) for t in range(8, 12)], 1)
    assert (first - full[:, :8]).abs().max() < 1e-4, f"prefill logits differ from the full forward. {HINT}"
    assert (rest - full[:, 8:]).abs().max() < 1e-4, f"one-token cached steps differ from the full forward. {HINT}"


def test_greedy_decoding_same_tokens(checkpoint, tok):
    from generate import generate_ids
    m = model.Transformer.from_pretrained(checkpoint)
    ins = ["What is the capital of Kezar?", "Write a poem."]
    got = attempt(HINT, generate_ids, m, tok, ins, max_new_tokens=10)
    import train
    for i, g in zip(ins, got):                   # reference: no cache, the whole sequence every step
        ids = train.build_prompt(tok, i)
        ref = []
        with torch.no_grad():
            for _ in range(10):
                nxt = m(torch.tensor([ids + ref]))[0, -1].argmax().item()
                if nxt == tok.eos_id:
                    break
                ref.append(nxt)
        assert g == ref, f"cached greedy decoding gave other tokens than recomputation. {HINT}"
