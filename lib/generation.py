"""generate.py's plumbing: the instructions it reads, the AlpacaEval list of outputs it writes as it goes (the
whole list after every chunk, atomically, with what it is made of beside it, so an interrupted run loses little
and --resume continues it), the check that prompts fit the model's context, a sampling generator per
instruction, torch's thread count for a run, and a faster argmax on CPU."""
import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from lib.cli import UserError
from lib.files import check_output, exists, read_records
from lib.provenance import made_of, stale, write_recorded
from lib.rundir import lock


def read_instructions(path):
    """The records of a JSON list or JSONL file, each with an 'instruction' string; errors name file and
    line."""
    return [r for _, r in read_records(path, need="instruction")]


class OutputFile:
    """The outputs to `records` (read from `source`) in the AlpacaEval list at `path`: {instruction, output,
    generator, dataset}, in the records' order, with what made them (`made_of`) beside it. An existing file is an
    error unless `resume` (its outputs count as done, if made of the same) or `overwrite`; an unwritable path
    fails now, not after the decoding. Made by open_output, which holds a lock."""

    def __init__(self, path, source, records, made_of, resume=False, overwrite=False, generator=None, rules=()):
        self.generator, self.rules = generator, rules
        if os.path.exists(path) and not (resume or overwrite):
            raise exists(path)
        why = resume and not overwrite and stale(path, made_of)
        if why:
            raise UserError(f"{path}: made with another {why}; --resume would mix two runs (pass --overwrite "
                            f"to replace it)")
        self.path, self.records, self.dataset, self.made_of = path, records, Path(source).stem, made_of
        self.done = read_done(path) if resume and not overwrite and os.path.exists(path) else {}

    def todo(self):
        """The instructions not done yet, each once, in order."""
        return list(dict.fromkeys(r["instruction"] for r in self.records if r["instruction"] not in self.done))

    def add(self, instructions, outputs, generator):
        """Keep these outputs and write the file."""
        for i, o in zip(instructions, outputs):
            self.done[i] = {"instruction": i, "output": o, "generator": generator}
        self.save()

    def decode(self, outputs_of, chunk):
        """Decode what is not done yet, `chunk` instructions at a time (outputs_of(instructions) -> outputs),
        writing the file after each chunk: an interrupted run loses little, and --resume continues it."""
        todo = self.todo()
        print(f"{len(self.records)} instructions, {len(self.records) - len(todo)} already done; rules: "
              f"{','.join(self.rules) or 'none'}; writing {self.path}")
        with tqdm(total=len(todo), desc="generate", unit="ins") as bar:
            for k in range(0, len(todo), chunk):
                part = todo[k:k + chunk]
                self.add(part, outputs_of(part), self.generator)
                bar.update(len(part))
        self.save()

    def save(self):
        """Write the outputs so far, each with its record's dataset, else the name of the source file."""
        outputs = [dict(self.done[r["instruction"]], dataset=r.get("dataset", self.dataset))
                   for r in self.records if r["instruction"] in self.done]
        write_recorded(self.path, json.dumps(outputs, indent=2, ensure_ascii=False), self.made_of)


@contextlib.contextmanager
def open_output(args, rules):
    """The OutputFile of generate.py's settings `args` with the rule names `rules`: the instructions of
    args.input, at args.output (default out/<generator>.json, the generator named by checkpoint, rules and
    sampling), checked writable first, under a lock beside it while the block runs: a second writer of the same
    file is an error while the first lives."""
    records = read_instructions(args.input)[:args.limit]
    made = outputs_made_of(args, rules)
    sampling = f"-t{args.temperature:g}-p{args.top_p:g}-s{args.seed}" if args.temperature > 0 else "-greedy"
    generator = args.generator or (Path(args.checkpoint).name + "".join(f"-{n}" for n in rules) + sampling)
    path = args.output or os.path.join("out", generator + ".json")
    check_output(path, args.input)
    with lock(path):
        yield OutputFile(path, args.input, records, made, args.resume, args.overwrite, generator, rules)


def read_done(path):
    """{instruction: record} of the outputs already in an AlpacaEval list, to resume it."""
    try:
        with open(path, encoding="utf-8") as f:
            return {r["instruction"]: r for r in json.load(f) if isinstance(r.get("output"), str)}
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise UserError(f"{path}: cannot resume from it, not an AlpacaEval list ({e})")


def outputs_made_of(args, rules):
    """What an output file of generate.py's settings `args` with the rule names `rules` is made of, kept beside
    it: the checkpoint by content, the decoding settings, the code. --resume continues a file only when this is
    the same. Checks first that the checkpoint is one."""
    if not os.path.isfile(os.path.join(args.checkpoint, "config.json")):
        raise UserError(f"{args.checkpoint}: no checkpoint here (no config.json); give an HF checkpoint folder")
    keys = ["saturate", "eos_ramp", "response_only", "max_new_tokens", "temperature", "dtype", "device"]
    keys += ["top_p", "seed"] if args.temperature else []
    settings = {"rules": list(rules), **{k: getattr(args, k) for k in keys}}
    return made_of(settings, {"checkpoint": args.checkpoint}, "generate")


def check_room(longest, max_new_tokens, context):
    """A prompt of `longest` tokens must leave room in the model's `context`; responses that would run past it
    stop there, with a note."""
    if longest >= context:
        raise UserError(f"a prompt of {longest} tokens leaves no room in the model's context of {context}")
    if longest + max_new_tokens > context:
        tqdm.write(f"generate: responses to long prompts stop at the model's context of {context} tokens",
                   file=sys.stderr)


def context(model):
    """Positions the model can attend over (Mistral's sliding window is not implemented, so it caps too)."""
    return min(model.config.max_position_embeddings, model.config.sliding_window or 1 << 62)


def instruction_generator(seed, instruction):
    """The sampling generator of one instruction: a function of the seed and the instruction alone, so a
    sampled output is the same whatever the batch, the chunk or an interrupted run it was decoded in."""
    digest = hashlib.sha256(f"{seed}\0{instruction}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


@contextlib.contextmanager
def threads(n):
    """torch's CPU threads set to n while the block runs, then restored (a run may be part of a script)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def argmax(x):
    """x.argmax(-1) for x [B, V], ties to the first. torch's CPU argmax is scalar code while a max over blocks
    is vectorised, so find the block of the maximum first: 10x faster with a 32000-token vocabulary."""
    B, V = x.shape
    if not x.is_cpu or V % 128:
        return x.argmax(-1)
    blocks = x.view(B, V // 128, 128)
    # [B] the first block holding the maximum
    j = blocks.amax(-1).argmax(-1)
    return j * 128 + blocks[torch.arange(B), j].argmax(-1)
