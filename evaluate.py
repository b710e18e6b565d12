"""Offline measurements of instruction following, no GPT-4 judge needed: checks and win rates, response ranking,
output statistics, Wu et al.'s attribution, IM diagnostics, and an optional judge. Each subcommand prints a
markdown table and, with --json, writes its results:  python evaluate.py SUBCOMMAND --help
"""
import argparse
import math
import os
import random
import statistics
import sys
from collections import Counter

import torch
from tqdm import tqdm

from chat import build_prompt, instruction_span
from data import criteria
from data.criteria import check, first_lines, graded_files, output_stats, pass_rates, read_eval
from generate import generate, generate_ids
from lib import judge
from model import Tokenizer, Transformer
from train import build_example, collate, token_nll
from lib.cli import Help, UserError, check_flags, cli
from lib.conversations import align, conversation, read_pairs
from lib.files import check_output, read_records, write_json
from lib.report import bootstrap_ci, conditions, pct, results_table, versus


# -------------------------------------------------------------------------------------- model scoring
@torch.no_grad()
def response_logprobs(model, examples, pad_id, batch_size=16, max_len=1024):
    """(sum of log p, count) over the labelled tokens of each (input_ids, labels) example, truncated to max_len,
    batched as train.py batches them (right-padded with pad_id)."""
    out, dev = [None] * len(examples), next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))       # similar lengths together
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        ids, labels = collate([(examples[i][0][:max_len], examples[i][1][:max_len]) for i in idx], pad_id)
        nll, mask = token_nll(model, ids.to(dev), labels.to(dev))                  # [B, T] each
        for r, i in enumerate(idx):
            # float64: ties stay ties
            out[i] = (-nll[r].double().sum().item(), int(mask[r].sum()))
    return out


def ranking(model, tok, pairs, distractors=5, seed=0, batch_size=16, max_len=1024, groups=None):
    """Response ranking capability (Hewitt §4.2): how often p(y_i | x_i) > p(y_j | x_i) for distractors y_j
    drawn uniformly with replacement, j != i (a draw of i is drawn again; the paper's code drops it, leaving
    that pair fewer distractors). On the same draws, 'code' compares exp(mean token log p) as Table 2's code
    does, 'eq3' the raw sequence log p of Eq. 3; chance is 50%. Beyond the paper: with `groups` (each pair's
    family), distractors come from the pair's own group, so that the responses' own likelihoods (which differ
    far more across the toy world's families than across Alpaca's responses) do not decide; and 'swap', the
    control p(y_i | x_i) > p(y_i | x_j) on the same draws, holds the response fixed so its likelihood cancels."""
    n, rnd, draws, members = len(pairs), random.Random(seed), [], {}
    for i in range(n):
        members.setdefault(groups[i] if groups else None, []).append(i)
    for i in range(n):
        pool, draws = members[groups[i] if groups else None], draws + [[]]
        while len(pool) > 1 and len(draws[i]) < distractors:
            j = pool[rnd.randrange(len(pool))]
            draws[i] += [j] if j != i else []
    # Pairs whose prompt alone fills max_len have no response token to score, and a group of one has no
    # distractor: skipped, and reported.
    keep = [i for i in range(n) if draws[i] and len(build_prompt(tok, pairs[i][0])) < max_len]
    if not keep:
        raise UserError(f"no pair has a distractor and an instruction that fits in --max-len {max_len} tokens")
    comparisons = [(i, j) for i in keep for j in draws[i]]
    need = sorted({(i, i) for i in keep} | set(comparisons) | {(j, i) for i, j in comparisons})
    ex = [build_example(tok, [{"role": "user", "content": pairs[i][0]},
                              {"role": "assistant", "content": pairs[j][1]}], "instruction") for i, j in need]
    # (i, j) -> (sum of log p, count) of response j after instruction i
    sc = dict(zip(need, response_logprobs(model, ex, tok.eos_id, batch_size, max_len)))
    code = [sc[i, i][0] / sc[i, i][1] > sc[i, j][0] / sc[i, j][1] for i, j in comparisons]
    eq3 = [sc[i, i][0] > sc[i, j][0] for i, j in comparisons]
    # The response's count is the same after both instructions (unless one is truncated): compare the means.
    swap = [sc[i, i][0] / sc[i, i][1] > sc[j, i][0] / max(1, sc[j, i][1]) for i, j in comparisons]
    res = {"pairs": len(keep), "skipped": n - len(keep), "comparisons": len(code),
           "code_mean_token_%": pct(code), "eq3_raw_logprob_%": pct(eq3), "swap_control_%": pct(swap)}
    # 95% intervals by the bootstrap over pairs (a pair's comparisons share its instruction and reference); each
    # kept pair has `distractors` comparisons, in a row
    for key, wins in (("code_mean_token", code), ("swap_control", swap)):
        per_pair = torch.tensor(wins, dtype=torch.float64).view(len(keep), distractors).mean(1)
        res[f"{key}_ci95_%"] = [100 * x for x in bootstrap_ci(per_pair.tolist())]
    if groups:
        res["by_group_code_%"] = {g: pct([c for c, (i, _) in zip(code, comparisons) if groups[i] == g])
                                  for g in sorted(members, key=str)}
    return res


@torch.no_grad()
def first_token_ranks(model, tok, pairs):
    """Rank of each response's first token among the model's next tokens after its chat prompt (0: the
    model's first choice). A median of 0-5 says the model would start the answer by itself (the paper's
    premise, §4.2), hundreds that it expects something else."""
    dev, ranks = next(model.parameters()).device, []
    for ins, response in pairs:
        logits = model(torch.tensor([build_prompt(tok, ins)], device=dev), last=True)[0, -1]      # [V]
        ranks.append(int((logits > logits[tok.encode_next(response)[0]]).sum()))
    return ranks


def response_nll(model, tok, convs, batch_size=16, max_len=1024):
    """Shi et al. §4.3: the mean over conversations of the token-mean NLL of the responses + EOS, whatever mode
    trained the model. Conversations with no response token within max_len are skipped, with a note."""
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
    probability (not log p) for each prompt token n but BOS, one backward pass per response token m. Freezes
    the parameters. RMSNorm is scale-invariant: e . d/de sees a token only via what layers add to its
    residual."""
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
    """Wu et al. §4.2 on I [N, M] and the instruction mask [N]. Per output token (column), integer levels
    ceil(L * relu(I) / column max), kept where > b (b = 7: inputs above 70% of the max); per input token the
    density a_n = ||S_n||_1 / ||S_n||_p with p = 4, then a / max a. Returns (score, share): Wu's instruction
    score sum_{n in ins} a_n / log2(2 + |ins|), and the instruction's share of sum a."""
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
    position = torch.arange(len(prompt))
    mask = ((position >= start) & (position < end))[1:]                        # BOS row dropped
    return wu_score(attribution_matrix(model, prompt, list(resp_ids)), mask)


def attribution(models, instructions, max_new_tokens=64, min_tokens=5, batch_size=16, progress=False):
    """Wu's protocol: each (model, tokenizer) is scored on its own greedy responses to the same prompts, those
    under min_tokens dropped. Mean score and share; the paired difference from the first model's score with a
    bootstrap 95% interval."""
    per, out = [], []
    for model, tok in models:
        resps = generate_ids(model, tok, instructions, max_new_tokens=max_new_tokens, batch_size=batch_size)
        rows = tqdm(list(zip(instructions, resps)), disable=not progress, desc="attribution")
        per.append([instruction_attribution(model, tok, ins, r) if len(r) >= min_tokens else None
                    for ins, r in rows])
    for k, rows in enumerate(per):
        kept = [x for x in rows if x is not None]
        d = torch.tensor([x[0] - y[0] for x, y in zip(rows, per[0]) if x and y], dtype=torch.float64)
        ci = bootstrap_ci(d.tolist()) if k and len(d) > 1 else None
        out.append({"n": len(kept), "score": statistics.mean(x[0] for x in kept) if kept else None,
                    "share_%": 100 * statistics.mean(x[1] for x in kept) if kept else None,
                    "diff_vs_first": d.mean().item() if k and len(d) else None, "diff_ci95": ci})
    return out


def bleu4(hyp, ref):
    """Sentence BLEU-4 (x100) on whitespace words: clipped n-gram precisions for n = 1..4, add-one smoothing
    for n > 1, brevity penalty. Shi et al. Table 2 use it on greedy outputs for training prompts."""
    h, r, logp = hyp.split(), ref.split(), 0.0
    for n in range(1, 5):
        hg, rg = (Counter(tuple(w[i:i + n]) for i in range(len(w) - n + 1)) for w in (h, r))
        match, total, add = sum((hg & rg).values()), max(len(h) - n + 1, 0), int(n > 1)
        if match + add == 0:
            return 0.0
        logp += math.log((match + add) / (total + add)) / 4
    return 100 * math.exp(min(0.0, 1 - len(r) / len(h)) + logp)


# ------------------------------------------------------------------------------------ one function a command
def load(args, checkpoint):
    """(model, tokenizer) of a checkpoint, on the command's --device and --dtype."""
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
    """The paper's premise (§4.2) for one model on the eval set: does it already rank and start the answer?"""
    model, tok = load(args, args.checkpoint)
    ev = read_eval(args.eval)[:args.limit]
    pairs, families = [(r["instruction"], r["reference"]) for r in ev], [r.get("family") for r in ev]
    draws = (args.distractors, args.seed, args.batch_size, args.max_len)
    res = {"uniform": ranking(model, tok, pairs, *draws),
           "same_family": ranking(model, tok, pairs, *draws, families),
           "first_token_rank_median": statistics.median(first_token_ranks(model, tok, pairs))}
    if args.outputs:
        outs = align([r["instruction"] for r in ev], args.outputs)
        res["checks_%"] = pct([check(o, r["criterion"]) for o, r in zip(outs, ev)])
        res["first_lines_%"] = first_lines(outs)
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


COMMANDS = {"checks": checks, "winrate": winrates, "rank": rank, "premise": premise, "stats": stats,
            "attribution": attribute, "im": im, "judge": judge.win_rates}
TOY_TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints", "toy-base")


def parser():
    """The command line: a subcommand per measurement (COMMANDS), each with --help."""
    ap = argparse.ArgumentParser(description=__doc__ + "\n" + criteria.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    # Flags several commands share: JSON output, eval set, files compared, model settings, ranking's draws
    out, ev, vs, lm, rk = (argparse.ArgumentParser(add_help=False) for _ in range(5))
    out.add_argument("--json", help="also write the results to this JSON file")
    out.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    ev.add_argument("--eval", required=True, help="toy eval set JSONL (instruction, family, near, criterion)")
    vs.add_argument("--against", required=True, help="reference outputs (IT), comma-separated, one per seed")
    vs.add_argument("--files", action="append", required=True, help="outputs of one condition, comma-separated,"
                    " one per seed or one against every seed; repeat for more conditions")
    lm.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    lm.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights' dtype")
    lm.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    lm.add_argument("--max-len", type=int, default=1024, help="truncate sequences to N tokens (paper: 1024)")
    rk.add_argument("--checkpoint", required=True, help="HF checkpoint directory")
    rk.add_argument("--distractors", type=int, default=5, help="distractor responses per pair (paper: 5)")
    rk.add_argument("--seed", type=int, default=0, help="seed of the distractor draws (paper: 0)")

    def cmd(name, text, *parents):
        return sub.add_parser(name, help=text, description=text, parents=[out, *parents], formatter_class=Help)

    p = cmd("checks", "Pass rate of output files on the eval set's criteria, overall and per family; the mean graded "
            "score (criteria.grade's partial credit) as a diagnostic, never in a win rate.", ev)
    p.add_argument("outputs", nargs="+", help="output files (AlpacaEval list: instruction, output)")
    cmd("winrate", "Win rates against references of the same seed, decided by passes: a pass beats a fail, two "
        "passes or two fails tie. The rate is wins / (wins + losses) (n/a without a decisive pair) with its paired "
        "bootstrap interval (95 in 100); beside it the ties' share and the paper's rate (ties half, Hewitt §3).",
        ev, vs)
    p = cmd("rank", "Response ranking capability (Hewitt §4.2): paper-code and Eq. 3 variants.", lm, rk)
    p.add_argument("--data", required=True, help="(instruction, response) pairs: messages, Alpaca, AlpacaEval")
    p.add_argument("--limit", type=int, default=1000, help="only the first N pairs (the paper's --max_examples)")
    p = cmd("premise", "The paper's premise (§4.2): ranking (uniform and same-family distractors), the swap "
            "control, the reference's first-token rank.", ev, lm, rk)
    p.add_argument("--outputs", help="the model's outputs on --eval: also its checks and first lines")
    p.add_argument("--limit", type=int, help="use only the first N records")
    p = cmd("stats", "Output statistics: length, EOS, repetition, restating, single-task style.")
    p.add_argument("files", nargs="+", help="output files (AlpacaEval list, or messages JSONL)")
    p.add_argument("--tokenizer", default=TOY_TOKENIZER, help="for lengths in tokens; 'none': in words")
    p.add_argument("--max-new-tokens", type=int, default=128, help="the decoding cap: shorter outputs met EOS")
    p.add_argument("--eval", help="toy eval set: also split the style by the records' 'near' task")
    p = cmd("attribution", "Wu et al.'s instruction attribution, each model on its own greedy responses.", lm)
    p.add_argument("--checkpoints", nargs="+", required=True, help="checkpoint directories, the base first")
    p.add_argument("--prompts", "--eval", required=True, help="instructions: eval set, AlpacaEval or messages")
    p.add_argument("--max-new-tokens", type=int, default=64, help="response length cap (Wu: 200-300)")
    p.add_argument("--min-tokens", type=int, default=5, help="drop shorter responses (Wu: 5)")
    p.add_argument("--limit", type=int, default=50, help="only the first N prompts (a backward pass per token)")
    p = cmd("im", "IM diagnostics (Shi et al.): response-only NLL on train and held-out data, BLEU-4.", lm)
    p.add_argument("--checkpoint", nargs="+", required=True, help="checkpoint directories (e.g. IT and IM)")
    p.add_argument("--train", required=True, help="the training set (messages JSONL)")
    p.add_argument("--heldout", required=True, help="held-out conversations (messages JSONL)")
    p.add_argument("--bleu", type=int, default=0, help="BLEU-4 of greedy outputs on the first N train prompts")
    p.add_argument("--limit", type=int, help="use only the first N conversations of each file")
    p = cmd("judge", "Win rates from a pairwise judge at an OpenAI-compatible endpoint (cached).", vs)
    judge.add_arguments(p)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    check_flags(args)
    if args.json:
        check_output(args.json, overwrite=args.overwrite)       # before the work, not after it
    res = COMMANDS[args.cmd](args)
    print(results_table(res))
    if args.json:
        write_json(args.json, res)


if __name__ == "__main__":
    cli(main)
