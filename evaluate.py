"""Offline measurements of instruction following, no GPT-4 judge needed: checks and win rates, response ranking,
output statistics, Wu et al.'s attribution, IM diagnostics, and an optional judge. Each subcommand prints a
markdown table and, with --json, writes its results:  python evaluate.py SUBCOMMAND --help

Criteria language (toy-world eval records carry one as "criterion"; every key given must hold, at least one key;
strings match case-insensitively; a "number" is a run of digits or a number word from zero to twenty):
  contains_any: [str]   some string occurs            contains_all: [str]   every string occurs
  not_contains: [str]   no string occurs              none_of: [str]        no word occurs (whole words)
  regex: str            re.search, MULTILINE|IGNORECASE, on at most 4,000 characters
  min_lines / max_lines: int   non-empty lines        min_words / max_words: int   whitespace-separated words
  final_answer: str     the last non-empty line is "#### <str>" or "Answer: <str>" (the corpus's two conventions)
  starts_with: str      after stripping leading whitespace
  numbers: [int]        the numbers in the output are exactly these, in this order
  first_number / final_number: int   the first / last number in the output
  count_of: {"n": int, "of": [str]}   exactly n different strings of the list occur (a list of n right items)
"""
import argparse
import hashlib
import http.client
import json
import math
import os
import random
import re
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections import Counter

import torch
from tqdm import tqdm

from generate import generate, generate_ids, write_json
from model import Tokenizer, Transformer, UserError, cli
from train import (Help, build_example, build_prompt, collate, conversation, load_conversations, read_records,
                   segments, token_nll)

NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                "sixteen seventeen eighteen nineteen twenty").split()
NUMBER = re.compile(r"\d+|\b(?:" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
MAX_REGEX_CHARS = 4000              # a criterion's regex runs on at most this much output


def numbers(text):
    return [int(m) if m.isdigit() else NUMBER_WORDS.index(m.lower()) for m in NUMBER.findall(text)]


# The type of each key's value; `meets` says what each key asks.
KINDS = {"contains_any": list, "contains_all": list, "not_contains": list, "none_of": list, "regex": str,
         "min_lines": int, "max_lines": int, "min_words": int, "max_words": int, "final_answer": str,
         "starts_with": str, "numbers": list, "first_number": int, "final_number": int, "count_of": dict}


def meets(key, v, out):
    """Whether output `out` meets one criterion key with value `v` (the language in the module docstring)."""
    low = out.lower()
    lines = [line.strip() for line in low.splitlines() if line.strip()]
    if key == "contains_any":
        return any(s.lower() in low for s in v)
    if key == "contains_all":
        return all(s.lower() in low for s in v)
    if key == "not_contains":
        return not any(s.lower() in low for s in v)
    if key == "none_of":
        return not any(re.search(r"\b" + re.escape(s.lower()) + r"\b", low) for s in v)
    if key == "regex":
        return re.search(v, out[:MAX_REGEX_CHARS], re.MULTILINE | re.IGNORECASE) is not None
    if key in ("min_lines", "max_lines"):
        return len(lines) >= v if key == "min_lines" else len(lines) <= v
    if key in ("min_words", "max_words"):
        return len(out.split()) >= v if key == "min_words" else len(out.split()) <= v
    if key == "final_answer":                    # "#### N" (GSM) or "Answer: N", the corpus's two conventions
        pattern = rf"(####|answer:)\s*{re.escape(v.strip().lower())}\.?"
        return bool(lines) and re.fullmatch(pattern, lines[-1]) is not None
    if key == "starts_with":
        return low.lstrip().startswith(v.lower())
    if key == "numbers":
        return numbers(out) == v
    if key == "first_number":
        return numbers(out)[:1] == [v]
    if key == "final_number":
        return numbers(out)[-1:] == [v]
    if key == "count_of":                        # exactly n different right items
        return sum(s.lower() in low for s in set(v["of"])) == v["n"]
    raise KeyError(key)


def valid_value(kind, key, v):
    if key == "numbers":
        return isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    if kind is list:
        return isinstance(v, list) and all(isinstance(s, str) for s in v)
    if kind is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if kind is dict:
        return isinstance(v, dict) and valid_value(int, "", v.get("n")) and valid_value(list, "", v.get("of"))
    return isinstance(v, str)


def validate(criterion, where="criterion"):
    if not isinstance(criterion, dict) or not criterion:
        raise UserError(f"{where}: criterion must be a non-empty object, got {criterion!r}"[:200])
    for key, v in criterion.items():
        if key not in KINDS:
            raise UserError(f"{where}: unknown criterion key {key!r} (known: {', '.join(KINDS)})")
        if not valid_value(KINDS[key], key, v):
            raise UserError(f"{where}: criterion {key!r} has a value of the wrong type: {v!r}"[:200])
        if key == "regex":
            try:
                re.compile(v)
            except re.error as e:
                raise UserError(f"{where}: criterion 'regex' does not compile: {e}")


def check(output: str, criterion: dict) -> bool:
    """True when `output` meets every key of `criterion` (the criteria language in the module docstring)."""
    validate(criterion)
    return all(meets(key, v, output) for key, v in criterion.items())


# ------------------------------------------------------------------------------------------- reading files
def read_pairs(path):                                           # the first turn of each record
    convs = load_conversations(path)
    for where, c in convs:
        if len(c) < 2:
            raise UserError(f"{where}: 'messages' has no assistant turn")
    return [(c[0]["content"], c[1]["content"]) for _, c in convs]


def read_eval(path):
    """The toy eval set's records, each with an 'instruction' and a valid 'criterion'."""
    recs = read_records(path)
    for where, r in recs:
        if not isinstance(r.get("instruction"), str):
            raise UserError(f"{where}: missing string 'instruction'")
        validate(r.get("criterion"), where)
    return [r for _, r in recs]


def align(instructions, path):
    """The outputs of `path` in the order of `instructions`. Matched by instruction text: the k-th occurrence of
    an instruction in one file matches its k-th occurrence in the other; anything unmatched is an error."""
    slots = {}
    for ins, out in read_pairs(path):
        slots.setdefault(ins.strip(), []).append(out)
    res = [slots[i.strip()].pop(0) if slots.get(i.strip()) else None for i in instructions]
    if None in res:
        raise UserError(f"{path}: no output for the evaluation instruction {instructions[res.index(None)][:60]!r}")
    if any(slots.values()):
        raise UserError(f"{path}: {sum(map(len, slots.values()))} outputs whose instruction is not in the evaluation "
                        f"set, e.g. {next(k for k, v in slots.items() if v)[:60]!r}")
    return res


# ----------------------------------------------------------------------------------- checks and win rates
def pass_rates(eval_recs, passed):                              # overall and per family, in %
    fam = {}
    for r, p in zip(eval_recs, passed):
        fam.setdefault(str(r.get("family")), []).append(p)
    return {"pass": 100 * statistics.mean(passed), "n": len(passed),
            "by_family": {k: 100 * statistics.mean(v) for k, v in sorted(fam.items())}}


WORD = re.compile(r"\w+")


def token_f1(output, reference):
    """Word-level F1 of an output against the reference (as SQuAD scores answers): the graded score that breaks
    a tie between two passes or two fails."""
    out, ref = WORD.findall(output.lower()), WORD.findall(reference.lower())
    common = sum((Counter(out) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(out), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def grades(records, outputs):
    """(passed, token F1 against the reference) per output. Compared as pairs, a pass beats a fail, and between
    two passes or two fails the answer closer to the reference wins, so few comparisons tie."""
    return [(check(o, r["criterion"]), token_f1(o, r.get("reference", ""))) for o, r in zip(outputs, records)]


def winrate(a, b):
    """Win rate (%) of a over b, instruction by instruction: the higher result wins, equal results tie and
    count as half (Hewitt §3). Results are pass/fail, or (pass, graded score) pairs. Itself against itself: 50."""
    if len(a) != len(b) or not a:
        raise ValueError("win rate needs two equally long, non-empty lists")
    return 100 * sum(1.0 if x > y else 0.5 if x == y else 0.0 for x, y in zip(a, b)) / len(a)


def tie_share(a, b):
    """The share (%) of instructions on which a and b tie: a win rate built mostly of ties says little."""
    return 100 * sum(x == y for x, y in zip(a, b)) / len(a)


def mean_std(xs):                                               # the sample std over seeds
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def seed_pairs(files, against):
    """(file, reference): seed i with seed i, or one output set (e.g. the rules) against every reference."""
    if len(files) != len(against) and len(files) > 1 and len(against) > 1:
        raise UserError(f"{len(files)} files against {len(against)} references: give one, or one per seed")
    return list(zip(files, against)) if len(files) == len(against) else [(f, a) for f in files for a in against]


# -------------------------------------------------------------------------------------- model scoring
@torch.no_grad()
def response_logprobs(model, examples, batch_size=16, max_len=1024):
    """(sum of log p, count) over the labelled tokens of each (input_ids, labels) example, truncated to max_len,
    batched as train.py batches them (right-padded)."""
    out, dev = [None] * len(examples), next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))       # similar lengths together
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        ids, labels = collate([(examples[i][0][:max_len], examples[i][1][:max_len]) for i in idx], pad_id=0)
        nll, mask = token_nll(model, ids.to(dev), labels.to(dev))                  # [B, T] each
        for r, i in enumerate(idx):
            out[i] = (-nll[r].double().sum().item(), int(mask[r].sum()))            # float64: ties stay ties
    return out


def ranking(model, tok, pairs, distractors=5, seed=0, batch_size=16, max_len=1024):
    """Response ranking capability (Hewitt §4.2): how often p(y_i | x_i) > p(y_j | x_i) for distractors y_j
    drawn uniformly with replacement, j != i (a draw of i is drawn again; the paper's code drops it, leaving
    that pair fewer distractors). On the same draws, 'code' compares exp(mean token log p) as Table 2's code
    does, 'eq3' the raw sequence log p of Eq. 3."""
    n, rnd, draws = len(pairs), random.Random(seed), []
    if n < 2:
        raise UserError("ranking needs at least two (instruction, response) pairs")
    for i in range(n):
        draws.append([])
        while len(draws[i]) < distractors:
            j = rnd.randrange(n)
            draws[i] += [j] if j != i else []
    # Pairs whose prompt alone fills max_len have no response token to score: skipped, and reported.
    keep = [i for i in range(n) if len(build_prompt(tok, pairs[i][0])) < max_len]
    if not keep:
        raise UserError(f"no instruction fits in --max-len {max_len} tokens")
    need = sorted({(i, i) for i in keep} | {(i, j) for i in keep for j in draws[i]})
    ex = [build_example(tok, [{"role": "user", "content": pairs[i][0]},
                              {"role": "assistant", "content": pairs[j][1]}], "instruction") for i, j in need]
    sc = dict(zip(need, response_logprobs(model, ex, batch_size, max_len)))       # (i, j) -> (sum, count)
    code = [sc[i, i][0] / sc[i, i][1] > sc[i, j][0] / sc[i, j][1] for i in keep for j in draws[i]]
    eq3 = [sc[i, i][0] > sc[i, j][0] for i in keep for j in draws[i]]
    return {"pairs": len(keep), "skipped": n - len(keep), "comparisons": len(code),
            "code_mean_token_%": 100 * statistics.mean(code), "eq3_raw_logprob_%": 100 * statistics.mean(eq3)}


def response_nll(model, tok, convs, batch_size=16, max_len=1024):
    """Shi et al. §4.3: the mean over conversations of the token-mean NLL of the responses + EOS, whatever mode
    trained the model. Conversations with no response token within max_len are skipped, with a note."""
    scores = response_logprobs(model, [build_example(tok, c, "instruction") for c in convs], batch_size, max_len)
    kept = [-s / n for s, n in scores if n]
    if not kept:
        raise UserError(f"no conversation has a response token within --max-len {max_len}")
    if len(kept) < len(scores):
        print(f"note: {len(scores) - len(kept)} of {len(scores)} conversations skipped: their instruction fills "
              f"max_len={max_len}", file=sys.stderr)
    return statistics.mean(kept)


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


# ----------------------------------------------------------------------------------------- output statistics
STYLES = {   # the single-task styles of Hewitt §5; §5.2 finds they leak mostly into similar instructions
    "math": lambda o, ls: bool(ls) and re.fullmatch(r"####\s*\S+", ls[-1]) is not None,
    "poetry": lambda o, ls: len(ls) >= 4 and max(len(x.split()) for x in ls) <= 12,
    "recipes": lambda o, ls: sum(x.startswith("- ") and len(x.split()) <= 8 for x in ls) >= 3,     # ingredients
    "code": lambda o, ls: re.search(r"^\s*(def |class |return |import |for .*:$)", o, re.MULTILINE) is not None,
    "chess": lambda o, ls: re.search(r"(^|\s)1\.\s*([KQRBN]?[a-h]?[1-8]?x?[a-h][1-8]|O-O)\S*\s", o) is not None}


def pct(xs):
    return 100 * statistics.mean(xs) if xs else None


def output_stats(pairs, tok=None, max_new_tokens=256, near=None, n=4):
    """Statistics (%) of (instruction, output) pairs, in tokens with `tok`, else words. eos: shorter than the cap.
    rep_ngram: n-grams repeating an earlier one of the output. restates: the first line holds a 4-word run of the
    instruction. continues: chat tags, or a first line that asks a question (the user's turn goes on). style:
    each task's, and with `near` (eval records' task names) split into near that task / the others."""
    units = [tok.encode(o) if tok else o.split() for _, o in pairs]
    grams = [[tuple(u[i:i + n]) for i in range(len(u) - n + 1)] for u in units]
    restate, cont, style = [], [], {k: [] for k in STYLES}
    for ins, out in pairs:
        lines = [x.strip() for x in out.splitlines() if x.strip()]
        w, first = re.findall(r"\w+", ins.lower()), re.findall(r"\w+", lines[0].lower()) if lines else []
        k = min(4, len(w))
        runs = {tuple(w[i:i + k]) for i in range(len(w) - k + 1)} if k else set()
        restate.append(any(tuple(first[i:i + k]) in runs for i in range(len(first) - k + 1)))
        cont.append("<|user|>" in out or "<|assistant|>" in out or bool(lines) and lines[0].endswith("?"))
        for name, f in STYLES.items():
            style[name].append(f(out, lines))
    res = {"n": len(pairs), "mean_len": statistics.mean(map(len, units)),
           "eos_%": pct([len(u) < max_new_tokens for u in units]),
           "rep_ngram_%": 100 * sum(len(g) - len(set(g)) for g in grams) / max(1, sum(map(len, grams))),
           "restates_%": pct(restate), "continues_%": pct(cont), "style_%": {k: pct(v) for k, v in style.items()}}
    if near is not None:
        res["style_near_vs_far_%"] = {k: (pct([s for s, t in zip(v, near) if t == k]),
                                          pct([s for s, t in zip(v, near) if t != k])) for k, v in style.items()}
    return res


# ----------------------------------------------------------------------------------- attribution (Wu et al.)
def attribution_matrix(model, prompt_ids, resp_ids):
    """Wu et al. §4.1: I [P-1, M], I[n, m] = e_n . dp(y_m | prompt, y_<m)/de_n, gradient x input of the
    probability (not log p) for each prompt token n but BOS, one backward pass per response token m. Freezes
    the parameters. RMSNorm is scale-invariant: e . d/de sees a token only via what layers add to its residual."""
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
    """Wu's (score, share) of one response to the chat prompt; the instruction tokens are the 'ins' role."""
    segs = segments(tok, [{"role": "user", "content": instruction}])
    mask = torch.tensor([role == "ins" for s, role in segs for _ in s])[1:]     # BOS row dropped
    return wu_score(attribution_matrix(model, [i for s, _ in segs for i in s], list(resp_ids)), mask)


def attribution(models, instructions, max_new_tokens=64, min_tokens=5, batch_size=16, progress=False):
    """Wu's protocol: each (model, tokenizer) is scored on its own greedy responses to the same prompts, those
    under min_tokens dropped. Mean score and share; the paired difference from the first model's score with a
    bootstrap 95% interval."""
    per, out = [], []
    for model, tok in models:
        resps = generate_ids(model, tok, instructions, max_new_tokens=max_new_tokens, batch_size=batch_size)
        per.append([instruction_attribution(model, tok, ins, r) if len(r) >= min_tokens else None
                    for ins, r in tqdm(list(zip(instructions, resps)), disable=not progress, desc="attribution")])
    for k, rows in enumerate(per):
        kept = [x for x in rows if x is not None]
        d = torch.tensor([x[0] - y[0] for x, y in zip(rows, per[0]) if x and y], dtype=torch.float64)
        ci = None
        if k and len(d) > 1:                    # bootstrap: 2000 resamples of the paired differences
            boot = d[torch.randint(len(d), (2000, len(d)), generator=torch.Generator().manual_seed(0))].mean(1)
            ci = boot.quantile(torch.tensor([.025, .975], dtype=torch.float64)).tolist()
        out.append({"n": len(kept), "score": statistics.mean(x[0] for x in kept) if kept else None,
                    "share_%": 100 * statistics.mean(x[1] for x in kept) if kept else None,
                    "diff_vs_first": d.mean().item() if k and len(d) else None, "diff_ci95": ci})
    return out


# ------------------------------------------------------------------------------------ optional judge
JUDGE_PROMPT = ("Which output follows the instruction better: more helpful, accurate and relevant? Ignore the "
                "order in which they are shown.\n\n# Instruction\n{instruction}\n\n# Output (a)\n{a}\n\n"
                '# Output (b)\n{b}\n\nAnswer with exactly "Output (a)" or "Output (b)".')


class JudgeError(Exception):                                    # no usable answer: reported, never scored
    pass


class Judge:
    """A pairwise judge at any OpenAI-compatible /chat/completions endpoint: AlpacaEval-style prompt, the order
    randomised per instruction, answers cached (JSONL) so a rerun asks only what is missing. Timeouts, HTTP 429
    and 5xx, unusable replies: retried with backoff, then JudgeError. Key: $OPENAI_API_KEY, if set."""

    def __init__(self, url, model, cache=None, retries=3, timeout=60.0, backoff=1.0, seed=0):
        self.url = url if url.rstrip("/").endswith("/chat/completions") else url.rstrip("/") + "/chat/completions"
        self.model, self.cache, self.retries, self.timeout, self.backoff, self.seed = \
            model, cache, retries, timeout, backoff, seed
        self.calls, self.memo = 0, ({r.get("key"): r.get("verdict") for _, r in read_records(cache)}
                                    if cache and os.path.exists(cache) and os.path.getsize(cache) else {})

    def ask(self, prompt):                                      # 'a' or 'b', from the cache or the endpoint
        key = hashlib.sha256(json.dumps([self.model, prompt]).encode()).hexdigest()
        if self.memo.get(key) in ("a", "b"):
            return self.memo[key]
        body = json.dumps({"model": self.model, "temperature": 0, "max_tokens": 16,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        headers = {"Content-Type": "application/json"} | (
            {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]} if os.environ.get("OPENAI_API_KEY") else {})
        for attempt in range(self.retries + 1):
            time.sleep(self.backoff * 2 ** (attempt - 1) if attempt else 0)
            self.calls += 1
            try:
                req = urllib.request.Request(self.url, body, headers)
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    text = json.loads(r.read())["choices"][0]["message"]["content"].lower()
                if ("output (a)" in text) == ("output (b)" in text):
                    raise ValueError(f"unusable answer {text[:80]!r}")
                verdict = self.memo[key] = "a" if "output (a)" in text else "b"
                if self.cache:
                    with open(self.cache, "a") as f:
                        f.write(json.dumps({"key": key, "verdict": verdict}) + "\n")
                return verdict
            except urllib.error.HTTPError as e:
                err = f"HTTP {e.code} {e.reason}"
                if e.code != 429 and e.code < 500:          # a bad request or key: asking again will not help
                    break
            except (OSError, http.client.HTTPException, ValueError, LookupError, TypeError, AttributeError) as e:
                err = f"{type(e).__name__}: {e}"
        raise JudgeError(f"{self.url}: no usable answer after {attempt + 1} attempts ({err})")

    def compare(self, instruction, a, b):
        """1.0 if output a is preferred, 0.0 if b is, 0.5 for identical outputs (not asked)."""
        if a.strip() == b.strip():
            return 0.5
        swap = random.Random(f"{self.seed}:{instruction}").random() < 0.5
        first, second = (b, a) if swap else (a, b)
        return float((self.ask(JUDGE_PROMPT.format(instruction=instruction, a=first, b=second)) == "a") != swap)


def judge_file(judge, path, reference):
    """Win rate (%) of path over reference as the judge sees them; failures are raised together at the end."""
    pairs, verdicts, failed = read_pairs(reference), [], []
    for (ins, ref), out in zip(pairs, align([i for i, _ in pairs], path)):
        try:
            verdicts.append(judge.compare(ins, out, ref))
        except JudgeError as e:
            failed.append(str(e))
    if failed:
        raise UserError(f"{path}: {len(failed)} judgements failed, none scored (first: {failed[0]}); the answers "
                        f"so far are cached in {judge.cache}, a rerun asks only the rest")
    return 100 * statistics.mean(verdicts)


# ------------------------------------------------------------------------------------------ command line
def fmt(x):
    if isinstance(x, (list, tuple)):
        return " / ".join(map(fmt, x))
    return "-" if x is None else (f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}") if isinstance(x, float) else str(x)


def table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|---" * len(header) + "|"] +
                      ["| " + " | ".join(map(fmt, r)) + " |" for r in rows])


def flatten(d, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def results_table(res):
    """Markdown table of {file: {measure: value}}, nested measures as 'measure.key'. With many measures (a pass
    rate per family) they are the rows and the files the columns, so the table fits a terminal."""
    rows = {name: flatten(r) for name, r in res.items()}
    cols = list(dict.fromkeys(c for r in rows.values() for c in r))
    if len(cols) > 8:
        return table([""] + list(rows), [[c] + [r.get(c) for r in rows.values()] for c in cols])
    return table([""] + cols, [[name] + [r.get(c) for c in cols] for name, r in rows.items()])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub, out, ev, vs, lm = ap.add_subparsers(dest="cmd", required=True), *(
        argparse.ArgumentParser(add_help=False) for _ in range(4))              # shared groups of flags
    out.add_argument("--json", help="also write the results to this JSON file")
    ev.add_argument("--eval", required=True, help="toy eval set JSONL: 'instruction', 'family', 'near', 'criterion'")
    vs.add_argument("--against", required=True, help="comma-separated reference outputs (IT model), one per seed")
    vs.add_argument("--files", action="append", required=True, help="comma-separated outputs of one condition, "
                    "one per seed or one against every seed; repeat for more conditions")
    lm.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    lm.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights' dtype")
    lm.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    lm.add_argument("--max-len", type=int, default=1024, help="truncate sequences to this many tokens (paper: 1024)")
    lm.add_argument("--limit", type=int, help="use only the first N records of each file")

    def cmd(name, text, *parents):
        return sub.add_parser(name, help=text, description=text, parents=[out, *parents], formatter_class=Help)

    p = cmd("checks", "Pass rate of output files against the criteria of the eval set, overall and per family.", ev)
    p.add_argument("outputs", nargs="+", help="output files (AlpacaEval list: instruction, output)")
    cmd("winrate", "Win rates against references of the same seed: a pass beats a fail, equal results go to the "
        "answer closer to the eval record's reference (token F1); exact ties count half.", ev, vs)
    p = cmd("rank", "Response ranking capability (Hewitt §4.2): paper-code and Eq. 3 variants.", lm)
    p.add_argument("--checkpoint", required=True, help="HF checkpoint directory")
    p.add_argument("--data", required=True, help="(instruction, response) pairs: messages JSONL, Alpaca, AlpacaEval")
    p.add_argument("--distractors", type=int, default=5, help="distractor responses per pair (paper: 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the distractor draws (paper: 0)")
    p.set_defaults(limit=1000)                                                  # the paper's --max_examples
    p = cmd("stats", "Output statistics per file: length, EOS, repetition, restating, single-task style.")
    p.add_argument("files", nargs="+", help="output files (AlpacaEval list, or messages JSONL)")
    p.add_argument("--tokenizer", help="tokenizer.model or checkpoint directory: lengths in tokens, not words")
    p.add_argument("--max-new-tokens", type=int, default=256, help="the generation cap: shorter outputs met EOS")
    p.add_argument("--eval", help="toy eval set: also split the task style by the records' 'near' task")
    p = cmd("attribution", "Wu et al.'s instruction attribution, each model on its own greedy responses.", lm)
    p.add_argument("--checkpoints", nargs="+", required=True, help="checkpoint directories, the base model first")
    p.add_argument("--prompts", "--eval", required=True, help="instructions: eval set, AlpacaEval or messages file")
    p.add_argument("--max-new-tokens", type=int, default=64, help="response length cap (Wu: 200-300)")
    p.add_argument("--min-tokens", type=int, default=5, help="drop shorter responses (Wu: 5)")
    p.set_defaults(limit=50)                                                    # a backward pass per token
    p = cmd("im", "IM diagnostics (Shi et al.): response-only NLL on train and held-out data, BLEU-4.", lm)
    p.add_argument("--checkpoint", nargs="+", required=True, help="checkpoint directories (e.g. IT and IM)")
    p.add_argument("--train", required=True, help="the training set (messages JSONL)")
    p.add_argument("--heldout", required=True, help="held-out conversations (messages JSONL)")
    p.add_argument("--bleu", type=int, default=0, help="BLEU-4 of greedy outputs on the first N training prompts")
    p = cmd("judge", "Win rates from a pairwise judge at an OpenAI-compatible endpoint (cached).", vs)
    p.add_argument("--url", required=True, help="endpoint base URL, e.g. http://localhost:8000/v1")
    p.add_argument("--model", required=True, help="judge model name")
    p.add_argument("--cache", default="judge_cache.jsonl", help="answers cache (JSONL); a rerun costs nothing")
    p.add_argument("--retries", type=int, default=3, help="retries after a timeout or a server error")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--seed", type=int, default=0, help="seed of the order randomisation")
    a = ap.parse_args()

    def load(checkpoint):
        return Transformer.from_pretrained(checkpoint, getattr(torch, a.dtype), a.device), Tokenizer(checkpoint)

    if a.cmd in ("winrate", "judge") and not all(f for c in [a.against, *a.files] for f in c.split(",")):
        raise UserError("--against and --files need file names, none empty")
    if a.cmd == "rank" and a.distractors < 1:
        raise UserError(f"need --distractors >= 1, got {a.distractors}")
    if a.cmd in ("checks", "winrate"):
        ev, memo = read_eval(a.eval), {}

        def graded(path):                     # each file read and scored once
            if path not in memo:
                memo[path] = grades(ev, align([r["instruction"] for r in ev], path))
            return memo[path]
    if a.cmd == "checks":
        res = {f: pass_rates(ev, [p for p, _ in graded(f)]) for f in a.outputs}
    elif a.cmd in ("winrate", "judge"):
        judge = a.cmd == "judge" and Judge(a.url, a.model, a.cache, a.retries, a.timeout, seed=a.seed)
        res, against = {}, a.against.split(",")
        for cond in a.files:
            pairs = seed_pairs(cond.split(","), against)
            rates = [judge_file(judge, f, ref) if judge else winrate(graded(f), graded(ref)) for f, ref in pairs]
            res[cond] = dict(zip(("winrate_%", "std"), mean_std(rates)), per_seed=rates)
            if not judge:
                res[cond]["ties_%"] = statistics.mean(tie_share(graded(f), graded(ref)) for f, ref in pairs)
        for f, ref in (pair for c in a.files for pair in seed_pairs(c.split(","), against)):   # the paper's judge
            print(f"alpaca_eval --model_outputs {f} --reference_outputs {ref} --annotators_config "
                  "weighted_alpaca_eval_gpt4_turbo")
    elif a.cmd == "rank":
        model, tok = load(a.checkpoint)
        res = {a.checkpoint: ranking(model, tok, read_pairs(a.data)[:a.limit], a.distractors, a.seed, a.batch_size,
                                     a.max_len)}
    elif a.cmd == "stats":
        tok, ev = Tokenizer(a.tokenizer) if a.tokenizer else None, read_eval(a.eval) if a.eval else None
        ins = [r["instruction"] for r in ev] if ev else None
        res = {f: output_stats(list(zip(ins, align(ins, f))) if ev else read_pairs(f), tok, a.max_new_tokens,
                               [r.get("near") for r in ev] if ev else None) for f in a.files}
    elif a.cmd == "attribution":
        ins = [conversation(w, r, need_response=False)[0]["content"] for w, r in read_records(a.prompts)[:a.limit]]
        res = dict(zip(a.checkpoints, attribution([load(c) for c in a.checkpoints], ins, a.max_new_tokens,
                                                  a.min_tokens, a.batch_size, progress=True)))
    elif a.cmd == "im":
        train, held = ([conversation(w, r) for w, r in read_records(f)[:a.limit]] for f in (a.train, a.heldout))
        res = {}
        for c in a.checkpoint:
            model, tok = load(c)
            res[c] = {k: response_nll(model, tok, x, a.batch_size, a.max_len) for k, x in
                      (("train_nll", train), ("heldout_nll", held))}
            if a.bleu:
                outs = generate(model, tok, [t[0]["content"] for t in train[:a.bleu]], batch_size=a.batch_size)
                res[c]["train_bleu4"] = statistics.mean(bleu4(o, t[1]["content"]) for o, t in zip(outs, train))
    print(results_table(res))
    if a.json:
        write_json(a.json, res)


if __name__ == "__main__":
    cli(main)
