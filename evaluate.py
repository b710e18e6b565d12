"""Offline measurements of instruction following, no GPT-4 judge needed: checks and win rates, response ranking,
output statistics, Wu et al.'s attribution, IM diagnostics, and an optional judge. Each subcommand prints a
markdown table and, with --json, writes its results:  python evaluate.py SUBCOMMAND --help"""
import argparse
import math
import os
import random
import statistics
import sys

import torch
from tqdm import tqdm

from chat import build_prompt, instruction_span
from data import criteria
from data.criteria import VOICES, graded_files, output_stats, pass_rates, read_eval, read_voices
from generate import generate, generate_ids
from lib import judge
from model import Tokenizer, Transformer
from train import apply_mask, build_example, collate, token_nll
from lib.cli import UserError, check_flags, cli, subcommands
from lib.conversations import align, conversation, read_pairs
from lib.files import check_output, read_records, write_json
from lib.report import attribution_summary, bleu4, bootstrap_ci, conditions, pct, results_table, versus


# -------------------------------------------------------------------------------------- model scoring
@torch.no_grad()
def response_logprobs(model, examples, pad_id, batch_size=16, max_len=1024):
    """(sum of log p, count) of each (input_ids, labels) example's labelled tokens within max_len."""
    out, dev = [None] * len(examples), next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))       # similar lengths together
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        ids, labels = collate([(examples[i][0][:max_len], examples[i][1][:max_len]) for i in idx], pad_id)
        nll, mask = token_nll(model, ids.to(dev), labels.to(dev))                  # [B, T] each
        for r, i in enumerate(idx):
            out[i] = (-nll[r].double().sum().item(), int(mask[r].sum()))           # float64: ties stay ties
    return out


def ranking(model, tok, pairs, distractors=5, seed=0, batch_size=16, max_len=1024, groups=None):
    """Response ranking capability (Hewitt §4.2): how often p(y_i | x_i) > p(y_j | x_i) for distractors y_j,
    j != i, drawn with replacement (the paper's code drops a draw of i; here it is drawn again). 'code' compares
    exp(mean token log p) as Table 2's code does, 'eq3' the raw log p of Eq. 3; chance is 50%. Beyond the paper:
    with `groups`, distractors come from the pair's own group (family), so the responses' own likelihoods do not
    decide; 'swap', p(y_i | x_i) > p(y_i | x_j) on the same draws, holds the response fixed."""
    n, rnd, draws, members = len(pairs), random.Random(seed), [], {}
    for i in range(n):
        members.setdefault(groups[i] if groups else None, []).append(i)
    for i in range(n):
        pool, draws = members[groups[i] if groups else None], draws + [[]]
        while len(pool) > 1 and len(draws[i]) < distractors:
            j = pool[rnd.randrange(len(pool))]
            draws[i] += [j] if j != i else []
    # Skipped and reported: pairs whose prompt fills max_len, and groups of one (no distractor)
    keep = [i for i in range(n) if draws[i] and len(build_prompt(tok, pairs[i][0])) < max_len]
    if not keep:
        raise UserError(f"no pair has a distractor and an instruction that fits in --max-len {max_len} tokens")
    comparisons = [(i, j) for i in keep for j in draws[i]]
    need = sorted({(i, i) for i in keep} | set(comparisons) | {(j, i) for i, j in comparisons})
    ex = [build_example(tok, [{"role": "user", "content": pairs[i][0]},
                              {"role": "assistant", "content": pairs[j][1]}], "instruction") for i, j in need]
    sc = dict(zip(need, response_logprobs(model, ex, tok.eos_id, batch_size, max_len)))  # (i, j) -> (log p, n)
    code = [sc[i, i][0] / sc[i, i][1] > sc[i, j][0] / sc[i, j][1] for i, j in comparisons]
    eq3 = [sc[i, i][0] > sc[i, j][0] for i, j in comparisons]
    # The response's count is the same after both instructions (unless one is truncated): compare the means.
    swap = [sc[i, i][0] / sc[i, i][1] > sc[j, i][0] / max(1, sc[j, i][1]) for i, j in comparisons]
    res = {"pairs": len(keep), "skipped": n - len(keep), "comparisons": len(code),
           "code_mean_token_%": pct(code), "eq3_raw_logprob_%": pct(eq3), "swap_control_%": pct(swap)}
    # 95% intervals by the bootstrap over pairs (a pair's `distractors` comparisons, in a row, share them)
    for key, wins in (("code_mean_token", code), ("swap_control", swap)):
        per_pair = torch.tensor(wins, dtype=torch.float64).view(len(keep), distractors).mean(1)
        res[f"{key}_ci95_%"] = [100 * x for x in bootstrap_ci(per_pair.tolist())]
    if groups:
        res["by_group_code_%"] = {g: pct([c for c, (i, _) in zip(code, comparisons) if groups[i] == g])
                                  for g in sorted(members, key=str)}
    return res


@torch.no_grad()
def first_token_ranks(model, tok, pairs):
    """Rank of each response's first token among the model's next tokens after its chat prompt (0: its first
    choice). A median of 0-5: the model would start the answer by itself (§4.2); hundreds: it expects else."""
    dev, ranks = next(model.parameters()).device, []
    for ins, response in pairs:
        logits = model(torch.tensor([build_prompt(tok, ins)], device=dev), last=True)[0, -1]      # [V]
        ranks.append(int((logits > logits[tok.encode_next(response)[0]]).sum()))
    return ranks


def knowledge(model, tok, probes, instructions=None, batch_size=16, max_len=1024):
    """Does the model know the facts? The share of probes {"true": statement, "wrong": [statements]} whose true
    statement is the likeliest (raw log p, Eq. 3), with a bootstrap 95% interval: as plain text after BOS (the
    corpus's), or after each of `instructions`' chat prompt (what a question calls up). Chance: 1 in 1 + wrong."""
    texts = [[p["true"], *p["wrong"]] for p in probes]
    if instructions:
        ex = [build_example(tok, [{"role": "user", "content": ins}, {"role": "assistant", "content": t}],
                            "instruction") for ins, ts in zip(instructions, texts) for t in ts]
    else:
        ex = [apply_mask([(tok.encode(t, bos=True), "text")], "pretrain") for ts in texts for t in ts]
    logp = iter([s for s, _ in response_logprobs(model, ex, tok.eos_id, batch_size, max_len)])
    right = [next(logp) > max(next(logp) for _ in p["wrong"]) for p in probes]      # the true one, then the wrong
    return {"facts": len(right), "true_first_%": pct(right), "ci95_%": [100 * x for x in bootstrap_ci(right)]}


def response_nll(model, tok, convs, batch_size=16, max_len=1024):
    """Shi et al. §4.3: the mean over conversations of the responses' token-mean NLL (with EOS), whatever mode
    trained the model; those with no response token within max_len skipped, with a note."""
    examples = [build_example(tok, c, "instruction") for c in convs]
    scores = response_logprobs(model, examples, tok.eos_id, batch_size, max_len)
    kept = [-s / n for s, n in scores if n]
    if not kept:
        raise UserError(f"no conversation has a response token within --max-len {max_len}")
    if len(kept) < len(scores):
        print(f"note: {len(scores) - len(kept)} of {len(scores)} conversations skipped: their instruction "
              f"fills max_len={max_len}", file=sys.stderr)
    return statistics.mean(kept)


# ----------------------------------------------------------------------------------- attribution (Wu et al.)
def attribution_matrix(model, prompt_ids, resp_ids):
    """Wu et al. §4.1: I [P-1, M], I[n, m] = e_n . dp(y_m | prompt, y_<m)/de_n, gradient x input of the
    probability (not log p) for each prompt token n but BOS, a backward pass per response token m; freezes the
    parameters. RMSNorm is scale-invariant: e . d/de sees a token only via what layers add to its residual."""
    model.requires_grad_(False)
    dev, P, M = next(model.parameters()).device, len(prompt_ids), len(resp_ids)
    ids = torch.tensor([prompt_ids + resp_ids], device=dev)
    with torch.enable_grad():
        emb = model.model.embed_tokens(ids).detach().requires_grad_()           # [1, P+M, D]
        probs = model(embeds=emb)[0, P - 1:P - 1 + M].float().softmax(-1)      # [M, V]: p(. | Z_m)
        p_y, I = probs[torch.arange(M, device=dev), ids[0, P:]], torch.zeros(P - 1, M)      # [M], [P-1, M]
        for m in range(M):
            g, = torch.autograd.grad(p_y[m], emb, retain_graph=m < M - 1)
            I[:, m] = (g[0, 1:P] * emb.detach()[0, 1:P]).float().sum(-1).cpu()
    return I


def wu_score(I, ins_mask, L=10, b=7, p=4):
    """Wu et al. §4.2 on I [N, M] and the instruction mask [N]. Per output token (column), levels ceil(L * relu(I)
    / column max), kept where > b (inputs above 70% of the max); per input token a_n = ||S_n||_1 / ||S_n||_p, then
    a / max a. (score, share): Wu's sum_{n in ins} a_n / log2(2 + |ins|), and the instruction's share of sum a."""
    r = I.clamp(min=0)
    S = torch.ceil(L * r / (r.max(0, keepdim=True).values + 1e-9))
    S[S <= b] = 0
    a = S.sum(1) / (S.pow(p).sum(1).pow(1 / p) + 1e-9)
    a = a / (a.max() + 1e-9)
    ins = a[ins_mask].sum().item()
    return ins / math.log2(2 + int(ins_mask.sum())), ins / max(a.sum().item(), 1e-9)


def instruction_attribution(model, tok, instruction, resp_ids):
    """Wu's (score, share) of one response to the chat prompt."""
    prompt, (start, end) = build_prompt(tok, instruction), instruction_span(tok, instruction)
    position = torch.arange(1, len(prompt))                                     # BOS's row dropped
    mask = (position >= start) & (position < end)
    return wu_score(attribution_matrix(model, prompt, list(resp_ids)), mask)


def attribution(models, instructions, max_new_tokens=64, min_tokens=5, batch_size=16, progress=False):
    """Wu's protocol: each (model, tokenizer) on its own greedy responses to the prompts, those under min_tokens
    dropped: mean score and share, and the paired difference from the first model's (lib/report.py)."""
    per = []
    for model, tok in models:
        resps = generate_ids(model, tok, instructions, max_new_tokens=max_new_tokens, batch_size=batch_size)
        rows = tqdm(list(zip(instructions, resps)), disable=not progress, desc="attribution")
        per.append([instruction_attribution(model, tok, ins, r) if len(r) >= min_tokens else None
                    for ins, r in rows])
    return attribution_summary(per)


# ------------------------------------------------------------------------------------ one function a command
def load(args, checkpoint):
    return Transformer.from_pretrained(checkpoint, getattr(torch, args.dtype), args.device), Tokenizer(checkpoint)


def checks(args):
    ev, graded = graded_files(args.eval)
    return {f: {**pass_rates(ev, [p for p, _ in g]), "mean_grade_%": 100 * statistics.mean(s for _, s in g)}
            for f, g in ((f, graded(f)) for f in args.outputs)}


def winrates(args):
    _, graded = graded_files(args.eval)
    return {c: versus([(graded(f), graded(r)) for f, r in p]) for c, p in conditions(args.against, args.files).items()}


def rank(args):
    pairs = read_pairs(args.data)[:args.limit]
    model, tok = load(args, args.checkpoint)
    draws = (args.distractors, args.seed, args.batch_size, args.max_len)
    return {args.checkpoint: ranking(model, tok, pairs, *draws)}


def premise(args):
    """The premise (§4.2) on the eval set: does the model rank and start the answer; (--voices) in which voice?"""
    model, tok = load(args, args.checkpoint)
    ev = read_eval(args.eval)[:args.limit]
    pairs, families = [(r["instruction"], r["reference"]) for r in ev], [r.get("family") for r in ev]
    draws = (args.distractors, args.seed, args.batch_size, args.max_len)
    res = {"uniform": ranking(model, tok, pairs, *draws),
           "same_family": ranking(model, tok, pairs, *draws, families),
           "first_token_rank_median": statistics.median(first_token_ranks(model, tok, pairs))}
    if args.voices:                 # the fact records' references in three voices, and what the model knows
        facts = read_voices(args.voices)[:args.limit]
        for voice in VOICES:
            pairs = [(r["instruction"], r["voices"][voice]) for r in facts]
            res[f"same_family_{voice}_voice"] = ranking(model, tok, pairs, *draws, [r["family"] for r in facts])
        for where, asked in (("plain", None), ("chat", [r["instruction"] for r in facts])):
            res[f"knowledge_{where}"] = knowledge(model, tok, [r["knowledge"] for r in facts], asked, *draws[2:])
    return {args.checkpoint: res}


def stats(args):
    tok = Tokenizer(args.tokenizer) if args.tokenizer != "none" else None
    if not args.eval:
        return {f: output_stats(read_pairs(f), tok, args.max_new_tokens) for f in args.files}
    ev = read_eval(args.eval)
    ins, near = [r["instruction"] for r in ev], [r.get("near") for r in ev]
    return {f: output_stats(list(zip(ins, align(ins, f))), tok, args.max_new_tokens, near) for f in args.files}


def attribute(args):
    records = read_records(args.prompts)[:args.limit]
    ins = [conversation(w, r, need_response=False)[0]["content"] for w, r in records]
    models = [load(args, c) for c in args.checkpoints]
    return dict(zip(args.checkpoints, attribution(models, ins, args.max_new_tokens, args.min_tokens,
                                                  args.batch_size, progress=True)))


def im(args):
    train, held = ([conversation(w, r) for w, r in read_records(f)[:args.limit]]
                   for f in (args.train, args.heldout))
    res = {}
    for c in args.checkpoint:
        model, tok = load(args, c)
        res[c] = {k: response_nll(model, tok, x, args.batch_size, args.max_len) for k, x in
                  (("train_nll", train), ("heldout_nll", held))}
        if args.bleu:
            outs = generate(model, tok, [t[0]["content"] for t in train[:args.bleu]], batch_size=args.batch_size)
            res[c]["train_bleu4"] = statistics.mean(bleu4(o, t[1]["content"]) for o, t in zip(outs, train))
    return res


TOY_TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints", "toy-base")


def parser():
    """A subcommand per measurement: its function, its flags (shared ones by group, lib/cli.py), its help."""
    ap = argparse.ArgumentParser(description=__doc__ + "\n" + criteria.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd = subcommands(ap)
    p = cmd("checks", checks, "Pass rates of output files on the eval set's criteria, overall and per family; the "
            "mean graded score (partial credit) as a diagnostic.", "eval")
    p.add_argument("outputs", nargs="+", help="output files (AlpacaEval list: instruction, output)")
    cmd("winrate", winrates, "Win rates against the same seed's references, decided by passes (else a tie): wins / "
        "(wins + losses), its bootstrap 95% interval, the ties' share, ties as half (§3).", "eval", "versus")
    p = cmd("rank", rank, "Response ranking (Hewitt §4.2), the code's and Eq. 3's.", "model", "ranking")
    p.add_argument("--data", required=True, help="(instruction, response) pairs: messages, Alpaca, AlpacaEval")
    p.add_argument("--limit", type=int, default=1000, help="only the first N pairs (the paper's --max_examples)")
    p = cmd("premise", premise, "The premise (§4.2): ranking, its controls, the first-token rank.", "eval", "model",
            "ranking")
    p.add_argument("--voices", help="fact records in three voices (data/toy/voices-eval.jsonl): same-family "
                   "ranking in each voice, and the knowledge probe (plain text, after the chat prompt)")
    p.add_argument("--limit", type=int, help="use only the first N records")
    p = cmd("stats", stats, "Output statistics: length, EOS, repetition, restating, single-task style.")
    p.add_argument("files", nargs="+", help="output files (AlpacaEval list, or messages JSONL)")
    p.add_argument("--tokenizer", default=TOY_TOKENIZER, help="for lengths in tokens; 'none': in words")
    p.add_argument("--max-new-tokens", type=int, default=128, help="the decoding cap: shorter outputs met EOS")
    p.add_argument("--eval", help="toy eval set: also split the style by the records' 'near' task")
    p = cmd("attribution", attribute, "Wu et al.'s attribution, each model on its own greedy outputs.", "model")
    p.add_argument("--checkpoints", nargs="+", required=True, help="checkpoint directories, the base first")
    p.add_argument("--prompts", "--eval", required=True, help="instructions: eval set, AlpacaEval or messages")
    p.add_argument("--max-new-tokens", type=int, default=64, help="response length cap (Wu: 200-300)")
    p.add_argument("--min-tokens", type=int, default=5, help="drop shorter responses (Wu: 5)")
    p.add_argument("--limit", type=int, default=50, help="only the first N prompts (a backward pass per token)")
    p = cmd("im", im, "IM diagnostics (Shi et al.): response NLL on train and held-out data, BLEU-4.", "model")
    p.add_argument("--checkpoint", nargs="+", required=True, help="checkpoint directories (e.g. IT and IM)")
    p.add_argument("--train", required=True, help="the training set (messages JSONL)")
    p.add_argument("--heldout", required=True, help="held-out conversations (messages JSONL)")
    p.add_argument("--bleu", type=int, default=0, help="BLEU-4 of greedy outputs on the first N train prompts")
    p.add_argument("--limit", type=int, help="use only the first N conversations of each file")
    p = cmd("judge", judge.win_rates, "Win rates from a pairwise judge at an OpenAI-compatible URL.", "versus")
    judge.add_arguments(p)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    check_flags(args)
    if args.json:
        check_output(args.json, overwrite=args.overwrite)       # before the work, not after it
    res = args.run(args)
    print(results_table(res))
    if args.json:
        write_json(args.json, res)


if __name__ == "__main__":
    cli(main)
