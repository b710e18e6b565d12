"""An optional pairwise judge for `python evaluate.py judge`: any OpenAI-compatible /chat/completions endpoint
asked which of two outputs follows the instruction better, as AlpacaEval's GPT-4 judge is asked. The command's
flags (add_arguments) and its win rates over seeds (win_rates) are here too."""
import contextlib
import hashlib
import http.client
import json
import os
import random
import signal
import statistics
import threading
import time
import urllib.error
import urllib.request

from lib.cli import UserError
from lib.conversations import align, read_pairs
from lib.files import read_records
from lib.report import conditions, over_seeds

JUDGE_PROMPT = ("Which output follows the instruction better: more helpful, accurate and relevant? Ignore the "
                "order in which they are shown.\n\n# Instruction\n{instruction}\n\n# Output (a)\n{a}\n\n"
                '# Output (b)\n{b}\n\nAnswer with exactly "Output (a)" or "Output (b)".')
MAX_REPLY = 1 << 20                 # bytes of a reply: an answer of max_tokens 16 is a few hundred


class JudgeError(Exception):                                    # no usable answer: reported, never scored
    pass


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are never followed: the key would go with them wherever they point (another host, plain
    http), and the reply to the GET a 302 turns the POST into would be read as a verdict. urllib then raises
    the 3xx reply as an HTTPError."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Judge:
    """A pairwise judge at any OpenAI-compatible /chat/completions endpoint: AlpacaEval-style prompt, the order
    randomised per instruction, answers cached (JSONL) so a rerun asks only what is missing. `timeout` bounds a
    whole call, however slowly the server sends, and a reply is read up to `max_reply` bytes. Timeouts,
    HTTP 429 and 5xx, unusable replies: retried with backoff, then JudgeError. Key: $OPENAI_API_KEY, if set,
    and sent only over https, to `url` only: a redirect is an error, never followed."""

    def __init__(self, url, model, cache=None, retries=3, timeout=60.0, backoff=1.0, seed=0,
                 max_reply=MAX_REPLY):
        if not (retries >= 0 and timeout > 0):
            raise UserError(f"the judge needs --retries >= 0 and --timeout > 0, got {retries} and {timeout}")
        if cache and os.path.islink(cache):
            raise UserError(f"{cache}: the judge's cache is a symbolic link; give a plain file")
        if cache:                                   # fail now, not after paying for answers it cannot keep
            append(cache, "")
        base = url.rstrip("/")
        self.url = url if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model, self.cache, self.retries, self.timeout, self.backoff, self.seed, self.max_reply = \
            model, cache, retries, timeout, backoff, seed, max_reply
        self.opener = urllib.request.build_opener(NoRedirects)
        self.calls, self.memo = 0, ({r.get("key"): r.get("verdict") for _, r in read_records(cache)}
                                    if cache and os.path.exists(cache) and os.path.getsize(cache) else {})

    def ask(self, prompt):                                      # 'a' or 'b', from the cache or the endpoint
        key = hashlib.sha256(json.dumps([self.model, prompt]).encode()).hexdigest()
        if self.memo.get(key) in ("a", "b"):
            return self.memo[key]
        body = json.dumps({"model": self.model, "temperature": 0, "max_tokens": 16,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        headers = {"Content-Type": "application/json"}
        if os.environ.get("OPENAI_API_KEY") and self.url.startswith("https://"):
            headers["Authorization"] = "Bearer " + os.environ["OPENAI_API_KEY"]
        err = "no attempt"
        for attempt in range(self.retries + 1):
            time.sleep(self.backoff * 2 ** (attempt - 1) if attempt else 0)
            self.calls += 1
            try:
                req = urllib.request.Request(self.url, body, headers)
                with deadline(self.timeout), self.opener.open(req, timeout=self.timeout) as r:
                    text = json.loads(read_body(r, time.monotonic() + self.timeout, self.max_reply))
                text = text["choices"][0]["message"]["content"].lower()
                if ("output (a)" in text) == ("output (b)" in text):
                    raise ValueError(f"unusable answer {text[:80]!r}")
                verdict = self.memo[key] = "a" if "output (a)" in text else "b"
                if self.cache:
                    append(self.cache, json.dumps({"key": key, "verdict": verdict}) + "\n")
                return verdict
            except urllib.error.HTTPError as e:
                err = f"HTTP {e.code} {e.reason}"
                if 300 <= e.code < 400:
                    err += f" to {e.headers.get('Location')}, not followed: give the endpoint's own URL"
                # A bad request or key: asking again will not help.
                if e.code != 429 and e.code < 500:
                    break
            # RecursionError: a reply nested deeper than json can read ([[[[...]]]] 200,000 deep)
            except (OSError, http.client.HTTPException, ValueError, LookupError, TypeError, AttributeError,
                    RecursionError) as e:
                err = f"{type(e).__name__}: {e}"
        raise JudgeError(f"{self.url}: no usable answer after {attempt + 1} attempts ({err})")

    def compare(self, instruction, a, b):
        """1.0 if output a is preferred, 0.0 if b is, 0.5 for identical outputs (not asked)."""
        if a.strip() == b.strip():
            return 0.5
        swap = random.Random(f"{self.seed}:{instruction}").random() < 0.5
        first, second = (b, a) if swap else (a, b)
        return float((self.ask(JUDGE_PROMPT.format(instruction=instruction, a=first, b=second)) == "a") != swap)


def out_of_time(signum, frame):
    raise TimeoutError("timed out: the whole call took longer than --timeout")


@contextlib.contextmanager
def deadline(seconds):
    """TimeoutError (SIGALRM) once `seconds` pass, wherever the call is: the socket timeout bounds each
    read only, and a server sending its headers a byte at a time would hold the call for ever. Outside the main
    thread, where no signal handler can be set, read_body's deadline holds for the body, and for the headers
    only the socket's timeout of each read."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read_body(response, until, limit):
    """The body of an HTTP response: TimeoutError once the clock passes `until`, ValueError past `limit` bytes
    (a 300 MB reply would otherwise be read whole)."""
    chunks, size = [], 0
    while size <= limit:
        if time.monotonic() > until:
            raise TimeoutError("timed out: the whole call took longer than --timeout")
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise ValueError(f"a reply over {limit} bytes")


def append(path, text):
    """Add text to the cache file, never through a symbolic link: a --cache that links to a data file would
    write into that file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        raise UserError(f"{path}: cannot write the judge's cache there ({e.strerror})")
    with os.fdopen(fd, "a") as f:
        f.write(text)


def judge_file(judge, path, rows):
    """Win rate (%) of the outputs of `path` over the reference's, as the judge sees them, from rows of
    (instruction, output, reference output). Failures are raised together at the end."""
    verdicts, failed = [], []
    for ins, out, ref in rows:
        try:
            verdicts.append(judge.compare(ins, out, ref))
        except JudgeError as e:
            failed.append(str(e))
    if failed:
        raise UserError(f"{path}: {len(failed)} judgements failed, none scored (first: {failed[0]}); the "
                        f"answers so far are cached in {judge.cache}, a rerun asks only the rest")
    return 100 * statistics.mean(verdicts)


def paired(path, reference):
    """(instruction, output of path, output of reference) for each record of the reference file."""
    pairs = read_pairs(reference)
    return [(ins, out, ref) for (ins, ref), out in zip(pairs, align([i for i, _ in pairs], path))]


def add_arguments(p):
    """The flags of `evaluate.py judge` beside --against and --files."""
    p.add_argument("--url", required=True, help="endpoint base URL, e.g. http://localhost:8000/v1")
    p.add_argument("--model", required=True, help="judge model name")
    p.add_argument("--cache", default="judge_cache.jsonl", help="answers cache (JSONL); a rerun costs nothing")
    p.add_argument("--retries", type=int, default=3, help="retries after a timeout or a server error")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--seed", type=int, default=0, help="seed of the order randomisation")


def win_rates(a):
    """{condition: win rate (%) as the judge sees it, mean and std over seeds, per seed} of --files against
    --against (`a`: the command's flags)."""
    judge = Judge(a.url, a.model, a.cache, a.retries, a.timeout, seed=a.seed)
    res = {}
    for cond, pairs in conditions(a.against, a.files).items():
        rates = [judge_file(judge, f, paired(f, ref)) for f, ref in pairs]
        res[cond] = over_seeds(rates)
    return res
