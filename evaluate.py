"""Offline measurements of instruction following, no GPT-4 judge needed. Each subcommand prints a markdown table
and, with --json, writes its results; `python evaluate.py SUBCOMMAND --help` explains each.

  checks       pass/fail of each output against the declarative criterion of its eval record (the toy world)
  winrate      head-to-head win rates from the checks (pass beats fail, equal = tie = half), mean and spread
               over seeds, against the instruction-tuned model of the same seed (Hewitt §3, §4.1)
  rank         response ranking capability (Hewitt §4.2, Eq. 3, Table 2), the code's and the equation's variant
  stats        length, EOS share, repeated n-grams, restating/continuing the instruction, single-task style
  attribution  Wu et al. 2024's instruction importance density for base and tuned models on the same prompts
  im           Shi et al. 2024's diagnostics: response-only loss on train vs held-out data, BLEU-4 on train
  judge        an optional pairwise judge through an OpenAI-compatible endpoint, cached; prints alpaca_eval

Criteria language (toy-world eval records carry one as "criterion"; every key given must hold, strings match
case-insensitively):
  contains_any: [str]   some string occurs            contains_all: [str]   every string occurs
  not_contains: [str]   no string occurs              regex: str            re.search, MULTILINE|IGNORECASE
  min_lines / max_lines: int   non-empty lines        min_words / max_words: int   whitespace-separated words
  final_answer: str     the last non-empty line is exactly "#### <str>"   (GSM style, Hewitt §5)
  starts_with: str      after stripping leading whitespace
"""
import argparse
import hashlib
import json
import math
import os
import random
import re
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter

import torch
import torch.nn.functional as F

from model import Tokenizer, Transformer, UserError, cli
from train import IGNORE, build_example, segments

CRITERIA = {"contains_any": list, "contains_all": list, "not_contains": list, "regex": str, "min_lines": int,
            "max_lines": int, "min_words": int, "max_words": int, "final_answer": str, "starts_with": str}


def validate(criterion, where="criterion"):
    """Raise UserError naming `where` if the criterion has an unknown key or a value of the wrong type."""
    if not isinstance(criterion, dict):
        raise UserError(f"{where}: criterion must be an object, got {type(criterion).__name__}")
    for key, value in criterion.items():
        kind = CRITERIA.get(key)
        if kind is None:
            raise UserError(f"{where}: unknown criterion key {key!r} (known: {', '.join(CRITERIA)})")
        ok = (isinstance(value, list) and all(isinstance(s, str) for s in value) if kind is list else
              isinstance(value, int) and not isinstance(value, bool) if kind is int else isinstance(value, str))
        if not ok:
            want = "a list of strings" if kind is list else kind.__name__
            raise UserError(f"{where}: criterion {key!r} must be {want}, got {value!r}")
        if key == "regex":
            try:
                re.compile(value)
            except re.error as e:
                raise UserError(f"{where}: criterion 'regex' does not compile: {e}")


def check(output: str, criterion: dict) -> bool:
    """True when `output` meets every key of `criterion` (the criteria language in the module docstring)."""
    validate(criterion)
    low, words = output.lower(), len(output.split())
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    tests = {"contains_any": lambda v: any(s.lower() in low for s in v),
             "contains_all": lambda v: all(s.lower() in low for s in v),
             "not_contains": lambda v: not any(s.lower() in low for s in v),
             "regex": lambda v: re.search(v, output, re.MULTILINE | re.IGNORECASE) is not None,
             "min_lines": lambda v: len(lines) >= v, "max_lines": lambda v: len(lines) <= v,
             "min_words": lambda v: words >= v, "max_words": lambda v: words <= v,
             "final_answer": lambda v: bool(lines) and lines[-1].lower() == f"#### {v.strip()}".lower(),
             "starts_with": lambda v: output.lstrip().lower().startswith(v.lower())}
    return all(tests[k](v) for k, v in criterion.items())


# ------------------------------------------------------------------------------------------- reading files
def read_records(path):
    """[(where, record)] from a JSON list or a JSONL file; `where` is "file:line" for error messages."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read ({e})")
    out, dec = [], json.JSONDecoder()
    try:
        if text.lstrip().startswith("["):                   # a JSON list: decode item by item to know lines
            pos, line, ws = text.index("[") + 1, 1, re.compile(r"[\s,]*")
            while True:
                start = ws.match(text, pos).end()
                if start >= len(text) or text[start] == "]":
                    break
                line += text.count("\n", pos, start)
                rec, pos = dec.raw_decode(text, start)
                out.append((f"{path}:{line}", rec))
                line += text.count("\n", start, pos)
        else:
            for n, row in enumerate(text.splitlines(), 1):
                if row.strip():
                    out.append((f"{path}:{n}", json.loads(row)))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: not valid JSON ({e.msg})")
    if not out:
        raise UserError(f"{path}: no records (empty file)")
    for where, rec in out:
        if not isinstance(rec, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    return out


def conversation(where, r):
    """A record as chat messages, from each format the project reads: messages (LIMA, the toy sets), Alpaca
    (instruction, input, output), AlpacaEval outputs (instruction, output), the toy eval set (reference)."""
    if "messages" in r:
        m = r["messages"]
        if not (isinstance(m, list) and len(m) >= 2 and all(
                isinstance(x, dict) and x.get("role") == ("user", "assistant")[k % 2]
                and isinstance(x.get("content"), str) for k, x in enumerate(m))):
            raise UserError(f"{where}: 'messages' must alternate user/assistant turns with string content")
        return m
    ins, out = r.get("instruction"), r.get("output", r.get("reference"))
    if not isinstance(ins, str) or not isinstance(out, str):
        raise UserError(f"{where}: expected 'messages', or string 'instruction' and 'output'")
    ins = ins + "\n\n" + r["input"] if isinstance(r.get("input"), str) and r["input"] else ins
    return [{"role": "user", "content": ins}, {"role": "assistant", "content": out}]


def read_pairs(path):
    """[(instruction, output)] of the first turn of each record, in any format `conversation` reads."""
    return [(c[0]["content"], c[1]["content"]) for c in (conversation(w, r) for w, r in read_records(path))]


def read_instructions(path):
    """Instructions of a prompts file: 'instruction', 'prompt' (IFEval) or the first user turn of 'messages'."""
    out = []
    for where, r in read_records(path):
        ins = r.get("instruction", r.get("prompt"))
        if "messages" in r:
            ins = conversation(where, r)[0]["content"]
        if not isinstance(ins, str):
            raise UserError(f"{where}: expected a string 'instruction' (or 'prompt', or 'messages')")
        out.append(ins)
    return out


def read_eval(path):
    """The toy eval set: records with 'instruction' and a valid 'criterion' (checked here, with file:line)."""
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
    res = []
    for ins in instructions:
        if not slots.get(ins.strip()):
            raise UserError(f"{path}: no output for the evaluation instruction {ins[:60]!r}")
        res.append(slots[ins.strip()].pop(0))
    extra = [k for k, v in slots.items() if v]
    if extra:
        raise UserError(f"{path}: {sum(len(slots[k]) for k in extra)} outputs whose instruction is not in the "
                        f"evaluation set, e.g. {extra[0][:60]!r}")
    return res


def load(path, device, dtype="float32"):
    return Transformer.from_pretrained(path, dtype=getattr(torch, dtype), device=device), Tokenizer(path)


# ----------------------------------------------------------------------------------- checks and win rates
def pass_rates(eval_recs, passed):
    """Pass rate (%) overall, per family and per `near` task of the eval records."""
    def by(key):
        groups = {}
        for r, p in zip(eval_recs, passed):
            groups.setdefault(str(r.get(key)), []).append(p)
        return {k: 100 * sum(v) / len(v) for k, v in sorted(groups.items())}
    return {"pass": 100 * sum(passed) / len(passed), "n": len(passed), "by_family": by("family"), "by_near": by("near")}


def winrate(a, b):
    """Win rate (%) of a over b, instruction by instruction: the higher result wins, equal results tie and
    count as half (Hewitt §3). A file against itself gives exactly 50."""
    if len(a) != len(b) or not a:
        raise ValueError("win rate needs two equally long, non-empty lists")
    return 100 * sum(1.0 if x > y else 0.5 if x == y else 0.0 for x, y in zip(a, b)) / len(a)


def seed_pairs(files, against):
    """(file, reference) pairs: seed i with seed i; one output set (e.g. the rules) against every reference."""
    if len(files) == len(against):
        return list(zip(files, against))
    if len(files) == 1 or len(against) == 1:
        return [(f, a) for f in files for a in against]
    raise UserError(f"{len(files)} files against {len(against)} references: give one, or one per seed")


def mean_std(xs):
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0       # sample std over seeds


# -------------------------------------------------------------------------------------- model scoring
@torch.no_grad()
def response_logprobs(model, examples, batch_size=16, max_len=1024):
    """(sum of log p, count) over the labelled tokens of each (input_ids, labels) example, truncated to max_len,
    batched, no grad. Rows are right-padded: causal attention never lets a real token see the padding after it."""
    out, dev = [None] * len(examples), next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))       # similar lengths together
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        T = min(max_len, max(len(examples[i][0]) for i in idx))
        ids = torch.zeros(len(idx), T, dtype=torch.long)
        labels = torch.full((len(idx), T), IGNORE)
        for r, i in enumerate(idx):
            x, y = examples[i][0][:T], examples[i][1][:T]
            ids[r, :len(x)], labels[r, :len(y)] = torch.tensor(x), torch.tensor(y)
        logits = model(ids.to(dev))[:, :-1].float()                               # [B, T-1, V]
        tgt = labels[:, 1:].to(dev)                                              # the one-token shift
        nll = F.cross_entropy(logits.transpose(1, 2), tgt, ignore_index=IGNORE, reduction="none")   # [B, T-1]
        for r, i in enumerate(idx):
            out[i] = (-nll[r].double().sum().item(), int((tgt[r] != IGNORE).sum()))   # exact ties stay ties
    return out


def ranking(model, tok, pairs, distractors=5, seed=0, batch_size=16, max_len=1024):
    """Response ranking capability (Hewitt §4.2): how often p(y_i | x_i) > p(y_j | x_i) for distractor
    responses y_j of other instructions, drawn uniformly with replacement under random.seed(seed), j != i
    (the paper's code could draw i itself and count it as a loss). Two variants on the same draws:
    'code' = exp(mean per-token log p), the length-normalised score behind Table 2; 'eq3' = the raw
    sequence log p of Eq. 3. Scored with the training template and mask (response + EOS)."""
    n = len(pairs)
    if n < 2:
        raise UserError("ranking needs at least two (instruction, response) pairs")
    rnd, draws = random.Random(seed), []
    for i in range(n):
        js = []
        while len(js) < distractors:
            j = rnd.randrange(n)
            js += [j] if j != i else []
        draws.append(js)
    # Pairs whose prompt alone fills max_len have no response token to score: skipped, and reported.
    keep = [i for i in range(n) if len(build_example(tok, [{"role": "user", "content": pairs[i][0]}], "instruction")[0])
            < max_len]
    need = sorted({(i, i) for i in keep} | {(i, j) for i in keep for j in draws[i]})
    ex = [build_example(tok, [{"role": "user", "content": pairs[i][0]},
                              {"role": "assistant", "content": pairs[j][1]}], "instruction") for i, j in need]
    score = dict(zip(need, response_logprobs(model, ex, batch_size, max_len)))
    code = [score[i, i][0] / score[i, i][1] > score[i, j][0] / score[i, j][1] for i in keep for j in draws[i]]
    eq3 = [score[i, i][0] > score[i, j][0] for i in keep for j in draws[i]]
    if not keep:
        raise UserError(f"no instruction fits in --max-len {max_len} tokens")
    return {"pairs": len(keep), "skipped": n - len(keep), "comparisons": len(code),
            "code_mean_token_%": 100 * sum(code) / len(code),
            "eq3_raw_logprob_%": 100 * sum(eq3) / len(eq3)}


def response_nll(model, tok, convs, batch_size=16, max_len=1024):
    """Shi et al. §4.3: the mean over examples of the per-example token-mean NLL of the responses (+ EOS),
    with the instruction-tuning mask whatever mode trained the model. Returns (NLL, number of conversations
    skipped because no response token fits in max_len)."""
    scores = response_logprobs(model, [build_example(tok, c, "instruction") for c in convs], batch_size, max_len)
    kept = [-s / n for s, n in scores if n]
    if not kept:
        raise UserError(f"no conversation has a response token within --max-len {max_len}")
    return statistics.mean(kept), len(scores) - len(kept)


def bleu4(hyp, ref):
    """Sentence BLEU-4 (x100) on whitespace words: clipped n-gram precisions for n = 1..4, add-one smoothing
    for n > 1, brevity penalty. Shi et al. Table 2 use it on greedy outputs for training prompts."""
    h, r = hyp.split(), ref.split()
    if not h:
        return 0.0
    logp = 0.0
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
    "recipes": lambda o, ls: sum(x.startswith("- ") for x in ls) >= 3,
    "code": lambda o, ls: re.search(r"^\s*(def |class |return |import |for .*:$)", o, re.MULTILINE) is not None,
    "chess": lambda o, ls: re.search(r"(^|\s)1\.\s*[a-hKQRBNO][\w+#=-]*\s", o) is not None}


def output_stats(pairs, tok=None, max_new_tokens=256, near=None, n=4):
    """Statistics of (instruction, output) pairs. Lengths and n-grams in tokens with `tok`, else in words.
    eos_%: outputs shorter than max_new_tokens, i.e. stopped by EOS rather than the cap (a record's own
    'eos' field wins). rep_ngram_%: n-grams repeating an earlier one of the same output. restates_%: the first
    line holds a 4-word run of the instruction. continues_%: the output writes chat tags or its first line is a
    question, i.e. it goes on with the user's turn. style_%: each task's style; with `near` (the eval records'
    task names) also split into instructions near that task and the others."""
    units = [tok.encode(o) if tok else o.split() for _, o in pairs]
    grams = [[tuple(u[i:i + n]) for i in range(len(u) - n + 1)] for u in units]
    words = lambda s: re.findall(r"\w+", s.lower())                           # noqa: E731
    res = {"n": len(pairs), "mean_len": statistics.mean(map(len, units)),
           "eos_%": 100 * statistics.mean(len(u) < max_new_tokens for u in units),
           "rep_ngram_%": 100 * sum(len(g) - len(set(g)) for g in grams) / max(1, sum(map(len, grams)))}
    restate, cont, style = [], [], {k: [] for k in STYLES}
    for ins, out in pairs:
        lines = [x.strip() for x in out.splitlines() if x.strip()]
        w, first = words(ins), words(lines[0]) if lines else []
        k = min(4, len(w))
        runs = {tuple(w[i:i + k]) for i in range(len(w) - k + 1)} if k else set()
        restate.append(any(tuple(first[i:i + k]) in runs for i in range(len(first) - k + 1)))
        cont.append("<|user|>" in out or "<|assistant|>" in out or bool(lines) and lines[0].endswith("?"))
        for name, f in STYLES.items():
            style[name].append(f(out, lines))
    pct = lambda xs: 100 * sum(xs) / len(xs) if xs else None                 # noqa: E731
    res.update({"restates_%": pct(restate), "continues_%": pct(cont)})
    res["style_%"] = {k: pct(v) for k, v in style.items()}
    if near is not None:
        res["style_near_vs_far_%"] = {k: (pct([s for s, t in zip(v, near) if t == k]),
                                          pct([s for s, t in zip(v, near) if t != k])) for k, v in style.items()}
    return res


# ----------------------------------------------------------------------------------- attribution (Wu et al.)
def attribution_matrix(model, prompt_ids, resp_ids):
    """Wu et al. §4.1: I[n, m] = e_n . d p(y_m | prompt, y_<m) / d e_n, gradient x input of the probability
    (not log p) w.r.t. the input embedding of each prompt token n (BOS excluded), one backward pass per
    response token m. Returns I [P-1, M]. Freezes the model's parameters: only activation gradients are needed."""
    model.requires_grad_(False)
    dev, P, M = next(model.parameters()).device, len(prompt_ids), len(resp_ids)
    ids = torch.tensor([prompt_ids + resp_ids], device=dev)
    with torch.enable_grad():
        emb = model.model.embed_tokens(ids).detach().requires_grad_()           # [1, P+M, D]
        probs = model(embeds=emb)[0, P - 1:P - 1 + M].float().softmax(-1)      # [M, V]: p(. | Z_m)
        p_y = probs[torch.arange(M), ids[0, P:]]                                 # [M]
        I = torch.zeros(P - 1, M)
        for m in range(M):
            g, = torch.autograd.grad(p_y[m], emb, retain_graph=m < M - 1)
            I[:, m] = (g[0, 1:P] * emb.detach()[0, 1:P]).float().sum(-1).cpu()
    return I


def wu_score(I, ins_mask, L=10, b=7, p=4):
    """Wu et al. §4.2 on I [N, M] and the instruction mask [N]. Per output token (column), scale to integer
    levels ceil(L * relu(I) / column max) and keep levels > b (b = 7: inputs above 70% of the max); per input
    token, density a_n = ||S_n||_1 / ||S_n||_p with p = 4, then a / max a. Returns (score, share): Wu's
    instruction score sum_{n in ins} a_n / log2(2 + |ins|), and the instruction's share of sum a."""
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
    prompt = [i for s, _ in segs for i in s]
    mask = torch.tensor([role == "ins" for s, role in segs for _ in s])[1:]     # BOS row dropped
    return wu_score(attribution_matrix(model, prompt, list(resp_ids)), mask)


def bootstrap_ci(xs, reps=2000, seed=0):
    """95% bootstrap interval of the mean."""
    x, g = torch.tensor(xs, dtype=torch.float64), torch.Generator().manual_seed(seed)
    means = x[torch.randint(len(x), (reps, len(x)), generator=g)].mean(1)
    return means.quantile(0.025).item(), means.quantile(0.975).item()


def attribution(models, instructions, max_new_tokens=64, min_tokens=5, batch_size=16, progress=False):
    """Wu's protocol: every (model, tokenizer) greedy-decodes its own response to the same prompts and is scored
    on it; responses under min_tokens are dropped. Per model: mean score and share; the paired difference of
    each model's score from the first model's, with a bootstrap 95% interval."""
    from generate import generate_ids          # imported here: only this measurement decodes
    from tqdm import tqdm
    per = []
    for model, tok in models:
        resps = generate_ids(model, tok, instructions, max_new_tokens=max_new_tokens, batch_size=batch_size)
        per.append([instruction_attribution(model, tok, ins, r) if len(r) >= min_tokens else None
                    for ins, r in tqdm(list(zip(instructions, resps)), disable=not progress, desc="attribution")])
    out = []
    for k, rows in enumerate(per):
        kept = [x for x in rows if x is not None]
        both = [x[0] - y[0] for x, y in zip(rows, per[0]) if x is not None and y is not None]
        out.append({"n": len(kept), "score": statistics.mean(x[0] for x in kept) if kept else None,
                    "share_%": 100 * statistics.mean(x[1] for x in kept) if kept else None,
                    "diff_vs_first": statistics.mean(both) if k and both else None,
                    "diff_ci95": bootstrap_ci(both) if k and len(both) > 1 else None})
    return out


# ------------------------------------------------------------------------------------ optional judge
JUDGE_PROMPT = ("Which output follows the instruction better: more helpful, accurate and relevant? Ignore the "
                "order in which they are shown.\n\n# Instruction\n{instruction}\n\n# Output (a)\n{a}\n\n"
                '# Output (b)\n{b}\n\nAnswer with exactly "Output (a)" or "Output (b)".')


class JudgeError(Exception):
    """The judge gave no usable answer after its retries: reported, never scored."""


class Judge:
    """A pairwise judge through any OpenAI-compatible /chat/completions endpoint (AlpacaEval-style prompt, the
    order of the two outputs randomised per instruction). Answers are appended to a JSONL cache, so a rerun
    asks only what is missing. Timeouts, connection errors, HTTP 429 and 5xx and unusable replies are retried
    with backoff; then JudgeError. The key, if any, comes from the OPENAI_API_KEY environment variable."""

    def __init__(self, url, model, cache=None, retries=3, timeout=60.0, backoff=1.0, seed=0):
        self.url = url if url.rstrip("/").endswith("/chat/completions") else url.rstrip("/") + "/chat/completions"
        self.model, self.cache, self.retries, self.timeout, self.backoff, self.seed = \
            model, cache, retries, timeout, backoff, seed
        self.memo, self.calls = {}, 0
        if cache and os.path.exists(cache) and os.path.getsize(cache):
            self.memo = {r.get("key"): r.get("verdict") for _, r in read_records(cache)}

    def ask(self, prompt):
        """'a' or 'b', from the cache or the endpoint."""
        key = hashlib.sha256(json.dumps([self.model, prompt]).encode()).hexdigest()
        if self.memo.get(key) in ("a", "b"):
            return self.memo[key]
        body = json.dumps({"model": self.model, "temperature": 0, "max_tokens": 16,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        headers = {"Content-Type": "application/json"}
        if os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = "Bearer " + os.environ["OPENAI_API_KEY"]
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            self.calls += 1
            try:
                with urllib.request.urlopen(urllib.request.Request(self.url, body, headers), timeout=self.timeout) as r:
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
            except (OSError, ValueError, LookupError, TypeError, AttributeError) as e:   # timeouts, bad replies
                err = f"{type(e).__name__}: {e}"
        raise JudgeError(f"{self.url}: no usable answer after {attempt + 1} attempts ({err})")

    def compare(self, instruction, a, b):
        """1.0 if output a is preferred, 0.0 if b is, 0.5 for identical outputs (not asked)."""
        if a.strip() == b.strip():
            return 0.5
        swap = random.Random(f"{self.seed}:{instruction}").random() < 0.5
        first, second = (b, a) if swap else (a, b)
        return float((self.ask(JUDGE_PROMPT.format(instruction=instruction, a=first, b=second)) == "a") != swap)


def alpaca_eval_command(model_outputs, reference_outputs):
    """The official AlpacaEval 2 judge (the paper's, Hewitt §3) on our files: the LC win rate."""
    return (f"alpaca_eval --model_outputs {model_outputs} --reference_outputs {reference_outputs} "
            "--annotators_config weighted_alpaca_eval_gpt4_turbo")


# ------------------------------------------------------------------------------------------ command line
def table(header, rows):
    fmt = lambda x: "-" if x is None else f"{x:.1f}" if isinstance(x, float) else str(x)   # noqa: E731
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
                     ["| " + " | ".join(map(fmt, r)) + " |" for r in rows])


def write_json(path, obj):
    """Written to a temporary file and renamed, so a failed run leaves no half-written result."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def command(name, text, model=False):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--json", help="also write the results to this JSON file")
        if model:
            p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
            p.add_argument("--dtype", default="float32", help="weights' dtype (Wu and Hewitt score in float32)")
            p.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
            p.add_argument("--max-len", type=int, default=1024, help="truncate sequences to this many tokens")
        return p
    p = command("checks", "Score each output pass/fail against its eval record's criterion, per file.")
    p.add_argument("--eval", required=True, help="eval set JSONL with 'instruction' and 'criterion'")
    p.add_argument("outputs", nargs="+", help="output files (AlpacaEval list: instruction, output)")
    p = command("winrate", "Win rates from the checks against reference outputs of the same seed (ties = half).")
    p.add_argument("--eval", required=True, help="eval set JSONL with 'instruction' and 'criterion'")
    p.add_argument("--against", required=True, help="comma-separated reference outputs, one per seed (IT model)")
    p.add_argument("--files", action="append", required=True,
                   help="comma-separated outputs of one condition, one per seed (or one set against every "
                        "seed); repeat the flag for more conditions")
    p.add_argument("--plot", help="also draw the win rates as bars into this image (needs matplotlib)")
    p = command("rank", "Response ranking capability, Hewitt §4.2: paper-code and Eq. 3 variants.", model=True)
    p.add_argument("--checkpoint", required=True, help="HF checkpoint directory")
    p.add_argument("--data", required=True, help="(instruction, response) pairs: messages JSONL, Alpaca, AlpacaEval")
    p.add_argument("--limit", type=int, default=1000, help="use the first N pairs (the paper: 1000)")
    p.add_argument("--distractors", type=int, default=5, help="distractor responses per pair (the paper: 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the distractor draws (the paper: 0)")
    p = command("stats", "Output statistics per file: length, EOS, repetition, restating, task style.")
    p.add_argument("files", nargs="+", help="output files (AlpacaEval list, or messages JSONL)")
    p.add_argument("--tokenizer", help="tokenizer.model or checkpoint directory: lengths in tokens, not words")
    p.add_argument("--max-new-tokens", type=int, default=256, help="the generation cap: shorter outputs met EOS")
    p.add_argument("--eval", help="toy eval set: split task style by the records' 'near' task")
    p = command("attribution", "Wu et al.'s instruction attribution of each model on its own greedy responses.",
                model=True)
    p.add_argument("--checkpoints", nargs="+", required=True, help="checkpoint directories, base model first")
    p.add_argument("--eval", required=True, help="prompts file ('instruction', 'prompt' or 'messages')")
    p.add_argument("--limit", type=int, default=50, help="use the first N prompts (a backward pass per token)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="response length cap (Wu: 200-300)")
    p.add_argument("--min-tokens", type=int, default=5, help="drop shorter responses (Wu: 5)")
    p = command("im", "IM diagnostics (Shi et al.): response-only NLL on train vs held-out, BLEU-4.", model=True)
    p.add_argument("--checkpoint", nargs="+", required=True, help="checkpoint directories (e.g. IT and IM)")
    p.add_argument("--train", required=True, help="the training set (messages JSONL)")
    p.add_argument("--heldout", required=True, help="held-out conversations (messages JSONL)")
    p.add_argument("--limit", type=int, default=1000, help="use the first N conversations of each file")
    p.add_argument("--bleu", type=int, default=0, help="BLEU-4 of greedy outputs on the first N training prompts")
    p = command("judge", "Pairwise judge via an OpenAI-compatible endpoint; prints the alpaca_eval command too.")
    p.add_argument("--url", required=True, help="endpoint base URL, e.g. http://localhost:8000/v1")
    p.add_argument("--model", required=True, help="judge model name")
    p.add_argument("--against", required=True, help="comma-separated reference outputs, one per seed")
    p.add_argument("--files", action="append", required=True, help="comma-separated outputs of one condition")
    p.add_argument("--cache", default="judge_cache.jsonl", help="answers cache (JSONL); a rerun costs nothing")
    p.add_argument("--retries", type=int, default=3, help="retries after a timeout or server error")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--seed", type=int, default=0, help="seed of the order randomisation")
    a = ap.parse_args()

    if a.cmd in ("checks", "winrate"):
        ev = read_eval(a.eval)
        ins, memo = [r["instruction"] for r in ev], {}
        passed = lambda f: memo.setdefault(f, [check(o, r["criterion"]) for o, r in zip(align(ins, f), ev)])  # noqa
    if a.cmd == "checks":
        res = {f: pass_rates(ev, passed(f)) for f in a.outputs}
        fams = sorted({k for v in res.values() for k in v["by_family"]})
        print(table(["file", "pass %"] + fams, [[f, v["pass"]] + [v["by_family"].get(k) for k in fams]
                                                for f, v in res.items()]))
    elif a.cmd in ("winrate", "judge"):
        against, res, rows = a.against.split(","), {}, []
        judge = Judge(a.url, a.model, a.cache, a.retries, a.timeout, seed=a.seed) if a.cmd == "judge" else None
        for cond in a.files:
            rates, failed = [], []
            for f, ref in seed_pairs(cond.split(","), against):
                if judge:
                    pairs = read_pairs(ref)
                    outs, v = align([i for i, _ in pairs], f), []
                    for (i, r), o in zip(pairs, outs):
                        try:
                            v.append(judge.compare(i, o, r))
                        except JudgeError as e:
                            failed.append(str(e))
                    rates.append(100 * statistics.mean(v) if v else None)
                else:
                    rates.append(winrate(passed(f), passed(ref)))
                print(alpaca_eval_command(f, ref))
            if failed:
                raise UserError(f"{len(failed)} judgements failed, none scored (first: {failed[0]}); answers "
                                f"so far are cached in {a.cache}, a rerun asks only the rest")
            m, s = mean_std(rates)
            res[cond] = {"winrate_%": m, "std": s, "per_seed": rates}
            rows.append([cond, m, s, " ".join(f"{x:.1f}" for x in rates)])
        print(table(["condition", "win rate %", "std", "per seed"], rows))
        if getattr(a, "plot", None):
            try:
                import matplotlib
                matplotlib.use("Agg")
                import matplotlib.pyplot as plt
            except ImportError:
                raise UserError("--plot needs matplotlib (pip install matplotlib); the table above needs nothing")
            plt.figure(figsize=(1 + len(rows), 3))
            plt.bar(range(len(rows)), [r[1] for r in rows], yerr=[r[2] for r in rows], capsize=3)
            plt.axhline(50, color="gray", lw=0.5)
            plt.xticks(range(len(rows)), [os.path.basename(r[0].split(",")[0]) for r in rows], rotation=30, ha="right")
            plt.ylabel("win rate vs reference (%)")
            plt.tight_layout()
            plt.savefig(a.plot)
    elif a.cmd == "rank":
        model, tok = load(a.checkpoint, a.device, a.dtype)
        res = ranking(model, tok, read_pairs(a.data)[:a.limit], a.distractors, a.seed, a.batch_size, a.max_len)
        print(table(list(res), [list(res.values())]))
    elif a.cmd == "stats":
        tok = Tokenizer(a.tokenizer) if a.tokenizer else None
        ev = read_eval(a.eval) if a.eval else None
        res = {}
        for f in a.files:
            pairs = list(zip([r["instruction"] for r in ev], align([r["instruction"] for r in ev], f))) if ev \
                else read_pairs(f)
            res[f] = output_stats(pairs, tok, a.max_new_tokens, [r.get("near") for r in ev] if ev else None)
        keys = ["n", "mean_len", "eos_%", "rep_ngram_%", "restates_%", "continues_%"]
        print(table(["file"] + keys + [f"{k} %" for k in STYLES],
                    [[f] + [v[k] for k in keys] + list(v["style_%"].values()) for f, v in res.items()]))
    elif a.cmd == "attribution":
        models = [load(c, a.device, a.dtype) for c in a.checkpoints]
        out = attribution(models, read_instructions(a.eval)[:a.limit], a.max_new_tokens, a.min_tokens,
                          a.batch_size, progress=True)
        res = dict(zip(a.checkpoints, out))
        print(table(["checkpoint", "n", "Wu score", "instruction share %", "diff vs first", "95% CI"],
                    [[c, v["n"], v["score"], v["share_%"], v["diff_vs_first"],
                      v["diff_ci95"] and "[{:.3f}, {:.3f}]".format(*v["diff_ci95"])] for c, v in res.items()]))
    elif a.cmd == "im":
        train = [conversation(w, r) for w, r in read_records(a.train)[:a.limit]]
        held = [conversation(w, r) for w, r in read_records(a.heldout)[:a.limit]]
        res = {}
        for c in a.checkpoint:
            model, tok = load(c, a.device, a.dtype)
            (tr, tr_skip), (he, he_skip) = (response_nll(model, tok, x, a.batch_size, a.max_len) for x in (train, held))
            res[c] = {"train_nll": tr, "heldout_nll": he, "skipped": tr_skip + he_skip}
            if a.bleu:
                from generate import generate
                outs = generate(model, tok, [t[0]["content"] for t in train[:a.bleu]], batch_size=a.batch_size)
                res[c]["train_bleu4"] = statistics.mean(bleu4(o, t[1]["content"]) for o, t in zip(outs, train))
        print(table(["checkpoint", "train NLL", "held-out NLL", "BLEU-4 train"],
                    [[c, v["train_nll"], v["heldout_nll"], v.get("train_bleu4")] for c, v in res.items()]))
    if a.json:
        write_json(a.json, res)


if __name__ == "__main__":
    cli(main)
