"""Plumbing that a reader of the method can skip: one-line errors for bad input, reading JSON, JSONL and text
with file:line errors, one atomic write, the run directory's safety (a lock, a save swapped in whole, recovery
of an interrupted save), results over seeds and the files a comparison pairs, BLEU, tables. Imports nothing of
ours."""
import argparse
import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections import Counter


class UserError(Exception):
    """Bad input from the user (a file, a flag): the command line prints one line and exits with code 2."""


def cli(main):
    """Run main(); a UserError becomes one line on stderr and exit code 2, with nothing half-written. In the
    course's student copy, code an assignment leaves to be written raises NotImplementedError("assignment N:
    ..."): a command that needs it stops with that one line and exit code 1, not a traceback."""
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except NotImplementedError as e:
        if not str(e).startswith("assignment "):
            raise
        print(f"error: not done yet: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:                   # Ctrl-C before a run catches it itself: what was saved stays
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:                     # the reader went away (e.g. `| head`): no traceback
        sys.stderr.close()
        sys.exit(1)


def require(checks):
    """Flags checked at parse time, {"--flag >= 1": holds, ...}: the first that fails is a one-line error."""
    for need, ok in checks.items():
        if not ok:
            raise UserError(f"need {need}")


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, but no "(default: None)"."""

    def _get_help_string(self, action):
        return action.help if action.default in (None, False) else super()._get_help_string(action)


# ------------------------------------------------------------------------------------------------ reading
LIST_GAP = re.compile(r"[\s,]*")              # between the items of a JSON list


def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise UserError(f"{path}: input file not found")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read ({e})")


def read_json(path, what):
    """The JSON value of a file; any failure to read it is a one-line error naming `what` it should be."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise UserError(f"{path}: cannot read {what}: {e}")


def read_records(path, need=None):
    """[(where, record)]: the JSON objects of a JSON list, or of a JSONL file (blank lines skipped); `where` is
    "file:line", for error messages. `need`: a key every record must have, with a string."""
    text, records, n, where = read_text(path), [], 1, f"{path}:1"
    try:
        # A JSON list: decoded item by item for lines, then checked whole.
        if text.lstrip().startswith("["):
            decoder, pos = json.JSONDecoder(), text.index("[") + 1
            while True:
                start = LIST_GAP.match(text, pos).end()
                if start >= len(text) or text[start] == "]":
                    break
                where = f"{path}:{text.count(chr(10), 0, start) + 1}"
                record, pos = decoder.raw_decode(text, start)
                records.append((where, record))
            json.loads(text)
        else:
            for n, line in enumerate(text.splitlines(), 1):
                where = f"{path}:{n}"
                if line.strip():
                    records.append((where, json.loads(line)))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{n + e.lineno - 1}: not valid JSON ({e.msg})")
    # A number of over 4,300 digits, nesting too deep for Python.
    except (ValueError, RecursionError) as e:
        raise UserError(f"{where}: cannot read this JSON ({str(e).split(':')[0]})")
    if not records:
        raise UserError(f"{path}: no records (empty file)")
    for where, r in records:
        if not isinstance(r, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(r).__name__}")
        if need and not isinstance(r.get(need), str):
            raise UserError(f"{where}: record has no {need!r} string")
        try:                                        # "\ud800" decodes to a string that is not text
            json.dumps(r, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise UserError(f"{where}: a lone surrogate escape (\\ud800-\\udfff), not text")
    return records


def conversation(where, r, need_response=True):
    """A record as chat messages: messages (LIMA, open-instruct, the toy sets), Alpaca (instruction, input,
    output), AlpacaEval outputs (instruction, output) or the toy eval set (instruction, reference)."""
    if "messages" not in r:
        ins, out = r.get("instruction"), r.get("output", r.get("reference", None if need_response else ""))
        if not isinstance(ins, str) or not isinstance(out, str):
            need = "missing 'messages', or string 'instruction'" + " and 'output'" * need_response
            raise UserError(f"{where}: {need}")
        if isinstance(r.get("input"), str) and r["input"]:
            ins += "\n\n" + r["input"]                  # open-instruct's join
        return [{"role": "user", "content": ins}, {"role": "assistant", "content": out}]
    msgs = r["messages"]
    if not isinstance(msgs, list) or not msgs:
        raise UserError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    for i, m in enumerate(msgs):                    # user, assistant, user, ... each with a content string
        role = m.get("role") if isinstance(m, dict) else None
        if role != ("user", "assistant")[i % 2] or not isinstance(m.get("content"), str):
            raise UserError(f"{where}: message {i + 1}: unknown role {role!r} or no 'content' string "
                            f"(expected {('user', 'assistant')[i % 2]!r}: turns alternate user, assistant)")
    return msgs


def load_conversations(path):
    """[(where, messages)] from messages JSONL (LIMA, open-instruct) or Alpaca records (JSON or JSONL)."""
    return [(where, conversation(where, r)) for where, r in read_records(path)]


def load_documents(path):
    """Pretraining documents: {"text": ...} JSONL, or plain text with documents separated by blank lines."""
    if not path.endswith(".jsonl"):
        docs = [d.strip("\n") for d in read_text(path).split("\n\n") if d.strip()]
        if not docs:
            raise UserError(f"{path}: no documents (empty file)")
        return docs
    docs = []
    for where, r in read_records(path):
        if not isinstance(r.get("text"), str):
            raise UserError(f"{where}: missing 'text' (a string)")
        docs.append(r["text"])
    return docs


def read_pairs(path):
    """(instruction, response) of the first turn of each record of a conversations or outputs file."""
    convs = load_conversations(path)
    for where, c in convs:
        if len(c) < 2:
            raise UserError(f"{where}: 'messages' has no assistant turn")
    return [(c[0]["content"], c[1]["content"]) for _, c in convs]


def align(instructions, path):
    """The outputs of `path` in the order of `instructions`. Matched by instruction text: the k-th occurrence of
    an instruction in one file matches its k-th occurrence in the other; anything unmatched is an error."""
    slots = {}
    for ins, out in read_pairs(path):
        slots.setdefault(ins.strip(), []).append(out)
    res = [slots[i.strip()].pop(0) if slots.get(i.strip()) else None for i in instructions]
    if None in res:
        missing = instructions[res.index(None)]
        raise UserError(f"{path}: no output for the evaluation instruction {missing[:60]!r}")
    if any(slots.values()):
        extra = next(k for k, v in slots.items() if v)
        raise UserError(f"{path}: {sum(map(len, slots.values()))} outputs whose instruction is not in the "
                        f"evaluation set, e.g. {extra[:60]!r}")
    return res


# ------------------------------------------------------------------------------------------------ writing
def default_mode(path):
    """Give a file the mode open() would, under the umask (mkstemp and safetensors make files private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def fsync(path):
    """Flush a file or directory to disk, so a rename that follows never makes an unwritten file visible."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, text):
    """Write a text file atomically: a temporary file beside `path`, then os.replace, so no reader ever sees
    half of it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        default_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json(path, obj):
    """Write JSON atomically (write_atomic)."""
    write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False))


def check_output(output, source=None):
    """Fail now, not after the work, if `output` cannot be written: the `source` file, a directory, or a folder
    we may not write to."""
    folder = os.path.dirname(os.path.abspath(output))
    if source is not None and os.path.realpath(output) == os.path.realpath(source):
        raise UserError(f"--output {output} is the --input file: it would replace the instructions")
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise UserError(f"{output}: cannot write there ({e.strerror})")
    if os.path.isdir(output):
        raise UserError(f"{output}: is a directory, not an output file")


# --------------------------------------------------------------------------------- what a run was made of
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = (".safetensors", ".json", ".model")     # a checkpoint's files: weights, config, tokenizer


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(path):
    """What a run read, by content wherever it lies: a file's sha256, or for a checkpoint folder the sha256 of
    its weights, config and tokenizer files (by name; not its log or optimizer state). None for None."""
    if path is None:
        return None
    if os.path.isfile(path):
        return sha256(path)
    if not os.path.isdir(path):
        return f"missing: {path}"
    names = sorted(n for n in os.listdir(path) if n.endswith(WEIGHTS) and os.path.isfile(os.path.join(path, n)))
    return hashlib.sha256(json.dumps([[n, sha256(os.path.join(path, n))] for n in names]).encode()).hexdigest()


def code_sha256(files):
    """{file: sha256} of the project's files (paths from the repository root): the code a result came from."""
    return {f: sha256(os.path.join(ROOT, f)) for f in files}


def differences(saved, wanted):
    """The names of the settings in which a saved record differs from the wanted one, as a phrase."""
    if not isinstance(saved, dict):
        return "settings (none recorded)"
    keys = [k for k in wanted if saved.get(k) != wanted[k]] + [k for k in saved if k not in wanted]
    return ", ".join(keys)


# ------------------------------------------------------------------------------------ the run directory
def staging(path):
    """The parent of a directory written whole, and the names beside it where a save writes (.tmp-NAME) and
    puts the old one aside (.old-NAME)."""
    parent, name = os.path.split(os.path.abspath(path))
    return parent, os.path.join(parent, f".tmp-{name}"), os.path.join(parent, f".old-{name}")


def remove(path):
    """Remove a directory tree, or only the link if `path` is a symbolic link (never what it points to)."""
    if os.path.islink(path):
        os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def recover(path):
    """Finish or undo an interrupted save of `path`: the old directory put aside comes back if the new one
    never came in, and is removed if it did; a half-written new one is removed."""
    parent, tmp, old = staging(path)
    if os.path.isdir(old) and not os.path.islink(old) and not os.path.lexists(path):
        os.rename(old, path)
    remove(old)
    remove(tmp)


def replace_dir(path, write):
    """Write a directory whole: write(folder) fills .tmp-NAME beside `path`, which is synced, then swapped in
    by two renames (the old one to .old-NAME first): a crash at any instant leaves a whole directory that
    recover() finds. A symbolic link at `path` is replaced, never written through. A write that fails (a full
    disk, a read-only one) is a one-line error and leaves the old directory as it was."""
    parent, tmp, old = staging(path)
    os.makedirs(parent, exist_ok=True)
    recover(path)
    os.mkdir(tmp)
    try:
        try:
            write(tmp)
            # On disk before the renames.
            for name in os.listdir(tmp):
                default_mode(os.path.join(tmp, name))
                fsync(os.path.join(tmp, name))
            fsync(tmp)
        except OSError as e:
            kept = "the old one is kept" if os.path.lexists(path) else "nothing was written"
            raise UserError(f"{path}: cannot save there ({e.strerror or e}); {kept}")
        # The swap: old aside, new in, old removed (by recover below).
        if os.path.lexists(path):
            os.rename(path, old)
        os.rename(tmp, path)
        fsync(parent)
    finally:
        recover(path)                                   # removes the old one, or puts it back


def holds(folder, path):
    """Whether `path` is `folder` or lies inside it."""
    folder, path = os.path.realpath(folder), os.path.realpath(path)
    return os.path.commonpath([folder, path]) == folder


# The files a run directory of train.py holds; --overwrite replaces no directory holding anything else.
RUN_FILE = re.compile(r"config\.json|tokenizer\.model|state\.pt|log\.jsonl|"
                      r"model(-\d+-of-\d+)?\.safetensors(\.index\.json)?")


def check_run_dir(out, inputs, resume, overwrite):
    """Every save replaces the run directory `out` whole, so it must be new, empty or a run of train.py with
    nothing else in it; it may not hold an input or the working directory, nor lie inside an input, nor be a
    symbolic link (what it points to would keep the log of a run cut short)."""
    inputs = [p for p in inputs if p]
    clash = [p for p in inputs + [os.getcwd()] if holds(out, p)] + [p for p in inputs if holds(p, out)]
    if clash:
        raise UserError(f"--out {out} would replace {clash[0]}: a save replaces the whole run directory")
    if os.path.islink(out):
        raise UserError(f"--out {out} is a symbolic link (to {os.path.realpath(out)}): give a directory")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"{out}: exists and is not a directory")
    names = os.listdir(out) if os.path.isdir(out) else []
    foreign = [n for n in names if not (RUN_FILE.fullmatch(n) and os.path.isfile(os.path.join(out, n)))]
    if resume and "state.pt" not in names:
        raise UserError(f"{out}: no run to resume (no state.pt)")
    if names and not (resume or overwrite):
        raise UserError(f"{out}: exists; pass --resume to continue it or --overwrite to replace it")
    if foreign or names and not {"state.pt", "log.jsonl"} & set(names):
        raise UserError(f"{out}: not a run of train.py (it holds {(foreign or names)[0]}); not replacing it")


def trim_log(path, step):
    """Keep the lines of a JSONL log up to `step`: forget what was logged after the checkpoint, and a line cut
    by a crash. No log, or step 0: an empty one. The log it replaces is put aside as .old-NAME in the same
    folder, where the next save of the run directory drops it and a run ended before that save gets it back
    (put_back): a failed --overwrite leaves the old run whole. A symbolic link is moved, never written
    through."""
    keep = []
    for line in read_text(path).splitlines(True) if step and os.path.isfile(path) else []:
        try:
            done = json.loads(line)["step"] > step
        except (ValueError, TypeError, KeyError):        # not a line of ours: what follows is not kept either
            done = True
        if done or not line.endswith("\n"):
            break
        keep.append(line)
    folder, name = os.path.split(os.path.abspath(path))
    aside = os.path.join(folder, f".old-{name}")
    if os.path.lexists(path) and not os.path.lexists(aside):
        os.replace(path, aside)
    write_atomic(path, "".join(keep))


def put_back(out):
    """Undo trim_log in the run directory `out` if no save replaced it since: the logs put aside come back
    (after an interrupted save is finished or undone, which may bring such a log back)."""
    recover(out)
    for name in os.listdir(out) if os.path.isdir(out) and not os.path.islink(out) else []:
        if name.startswith(".old-"):
            os.replace(os.path.join(out, name), os.path.join(out, name.removeprefix(".old-")))


def append_jsonl(path, record):
    """Add one record to a JSONL log."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def take_lock(out):
    """An exclusive flock on a lock file beside `out` that holds our pid: a second run into the same directory
    is an error while the first lives. The kernel drops the lock when its process dies, however it dies, so
    the file a dead run left is simply locked again, and of two processes doing so at once only one wins.
    Returns (the open file's descriptor, its path)."""
    parent, name = os.path.split(os.path.abspath(out))
    lock = os.path.join(parent, f".lock-{name}")
    while True:
        try:
            os.makedirs(parent, exist_ok=True)
            fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o644)
        except OSError as e:                    # a read-only disk, a link planted at the lock's name, a file
            why = "a part of its path is a file" if e.errno in (errno.EEXIST, errno.ENOTDIR) else e.strerror
            raise UserError(f"{lock}: cannot write the lock file of --out there ({why})")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 20).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UserError(f"{out}: another run (pid {pid}) is writing to it")
        # Its last holder removes the file before it lets go: ours must still be the one at `lock`.
        try:
            ours = os.path.samestat(os.fstat(fd), os.stat(lock, follow_symlinks=False))
        except FileNotFoundError:
            ours = False
        if ours:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd, lock


@contextlib.contextmanager
def locked(out, take=True):
    """Hold take_lock(out) while the block runs (`take` False: no lock, as in every process but the first).
    At both ends the logs of a run that ended before its first save are put back (put_back): at the start
    those of a run that was killed, at the end those of this one."""
    fd, lock = take_lock(out) if take else (None, None)
    try:
        if lock:
            put_back(out)
        yield
    finally:
        if lock:
            put_back(out)
            os.unlink(lock)                     # before letting go, so no one locks a file no longer there
            os.close(fd)


# ----------------------------------------------------------------------- results, seeds and comparisons
def mean_std(xs):
    """The mean and the sample standard deviation (0 for one value) of results over seeds."""
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def pct(xs):
    """The share of true values, in %; None for none."""
    return 100 * statistics.mean(xs) if xs else None


def seed_pairs(files, against):
    """(file, reference): seed i with seed i, or one output set (e.g. the rules) against every reference."""
    if len(files) != len(against) and len(files) > 1 and len(against) > 1:
        raise UserError(f"{len(files)} files against {len(against)} references: give one, or one per seed")
    return list(zip(files, against)) if len(files) == len(against) else [(f, a) for f in files for a in against]


def conditions(against, files):
    """{condition: [(output file, reference file) per seed]} of the comma-separated lists --files (one per
    condition) against --against; prints the command that asks the paper's judge (AlpacaEval) the same."""
    if not all(f for c in [against, *files] for f in c.split(",")):
        raise UserError("--against and --files need file names, none empty")
    res = {cond: seed_pairs(cond.split(","), against.split(",")) for cond in files}
    for f, ref in (pair for pairs in res.values() for pair in pairs):
        print(f"alpaca_eval --model_outputs {f} --reference_outputs {ref} --annotators_config "
              "weighted_alpaca_eval_gpt4_turbo")
    return res


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


# ---------------------------------------------------------------------------------------------- tables
def fmt(x):
    if isinstance(x, (list, tuple)):
        return " / ".join(map(fmt, x))
    if isinstance(x, float):
        return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"
    return "-" if x is None else str(x)


def table(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|---" * len(header) + "|"] +
                      ["| " + " | ".join(map(fmt, r)) + " |" for r in rows])


def results_table(res):
    """Markdown table of {file: {measure: value}}, nested measures as 'measure.key'. With many measures (a pass
    rate per family) they are the rows and the files the columns, so the table fits a terminal."""
    rows = {name: flatten(r) for name, r in res.items()}
    cols = list(dict.fromkeys(c for r in rows.values() for c in r))
    if len(cols) > 8:
        return table([""] + list(rows), [[c] + [r.get(c) for r in rows.values()] for c in cols])
    return table([""] + cols, [[name] + [r.get(c) for c in cols] for name, r in rows.items()])


def flatten(d, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def parse(ap, argv=None, values=None):
    """The settings of a command: its command line `argv`, or for a caller in Python `values` by flag name
    (e.g. max_new_tokens=8) with the command line's defaults for the rest."""
    args = ap.parse_args(argv if not values else [])
    empty = [k for k, v in vars(args).items() if v == "" or isinstance(v, list) and "" in v]
    if empty and not values:
        raise UserError(f"--{empty[0].replace('_', '-')} is empty")
    unknown = set(values or ()) - set(vars(args))
    if unknown:
        raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
    vars(args).update(values or {})
    return args


def pyplot(path):
    """matplotlib.pyplot for a figure at `path`, or None with a note when matplotlib is not installed (it is
    optional: requirements-extra.txt)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"no figure {path}: matplotlib is not installed (pip install -r requirements-extra.txt)")
        return None
    return plt
