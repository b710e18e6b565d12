"""Training throughput: train.py's step against the same step through transformers' LlamaForCausalLM, same
weights, batch, loss and optimizer, alternating in one run (best of --repeats each), reported as a ratio.

  python bench/bench_train.py                      # a toy-sized Llama (4 layers, width 256, 4k vocabulary)
  python bench/bench_train.py --layers 6 --hidden 384 --vocab 32000 --batch 4 --seq 256
"""
import argparse
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import model
import train


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--layers", type=int, default=4, help="transformer blocks")
    ap.add_argument("--hidden", type=int, default=256, help="model width (MLP is 8/3 of it, heads of 64)")
    ap.add_argument("--vocab", type=int, default=4000, help="vocabulary size")
    ap.add_argument("--batch", type=int, default=8, help="examples per step (one micro-batch)")
    ap.add_argument("--seq", type=int, default=256, help="tokens per example")
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="measurements per implementation (best is kept)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import LlamaForCausalLM       # the oracle; never imported by the project at run time

    cfg = model.Config(hidden_size=args.hidden, intermediate_size=args.hidden * 8 // 3, num_hidden_layers=args.layers,
                       num_attention_heads=args.hidden // 64, vocab_size=args.vocab, max_position_embeddings=args.seq)
    torch.manual_seed(0)
    ours = model.Transformer(cfg)
    for p in ours.parameters():
        if p.dim() > 1:                             # matrices; the norms' weights stay 1
            torch.nn.init.normal_(p, std=0.02)
    with tempfile.TemporaryDirectory() as d:        # the same weights, through a checkpoint both can read
        ours.save_pretrained(os.path.join(d, "m"))
        hf = LlamaForCausalLM.from_pretrained(os.path.join(d, "m"), attn_implementation="sdpa").float()
    # Chat-like examples: varied lengths, loss on the second half of each (a response after its prompt).
    g = torch.Generator().manual_seed(0)
    examples = []
    for _ in range(args.batch):
        n = int(torch.randint(args.seq // 2, args.seq + 1, (), generator=g))
        ids = torch.randint(3, args.vocab, (n,), generator=g).tolist()
        examples.append((ids, [train.IGNORE] * (n // 2) + ids[n // 2:]))
    x, y = train.collate(examples, pad_id=2)
    ntok = sum(len(ids) for ids, _ in examples)

    def runner(forward, params):
        opt = torch.optim.AdamW(params, lr=1e-4)

        def step():                                 # train.py's step: per-example means, their mean, AdamW
            loss = train.example_losses(forward, x, y).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss.item()
        return step

    impls = {"ours": runner(ours.train(), list(ours.parameters())),
             "transformers": runner(lambda ids: hf.train()(input_ids=ids).logits, list(hf.parameters()))}
    first = {name: step() for name, step in impls.items()}   # warm-up, and a check that both compute one loss
    print(f"{ours.num_params() / 1e6:.1f}M parameters, batch {args.batch} x up to {args.seq} tokens "
          f"({ntok} real), {torch.get_num_threads()} threads; first-step loss ours {first['ours']:.5f}, "
          f"transformers {first['transformers']:.5f}")
    best = {name: 0.0 for name in impls}
    for r in range(args.repeats):
        for name, step in impls.items():            # alternate, so load from elsewhere hits both alike
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            best[name] = max(best[name], args.steps * ntok / (time.perf_counter() - t0))
        print(f"repeat {r + 1}: " + ", ".join(f"{n} {v:,.0f} tok/s" for n, v in best.items()))
    print(f"training tokens/s: ours {best['ours']:,.0f}, transformers {best['transformers']:,.0f}, "
          f"ratio {best['ours'] / best['transformers']:.2f}")


if __name__ == "__main__":
    main()
