"""Adapt a pretrained model. Every condition of the papers is a loss mask over the same chat format:

  python train.py --mode response            # Hewitt Eq. 2: the instruction emptied, loss on the response
  python train.py --mode instruction         # Hewitt Eq. 1: plain instruction tuning (the baseline)
  python train.py --mode single-task --data data/toy/poetry.jsonl          # Hewitt §5: same mask, narrow data
  python train.py --mode instruction-modelling                             # Shi et al. Eq. 4
  python train.py --mode pretrain --init config.json --tokenizer tokenizer.model --data corpus.jsonl \
                  --out checkpoints/toy-base                               # a base model from scratch
  torchrun --nproc_per_node 2 train.py ...   # the same, sharded with FSDP

The run directory (--out) is always a loadable HF checkpoint plus state.pt (for --resume) and log.jsonl.
"""
import argparse
import functools
import json
import math
import os
import random
import re
import shutil
import signal
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_optimizer_state_dict)
from tqdm import tqdm

from model import Tokenizer, Transformer, UserError, cli, read_config, recover, require

IGNORE = -100                                  # label of a token that carries no loss
MODES = ("instruction", "response", "single-task", "instruction-modelling", "pretrain")
USER_TAG, ASSISTANT_TAG = "<|user|>", "<|assistant|>"        # Tulu tags, plain text (never added tokens)
LIST_GAP = re.compile(r"[\s,]*")              # between the items of a JSON list


# --------------------------------------------------------------------------------------------- the data
def segments(tok: Tokenizer, messages, mode="instruction"):
    """The chat text <s><|user|>\\n{ins}\\n<|assistant|>\\n{resp}</s> (repeated per turn) as (ids, role)
    pieces, roles 'tmpl', 'ins', 'resp'. Each piece after the first starts right after a newline, so it is
    encoded without SentencePiece's dummy prefix: the ids equal the whole text's, as in the paper's code.
    A conversation ending in a user turn gives the generation prompt (ends with the assistant tag)."""
    segs, first = [([tok.bos_id], "tmpl")], True
    for m in messages:
        content = m["content"].strip()
        if m["role"] == "user":
            if mode == "response":
                # >>> assignment 1: the loss masks
                content = ""                    # Hewitt Eq. 2, §2.2: the user turn is kept but emptied
                # <<< assignment 1
            tag = USER_TAG + "\n" if first else "\n" + USER_TAG + "\n"
            segs.append((tok.encode(tag) if first else tok.encode_next(tag), "tmpl"))
            segs.append((tok.encode_next(content), "ins"))
            segs.append((tok.encode_next("\n" + ASSISTANT_TAG + "\n"), "tmpl"))
        else:
            segs.append((tok.encode_next(content) + [tok.eos_id], "resp"))   # EOS carries loss
        first = False
    return segs


def build_example(tok: Tokenizer, messages, mode):
    """(input_ids, labels) of one conversation for a mode; labels are IGNORE where there is no loss.
    The one-token shift happens in the loss, not here."""
    ids, labels = [], []
    for seg, role in segments(tok, messages, mode):      # which roles carry loss: DESIGN.md's table
        if mode == "instruction-modelling":
            # >>> assignment 1: the loss masks
            loss = role in ("ins", "resp")  # Shi et al. Eq. 4 (their released code also trains on the tags)
            # <<< assignment 1
        else:
            loss = role == "resp"           # Hewitt Eq. 1: the response and its EOS; never BOS or the tags
        ids += seg
        labels += seg if loss else [IGNORE] * len(seg)
    return ids, labels


def build_prompt(tok: Tokenizer, instruction):
    """The generation prompt <s><|user|>\\n{instruction}\\n<|assistant|>\\n, from the builder training uses.
    The instruction is stripped of surrounding whitespace as in training; the paper's code strips it when it
    trains but not when it evaluates (5 of AlpacaEval's 805 instructions have whitespace to strip)."""
    return [i for seg, _ in segments(tok, [{"role": "user", "content": instruction}]) for i in seg]


def show(tok: Tokenizer, ids, labels):
    """The example as text, with the tokens that carry loss in [brackets]."""
    out = []
    for i, l in zip(ids, labels):
        p = tok.piece(i).replace("▁", " ").replace("<0x0A>", "\n")
        out.append(f"[{p}]" if l != IGNORE else p)
    return "".join(out)


# --------------------------------------------------------------------------------------------- loading
def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise UserError(f"{path}: input file not found")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read ({e})")


def read_records(path):
    """[(where, record)]: the JSON objects of a JSON list, or of a JSONL file (blank lines skipped); `where` is
    "file:line", for error messages."""
    text, records, n, where = read_text(path), [], 1, f"{path}:1"
    try:
        if text.lstrip().startswith("["):        # a JSON list: decoded item by item for lines, then checked whole
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
    except (ValueError, RecursionError) as e:       # a number of over 4,300 digits, nesting too deep for Python
        raise UserError(f"{where}: cannot read this JSON ({str(e).split(':')[0]})")
    if not records:
        raise UserError(f"{path}: no records (empty file)")
    for where, r in records:
        if not isinstance(r, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(r).__name__}")
        try:                                        # "\ud800" decodes to a string that is not text
            json.dumps(r, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise UserError(f"{where}: a lone surrogate escape (\\ud800-\\udfff), not text")
    return records


def conversation(where, r, need_response=True):
    """A record as chat messages: messages (LIMA, open-instruct, the toy sets), Alpaca (instruction, input,
    output), AlpacaEval outputs (instruction, output) or the toy eval set (instruction, reference)."""
    if "messages" not in r:
        ins, out = r.get("instruction"), r.get("output", r.get("reference", None if need_response else ""))
        if not isinstance(ins, str) or not isinstance(out, str):
            raise UserError(f"{where}: missing 'messages', or string 'instruction'" + " and 'output'" * need_response)
        if isinstance(r.get("input"), str) and r["input"]:
            ins += "\n\n" + r["input"]                  # open-instruct's join
        return [{"role": "user", "content": ins}, {"role": "assistant", "content": out}]
    msgs = r["messages"]
    if not isinstance(msgs, list) or not msgs:
        raise UserError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    for i, m in enumerate(msgs):                    # user, assistant, user, ... each with a content string
        role = m.get("role") if isinstance(m, dict) else None
        if role != ("user", "assistant")[i % 2] or not isinstance(m.get("content"), str):
            raise UserError(f"{where}: message {i + 1}: unknown role {role!r} or no 'content' string "
                            f"(expected {('user', 'assistant')[i % 2]!r}: turns alternate user, assistant)")
    return msgs


def load_conversations(path):
    """[(where, messages)] from messages JSONL (LIMA, open-instruct) or Alpaca records (JSON or JSONL)."""
    return [(where, conversation(where, r)) for where, r in read_records(path)]


def load_documents(path):
    """Pretraining documents: {"text": ...} JSONL, or plain text with documents separated by blank lines."""
    if not path.endswith(".jsonl"):
        docs = [d.strip("\n") for d in read_text(path).split("\n\n") if d.strip()]
        if not docs:
            raise UserError(f"{path}: no documents (empty file)")
        return docs
    docs = []
    for where, r in read_records(path):
        if not isinstance(r.get("text"), str):
            raise UserError(f"{where}: missing 'text' (a string)")
        docs.append(r["text"])
    return docs


def chat_examples(tok, convs, mode, max_len):
    """(examples, dropped): truncated to max_len; an example left with no supervised token is dropped and
    counted (as the paper's code does), since it would only add 0/0 to the loss."""
    examples = [(ids[:max_len], labels[:max_len]) for ids, labels in (build_example(tok, m, mode) for _, m in convs)]
    examples = [(ids, labels) for ids, labels in examples if any(l != IGNORE for l in labels[1:])]   # 0: no loss
    return examples, len(convs) - len(examples)


def packed_examples(tok, docs, max_len):
    """Pretraining: BOS + doc + EOS for every document, concatenated and cut into max_len blocks, loss on all."""
    stream = []
    for s in tqdm(range(0, len(docs), 1000), desc="tokenize", leave=False, disable=len(docs) < 10000):
        for ids in tok.sp.encode(docs[s:s + 1000]):
            stream += [tok.bos_id] + ids + [tok.eos_id]
    stream = torch.tensor(stream)
    return [(c, c) for c in stream.split(max_len) if len(c) > 1]


# --------------------------------------------------------------------------------------------- batching
def epoch_batches(lengths, batch, seed, epoch, group=False):
    """One epoch's optimizer steps (lists of example indices), a pure function of (seed, epoch) so a resumed
    run sees the same order. Grouped: each window of 32 steps sorted by length, so little goes to padding."""
    rnd = random.Random(seed * 100003 + epoch)
    order = rnd.sample(range(len(lengths)), len(lengths))
    if group:
        w = batch * 32
        order = [i for s in range(0, len(order), w) for i in sorted(order[s:s + w], key=lambda i: -lengths[i])]
    steps = [order[s:s + batch] for s in range(0, len(order), batch)]
    rnd.shuffle(steps)
    return steps


def recomputed(forward, *args):
    """Gradient checkpointing: run `forward` keeping only its inputs; recompute it in the backward pass."""
    return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False)


def collate(examples, pad_id):
    """[B, T] ids and labels, right-padded: causal attention keeps padding out of every real token's view."""
    T = max(len(ids) for ids, _ in examples)
    x = torch.full((len(examples), T), pad_id, dtype=torch.long)
    y = torch.full((len(examples), T), IGNORE, dtype=torch.long)
    for i, (ids, labels) in enumerate(examples):
        x[i, :len(ids)], y[i, :len(ids)] = torch.as_tensor(ids), torch.as_tensor(labels)
    return x, y


def token_nll(model, x, y):
    """NLL [B, T] of each labelled token (0 elsewhere) and the mask [B, T] of those tokens. The one-token shift
    of the whole project happens here."""
    logits = model(x).float()                                       # [B, T, V]
    target = F.pad(y[:, 1:], (0, 1), value=IGNORE)                  # [B, T]: position t predicts token t+1
    nll = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE, reduction="none")
    return nll.view(target.shape), target != IGNORE


def example_losses(model, x, y):
    """Each example's token-mean NLL [B]."""
    nll, mask = token_nll(model, x, y)
    return nll.sum(1) / mask.sum(1).clamp(min=1)


def lr_at(step, total, peak, warmup):
    """Linear warmup, then linear decay to 0: the paper's scripts (its appendix says cosine)."""
    warm = int(total * warmup)
    return peak * ((step + 1) / (warm + 1) if step < warm else (total - step) / (total - warm))


def save(model, tok, out, state):
    """The run directory, swapped in whole by save_pretrained: HF checkpoint + state.pt + log.jsonl."""
    def add(folder):
        torch.save(state, os.path.join(folder, "state.pt"))
        if os.path.isfile(os.path.join(out, "log.jsonl")):
            shutil.copyfile(os.path.join(out, "log.jsonl"), os.path.join(folder, "log.jsonl"))
    model.save_pretrained(out, tokenizer=tok, extra=add)


def holds(folder, path):
    """Whether `path` is `folder` or lies inside it."""
    folder, path = os.path.realpath(folder), os.path.realpath(path)
    return os.path.commonpath([folder, path]) == folder


def check_out(args):
    """Every save replaces --out whole, so it must be new, empty or a run of train.py with nothing else in it;
    it may not hold an input or the working directory, nor lie inside an input."""
    inputs = [p for p in (args.model, args.data, args.init, args.tokenizer) if p]
    clash = [p for p in inputs + [os.getcwd()] if holds(args.out, p)] + [p for p in inputs if holds(p, args.out)]
    if clash:
        raise UserError(f"--out {args.out} would replace {clash[0]}: a save replaces the whole run directory")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"{args.out}: exists and is not a directory")
    names = os.listdir(args.out) if os.path.isdir(args.out) else []
    foreign = [n for n in names if not (RUN_FILE.fullmatch(n) and os.path.isfile(os.path.join(args.out, n)))]
    if args.resume and "state.pt" not in names:
        raise UserError(f"{args.out}: no run to resume (no state.pt)")
    if names and not (args.resume or args.overwrite):
        raise UserError(f"{args.out}: exists; pass --resume to continue it or --overwrite to replace it")
    if foreign or names and not {"state.pt", "log.jsonl"} & set(names):
        raise UserError(f"{args.out}: not a run of train.py (it holds {(foreign or names)[0]}); not replacing it")


def read_state(args):
    """The state.pt of the run to resume; a corrupt or tampered one is a clear error, not a traceback later."""
    path = os.path.join(args.out, "state.pt")
    try:
        state = torch.load(path, weights_only=True)
        changed = [k for k in SAME_RUN if state["args"].get(k, getattr(args, k)) != getattr(args, k)]
        ok = type(state["step"]) is int and state["step"] >= 0 and torch.is_tensor(state["rng"])
    except Exception as e:                          # not a zip, a pickle of foreign objects, keys missing, ...
        raise UserError(f"{path}: cannot resume from it ({type(e).__name__})")
    if not ok:
        raise UserError(f"{path}: cannot resume from it (not a state.pt of train.py)")
    if changed:
        raise UserError(f"{args.out}: --resume with a different {', '.join(changed)} than the saved run")
    return state


def take_lock(out):
    """A lock file beside --out holding our pid, created only if absent (O_EXCL): a second run into the same
    --out is an error while the first lives; the lock of a run that died is taken over."""
    parent, name = os.path.split(os.path.abspath(out))
    lock = os.path.join(parent, f".lock-{name}")
    os.makedirs(parent, exist_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        pid = read_text(lock).strip()
        if pid.isdigit() and not alive(int(pid)):
            os.unlink(lock)
            return take_lock(out)
        raise UserError(f"{out}: another run (pid {pid}) is writing to it; if none is, remove {lock}")
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return lock


def alive(pid):
    try:
        os.kill(pid, 0)                             # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:                         # it does, another user's
        return True
    return True


# The paper's epochs for Llama-2-7B (PAPERS §3): IT 15, RT 5; single-task GSM 7, MBPP 15, poetry 15,
# recipes 20, chess 15. IM varies only the mask, so it takes IT's. Pretraining: one pass over the corpus.
EPOCHS = {"instruction": 15, "response": 5, "single-task": 15, "instruction-modelling": 15, "pretrain": 1}
SAME_RUN = ("mode", "data", "epochs", "lr", "batch_size", "max_seq_len", "warmup", "weight_decay", "clip", "seed",
            "group_by_length")                     # what --resume must not change
# The files a run directory holds; --overwrite replaces no directory holding anything else.
RUN_FILE = re.compile(r"config\.json|tokenizer\.model|state\.pt|log\.jsonl|"
                      r"model(-\d+-of-\d+)?\.safetensors(\.index\.json)?")
ROOT = os.path.dirname(os.path.abspath(__file__))


class Help(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):             # no "(default: None)"
        return action.help if action.default in (None, False) else super()._get_help_string(action)


def main(argv=None):
    # ---------------------------------------------------------------------------------------- args
    ap = argparse.ArgumentParser(description="Adapt a model with one of the papers' loss masks, or pretrain one. "
                                 "Defaults suit the toy world on a CPU; helps give the paper's 7B setting.",
                                 formatter_class=Help)
    add = ap.add_argument
    add("--mode", choices=MODES, default="response", help="the condition, i.e. the loss mask")
    add("--data", help="messages JSONL or Alpaca JSON; for pretrain {\"text\"} JSONL or text, blank lines "
        "between documents (default data/toy/lima.jsonl, for pretrain data/toy/corpus.jsonl; single-task needs it)")
    add("--model", default=os.path.join(ROOT, "checkpoints", "toy-base"), help="HF checkpoint to tune")
    add("--init", help="config.json of a fresh random model to train instead of --model")
    add("--tokenizer", help="tokenizer.model for --init")
    add("--out", help="run directory, an HF checkpoint once done (default runs/<mode>)")
    add("--resume", action="store_true", help="continue the run saved in --out")
    add("--overwrite", action="store_true", help="replace an existing --out")
    add("--epochs", type=int, help="passes over the data (default: the paper's for Llama-2-7B: "
        + ", ".join(f"{k} {v}" for k, v in EPOCHS.items()) + ")")
    add("--lr", type=float, default=3e-4, help="peak learning rate (paper: 1e-5 for Llama-2-7B)")
    add("--batch-size", type=int, default=16, help="examples per optimizer step (paper: 64)")
    add("--micro-batch-size", type=int, default=16, help="examples per forward pass and process; the rest "
        "accumulate, the loss is the same (paper: 1)")
    add("--max-seq-len", type=int, default=512, help="truncation / packing length (paper: 2048)")
    add("--warmup", type=float, default=0.03, help="fraction of the steps spent in linear warmup")
    add("--weight-decay", type=float, default=0.0, help="AdamW weight decay (paper: 0)")
    add("--clip", type=float, default=1.0, help="gradient-norm clipping, 0 for none (paper: 1.0, what its "
        "DeepSpeed config's 'auto' becomes)")
    add("--seed", type=int, default=42, help="data order and --init weights (paper: 42 in validation, 1-5)")
    add("--save-every", type=int, default=200, help="steps between checkpoints, 0 for only at the end")
    add("--stop-at", type=int, help="save and stop after this step, as an interruption would")
    add("--group-by-length", action="store_true", help="batches of similar lengths (a speed option: less "
        "padding); by default batches are shuffled, as in the paper's code")
    add("--precision", choices=("auto", "bf16", "fp32"), default="auto",
        help="bf16 autocast over fp32 weights; auto = bf16 on GPU, fp32 on CPU")
    add("--grad-checkpoint", action="store_true", help="recompute each block in the backward pass")
    add("--threads", type=int, default=1, help="CPU threads for torch; more help only on an idle multi-core CPU")
    args = ap.parse_args(argv)
    args.epochs = EPOCHS[args.mode] if args.epochs is None else args.epochs
    require({"--epochs >= 1": args.epochs >= 1, "--batch-size >= 1": args.batch_size >= 1,
             "--micro-batch-size >= 1": args.micro_batch_size >= 1, "--threads >= 1": args.threads >= 1,
             "a finite --lr > 0": 0 < args.lr < math.inf, "--max-seq-len >= 2": args.max_seq_len >= 2,
             "0 <= --warmup < 1": 0 <= args.warmup < 1, "--save-every >= 0": args.save_every >= 0,
             "a finite --weight-decay >= 0": 0 <= args.weight_decay < math.inf,
             "a finite --clip >= 0": 0 <= args.clip < math.inf,
             "--stop-at >= 1": args.stop_at is None or args.stop_at >= 1})
    args.out = args.out or os.path.join(ROOT, "runs", args.mode)
    if args.data is None and args.mode == "single-task":
        raise UserError("--mode single-task needs --data (e.g. data/toy/poetry.jsonl)")
    default_data = "corpus.jsonl" if args.mode == "pretrain" else "lima.jsonl"
    args.data = args.data or os.path.join(ROOT, "data", "toy", default_data)
    torch.set_num_threads(args.threads)
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    lock = take_lock(args.out) if rank == 0 else None
    try:
        run(args, world, rank, device, bf16)
    finally:
        if lock:
            os.unlink(lock)


def run(args, world, rank, device, bf16):
    """The run itself, once the flags are read and --out is locked."""
    # ---------------------------------------------------------------------------------------- model
    if rank == 0:
        recover(args.out)                           # a save cut short: the old run put aside comes back
    check_out(args)
    state = read_state(args) if args.resume else None
    if args.resume:
        model, tok = Transformer.from_pretrained(args.out, dtype=torch.float32), Tokenizer(args.out)
    elif args.init:
        if not args.tokenizer:
            raise UserError("--init needs --tokenizer")
        config, tok = read_config(args.init), Tokenizer(args.tokenizer)
        config.bos_token_id, config.eos_token_id = tok.bos_id, tok.eos_id
        torch.manual_seed(args.seed)
        model = Transformer(config)
        for p in model.parameters():                # Llama's init: N(0, 0.02) for matrices, ones for norms
            torch.nn.init.normal_(p, std=0.02) if p.dim() > 1 else None
    else:
        model, tok = Transformer.from_pretrained(args.model, dtype=torch.float32), Tokenizer(args.model)
    if tok.vocab_size > model.config.vocab_size:
        raise UserError(f"the tokenizer has {tok.vocab_size} pieces, the model {model.config.vocab_size}")
    max_len = min(args.max_seq_len, model.config.max_position_embeddings)

    # ----------------------------------------------------------------------------------------- data
    if args.mode == "pretrain":
        examples, dropped = packed_examples(tok, load_documents(args.data), max_len), 0
    else:
        examples, dropped = chat_examples(tok, load_conversations(args.data), args.mode, max_len)
    if not examples:
        raise UserError(f"{args.data}: no example keeps a supervised token within --max-seq-len {max_len}")
    lengths = [len(ids) for ids, _ in examples]
    per_epoch = math.ceil(len(examples) / args.batch_size)
    total = args.epochs * per_epoch
    if state and state["step"] >= total:
        raise UserError(f"{args.out}: this run finished at step {total}; nothing to resume")
    if rank == 0:
        print(f"{args.mode}: {len(examples)} examples ({dropped} dropped: no supervised token in {max_len}), "
              f"{sum(lengths)} tokens, {total} steps, {model.num_params() / 1e6:.2f}M parameters")

    # ------------------------------------------------------------------------------------ optimizer
    if world > 1:                                   # torchrun: FSDP, each block's parameters sharded
        from torch.distributed.fsdp import fully_shard
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
    model.to(device).train()
    for block in model.model.layers:
        if args.grad_checkpoint:                    # keep only block inputs; recompute the rest in backward
            block.forward = functools.partial(recomputed, block.forward)
        if world > 1:
            fully_shard(block)
    if world > 1:
        fully_shard(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    start = state["step"] if state else 0
    if state:
        try:                                        # a tampered state.pt can still fail here
            options = StateDictOptions(full_state_dict=world > 1)
            set_optimizer_state_dict(model, opt, state["optimizer"], options=options)
            torch.set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise UserError(f"{args.out}: its state.pt does not fit its model ({type(e).__name__}); cannot resume")
    log_file = os.path.join(args.out, "log.jsonl")
    if rank == 0:                   # forget what was logged after the checkpoint, and a line cut by a crash
        keep = []
        for line in read_text(log_file).splitlines(True) if state and os.path.isfile(log_file) else []:
            if not line.endswith("\n") or json.loads(line)["step"] > start:
                break
            keep.append(line)
        os.makedirs(args.out, exist_ok=True)
        with open(log_file, "w") as f:
            f.writelines(keep)
    stop = []                                       # Ctrl-C / SIGTERM: finish the step, save, stop

    def on_signal(sig, frame):
        stop.append(sig)
        signal.signal(sig, signal.SIG_DFL)          # a second one stops at once
    handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def stopped(why):                               # a loss or weights not finite: stop, keep the last save
        kept = f"the last good checkpoint (step {saved}) is in {args.out}" if saved else "none was saved"
        return UserError(f"{why}; stopped: {kept}")

    def checkpoint(step):                           # collective under FSDP: gathers the full tensors
        # The loss was finite, yet an update can overflow the weights (too high an --lr): never save those.
        finite = torch.stack([(p.to_local() if world > 1 else p).isfinite().all() for p in model.parameters()])
        finite = finite.all().int()
        if world > 1:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if not finite.item():
            raise stopped(f"step {step}: the weights are no longer finite (is --lr {args.lr:g} too high?)")
        full = StateDictOptions(full_state_dict=True, cpu_offload=True)
        sd = get_model_state_dict(model, options=full)
        optim = get_optimizer_state_dict(model, opt, options=full) if step < total else {}   # done: not needed
        if rank == 0:
            with torch.device("meta"):
                plain = Transformer(model.config)
            plain.load_state_dict(sd, assign=True)
            save(plain, tok, args.out, {"step": step, "args": {k: getattr(args, k) for k in SAME_RUN},
                                        "optimizer": optim, "rng": torch.get_rng_state()})
        return step

    # ----------------------------------------------------------------------------------------- loop
    saved, steps = (start or None), None
    bar = tqdm(total=total, initial=start, desc=args.mode, unit="step", disable=rank > 0)
    try:
        for step in range(start, total):
            epoch, k = divmod(step, per_epoch)
            if steps is None or k == 0:
                steps = epoch_batches(lengths, args.batch_size, args.seed, epoch, args.group_by_length)
            idx, t0, loss = steps[k], time.time(), torch.zeros((), device=device)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, args.lr, args.warmup)
            # This process's share. All take as many micro-batches (FSDP's collectives must match), one with
            # no examples left running a weight-0 one.
            mine, mb = idx[rank::world], args.micro_batch_size
            for s in range(0, math.ceil(len(idx) / world), mb):
                x, y = collate([examples[i] for i in (mine[s:s + mb] or idx[:1])], tok.eos_id)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    losses = example_losses(model, x.to(device), y.to(device)) * bool(mine[s:s + mb])
                # The loss: the mean over the step's examples of each example's per-token mean NLL (PAPERS
                # §2.5: the paper's code, micro-batch 1 and accumulation), whatever the micro-batch size.
                # FSDP averages gradients over processes, hence * world.
                (losses.sum() * world / len(idx)).backward()
                loss += losses.detach().sum() / len(idx)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip if args.clip > 0 else math.inf)
            flags = torch.tensor([len(stop)], device=device)
            if world > 1:                           # every process stops at the same step
                dist.all_reduce(loss)
                dist.all_reduce(flags, op=dist.ReduceOp.MAX)
                norm = norm.full_tensor()
            loss, norm = loss.item(), norm.item()
            if not (math.isfinite(loss) and math.isfinite(norm)):
                raise stopped(f"step {step + 1}: loss {loss}, gradient norm {norm}")
            opt.step()
            opt.zero_grad(set_to_none=True)
            ntok = sum(lengths[i] for i in idx)
            rec = {"step": step + 1, "epoch": round(epoch + (k + 1) / per_epoch, 4), "loss": round(loss, 5),
                   "lr": opt.param_groups[0]["lr"], "grad_norm": round(norm, 4), "tokens": ntok,
                   "tok_per_s": round(ntok / (time.time() - t0))}
            if rank == 0:
                with open(log_file, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            bar.update()
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=rec["tok_per_s"])
            stopping = flags.item() or step + 1 == args.stop_at
            if stopping or step + 1 == total or (args.save_every and (step + 1) % args.save_every == 0):
                saved = checkpoint(step + 1)
            if stopping:
                break
        bar.close()
        if rank == 0:
            print(f"saved {args.out} at step {saved} of {total}" + "; continue with --resume" * (saved < total))
        if stop:
            raise SystemExit(130)                   # interrupted: not a finished run
    finally:
        bar.close()                                 # an error line below the bar, not on it
        for sig, h in handlers.items():
            signal.signal(sig, h)
        if world > 1:
            dist.destroy_process_group()


if __name__ == "__main__":
    cli(main)
