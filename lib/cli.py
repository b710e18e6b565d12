"""The command lines' plumbing: one-line errors (exit code 2) instead of tracebacks, settings from argv or from
Python, and every flag's range in one table, so a method file only declares its flags."""
import argparse
import math
import sys

import torch


class UserError(Exception):
    """Bad input from the user (a file, a flag): the command line prints one line and exits with code 2."""


def cli(main):
    """Run main(); a UserError becomes one line on stderr and exit code 2, with nothing half-written. In the
    course's student copy, code an assignment leaves to be written raises NotImplementedError("assignment N:
    ..."): a command that needs it stops with that one line and exit code 2, not a traceback."""
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except NotImplementedError as e:
        if not str(e).startswith("assignment "):
            raise
        print(f"error: not done yet: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:                   # Ctrl-C before a run catches it itself: what was saved stays
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:                     # the reader went away (e.g. `| head`): no traceback
        sys.stderr.close()
        sys.exit(1)


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, but no "(default: None)"."""

    def _get_help_string(self, action):
        return action.help if action.default in (None, False) else super()._get_help_string(action)


class RawHelp(argparse.RawDescriptionHelpFormatter, Help):
    """A description kept as written (a docstring's usage lines), defaults in the help."""


# Every number a command line takes, by its name in the settings: (lowest, highest), both allowed. A float
# range with an open end says so: "lr": (0, 1) with "lr" in OPEN_LOW is 0 < --lr <= 1. No highest: any finite
# value from the lowest on (a float flag may be given as inf or nan).
RANGES = {"epochs": (1, 1000), "batch_size": (1, None), "micro_batch_size": (1, None), "threads": (1, 1024),
          "seed": (0, 2**63 - 1), "lr": (0, 1), "max_seq_len": (2, None), "max_len": (2, None),
          "warmup": (0, 1), "save_every": (0, None), "weight_decay": (0, None), "clip": (0, None),
          "stop_at": (1, None), "max_new_tokens": (1, None), "top_p": (0, 1),
          "temperature": (0, 100), "limit": (1, None), "distractors": (1, 1000), "min_tokens": (0, None),
          "bleu": (0, None), "retries": (0, 100), "timeout": (1e-3, 86400), "epochs_scale": (0, 100),
          "attribution_prompts": (0, None), "share": (0, 1), "max_changes": (0, 64)}
OPEN_LOW = {"lr", "top_p", "epochs_scale", "share"}
OPEN_HIGH = {"warmup"}
# Below this a temperature divides the logits into overflow (1e-38 samples "XXXX..."): 0 means greedy.
MIN_TEMPERATURE = 0.01


def in_range(name, value):
    """The range check of one setting (RANGES): (whether `value` is within it, the range as a phrase)."""
    low, high = RANGES[name]
    flag = "--" + name.replace("_", "-")
    above = low < value if name in OPEN_LOW else low <= value
    if high is None:                            # any finite value from the lowest on
        return above and value < math.inf, "a finite " * isinstance(value, float) + f"{flag} >= {low}"
    below = value < high if name in OPEN_HIGH else value <= high
    signs = ("<" if name in OPEN_LOW else "<=", "<" if name in OPEN_HIGH else "<=")
    return above and below, f"{low} {signs[0]} {flag} {signs[1]} {high}"


def check_flags(args, rules=()):
    """Every number of `args` within its range (RANGES), then each of `rules`, (phrase, holds) pairs of a
    command's flags together; the first that fails is a one-line error."""
    for name, value in vars(args).items():
        if name in RANGES and value is not None:
            ok, phrase = in_range(name, value)
            if not ok:
                raise UserError(f"need {phrase}")
    temperature = getattr(args, "temperature", None)
    if temperature is not None and 0 < temperature < MIN_TEMPERATURE:
        raise UserError(f"need --temperature 0 (greedy) or >= {MIN_TEMPERATURE}")
    for phrase, ok in rules:
        if not ok:
            raise UserError(f"need {phrase}")


def together(command, args):
    """The flags of a command that must agree with each other, as (phrase, holds) pairs."""
    if command == "reproduce":
        return [("0 <= each of --seeds < 2**63", all(0 <= s < 2**63 for s in args.seeds))]
    if command != "train":
        return []
    return [("--micro-batch-size <= --batch-size", args.micro_batch_size <= args.batch_size),
            ("--model or --init, not both", not (args.model and args.init)),
            ("--tokenizer with --init, and only then", bool(args.init) == bool(args.tokenizer)),
            ("--data with --mode single-task", bool(args.data) or args.mode != "single-task")]


def subcommands(ap):
    """evaluate.py's subcommands: cmd(name, run, text, *groups) adds one that runs run(args), with --json and
    --overwrite and the flag groups it names: "eval" (--eval), "versus" (--against, --files), "model" (--device,
    --dtype, --batch-size, --max-len) and "ranking" (--checkpoint, --distractors, --seed)."""
    groups = {g: argparse.ArgumentParser(add_help=False) for g in ("out", "eval", "versus", "model", "ranking")}
    add = {g: p.add_argument for g, p in groups.items()}
    add["out"]("--json", help="also write the results to this JSON file")
    add["out"]("--overwrite", action="store_true", help="replace an existing --json file")
    add["eval"]("--eval", required=True, help="toy eval set JSONL (instruction, family, near, criterion)")
    add["versus"]("--against", required=True, help="reference outputs (IT), comma-separated, one per seed")
    add["versus"]("--files", action="append", required=True, help="outputs of one condition, comma-separated, one "
                  "per seed or one against every seed; repeat for more conditions")
    add["model"]("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    add["model"]("--dtype", default="float32", choices=["float32", "bfloat16"], help="weights' dtype")
    add["model"]("--batch-size", type=int, default=16, help="sequences per forward pass")
    add["model"]("--max-len", type=int, default=1024, help="truncate sequences to N tokens (paper: 1024)")
    add["ranking"]("--checkpoint", required=True, help="HF checkpoint directory")
    add["ranking"]("--distractors", type=int, default=5, help="distractor responses per pair (paper: 5)")
    add["ranking"]("--seed", type=int, default=0, help="seed of the distractor draws (paper: 0)")
    sub = ap.add_subparsers(dest="command", required=True)

    def cmd(name, run, text, *names):
        parents = [groups[g] for g in ("out", *names)]
        p = sub.add_parser(name, help=text, description=text, parents=parents, formatter_class=Help)
        p.set_defaults(run=run)
        return p
    return cmd


def parse(ap, argv=None, values=None, command=None):
    """The settings of `command`, checked (check_flags, together): its command line `argv`, or for a caller in
    Python `values` by setting name (e.g. max_new_tokens=8) with the command line's defaults for the rest."""
    args = ap.parse_args(argv if not values else [])
    empty = [k for k, v in vars(args).items() if v == "" or isinstance(v, list) and "" in v]
    if empty and not values:
        raise UserError(f"--{empty[0].replace('_', '-')} is empty")
    unknown = set(values or ()) - set(vars(args))
    if unknown:
        raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
    vars(args).update(values or {})
    check_flags(args, together(command, args))
    return args
