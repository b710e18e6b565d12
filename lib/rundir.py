"""The run directory's safety: a lock so that two runs never write one directory, a save swapped in whole
(a crash at any instant leaves the old run or the new one), recovery of an interrupted save, and the log kept
in step with the checkpoint."""
import contextlib
import errno
import fcntl
import json
import os
import re
import shutil

from lib.cli import UserError
from lib.files import default_mode, exists, fsync, read_text, write_atomic


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
        raise exists(out)
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


def take_lock(out):
    """An exclusive flock on a lock file beside `out` that holds our pid: a second run writing the same
    directory or file is an error while the first lives. The kernel drops the lock when its process dies, however
    it dies, so the file a dead run left is simply locked again, and of two processes doing so at once only one
    wins.
    Returns (the open file's descriptor, its path)."""
    parent, name = os.path.split(os.path.abspath(out))
    lock = os.path.join(parent, f".lock-{name}")
    while True:
        try:
            os.makedirs(parent, exist_ok=True)
            fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o644)
        except OSError as e:                    # a read-only disk, a link planted at the lock's name, a file
            why = "a part of its path is a file" if e.errno in (errno.EEXIST, errno.ENOTDIR) else e.strerror
            raise UserError(f"{lock}: cannot write a lock file there ({why})")
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
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except OSError as e:                        # a full disk
        os.close(fd)
        raise UserError(f"{lock}: cannot write the lock file ({e.strerror})")
    return fd, lock


@contextlib.contextmanager
def lock(path):
    """Hold take_lock(path) while the block runs: one writer of `path` at a time."""
    fd, name = take_lock(path)
    try:
        yield
    finally:
        os.unlink(name)                         # before letting go, so no one locks a file no longer there
        os.close(fd)


@contextlib.contextmanager
def locked(out, take=True):
    """Hold take_lock(out) while the block runs (`take` False: no lock, as in every process but the first).
    At both ends the logs of a run that ended before its first save are put back (put_back): at the start
    those of a run that was killed, at the end those of this one."""
    with lock(out) if take else contextlib.nullcontext():
        if take:
            put_back(out)
        try:
            yield
        finally:
            if take:
                put_back(out)
