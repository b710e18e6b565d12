"""Decoding speed of generate.py against the paper's approach, transformers' cached generate and the machine's floor.

    python bench/bench_generate.py            # random Llama-shaped model: Llama-2 vocabulary, 6 layers, width 384
    python bench/bench_generate.py --small    # 2 layers, width 128: a quick check

All in one run, on the same random model (written once as an HF checkpoint and loaded by both libraries), the same
prompts and the same number of new tokens:
  ours+rules   generate.py with the paper's three rules (eos, uniform, diversity)
  ours         generate.py without rules
  paper        transformers generate(use_cache=False) with the rules as a logits processor that rescans the whole
               sequence at every step, batch size 1: what the paper's code does (open_instruct/combined_model.py)
  hf-cache     transformers generate with its KV cache, no rules
  floor        only the weight products of one decoding step (every linear layer and lm_head), no attention, no
               Python, no sampling: what a decoder bound by its matrix products cannot beat
On a shared CPU use --threads 1: the rates are then computed from this process's CPU time, which other work on
the machine barely changes (with several threads, threads waiting on each other make wall-clock rates erratic).
The final norm's weight is scaled up so the random model is confident (as a trained one is), and EOS's logit is 0,
so that it is never reached, even with the EOS ramp: every method decodes exactly --new-tokens tokens per prompt, which the script checks.
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

LLAMA2 = ROOT.parent / "shared" / "tokenizers" / "llama2" / "tokenizer.model"
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


def floor(m, batch, steps):
    """Only the weight products of `steps` decoding steps at `batch` rows; returns the tokens decoded."""
    c = m.config
    dev = m.lm_head.weight.device
    x, xi = torch.randn(batch, c.hidden_size, device=dev), torch.randn(batch, c.intermediate_size, device=dev)
    mats = [(x, lin.weight) for layer in m.model.layers for lin in (
        layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.o_proj,
        layer.mlp.gate_proj, layer.mlp.up_proj)] + [(xi, layer.mlp.down_proj.weight) for layer in m.model.layers]
    mats.append((x, m.lm_head.weight))
    with torch.inference_mode():
        for _ in range(steps):
            for a, w in mats:
                F.linear(a, w)
    return batch * steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="2 layers, width 128: a quick run")
    ap.add_argument("--tokenizer", default=str(LLAMA2), help="SentencePiece model (the vocabulary of the model)")
    ap.add_argument("--new-tokens", type=int, default=256, help="new tokens per prompt")
    ap.add_argument("--paper-tokens", type=int, default=None, help="new tokens for the slow paper approach "
                    "(default: --new-tokens)")
    ap.add_argument("--batch", type=int, default=16, help="the large batch size")
    ap.add_argument("--repeat", type=int, default=1, help="time every case this many times, interleaved, and "
                    "keep the best (the CPU may be shared)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if not os.path.isfile(args.tokenizer):
        sys.exit(f"error: {args.tokenizer}: tokenizer not found (pass --tokenizer)")
    from transformers import LlamaForCausalLM, LogitsProcessorList
    tok = model.Tokenizer(args.tokenizer)
    shape = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=2) if args.small \
        else dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=6)
    torch.manual_seed(0)
    ours = model.Transformer(model.Config(vocab_size=tok.vocab_size, max_position_embeddings=1024, **shape))
    with torch.no_grad():
        ours.model.norm.weight.fill_(30.0)      # a confident model: logits spread over about +-70 ...
        ours.lm_head.weight[tok.eos_id] = 0     # ... and EOS's stays at 0, out of reach even with the ramp
    with tempfile.TemporaryDirectory() as d:
        ours.save_pretrained(os.path.join(d, "ck"), tokenizer=tok)
        ours = model.Transformer.from_pretrained(os.path.join(d, "ck"), device=dev)
        hf = LlamaForCausalLM.from_pretrained(os.path.join(d, "ck"), dtype=torch.float32).to(dev).eval()
    n, B, prompts = args.new_tokens, args.batch, INSTRUCTIONS * (args.batch // len(INSTRUCTIONS) + 1)
    print(f"model {ours.num_params() / 1e6:.1f}M parameters ({shape}), vocabulary {tok.vocab_size}; {n} new "
          f"tokens; batch 1 and {B}; {args.threads} threads on {dev}; load average {os.getloadavg()[0]:.2f}")
    expert = rules.RuleExpert(tok)

    outputs = {}                                    # the tokens of each case, to check they agree

    def run_ours(r, batch, k=n):
        ids = generate.generate_ids(ours, tok, prompts[:batch], max_new_tokens=k, rules=r, batch_size=batch)
        assert all(len(x) == k for x in ids), "a row stopped early"
        outputs[("ours", r is not None, batch, k)] = ids
        return batch * k

    def run_hf(batch, use_cache, procs=None, k=n):
        enc = [chat.prompt_ids(tok, ins)[0] for ins in prompts[:batch]]
        T = max(map(len, enc))
        ids = torch.tensor([[tok.eos_id] * (T - len(e)) + e for e in enc], device=dev)
        mask = torch.tensor([[0] * (T - len(e)) + [1] * len(e) for e in enc], device=dev)
        with torch.inference_mode():
            out = hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=k, do_sample=False,
                              use_cache=use_cache, logits_processor=LogitsProcessorList(procs or []),
                              pad_token_id=tok.eos_id, eos_token_id=tok.eos_id)
        assert out.shape[1] - T == k and not (out[:, T:] == tok.eos_id).any(), "a row stopped early"
        outputs[("hf", bool(procs), batch, k)] = out[:, T:].tolist()
        return batch * k

    def rules_only(batch, steps):                   # the rules' own work in a decoding step, nothing else
        V = tok.vocab_size
        seen, length = torch.rand(batch, V, device=dev) < 0.005, torch.full((batch,), 100, device=dev)
        logp, nxt, rows = torch.randn(batch, V, device=dev), torch.zeros(batch, dtype=torch.long, device=dev), \
            torch.arange(batch, device=dev)
        for _ in range(steps):
            logp + expert.scores(seen, length)
            seen[rows, nxt] = True
            length += 1
        return batch * steps

    pk = args.paper_tokens or n
    cases = {"floor b1": (floor, ours, 1, n), f"floor b{B}": (floor, ours, B, n),
             "ours+rules b1": (run_ours, expert, 1), "ours b1": (run_ours, None, 1),
             f"ours+rules b{B}": (run_ours, expert, B), f"ours b{B}": (run_ours, None, B),
             "hf-cache b1": (run_hf, 1, True), f"hf-cache b{B}": (run_hf, B, True),
             "paper b1": (run_hf, 1, False, [PaperRules(tok)], pk),
             "rules alone b1": (rules_only, 1, n), f"rules alone b{B}": (rules_only, B, n)}
    run_ours(expert, 2, 8), run_hf(2, True, k=8), floor(ours, 2, 8)      # warm up
    res = dict.fromkeys(cases, 0.0)
    # With one CPU thread, the process's CPU time is the time the run would take on an idle machine, whatever
    # else shares the CPU; with more threads (or a GPU) only wall-clock time means anything.
    clock = time.process_time if args.threads == 1 and dev.type == "cpu" else time.perf_counter
    for _ in range(args.repeat):                    # interleaved, best of --repeat: the CPU may be shared
        for name, (fn, *a) in cases.items():
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = clock()
            tokens = fn(*a)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            res[name] = max(res[name], tokens / (clock() - t))
    print(f"timed by {'CPU time of this process' if clock is time.process_time else 'wall clock'}, best of "
          f"{args.repeat}")
    # The same greedy tokens, from both libraries: the paper's way (whole sequence, rules rescanned each step)
    # against ours (cached, rules carried), and transformers' cache against ours without rules.
    def same(a, b):                                 # the share of rows with the same tokens
        return sum(x == y for x, y in zip(a, b)) / len(a)

    def first(ids, k):
        return [row[:k] for row in ids]
    print(f"  same tokens as the paper's approach (first {pk}): "
          f"{same(first(outputs['ours', True, 1, n], pk), outputs['hf', True, 1, pk]):.0%} of prompts; "
          f"as hf-cache without rules: b1 {same(outputs['ours', False, 1, n], outputs['hf', False, 1, n]):.0%}, "
          f"b{B} {same(outputs['ours', False, B, n], outputs['hf', False, B, n]):.0%}")
    for k, v in res.items():
        print(f"  {k:18s} {v:9.1f} tok/s" + (f"   ({pk} new tokens)" if k == "paper b1" and pk != n else ""))
    ratios = [
        ("ours+rules / paper, b1", res["ours+rules b1"] / res["paper b1"], "> 1"),
        ("ours+rules / floor, b1", res["ours+rules b1"] / res["floor b1"], ">= 0.90"),
        (f"ours+rules / floor, b{B}", res[f"ours+rules b{B}"] / res[f"floor b{B}"], ">= 0.85"),
        ("ours+rules / hf-cache, b1", res["ours+rules b1"] / res["hf-cache b1"], ">= 1"),
        (f"ours+rules / hf-cache, b{B}", res[f"ours+rules b{B}"] / res[f"hf-cache b{B}"], ">= 1"),
        ("rules' share of the time, b1", res["ours+rules b1"] / res["rules alone b1"], "< 0.10"),
        (f"rules' share of the time, b{B}", res[f"ours+rules b{B}"] / res[f"rules alone b{B}"], "< 0.10"),
        ("ours / ours+rules - 1, b1", res["ours b1"] / res["ours+rules b1"] - 1, "< 0.10 (noisy)"),
        (f"ours / ours+rules - 1, b{B}", res[f"ours b{B}"] / res[f"ours+rules b{B}"] - 1, "< 0.10 (noisy)"),
        (f"ours+rules b{B} / b1", res[f"ours+rules b{B}"] / res["ours+rules b1"], "issue: >= 6")]
    for name, v, goal in ratios:
        print(f"  {name:32s} {v:7.2f}   goal {goal}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
