"""Zip your code and your hand-ins for submission:

    python assignments/handin.py                     # writes handin.zip here
    python assignments/handin.py --out alice.zip

The zip holds the project's code and text (every .py, .md, .txt, .toml, .cfg, .ini, .json, .jsonl and .png
file, outside the folders below) and assignments/handin/ with each experiment's results.json, outputs/ and
answers.md. It leaves out what can be rebuilt or is too large to submit: runs/ (also each hand-in's runs/, the
tuned checkpoints, and measures/, the models' measures kept for a rerun), checkpoints/, the toy world's data
sets (data/toy/), virtual environments, caches and git's folder. The lecturer's grader re-scores the outputs
against the hashes results.json recorded, so hand them in as the run wrote them."""
import argparse
import os
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEEP = (".py", ".md", ".txt", ".toml", ".cfg", ".ini", ".json", ".jsonl", ".png")
SKIP_DIRS = {".git", "runs", "measures", "checkpoints", "__pycache__", ".pytest_cache", "venv", ".venv",
             "node_modules", "out"}
SKIP_PATHS = ("data/toy/", "data/paper/")
MAX_BYTES = 20_000_000                              # a file above this is not code or a hand-in


def members(root):
    """The relative paths (with /) the zip holds, sorted."""
    found = []
    for d, dirs, fs in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith((".venv", ".tmp-")))
        for f in fs:
            rel = os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
            if (rel.startswith(SKIP_PATHS) or not f.endswith(KEEP) or f.startswith(".tmp-")
                    or os.path.getsize(os.path.join(d, f)) > MAX_BYTES or f == "grade.json"):
                continue
            found.append(rel)
    return sorted(found)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="handin.zip", help="the zip to write (default: ./handin.zip)")
    ap.add_argument("--root", default=ROOT, help=argparse.SUPPRESS)       # the project to zip (tests)
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    names = [m for m in members(args.root) if os.path.join(os.path.abspath(args.root), m) != out]
    with zipfile.ZipFile(out + ".part", "w", zipfile.ZIP_DEFLATED) as z:
        for m in names:
            z.write(os.path.join(args.root, m), m)
    os.replace(out + ".part", out)
    handin = os.path.join(args.root, "assignments", "handin")
    for n in (4, 5, 6, 7):
        have = [f for f in ("results.json", "answers.md") if os.path.exists(os.path.join(handin, str(n), f))]
        print(f"assignment {n}: " + (", ".join(have) if have else "nothing handed in")
              + ("" if len(have) in (0, 2) else "  (incomplete)"))
    print(f"wrote {args.out}: {len(names)} files, {os.path.getsize(out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
