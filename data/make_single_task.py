"""Rebuild the paper's five single-task training sets (Hewitt et al. §5.1, Table 3) from their raw public files,
as the authors' data/processed/*/make_*.py scripts did, in the messages JSONL that train.py reads:

  python data/make_single_task.py RAW_DIR --out data/paper      # then: train.py --mode single-task --data ...

RAW_DIR holds gsm8k/train.jsonl, mbpp/mbpp.jsonl, poetry/poems.csv, recipes/*.csv and chess/*.pgn (the files
behind the HF datasets openai/gsm8k, google-research-datasets/mbpp, merve/poetry, Hieu-Pham/kaggle_food_recipes
and patrickfrank1/chess-pgn-games). Each set keeps at most the first 1,000 raw rows, in order, as the paper's
scripts do.
"""
import argparse
import ast
import csv
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.cli import UserError, cli
from lib.files import write_atomic

LIMIT = 1000                     # the paper's scripts stop at raw row 1,000


def chat(dataset, i, user, assistant):
    return {"dataset": dataset, "id": f"{dataset}_{i}",
            "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def jsonl_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append((f"{path}:{n}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{n}: malformed JSON ({e.msg})")
    return rows


def csv_rows(path):
    """(where, row) per CSV record; `where` is the line the record starts on (a record may span lines)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        out, line = [], 2
        for row in reader:
            out.append((f"{path}:{line}", row))
            line = reader.line_num + 1
    return out


def field(where, row, key):
    if not isinstance(row, dict) or not isinstance(row.get(key), str):
        raise UserError(f"{where}: missing {key!r}")
    return row[key]


def gsm(path):
    """GSM8K train, question -> worked answer (with its <<calc>> notes) ending '#### N'."""
    return [chat("gsm8k", i, field(w, r, "question"), field(w, r, "answer"))
            for i, (w, r) in enumerate(jsonl_rows(path)[:LIMIT])]


def mbpp(path):
    """MBPP's train split (task ids 601-974, 374 tasks): the English task -> the code, tests left out.
    The code keeps the file's CRLF line ends, as the HF dataset does."""
    rows = [(w, r) for w, r in jsonl_rows(path) if isinstance(r, dict) and 601 <= r.get("task_id", 0) <= 974]
    rows.sort(key=lambda wr: wr[1]["task_id"])
    return [chat("mbpp", i, field(w, r, "text"), field(w, r, "code")) for i, (w, r) in enumerate(rows[:LIMIT])]


def poetry(path):
    """'Write a poem called {poem name}' -> the poem; rows without a name are skipped (571 of 573)."""
    return [chat("merve_poetry", i, "Write a poem called " + r["poem name"], field(w, r, "content"))
            for i, (w, r) in enumerate(csv_rows(path)[:LIMIT]) if field(w, r, "poem name")]


def recipes(path):
    """'Recipe for {Title}' -> ' - ingredient' lines, a blank line, then the instructions. The ingredient
    list is a Python literal, read with ast.literal_eval (the original used eval). Rows without a title or
    instructions (which would have crashed the original script) are skipped."""
    out = []
    for i, (w, r) in enumerate(csv_rows(path)[:LIMIT]):
        if not (field(w, r, "Title") and field(w, r, "Instructions")):
            continue
        try:
            ingredients = ast.literal_eval(field(w, r, "Cleaned_Ingredients"))
        except (ValueError, SyntaxError):
            raise UserError(f"{w}: Cleaned_Ingredients is not a Python list literal")
        response = "".join(f" - {x}\n" for x in ingredients) + "\n\n" + r["Instructions"]
        out.append(chat("kfr", i, "Recipe for " + r["Title"], response))
    return out


def chess(path):
    """PGN games: the WhiteElo and BlackElo header lines -> the moves line (the one starting '1. '); the other
    headers are dropped. A game without a moves line (abandoned: its result only) is skipped, the next
    game's Elo lines replacing its own; the original asserted there were none."""
    out, white, black = [], None, None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if "WhiteElo" in line:
                white = line
            elif "BlackElo" in line:
                black = line
            elif line.startswith("1. "):
                if white is None or black is None:
                    raise UserError(f"{path}:{n}: a moves line without both Elo header lines before it")
                out.append(chat("pgn", len(out), white + "\n" + black + "\n", line))
                white = black = None
                if len(out) == LIMIT:
                    break
    return out


TASKS = {"gsm": (gsm, "gsm8k/train.jsonl"), "mbpp": (mbpp, "mbpp/mbpp.jsonl"),
         "poetry": (poetry, "poetry/poems.csv"), "recipes": (recipes, "recipes/*.csv"), "chess": (chess, "chess/*.pgn")}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Rebuild the paper's single-task sets (GSM, MBPP, poetry, recipes, "
                                 "chess) from raw files as messages JSONL, one <task>.jsonl each.")
    ap.add_argument("raw", help="folder with gsm8k/, mbpp/, poetry/, recipes/, chess/ as in the shared data")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper"),
                    help="output folder (default data/paper; the sets are derived data, keep them out of git)")
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset of " + ", ".join(TASKS))
    args = ap.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise UserError(f"--tasks: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(TASKS)}")
    sets = {}
    for t in tasks:                                 # everything is read and checked before anything is written
        make, pattern = TASKS[t]
        files = sorted(glob.glob(os.path.join(args.raw, pattern)))
        if not files:
            raise UserError(f"{os.path.join(args.raw, pattern)}: raw file not found")
        sets[t] = make(files[0])
        if not sets[t]:
            raise UserError(f"{files[0]}: no examples")
    os.makedirs(args.out, exist_ok=True)
    for t, records in sets.items():
        path = os.path.join(args.out, f"{t}.jsonl")
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in records))
        print(f"{path}: {len(records)} examples")


if __name__ == "__main__":
    cli(main)
