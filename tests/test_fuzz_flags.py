"""Every flag of train, generate, evaluate (each subcommand) and reproduce, fed extreme values (0, -1, nan, inf,
huge, empty): a run ends with one error line and exit code 2, or is a correct run (exit 0); never a traceback.
The flags are read from each command's --help, so a new flag is fuzzed without editing this file."""
import contextlib
import io
import json
import re

import pytest

from conftest import make_checkpoint
import evaluate
import generate
import model
import train
from experiments import reproduce
from lib.cli import cli

VALUES = ["0", "-1", "nan", "inf", "1e308", str(2 ** 70), ""]


def run(main, argv):
    """(exit code, stderr) of a command run as its command line runs it (lib.cli.cli)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli(lambda: main(argv))
        except SystemExit as e:
            return (e.code if isinstance(e.code, int) else 1), err.getvalue()
    return 0, err.getvalue()


def flags(main, argv):
    """The flags that take a value, from the command's --help."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(argv + ["--help"])
    # "--flag VALUE" or "--flag {a,b}" in the option list; store_true flags have nothing after them
    return sorted(set(re.findall(r"^\s+(--[a-z][a-z0-9-]*)(?:, --[a-z-]+)? [A-Z{]", out.getvalue(), re.M)))


def without(argv, flag):
    """argv with `flag` and its value taken out."""
    i = argv.index(flag) if flag in argv else None
    return argv if i is None else argv[:i] + argv[i + 2:]


@pytest.fixture
def world(tmp_path, monkeypatch, tiny_tokenizer):
    """A tiny checkpoint, conversations, instructions and an eval set, all in the working directory."""
    monkeypatch.chdir(tmp_path)
    make_checkpoint(tmp_path / "ck", tiny_tokenizer)
    conv = [{"messages": [{"role": "user", "content": f"What is {i}"},
                          {"role": "assistant", "content": f"It is {i}"}]} for i in range(3)]
    ev = [{"instruction": f"What is {i}", "family": "f", "near": None, "reference": f"It is {i}",
           "criterion": {"contains_any": [str(i)]}} for i in range(3)]
    (tmp_path / "toy").mkdir()
    for name, recs in [("conv.jsonl", conv), ("toy/lima.jsonl", conv), ("toy/eval.jsonl", ev)]:
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in recs))
    (tmp_path / "out.json").write_text(json.dumps([{"instruction": r["instruction"], "output": "It is 1",
                                                    "generator": "x"} for r in ev]))
    return tmp_path


COMMANDS = {
    "train": (train.main, ["--model", "ck", "--data", "conv.jsonl", "--out", "run", "--overwrite", "--epochs", "1",
                           "--stop-at", "1"]),
    "generate": (generate.main, ["--checkpoint", "ck", "--input", "toy/eval.jsonl", "--output", "o.json",
                                 "--overwrite", "--max-new-tokens", "4"]),
    "evaluate checks": (evaluate.main, ["checks", "--eval", "toy/eval.jsonl", "out.json"]),
    "evaluate winrate": (evaluate.main, ["winrate", "--eval", "toy/eval.jsonl", "--against", "out.json",
                                         "--files", "out.json"]),
    "evaluate rank": (evaluate.main, ["rank", "--checkpoint", "ck", "--data", "conv.jsonl", "--distractors", "1"]),
    "evaluate premise": (evaluate.main, ["premise", "--eval", "toy/eval.jsonl", "--checkpoint", "ck",
                                         "--distractors", "1"]),
    "evaluate stats": (evaluate.main, ["stats", "out.json", "--tokenizer", "ck"]),
    "evaluate attribution": (evaluate.main, ["attribution", "--checkpoints", "ck", "--prompts", "toy/eval.jsonl",
                                             "--max-new-tokens", "3", "--min-tokens", "1"]),
    "evaluate im": (evaluate.main, ["im", "--checkpoint", "ck", "--train", "conv.jsonl", "--heldout", "conv.jsonl"]),
    "evaluate judge": (evaluate.main, ["judge", "--against", "out.json", "--files", "out.json", "--url",
                                       "http://127.0.0.1:9/v1", "--model", "m", "--timeout", "1", "--retries", "0"]),
    "reproduce": (reproduce.main, ["--base", "ck", "--data", "toy", "--out", "tables", "--seeds", "1",
                                   "--epochs-scale", "0.07", "--max-new-tokens", "3", "--attribution-prompts", "1",
                                   "--conditions", "base"]),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_flag_with_extreme_values_is_an_error_line_or_a_correct_run(world, command):
    main, argv = COMMANDS[command]
    sub = argv[:1] if command.startswith("evaluate") else []
    assert run(main, argv)[0] == 0, f"{command}: the base command line itself fails"
    found = flags(main, sub)
    assert found
    for flag in found:
        for value in VALUES:
            code, err = run(main, without(argv, flag) + [flag, value])
            lines = err.strip().splitlines()
            assert code in (0, 2), (command, flag, value, err[-2000:])
            assert "Traceback" not in err, (command, flag, value, err[-2000:])
            if code == 2:
                assert lines and "error:" in lines[-1], (command, flag, value, err[-500:])
