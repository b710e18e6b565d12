"""Assignment 3, the KV cache: cached decoding must equal recomputing the whole sequence (model.KVCache)."""
import torch

from grading import Grader
import chat
import model
import train

G = Grader(3, "model.KVCache: step(T) returns the RoPE positions [B, T] of the next T tokens (each row's real "
              "tokens count from 0 after its left padding) and their mask [B, 1, T, pos + T] (causal, no padding "
              "keys; model.attention_mask builds it) and advances pos; update(layer, k, v) stores the T new keys "
              "and values at pos - T .. pos and returns the first pos of each. T may be more than 1 at any "
              "position. See assignments/3-kv-cache.md.")


def cached(m, ids, chunks, max_len=20):
    """Logits of ids fed through one cache in chunks of the given sizes."""
    cache, out, t = model.KVCache(m, ids.shape[0], max_len), [], 0
    for n in chunks:
        out.append(G.call(m, ids[:, t:t + n], cache=cache))
        t += n
    return out


def check_chunks(m, chunks):
    ids = torch.randint(3, m.config.vocab_size, (2, sum(chunks)), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full, got = m(ids), cached(m, ids, chunks)
    t = 0
    for n, logits in zip(chunks, got):
        G.check(logits.shape == (2, n, m.config.vocab_size) and (logits - full[:, t:t + n]).abs().max() < 1e-4,
                f"feeding {sum(chunks)} tokens in chunks {chunks}: the chunk of {n} at positions {t}..{t + n} "
                f"gives other logits than the full forward")
        t += n


def test_prefill_then_one_token_steps(checkpoint):
    check_chunks(model.Transformer.from_pretrained(checkpoint), [8, 1, 1, 1, 1])


def test_several_tokens_at_a_later_position(checkpoint):
    check_chunks(model.Transformer.from_pretrained(checkpoint), [5, 4, 1, 3])


def test_greedy_decoding_same_tokens(checkpoint, tok):
    from generate import generate_ids
    m = model.Transformer.from_pretrained(checkpoint)
    ins = ["What is the capital of Kezar?", "Write a poem."]
    got = G.call(generate_ids, m, tok, ins, max_new_tokens=10)
    for i, g in zip(ins, got):                   # reference: no cache, the whole sequence every step
        ids = chat.build_prompt(tok, i)
        ref = []
        with torch.no_grad():
            for _ in range(10):
                nxt = m(torch.tensor([ids + ref]))[0, -1].argmax().item()
                if nxt == tok.eos_id:
                    break
                ref.append(nxt)
        G.check(list(g) == ref, f"cached greedy decoding of {i!r} (batched with left padding) gave other tokens "
                                f"than recomputation without a cache")
