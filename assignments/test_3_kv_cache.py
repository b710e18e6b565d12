"""Assignment 3, the KV cache: cached decoding must equal recomputing the whole sequence (model.KVCache). The
probes run the hand-in's model.py in its own process (grading.Student) on token ids drawn anew at each grading;
the grader compares the logits and tokens they hand back with its own model's full forward."""
import secrets

import torch

from grading import Grader, call, ints
import chat
import model

G = Grader(3, "model.KVCache: step(T) returns the RoPE positions [B, T] of the next T tokens (each row's real "
              "tokens count from 0 after its left padding) and their mask [B, 1, T, pos + T] (causal, no padding "
              "keys; model.attention_mask builds it) and advances pos; update(layer, k, v) stores the T new keys "
              "and values at pos - T .. pos and returns the first pos of each. T may be more than 1 at any "
              "position. See assignments/3-kv-cache.md.")


def cached(checkpoint, ids, chunks, pad=None):
    """In the hand-in's process: the logits [B, n, V] of each chunk of ids fed through one of its KVCaches (left
    padding `pad` [B], or none)."""
    import model
    m = model.Transformer.from_pretrained(checkpoint)
    cache = call(model.KVCache, m, ids.shape[0], ids.shape[1], **({} if pad is None else {"pad": pad}))
    out, t = [], 0
    with torch.no_grad():
        for n in chunks:
            out.append(call(m, ids[:, t:t + n], cache=cache))
            t += n
    return out


def random_ids(m, shape):
    """Token ids drawn anew at each grading: a solution cannot know them."""
    g = torch.Generator().manual_seed(secrets.randbelow(2**31))
    return torch.randint(3, m.config.vocab_size, shape, generator=g)


def chunk_logits(student, checkpoint, ids, chunks, pad=None):
    """The hand-in's logits of each chunk, checked for their shape."""
    got = G.run(student, cached, checkpoint, ids, chunks, pad)
    G.check(isinstance(got, list) and len(got) == len(chunks), "the cached forward gave no logits")
    for logits, n in zip(got, chunks):
        G.check(isinstance(logits, torch.Tensor) and logits.shape[:2] == (ids.shape[0], n),
                f"feeding a chunk of {n} tokens through the cache should give logits [{ids.shape[0]}, {n}, V]; got "
                f"{tuple(getattr(logits, 'shape', ()))}")
    return got


def check_chunks(student, checkpoint, chunks):
    m = model.Transformer.from_pretrained(checkpoint)
    ids = random_ids(m, (2, sum(chunks)))
    with torch.no_grad():
        full = m(ids)
    t = 0
    for n, logits in zip(chunks, chunk_logits(student, checkpoint, ids, chunks)):
        G.check(logits.shape == (2, n, m.config.vocab_size) and (logits - full[:, t:t + n]).abs().max() < 1e-4,
                f"feeding {sum(chunks)} tokens in chunks {chunks}: the chunk of {n} at positions {t}..{t + n} "
                f"gives other logits than the full forward")
        t += n


def test_prefill_then_one_token_steps(student, checkpoint):
    check_chunks(student, checkpoint, [8, 1, 1, 1, 1])


def test_several_tokens_at_a_later_position(student, checkpoint):
    check_chunks(student, checkpoint, [5, 4, 1, 3])


def greedy(checkpoint, tok_path, instructions, max_new_tokens):
    """In the hand-in's process: its generate.generate_ids, greedy and cached (batched with left padding)."""
    import model
    from generate import generate_ids
    m = model.Transformer.from_pretrained(checkpoint)
    got = call(generate_ids, m, model.Tokenizer(tok_path), instructions, max_new_tokens=max_new_tokens)
    return [[int(i) for i in row] for row in got]


def test_greedy_decoding_same_tokens(student, checkpoint, tok):
    ins = ["What is the capital of Kezar?", "Write a poem."]
    got = G.run(student, greedy, checkpoint, tok.path, ins, 10)
    G.check(isinstance(got, list) and len(got) == len(ins) and all(ints(g) for g in got),
            "generate_ids should give a list of token ids per instruction")
    m = model.Transformer.from_pretrained(checkpoint)
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
