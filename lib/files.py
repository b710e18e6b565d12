"""Reading and writing files: JSON, JSONL and text with file:line errors, and writes that no crash leaves
half-done (a temporary file renamed over the old one). Imports nothing of the method."""
import json
import os
import re
import tempfile

from lib.cli import UserError


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


def exists(path, resume="--resume to continue it or "):
    """The error of an output that exists: a command replaces or continues one only when told to."""
    return UserError(f"{path}: exists; pass {resume}--overwrite to replace it")


# The longest suffix or prefix a file gets beside an output: <output>.settings, .lock-<output>
BESIDE = len(".settings")


def check_output(output, source=None, overwrite=True):
    """Fail now, not after the work, if `output` cannot be written: the `source` file, a directory, a folder we
    may not write to, a name too long for the folder (with what is kept beside it), or (without `overwrite`) a
    file that exists."""
    folder = os.path.dirname(os.path.abspath(output))
    if source is not None and os.path.realpath(output) == os.path.realpath(source):
        raise UserError(f"--output {output} is the --input file: it would replace the instructions")
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except OSError as e:
        raise UserError(f"{output}: cannot write there ({e.strerror})")
    if os.path.isdir(output):
        raise UserError(f"{output}: is a directory, not an output file")
    if len(os.path.basename(output).encode()) + BESIDE > longest:
        raise UserError(f"{output}: the name is too long for its folder (at most {longest - BESIDE} bytes)")
    if not overwrite and os.path.exists(output):
        raise exists(output, resume="")


def append_jsonl(path, record):
    """Add one record to a JSONL log."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
