"""data/make_single_task.py: the paper's five single-task sets, on small raw files written here and on the
real raw files in ../shared/data when present."""
import csv
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED, needs_shared_data
import model
from lib import cli, conversations
import train

from data import make_single_task as mst


def write_raw(raw):
    (raw / "gsm8k").mkdir(parents=True)
    (raw / "gsm8k" / "train.jsonl").write_text("".join(
        json.dumps({"question": f"Tom has {i} apples. How many?", "answer": f"He has <<{i}={i}>>{i}.\n#### {i}"})
        + "\n" for i in range(1005)))
    (raw / "mbpp").mkdir()
    (raw / "mbpp" / "mbpp.jsonl").write_text("".join(
        json.dumps({"task_id": t, "text": f"Write task {t}.", "code": f"def f():\r\n\treturn {t}"}) + "\n"
        for t in (602, 5, 601, 975, 700)))
    (raw / "poetry").mkdir()
    with open(raw / "poetry" / "poems.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["author", "content", "poem name", "age", "type"])
        w.writerows([["A", "Roses are red,\nviolets blue", "Roses", "Modern", "Love"],
                     ["B", "No name here", "", "Modern", "Love"],
                     ["C", "One line", "Night", "Renaissance", "Nature"]])
    (raw / "recipes").mkdir()
    with open(raw / "recipes" / "kfr.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Unnamed: 0", "Title", "Ingredients", "Instructions", "Image_Name", "Cleaned_Ingredients"])
        w.writerows([[0, "Toast", "x", "Toast the bread.\nEat it.", "t", "['1 slice bread', 'butter']"],
                     [1, "", "x", "Nothing", "n", "['air']"]])
    (raw / "chess").mkdir()
    game = '[Event "e"]\n[WhiteElo "{}"]\n[BlackElo "{}"]\n[WhiteRatingDiff "+1"]\n\n{}\n\n'
    (raw / "chess" / "games.pgn").write_text(game.format(1500, 1600, "1. e4 e5 2. Nf3 1-0")
                                             + game.format(1, 2, " 0-1")          # abandoned: no moves
                                             + game.format(2000, 2100, "1. d4 d5 1/2-1/2"))


def users(records):
    return [r["messages"][0]["content"] for r in records]


def assistants(records):
    return [r["messages"][1]["content"] for r in records]


def test_each_set_from_small_raw_files(tmp_path):
    raw = tmp_path / "raw"
    write_raw(raw)
    mst.main([str(raw), "--out", str(tmp_path / "out")])
    sets = {t: [json.loads(l) for l in open(tmp_path / "out" / f"{t}.jsonl")] for t in mst.TASKS}
    assert len(sets["gsm"]) == 1000 and assistants(sets["gsm"])[-1].endswith("#### 999")
    assert users(sets["mbpp"]) == ["Write task 601.", "Write task 602.", "Write task 700."]   # train split only
    assert assistants(sets["mbpp"])[0] == "def f():\r\n\treturn 601"
    assert users(sets["poetry"]) == ["Write a poem called Roses", "Write a poem called Night"]
    assert assistants(sets["poetry"])[0] == "Roses are red,\nviolets blue"
    assert users(sets["recipes"]) == ["Recipe for Toast"]
    assert assistants(sets["recipes"]) == [" - 1 slice bread\n - butter\n\n\nToast the bread.\nEat it."]
    assert users(sets["chess"]) == ['[WhiteElo "1500"]\n[BlackElo "1600"]\n', '[WhiteElo "2000"]\n[BlackElo "2100"]\n']
    assert assistants(sets["chess"]) == ["1. e4 e5 2. Nf3 1-0", "1. d4 d5 1/2-1/2"]
    for t in mst.TASKS:                                         # train.py reads them as they are
        assert [m for _, m in conversations.load_conversations(str(tmp_path / "out" / f"{t}.jsonl"))] == \
            [r["messages"] for r in sets[t]]


def test_bad_raw_file_names_file_and_line_and_writes_nothing(tmp_path):
    raw = tmp_path / "raw"
    write_raw(raw)
    (raw / "mbpp" / "mbpp.jsonl").write_text('{"task_id": 601, "text": "a", "code": "b"}\n{"task_id": 6\n')
    with pytest.raises(cli.UserError, match=r"mbpp\.jsonl:2: malformed JSON"):
        mst.main([str(raw), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    (raw / "chess" / "games.pgn").write_text('[WhiteElo "1"]\n\n1. e4 1-0\n')
    with pytest.raises(cli.UserError, match=r"games\.pgn:3: a moves line without both Elo"):
        mst.main([str(raw), "--out", str(tmp_path / "out"), "--tasks", "chess"])
    r = subprocess.run([sys.executable, str(ROOT / "data" / "make_single_task.py"), str(tmp_path / "none"),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "raw file not found" in r.stderr


@needs_shared_data
def test_the_paper_sets_from_the_real_raw_files(tmp_path):
    mst.main([str(SHARED / "data"), "--out", str(tmp_path)])
    sets = {t: [json.loads(l) for l in open(tmp_path / f"{t}.jsonl")] for t in mst.TASKS}
    # The paper's set sizes: GSM 1000, MBPP 374, poetry 571. The shared recipes file is a 2,000-row sample (not the
    # paper's rows; one of its first 1,000 has no title) and the shared PGN has 984 games, 4 abandoned.
    assert {t: len(r) for t, r in sets.items()} == {"gsm": 1000, "mbpp": 374, "poetry": 571, "recipes": 999,
                                                    "chess": 980}
    first = json.loads(open(SHARED / "data" / "gsm8k" / "train.jsonl").readline())
    assert sets["gsm"][0]["messages"] == [{"role": "user", "content": first["question"]},
                                          {"role": "assistant", "content": first["answer"]}]
    assert all(re.search(r"\n#### -?[\d,.]+$", a) for a in assistants(sets["gsm"]))
    assert all(u.startswith("Write a poem called ") for u in users(sets["poetry"]))
    assert all(a.startswith(" - ") and "\n\n\n" in a for a in assistants(sets["recipes"]))
    assert all(re.fullmatch(r'\[WhiteElo "\d+"\]\n\[BlackElo "\d+"\]\n', u) for u in users(sets["chess"]))
    assert all(a.startswith("1. ") for a in assistants(sets["chess"]))


# data/suites.py and data/criteria.py as scripts: help, a clear line for bad input, no traceback.
def script(name, *args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / "data" / name), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_suites_and_criteria_run_as_scripts(tmp_path):
    r = script("suites.py", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "usage:" in r.stdout and not r.stderr
    r = script("suites.py", tmp_path / "missing.jsonl")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "missing.jsonl" in r.stderr
    r = script("criteria.py", cwd=tmp_path)                  # the language
    assert r.returncode == 0 and "contains_any" in r.stdout and not r.stderr
    assert script("criteria.py", "--help").returncode == 0
    r = script("criteria.py", ROOT / "data" / "toy" / "val.jsonl")
    assert r.returncode == 0 and "416 records, every criterion valid" in r.stdout, r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "criterion": {"bogus": 1}}\n')
    r = script("criteria.py", bad)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad.jsonl:1" in r.stderr and "bogus" in r.stderr
