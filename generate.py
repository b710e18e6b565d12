"""Generate responses to instructions, optionally with the rule-based expert multiplied in (Hewitt et al. §6):

  python generate.py --rules eos,uniform,diversity     # the toy base model + the paper's three rules
  python generate.py --checkpoint runs/response        # a response-tuned model (train.py --mode response)

The prompt is the Tulu chat prompt (chat.py); decoding is KV-cached and batched with left padding,
greedy unless --temperature > 0. Output: an AlpacaEval list of {instruction, output, generator, dataset}.
"""
import argparse
import functools

import torch
from tqdm import tqdm

from model import KVCache, Tokenizer, Transformer
from rules import PAPER_RULES, RuleExpert, parse_rules
from chat import prompt_ids
from lib.cli import RawHelp, cli, parse
from lib.generation import argmax, check_room, context, instruction_generator, open_output, threads


def pick(logp, temperature, top_p, gens):
    """Next token [B] from log-scores [B, V]: argmax, or a sample at `temperature` from the top-p nucleus, row b
    drawn with gens[b] (a generator per instruction: its draws do not depend on the rows decoded beside it)."""
    if temperature == 0:
        return argmax(logp)
    probs = torch.softmax(logp / temperature, -1)
    if top_p < 1:                               # keep the smallest set of tokens whose mass reaches top_p
        p, i = probs.sort(-1, descending=True)
        probs = torch.zeros_like(probs).scatter_(-1, i, p * (p.cumsum(-1) - p < top_p))
    # Inverse CDF: each row's uniform draw u [B, 1] picks the first token whose cumulative mass exceeds u
    cdf = probs.cumsum(-1)                                                  # [B, V], unnormalised
    u = torch.cat([torch.rand(1, generator=g) for g in gens]).to(cdf)[:, None] * cdf[:, -1:]
    return torch.searchsorted(cdf, u, side="right")[:, 0].clamp(max=cdf.shape[1] - 1)


def prefill(model, ids, cache):
    """The left-padded prompts [B, T] at once, filling the cache: each row's next-token logits [B, V']."""
    return model(ids, cache=cache, last=True)[:, -1]


def decode_one_token(model, token, cache):
    """One new token per row [B] through the model, continuing the cache: the logits [B, V'] of the next."""
    return model(token[:, None], cache=cache)[:, -1]


@torch.inference_mode()
def decode(model, tok, prompts, starts, *, max_new_tokens, rules, temperature, top_p, gens):
    """Response ids [B, <= max_new_tokens] (EOS after a row's end) for a batch of prompt id lists; `starts`,
    each prompt's first instruction token. A row also ends where it fills the model's context."""
    dev = next(model.parameters()).device
    B, T = len(prompts), max(map(len, prompts))
    # As the paper's code: the smaller of the two vocabularies.
    V = min(model.config.vocab_size, tok.vocab_size)
    pad = torch.tensor([T - len(p) for p in prompts], device=dev)                     # [B] left padding
    ids = torch.tensor([[tok.eos_id] * (T - len(p)) + p for p in prompts], device=dev)  # [B, T]
    seen = torch.zeros(B, V, dtype=torch.bool, device=dev)  # [B, V] diversity state: tokens present so far
    if rules is not None and not rules.response_only:       # the code: from the first instruction token on
        for b, (p, s) in enumerate(zip(prompts, starts)):
            seen[b, [i for i in p[s:] if i < V]] = True
    length = torch.zeros(B, dtype=torch.long, device=dev)   # [B] response tokens so far (L of the EOS rule)
    room = torch.tensor([min(max_new_tokens, context(model) - len(p)) for p in prompts], device=dev)   # [B]
    steps = int(room.max())
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    # [B, T + steps]: the prompt (-1 for its left padding), then the response (EOS after a row's end); a rule may
    # look back on it
    history = torch.cat([ids.masked_fill(torch.arange(T, device=dev) < pad[:, None], -1),
                         torch.full((B, steps), tok.eos_id, dtype=torch.long, device=dev)], 1)
    rows = torch.arange(B, device=dev)
    cache = KVCache(model, B, T + steps, pad=pad)
    logits = prefill(model, ids, cache)
    for t in range(steps):
        # [B, V] log p_base(w | x) in fp32, up to its normaliser: a constant per row, which neither the argmax
        # nor a sample sees (the paper's code subtracts it with a log_softmax; skipping it saves a pass over V)
        logp = logits[:, :V].float()
        # The product of experts, Eq. 4, up to a constant per row (the rules' normaliser is dropped too).
        if rules is not None:
            logp = logp + rules.scores(seen, length, history[:, :T + t])
        nxt = pick(logp, temperature, top_p, gens).masked_fill_(done, tok.eos_id)       # [B]
        history[:, T + t] = nxt
        seen[rows, nxt] = True
        length += ~done
        done |= (nxt == tok.eos_id) | (length >= room)
        if t + 1 == steps or done.all():
            break
        logits = decode_one_token(model, nxt, cache)
    return history[:, T:]


def generate_ids(model, tok, instructions, *, max_new_tokens=256, rules=None, batch_size=16, temperature=0.0,
                 top_p=1.0, seed=0, progress=False):
    """Response token ids (EOS excluded) for each instruction, in order. `rules` is a RuleExpert or None.
    Prompts are batched by length, so a batch holds little padding."""
    prompts = [prompt_ids(tok, ins) for ins in instructions]
    check_room(max((len(p) for p, _ in prompts), default=0), max_new_tokens, context(model))
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i][0]))
    result = [None] * len(prompts)
    with tqdm(total=len(prompts), desc="generate", unit="ins", disable=not progress) as bar:
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            out = decode(model, tok, [prompts[i][0] for i in idx], [prompts[i][1] for i in idx],
                         max_new_tokens=max_new_tokens, rules=rules, temperature=temperature, top_p=top_p,
                         gens=[instruction_generator(seed, instructions[i]) for i in idx] if temperature else None
                         ).tolist()
            for i, row in zip(idx, out):
                result[i] = row[:row.index(tok.eos_id)] if tok.eos_id in row else row
            bar.update(len(idx))
    return result


def generate(model, tok, instructions, **settings):
    """Responses (text) to instructions, in order; the settings as generate_ids'."""
    return [tok.decode(r) for r in generate_ids(model, tok, instructions, **settings)]


def settings(argv=None, **values):
    """The decoding run's settings: the command line's, or (from Python) `values` by flag name over its defaults."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=RawHelp)
    add = ap.add_argument
    add("--checkpoint", default="checkpoints/toy-base", help="HF checkpoint directory")
    add("--input", default="data/toy/eval.jsonl", help="JSON list or JSONL of {'instruction': ...}")
    add("--output", help="output JSON (AlpacaEval list); default out/<generator>.json")
    add("--resume", action="store_true", help="keep the outputs already in --output, do the rest")
    add("--overwrite", action="store_true", help="replace an existing --output (with neither, it is an error)")
    add("--rules", default="none", help=f"{','.join(PAPER_RULES)} (the paper's), a subset, start, own, or none")
    add("--saturate", action="store_true", help="keep the EOS bonus at +15 after the ramp (the code's: 0)")
    add("--eos-ramp", type=int, default=250, help="tokens over which the EOS bonus rises to +15 (toy world: 8)")
    add("--response-only", action="store_true", help="diversity from the response on (the paper's text)")
    add("--max-new-tokens", type=int, default=128, help="stop a response after this many tokens, as the tables")
    add("--batch-size", type=int, default=16, help="prompts decoded together")
    add("--temperature", type=float, default=0.0, help="0 = greedy (the paper); from 0.01 on, samples")
    add("--top-p", type=float, default=1.0, help="nucleus sampling mass (with --temperature > 0)")
    add("--seed", type=int, default=0, help="sampling seed")
    add("--generator", help="name written in each record; default from checkpoint and rules")
    add("--limit", type=int, help="only the first N instructions")
    add("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    add("--dtype", choices=["float32", "bfloat16", "float16"], help="weights (default: the checkpoint's dtype)")
    add("--threads", type=int, default=1, help="CPU threads (1 suits small models; more can be far slower)")
    return parse(ap, argv, values)


def run(args):
    """Decode every instruction of args.input into args.output, an AlpacaEval list written after every chunk;
    lib/generation.py keeps the file (its name, lock, record of what it is made of, and --resume)."""
    names = parse_rules(args.rules)
    with open_output(args, names) as output:
        tok = Tokenizer(args.checkpoint)
        model = Transformer.from_pretrained(args.checkpoint, dtype=args.dtype and getattr(torch, args.dtype),
                                            device=args.device)
        rules = RuleExpert(tok, names, args.saturate, args.response_only, args.eos_ramp) if names else None
        # Every prompt is measured before any is decoded: a long one late in the file stops the run at once
        check_room(max((len(prompt_ids(tok, i)[0]) for i in output.todo()), default=0), 0, context(model))
        with threads(args.threads):
            output.decode(functools.partial(generate, model, tok, max_new_tokens=args.max_new_tokens, rules=rules,
                                            batch_size=args.batch_size, temperature=args.temperature,
                                            top_p=args.top_p, seed=args.seed), chunk=args.batch_size * 4)


def main(argv=None):
    run(settings(argv))


if __name__ == "__main__":
    cli(main)
