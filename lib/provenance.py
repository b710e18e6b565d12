"""What a result is made of: its inputs by content, its settings and the code that ran, recorded beside it.
A run, an output file or a measure is reused only while what it would be made of now is the same."""
import hashlib
import json
import os

from lib.files import write_atomic, write_json

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
    """The names of the settings in which a saved record differs from the wanted one, as a phrase ("" when
    none): "code (train.py)" for a record of records."""
    if not isinstance(saved, dict):
        return "settings (none recorded)"
    keys = [k for k in wanted if saved.get(k) != wanted[k]] + [k for k in saved if k not in wanted]
    inner = {k: differences(saved[k], wanted[k]) for k in keys
             if isinstance(saved.get(k), dict) and isinstance(wanted.get(k), dict)}
    return ", ".join(f"{k} ({inner[k]})" if inner.get(k) else k for k in keys)


# The code each kind of result depends on, recorded as {file: sha256} when the work starts.
CODE = {"train": ("model.py", "chat.py", "train.py", "lib/run.py", "lib/distributed.py", "lib/rundir.py",
                  "lib/hf.py", "lib/files.py", "lib/conversations.py"),
        "generate": ("model.py", "chat.py", "generate.py", "rules.py", "lib/generation.py", "lib/hf.py"),
        "tables": ("model.py", "chat.py", "train.py", "generate.py", "rules.py", "evaluate.py", "data/criteria.py",
                   "data/sandbox.py", "data/game.py", "lib/conversations.py", "lib/generation.py",
                   "lib/report.py", "experiments/reproduce.py")}


def made_of(settings, inputs, code):
    """What a result is made of: its `settings`, its `inputs` ({name: path}) by content and the `code` it runs
    (a key of CODE), hashed now: the code that runs, even if edited while it runs."""
    return {**settings, **{k: fingerprint(p) for k, p in inputs.items()}, "code": code_sha256(CODE[code])}


def kept(path, made, compute):
    """compute()'s result (JSON), kept at `path` with what it was `made` of and reused while that is the same:
    a rerun that changed no checkpoint, data or code does not compute it again."""
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        if saved["made_of"] == made:
            return saved["result"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = compute()
    write_json(path, {"made_of": made, "result": result})
    return result


# ------------------------------------------------------------------------------------ an output file's record
def record_path(path):
    """Where what an output file is made of is kept: beside it, <output>.settings."""
    return path + ".settings"


def write_recorded(path, text, made):
    """Write `text` at `path` and what it is `made` of beside it, so that no crash can leave them mismatched:
    the record first, holding the text's sha256, then the text; recorded() checks the pair."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    write_json(record_path(path), {**made, "sha256": digest})
    write_atomic(path, text)


def recorded(path):
    """What the file at `path` was made of (write_recorded), or None when no record matches the file (none
    kept, or a run cut short between the two writes)."""
    try:
        with open(record_path(path), encoding="utf-8") as f:
            made = json.load(f)
        digest = made.pop("sha256")
        return made if digest == sha256(path) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def stale(path, made):
    """Why the outputs at `path` cannot be continued by a run `made` of this, as a phrase naming what differs;
    None when they can (or there are none)."""
    if not os.path.exists(path):
        return None
    return differences(recorded(path), made) or None
