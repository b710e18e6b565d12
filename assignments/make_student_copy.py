"""Write the student copy of the repository: every region of code between the markers

    # >>> assignment N: title
    ...solution lines...
    # <<< assignment N

becomes `raise NotImplementedError("assignment N: title (see assignments/)")`, the markers kept so students
see where to write. Where a raise cannot stand (a module-level table that other modules import), the region's
first line names its stand-in, `# stand-in: CODE`, and CODE replaces the region instead. Everything else is
copied as it is (the files git tracks, or all files outside .git), except what is the lecturer's alone: the
solution's hand-ins, the hidden test set (assignments/lecturer/), the tests of the assignments themselves (they
hold wrong solutions next to right ones), CI, and RESULTS.md (what the experiments found, which assignments 4-8
ask the students to find), and the measured results under data/results/ (the copy has a note there instead). The
lecturer's notes keep their method but lose what answers the assignments: in the files of HIDDEN, each paragraph,
list item or table that holds one of its anchors (the evaluation set's numbers) becomes a note, and the README's
layout no longer names data/results/. In a markdown file, a region between the lines

    <!-- >>> student copy: assignments/student-copy/FILE.md -->
    ...the lecturer's text...
    <!-- <<< student copy -->

becomes the text of that file: the README tells students what runs before their code does, and leaves out the
results. The copy is a git repository of its own, with one commit.

    python assignments/make_student_copy.py ../student-copy            # blank every assignment
    python assignments/make_student_copy.py ../student-copy --only 2   # blank assignment 2 alone
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPEN = re.compile(r"^(\s*)# >>> assignment (\d+): (.+?)\s*$")
CLOSE = re.compile(r"^\s*# <<< assignment (\d+)\s*$")
STAND_IN = re.compile(r"^\s*# stand-in: (.+?)\s*$")
MD_OPEN = re.compile(r"^<!-- >>> student copy: (\S+) -->\s*$")
MD_CLOSE = re.compile(r"^<!-- <<< student copy -->\s*$")
LECTURER_ONLY = ("assignments/handin/", "assignments/lecturer/", ".ci/", "tests/test_assignments.py", "RESULTS.md",
                 "assignments/student-copy/", "data/results/")
# Files of the copy written from assignments/student-copy/ in place of what it leaves out.
NOTES = {"data/results/README.md": "assignments/student-copy/data-results.md"}
# The lecturer's text that gives the evaluation set's numbers, which assignments 4-8 ask the students to find: each
# paragraph, list item or table holding one of these anchors becomes NOTE in the copy.
HIDDEN = {"data/TOYWORLD.md": ("Then, and only then, the evaluation set was scored",
                               "Then the evaluation set was scored", "on val / eval (412 records each)",
                               "| output | passes % |", "The goal of at most 5% for echo",
                               "No candidate meets the rule; by its order",
                               "The audit: partial credit can be won without doing a task",
                               "Asked about two at once, the models answered one",
                               "Response tuning and math took 5 epochs, the lowest count of the grid")}
NOTE = "*(Left out of the student copy: numbers on the evaluation set, which assignments 4-8 ask you to find.)*\n"
# Text of the copy's files replaced as it is written: (pattern, replacement) for re.sub.
EDITS = {"README.md": [(r",\s*results/", "")]}


def blank(text, only=None, where="?"):
    """The text with each marked region (of the assignments in `only`, or all) replaced by a raise, or by the
    region's stand-in."""
    out, open_, pending = [], None, False
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        m, c = OPEN.match(line), CLOSE.match(line)
        if pending:                                          # the first line of a region being blanked
            pending, indent, k, title = False, *open_
            s = STAND_IN.match(line)
            if s:
                out.append(f"{indent}{s[1]}\n")
                continue
            out.append(f'{indent}raise NotImplementedError("assignment {k}: {title} (see assignments/)")\n')
        if m:
            if open_:
                raise ValueError(f"{where}:{n}: assignment {m[2]} opens inside assignment {open_[1]}")
            open_ = (m[1], m[2], m[3])
            pending = only is None or int(m[2]) in only
            out.append(line)
        elif c:
            if not open_ or open_[1] != c[1]:
                raise ValueError(f"{where}:{n}: closes assignment {c[1]}, which is not open")
            open_ = None
            out.append(line)
        elif not open_ or (only is not None and int(open_[1]) not in only):
            out.append(line)
    if open_:
        raise ValueError(f"{where}: assignment {open_[1]} is never closed")
    return "".join(out)


def for_students(text, where="?"):
    """Markdown text with each student-copy region replaced by the text of the file its opening line names."""
    out, open_ = [], None
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        m, c = MD_OPEN.match(line), MD_CLOSE.match(line)
        if m:
            if open_:
                raise ValueError(f"{where}:{n}: a student-copy region opens inside another")
            open_ = n
            with open(os.path.join(ROOT, m[1]), encoding="utf-8") as f:
                out.append(f.read())
        elif c:
            if not open_:
                raise ValueError(f"{where}:{n}: a student-copy region closes that is not open")
            open_ = None
        elif not open_:
            out.append(line)
    if open_:
        raise ValueError(f"{where}:{open_}: a student-copy region is never closed")
    return "".join(out)


def units(text):
    """The text's lines grouped into paragraphs, list items, tables and blank lines, in order."""
    out = []
    for line in text.splitlines(keepends=True):
        prev = out[-1][-1] if out else "\n"
        table, item = line.startswith("|"), re.match(r"(\d+\.|-|\*) ", line)
        if not line.strip() or not prev.strip() or item or table != prev.startswith("|"):
            out.append([line])
        else:
            out[-1].append(line)
    return ["".join(u) for u in out]


def without_answers(text, anchors):
    """The text with each unit that holds an anchor replaced by NOTE (one note for a run of them)."""
    out = []
    for u in units(text):
        if not any(a in u for a in anchors):
            out.append(u)
            continue
        blanks = 0
        while len(out) > blanks and not out[-1 - blanks].strip():
            blanks += 1
        if len(out) > blanks and out[-1 - blanks] == NOTE:       # the note of the unit before: drop the gap
            del out[len(out) - blanks:]
        else:
            out.append(NOTE)
    return "".join(out)


def for_copy(rel, text):
    """A markdown file's text as the student copy has it."""
    text = for_students(text, rel)
    text = without_answers(text, HIDDEN.get(rel, ()))
    for pattern, new in EDITS.get(rel, ()):
        text = re.sub(pattern, new, text)
    return text


def files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        return [f for f in out.decode().split("\0") if f and os.path.exists(os.path.join(ROOT, f))]
    except (OSError, subprocess.CalledProcessError):         # not a git checkout: everything but caches
        return [os.path.relpath(os.path.join(d, f), ROOT) for d, dirs, fs in os.walk(ROOT)
                for f in fs if ".git" not in d.split(os.sep) and "__pycache__" not in d]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest", help="folder to write the student copy to (must not exist)")
    ap.add_argument("--only", type=int, nargs="+", help="blank only these assignments (default: all)")
    args = ap.parse_args()
    if os.path.exists(args.dest):
        print(f"error: {args.dest} exists; give a new folder", file=sys.stderr)
        sys.exit(2)
    count = 0
    for rel in files():
        if rel.startswith(LECTURER_ONLY):
            continue
        src, dst = os.path.join(ROOT, rel), os.path.join(args.dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if rel.endswith(".py") and not rel.startswith("assignments/"):
            with open(src, encoding="utf-8") as f:
                text = f.read()
            new = blank(text, set(args.only) if args.only else None, rel)
            count += new != text
            with open(dst, "w", encoding="utf-8") as f:
                f.write(new)
        elif rel.endswith(".md"):
            with open(src, encoding="utf-8") as f:
                text = for_copy(rel, f.read())
            with open(dst, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            shutil.copy2(src, dst)
    for rel, note in NOTES.items():
        os.makedirs(os.path.dirname(os.path.join(args.dest, rel)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, note), os.path.join(args.dest, rel))
    git = ["git", "-c", "user.name=course", "-c", "user.email=course@localhost", "-c", "init.defaultBranch=main"]
    steps = (["init", "-q"], ["add", "-A"], ["commit", "-qm", "The student copy"])
    if shutil.which("git") is None or any(subprocess.run(git + cmd, cwd=args.dest).returncode for cmd in steps):
        print("warning: the copy is not a git repository (git is missing or failed)", file=sys.stderr)
    print(f"wrote {args.dest}: {count} files with assignments blanked")


if __name__ == "__main__":
    main()
