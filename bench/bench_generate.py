"""Decoding speed of generate.py against the paper's approach, transformers' cached generate and the floor.

    python bench/bench_generate.py --threads 1 --repeat 3    # Llama-shaped: 32,000 ids, 6 layers, width 384
    python bench/bench_generate.py --small                   # 2 layers, width 128: a quick check

All in one run, on the same random model (written once as an HF checkpoint and loaded by both libraries), the same
prompts and the same number of new tokens (--new-tokens) in every row:
  floor        what a decoding step cannot avoid: every weight matrix product (each layer's projections and MLP,
               and lm_head) and attention over the KV cache at its mean length in the run; no norms, RoPE, masks,
               sampling or Python between them. A decoder cannot beat it
  ours+rules   generate.py with the paper's three rules (eos, uniform, diversity)
  ours         generate.py without rules
  hf-cache     transformers generate with its KV cache, no rules
  paper        transformers generate(use_cache=False) with the rules as a logits processor that rescans the whole
               sequence at every step, batch size 1: what the paper's code does (open_instruct/combined_model.py)
  rules alone  the rules' own work in each decoding step (their scores added to the logits), nothing else
and then the goals, each with its measured value: batch 1 with the rules at 90% of the floor or more, the large
batch at 85% or more, never slower than hf-cache, the rules under 10% of the time.

The model has Llama-2's vocabulary size, 32,000 rows (--vocab). Its tokenizer only makes the prompts: Llama-2's
(../shared/tokenizers/llama2/tokenizer.model beside the checkout) if it is there, else the toy base's
(checkpoints/toy-base/tokenizer.model, 4,000 pieces; ids past them are never encoded, and no text is decoded);
--tokenizer names another. On a shared CPU use --threads 1: the rates are then computed from this process's CPU
time, which other work on the machine barely changes (with several threads, threads waiting on each other make
wall-clock rates erratic). The final norm's weight is scaled up so the random model is confident (as a trained one
is), and EOS's logit is 0, so that it is never reached, even with the EOS ramp: every method decodes exactly
--new-tokens tokens per prompt, which the script checks.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import chat
import generate
import model
import rules
from lib.cli import RawHelp, UserError, check_flags, cli

LLAMA2 = ROOT.parent / "shared" / "tokenizers" / "llama2" / "tokenizer.model"
TOY = ROOT / "checkpoints" / "toy-base" / "tokenizer.model"
INSTRUCTIONS = [
    "What is the capital of Japan?", "Give me three tips for staying healthy.",
    "Write a short poem about the sea at night.", "Explain why the sky is blue to a ten-year-old.",
    "Sort these numbers: 12, 7, 33, 1, 19.", "Translate 'good morning, how are you?' into French.",
    "Write a Python function that checks whether a string is a palindrome.",
    "Summarise the plot of Romeo and Juliet in two sentences.", "What are the pros and cons of remote work?",
    "Give me a recipe for a simple tomato soup, with a list of ingredients and numbered steps.",
    "How many legs do three spiders and two cats have together?", "Write a polite email declining a meeting.",
    "Describe the rules of chess for a beginner, starting with how each piece moves and how the game ends.",
    "What is 17 times 24, divided by 8, minus 3?", "Name five famous painters and one work by each.",
    "Plan a three-day trip to Rome for someone who loves history, food and long walks, on a modest budget."]


class PaperRules:
    """The rules as the paper's code applies them (a transformers LogitsProcessor): batch size 1, the tag
    positions found again by matching the tags' last 5 ids and the seen set rebuilt from the whole id list, at
    every step; returns log_softmax(base) + log_softmax(rules) as the 'logits'."""

    def __init__(self, tok):
        self.user, self.assistant = tok.encode("\n<|user|>\n")[-5:], tok.encode("\n<|assistant|>\n")[-5:]
        self.uniform = {tok.piece_id(p): s for p, s in rules.UNIFORM if tok.piece_id(p) is not None}
        self.eos = tok.eos_id

    def __call__(self, input_ids, scores):
        ids = input_ids[0].tolist()

        def after(tail):                            # the position after the last occurrence of a tag's ids
            return max(i + 5 for i in range(len(ids) - 4) if ids[i:i + 5] == tail)
        first, L = after(self.user), len(ids) - after(self.assistant)
        r = torch.zeros(scores.shape[-1])
        for i, s in self.uniform.items():
            r[i] += s
        # >>> assignment 2: the EOS ramp and the diversity rule
        r[list(set(ids[first:]))] -= 1.5
        if 0 < L < 250:
            r[self.eos] += 15 * L / 250
        # <<< assignment 2
        return torch.log_softmax(scores.float(), -1) + torch.log_softmax(r, -1)[None]


def floor(m, batch, steps, length):
    """What `steps` decoding steps at `batch` rows cannot avoid: every weight matrix product and attention over
    each layer's own KV cache of `length` positions (its mean length in the run). Returns the tokens decoded."""
    c = m.config
    dev = m.lm_head.weight.device
    x, xi = torch.randn(batch, c.hidden_size, device=dev), torch.randn(batch, c.intermediate_size, device=dev)
    q = torch.randn(batch, c.num_attention_heads, 1, c.head_dim, device=dev)
    kv = [torch.randn(2, batch, c.num_key_value_heads, length, c.head_dim, device=dev) for _ in m.model.layers]
    gqa = c.num_key_value_heads != c.num_attention_heads
    with torch.inference_mode():
        for _ in range(steps):
            for layer, (k, v) in zip(m.model.layers, kv):
                a, mlp = layer.self_attn, layer.mlp
                for w in (a.q_proj.weight, a.k_proj.weight, a.v_proj.weight):
                    F.linear(x, w)
                F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
                for w in (a.o_proj.weight, mlp.gate_proj.weight, mlp.up_proj.weight):
                    F.linear(x, w)
                F.linear(xi, mlp.down_proj.weight)
            F.linear(x, m.lm_head.weight)
    return batch * steps


def settings(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=RawHelp)
    ap.add_argument("--small", action="store_true", help="2 layers, width 128: a quick run")
    ap.add_argument("--tokenizer", help=f"SentencePiece model that makes the prompts (default: {LLAMA2} if it "
                    f"is there, else {TOY.relative_to(ROOT)})")
    ap.add_argument("--vocab", type=int, default=32000, help="the model's vocabulary (Llama-2's size); at least "
                    "the tokenizer's pieces")
    ap.add_argument("--new-tokens", type=int, default=256, help="new tokens per prompt, in every row")
    ap.add_argument("--batch", type=int, default=16, help="the large batch size")
    ap.add_argument("--repeat", type=int, default=1, help="time every case this many times, interleaved, and "
                    "keep the best (the CPU may be shared)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    args = ap.parse_args(argv)
    check_flags(args, [("--new-tokens >= 1", args.new_tokens >= 1), ("--batch >= 2", args.batch >= 2),
                       ("--repeat >= 1", args.repeat >= 1)])
    return args


def tokenizer(path, vocab):
    """The tokenizer that makes the prompts, counted as `vocab` ids wide (the model's rows), and a note on it."""
    if path is None:
        path = LLAMA2 if LLAMA2.is_file() else TOY
    tok = model.Tokenizer(str(path))
    note = f"{path} ({tok.vocab_size} pieces)"
    if vocab < tok.vocab_size:
        raise UserError(f"need --vocab >= {tok.vocab_size}, the pieces of {path}")
    if Path(path) == TOY:
        note += f"; {LLAMA2} not found"
    # The rules' vectors and the seen set span the model's rows; ids past the pieces are never encoded
    tok.vocab_size = vocab
    return tok, note


def main(argv=None):
    args = settings(argv)
    torch.set_num_threads(args.threads)
    try:
        dev = torch.device(args.device)
    except RuntimeError as e:
        raise UserError(f"--device {args.device}: {e}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: torch sees no CUDA device here")
    tok, note = tokenizer(args.tokenizer, args.vocab)
    from transformers import LlamaForCausalLM, LogitsProcessorList
    from transformers.utils import logging
    logging.disable_progress_bar()
    n, B, prompts = args.new_tokens, args.batch, INSTRUCTIONS * (args.batch // len(INSTRUCTIONS) + 1)
    lengths = [len(chat.prompt_ids(tok, ins)[0]) for ins in prompts[:B]]
    small = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=2)
    shape = small if args.small else dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=6,
                                          num_attention_heads=6)
    torch.manual_seed(0)
    ours = model.Transformer(model.Config(vocab_size=tok.vocab_size, max_position_embeddings=max(lengths) + n,
                                          **shape))
    with torch.no_grad():
        ours.model.norm.weight.fill_(30.0)      # a confident model: logits spread over about +-70 ...
        ours.lm_head.weight[tok.eos_id] = 0     # ... and EOS's stays at 0, out of reach even with the ramp
    with tempfile.TemporaryDirectory() as d:
        ours.save_pretrained(os.path.join(d, "ck"))
        ours = model.Transformer.from_pretrained(os.path.join(d, "ck"), device=dev)
        hf = LlamaForCausalLM.from_pretrained(os.path.join(d, "ck"), dtype=torch.float32).to(dev).eval()
    print(f"model {ours.num_params() / 1e6:.1f}M parameters ({shape['num_hidden_layers']} layers, width "
          f"{shape['hidden_size']}), vocabulary {tok.vocab_size}; prompts by {note}; {n} new tokens per prompt; "
          f"batch 1 and {B}; {args.threads} thread{'s' * (args.threads > 1)} on {dev}; load average "
          f"{os.getloadavg()[0]:.2f}")
    expert = rules.RuleExpert(tok)

    outputs = {}                                    # the tokens of each case, to check they agree

    def run_ours(r, batch):
        ids = generate.generate_ids(ours, tok, prompts[:batch], max_new_tokens=n, rules=r, batch_size=batch)
        assert all(len(x) == n for x in ids), "a row stopped early"
        outputs[("ours", r is not None, batch)] = ids
        return batch * n

    def run_hf(batch, use_cache, procs=None):
        enc = [chat.prompt_ids(tok, ins)[0] for ins in prompts[:batch]]
        T = max(map(len, enc))
        ids = torch.tensor([[tok.eos_id] * (T - len(e)) + e for e in enc], device=dev)
        mask = torch.tensor([[0] * (T - len(e)) + [1] * len(e) for e in enc], device=dev)
        with torch.inference_mode():
            out = hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, do_sample=False,
                              use_cache=use_cache, logits_processor=LogitsProcessorList(procs or []),
                              pad_token_id=tok.eos_id, eos_token_id=tok.eos_id)
        assert out.shape[1] - T == n and not (out[:, T:] == tok.eos_id).any(), "a row stopped early"
        outputs[("hf", bool(procs), batch)] = out[:, T:].tolist()
        return batch * n

    def rules_only(batch):                          # the rules' own work in each decoding step, nothing else
        V = tok.vocab_size
        seen, length = torch.rand(batch, V, device=dev) < 0.005, torch.full((batch,), 100, device=dev)
        logp, nxt, rows = torch.randn(batch, V, device=dev), torch.zeros(batch, dtype=torch.long, device=dev), \
            torch.arange(batch, device=dev)
        for _ in range(n):
            logp + expert.scores(seen, length)
            seen[rows, nxt] = True
            length += 1
        return batch * n

    # The KV cache's mean length over the run: the prompt (left-padded to the batch's longest) and half the
    # new tokens
    cases = {("floor", 1): (floor, ours, 1, n, lengths[0] + n // 2),
             ("floor", B): (floor, ours, B, n, max(lengths) + n // 2),
             ("ours+rules", 1): (run_ours, expert, 1), ("ours", 1): (run_ours, None, 1),
             ("ours+rules", B): (run_ours, expert, B), ("ours", B): (run_ours, None, B),
             ("hf-cache", 1): (run_hf, 1, True), ("hf-cache", B): (run_hf, B, True),
             ("paper", 1): (run_hf, 1, False, [PaperRules(tok)]),
             ("rules alone", 1): (rules_only, 1), ("rules alone", B): (rules_only, B)}
    generate.generate_ids(ours, tok, prompts[:2], max_new_tokens=8, rules=expert, batch_size=2)     # warm up
    floor(ours, 2, 8, 16)
    res = dict.fromkeys(cases, 0.0)
    # With one CPU thread, the process's CPU time is the time the run would take on an idle machine, whatever
    # else shares the CPU; with more threads (or a GPU) only wall-clock time means anything.
    clock = time.process_time if args.threads == 1 and dev.type == "cpu" else time.perf_counter
    for _ in range(args.repeat):                    # interleaved, best of --repeat: the CPU may be shared
        for case, (fn, *a) in cases.items():
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = clock()
            tokens = fn(*a)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            res[case] = max(res[case], tokens / (clock() - t))
    report(res, outputs, B, args.repeat, clock is time.process_time)


def report(res, outputs, B, repeat, cpu_time):
    """The rates, the share of prompts on which the methods agree, and the goals with their measured values."""
    print(f"timed by {'the CPU time of this process' if cpu_time else 'the wall clock'}, best of {repeat}")

    def same(a, b):                                 # the share of rows with the same tokens
        return sum(x == y for x, y in zip(a, b)) / len(a)
    # The same greedy tokens, from both libraries: the paper's way (whole sequence, rules rescanned each step)
    # against ours (cached, rules carried), and transformers' cache against ours without rules.
    print(f"same tokens: ours+rules as paper {same(outputs['ours', True, 1], outputs['hf', True, 1]):.0%} of "
          f"prompts; ours as hf-cache: batch 1 {same(outputs['ours', False, 1], outputs['hf', False, 1]):.0%}, "
          f"batch {B} {same(outputs['ours', False, B], outputs['hf', False, B]):.0%}")
    print(f"{'tok/s':14s} {'batch 1':>10s} {'batch ' + str(B):>10s}")
    for name in dict.fromkeys(name for name, _ in res):
        cells = [f"{res[name, b]:10.1f}" if (name, b) in res else f"{'-':>10s}" for b in (1, B)]
        print(f"{name:14s} {' '.join(cells)}")

    def share(b):                                   # the rules' share of ours+rules' time
        return res["ours+rules", b] / res["rules alone", b]
    goals = [("ours+rules / floor, batch 1", res["ours+rules", 1] / res["floor", 1], ">=", 0.90),
             (f"ours+rules / floor, batch {B}", res["ours+rules", B] / res["floor", B], ">=", 0.85),
             ("ours+rules / hf-cache, batch 1", res["ours+rules", 1] / res["hf-cache", 1], ">=", 1.0),
             (f"ours+rules / hf-cache, batch {B}", res["ours+rules", B] / res["hf-cache", B], ">=", 1.0),
             ("rules' share of the time, batch 1", share(1), "<", 0.10),
             (f"rules' share of the time, batch {B}", share(B), "<", 0.10)]
    print("goals:")
    for name, value, sign, bound in goals:
        met = value >= bound if sign == ">=" else value < bound
        print(f"  {name:36s} {value:7.1%}   goal {sign:2s} {bound:4.0%}   {'met' if met else 'MISSED'}")
    cost = [res["ours", b] / res["ours+rules", b] - 1 for b in (1, B)]
    print(f"no goal: ours+rules / paper, batch 1: {res['ours+rules', 1] / res['paper', 1]:.2f}x; the rules' cost "
          f"from two whole runs (noisy), ours / ours+rules - 1: batch 1 {cost[0]:.1%}, batch {B} {cost[1]:.1%}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    cli(main)
