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
import math
import os
import time
from contextlib import ExitStack

import torch
import torch.nn.functional as F
from tqdm import tqdm

from chat import segments
from model import Tokenizer, Transformer, read_config
from lib.runtime import (SAME_RUN, agree, distribute, diverged, epoch_batches, interrupts, made_of, micro_batches,
                         open_run, resume, save)
from lib.util import (Help, UserError, append_jsonl, cli, load_conversations, load_documents, locked, parse,
                      require, trim_log)

IGNORE = -100                                  # label of a token that carries no loss

# The conditions as loss masks over one text: (is the instruction's text kept, which roles carry loss).
# Roles: "tmpl" (BOS and the chat tags), "ins" (an instruction), "resp" (a response and its EOS),
# "text" (a pretraining document).
# >>> assignment 1: the loss masks
# stand-in: MASKS = dict.fromkeys(["instruction", "response", "single-task", "instruction-modelling", "pretrain"])
MASKS = {
    # Hewitt Eq. 1: instruction tuning, the baseline. Never BOS or the tags.
    "instruction": (True, {"resp"}),
    # Hewitt Eq. 2, §2.2: response tuning. The user turn is kept, tags included, but emptied.
    "response": (False, {"resp"}),
    # Hewitt §5: Eq. 1's mask on one narrow task's data.
    "single-task": (True, {"resp"}),
    # Shi et al. Eq. 4: Instruction Modelling (their released code also trains on the tags).
    "instruction-modelling": (True, {"ins", "resp"}),
    # Pretraining: plain documents, loss on every token.
    "pretrain": (True, {"text"}),
}
# <<< assignment 1
MODES = tuple(MASKS)


# --------------------------------------------------------------------------------------------- the data
def apply_mask(segs, mode):
    """(input_ids, labels) of (ids, role) pieces under the mode's loss mask (MASKS); labels are IGNORE where
    there is no loss. The one-token shift happens in the loss, not here."""
    # >>> assignment 1: the loss masks
    keep_instruction, loss = MASKS[mode]
    ids, labels = [], []
    for seg, role in segs:
        if role == "ins" and not keep_instruction:
            seg = []                        # an emptied instruction has no ids (the tags around it stay)
        ids += seg
        labels += seg if role in loss else [IGNORE] * len(seg)
    return ids, labels
    # <<< assignment 1


def build_example(tok: Tokenizer, messages, mode):
    """(input_ids, labels) of one conversation for a mode; labels are IGNORE where there is no loss."""
    return apply_mask(segments(tok, messages), mode)


def show(tok: Tokenizer, ids, labels):
    """The example as text, with the tokens that carry loss in [brackets]."""
    out = []
    for i, l in zip(ids, labels):
        p = tok.piece(i).replace("▁", " ").replace("<0x0A>", "\n")
        out.append(f"[{p}]" if l != IGNORE else p)
    return "".join(out)


# --------------------------------------------------------------------------------------------- loading
def chat_examples(tok, convs, mode, max_len):
    """(examples, dropped): truncated to max_len; an example left with no supervised token is dropped and
    counted (as the paper's code does), since it would only add 0/0 to the loss."""
    examples = [build_example(tok, m, mode) for _, m in convs]
    examples = [(ids[:max_len], labels[:max_len]) for ids, labels in examples]
    # labels[0] never carries loss: no token predicts it.
    examples = [(ids, labels) for ids, labels in examples if any(l != IGNORE for l in labels[1:])]
    return examples, len(convs) - len(examples)


def packed_examples(tok, docs, max_len):
    """Pretraining: BOS + doc + EOS for every document, concatenated and cut into max_len blocks."""
    stream = []
    for s in tqdm(range(0, len(docs), 1000), desc="tokenize", leave=False, disable=len(docs) < 10000):
        for ids in tok.sp.encode(docs[s:s + 1000]):
            stream += [tok.bos_id] + ids + [tok.eos_id]
    ids, labels = (torch.tensor(t) for t in apply_mask([(stream, "text")], "pretrain"))
    return [(x, y) for x, y in zip(ids.split(max_len), labels.split(max_len)) if len(x) > 1]


def load_examples(data, mode, tok, max_len):
    """(examples, dropped) of the file `data` for `mode`; none left is an error."""
    if mode == "pretrain":
        examples, dropped = packed_examples(tok, load_documents(data), max_len), 0
    else:
        examples, dropped = chat_examples(tok, load_conversations(data), mode, max_len)
    if not examples:
        raise UserError(f"{data}: no example keeps a supervised token within --max-seq-len {max_len}")
    return examples, dropped


def load_model(path, init=None, tokenizer=None, seed=0):
    """The model to train and its tokenizer: the checkpoint at `path`, or a fresh random one of the config.json
    `init` with the SentencePiece model `tokenizer`."""
    if not init:                                    # a checkpoint's tokenizer is checked against it as it is read
        return Transformer.from_pretrained(path, dtype=torch.float32), Tokenizer(path)
    config, tok = read_config(init), Tokenizer(tokenizer)
    if tok.vocab_size != config.vocab_size:
        raise UserError(f"{tokenizer}: {tok.vocab_size} pieces, but {init} says vocab_size {config.vocab_size}")
    config.bos_token_id, config.eos_token_id = tok.bos_id, tok.eos_id
    torch.manual_seed(seed)
    model = Transformer(config)
    # Llama's init: N(0, 0.02) for matrices, ones for norms.
    for p in model.parameters():
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.02)
    return model, tok


# ------------------------------------------------------------------------------------- batches and loss
def collate(examples, pad_id):
    """[B, T] ids and labels, right-padded: causal attention keeps padding out of every real token's view, so
    the padding id changes nothing (the project pads with EOS, in training, scoring and generation)."""
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


# ------------------------------------------------------------------------------------------------ flags
# The paper's epochs for Llama-2-7B: IT 15, RT 5; single-task GSM 7, MBPP 15, poetry 15, recipes 20, chess 15.
# IM varies only the mask, so it takes IT's. Pretraining: one pass over the corpus.
EPOCHS = {"instruction": 15, "response": 5, "single-task": 15, "instruction-modelling": 15, "pretrain": 1}
ROOT = os.path.dirname(os.path.abspath(__file__))


def settings(argv=None, **values):
    """The run's settings: from the command line, or (for a caller in Python) `values` by flag name with the
    command line's defaults for the rest."""
    ap = argparse.ArgumentParser(description="Adapt a model with one of the papers' loss masks, or pretrain one. "
                                 "Defaults suit the toy world on a CPU; helps give the paper's 7B setting.",
                                 formatter_class=Help)
    add = ap.add_argument
    add("--mode", choices=MODES, default="response", help="the condition, i.e. the loss mask")
    add("--data", help="messages JSONL or Alpaca JSON; pretrain: {\"text\"} JSONL or text, blank lines between "
        "documents (default data/toy/lima.jsonl, pretrain data/toy/corpus.jsonl; single-task needs it)")
    add("--model", help="HF checkpoint to tune (default checkpoints/toy-base)")
    add("--init", help="config.json of a fresh random model to train (instead of --model)")
    add("--tokenizer", help="tokenizer.model for --init")
    add("--out", help="run directory, an HF checkpoint once done (default runs/<mode>)")
    add("--resume", action="store_true", help="continue the run saved in --out")
    add("--overwrite", action="store_true", help="replace an existing --out")
    add("--epochs", type=int, help="passes over the data (default: the paper's for Llama-2-7B: "
        + ", ".join(f"{k} {v}" for k, v in EPOCHS.items()) + ")")
    add("--lr", type=float, default=3e-4, help="peak learning rate (paper: 1e-5 for Llama-2-7B)")
    add("--batch-size", type=int, default=16, help="examples per optimizer step (paper: 64)")
    add("--micro-batch-size", type=int, default=16, help="examples per forward pass and process (paper: 1)")
    add("--max-seq-len", type=int, default=512, help="truncation / packing length (paper: 2048)")
    add("--warmup", type=float, default=0.03, help="fraction of the steps spent in linear warmup")
    add("--weight-decay", type=float, default=0.0, help="AdamW weight decay (paper: 0)")
    add("--clip", type=float, default=1.0, help="gradient-norm clipping, 0 for none (paper: 1.0)")
    add("--seed", type=int, default=42, help="data order and --init weights (paper: 42 in validation, 1-5)")
    add("--save-every", type=int, default=200, help="steps between checkpoints, 0 for only at the end")
    add("--stop-at", type=int, help="save and stop after this step, as an interruption would")
    add("--group-by-length", action="store_true", help="batch similar lengths, less padding (paper: shuffled)")
    add("--precision", choices=("auto", "bf16", "fp32"), default="auto",
        help="bf16 autocast over fp32 weights; auto = bf16 on GPU, fp32 on CPU")
    add("--grad-checkpoint", action="store_true", help="recompute each block in the backward pass")
    add("--threads", type=int, default=1, help="CPU threads; more help only on an idle multi-core CPU")
    args = parse(ap, argv, values)
    args.epochs = EPOCHS[args.mode] if args.epochs is None else args.epochs
    require({"--epochs >= 1": args.epochs >= 1, "--batch-size >= 1": args.batch_size >= 1,
             "1 <= --micro-batch-size <= --batch-size": 1 <= args.micro_batch_size <= args.batch_size,
             "1 <= --threads <= 1024": 1 <= args.threads <= 1024, "0 <= --seed < 2**63": 0 <= args.seed < 2**63,
             "0 < --lr <= 1": 0 < args.lr <= 1, "--max-seq-len >= 2": args.max_seq_len >= 2,
             "--model or --init, not both": not (args.model and args.init),
             "--tokenizer with --init, and only then": bool(args.init) == bool(args.tokenizer),
             "0 <= --warmup < 1": 0 <= args.warmup < 1, "--save-every >= 0": args.save_every >= 0,
             "a finite --weight-decay >= 0": 0 <= args.weight_decay < math.inf,
             "a finite --clip >= 0": 0 <= args.clip < math.inf,
             "--stop-at >= 1": args.stop_at is None or args.stop_at >= 1,
             "--data with --mode single-task": args.data or args.mode != "single-task"})
    args.out = args.out or os.path.join(ROOT, "runs", args.mode)
    args.model = None if args.init else args.model or os.path.join(ROOT, "checkpoints", "toy-base")
    toy = os.path.join(ROOT, "data", "toy")
    args.data = args.data or os.path.join(toy, "corpus.jsonl" if args.mode == "pretrain" else "lima.jsonl")
    return args


# ------------------------------------------------------------------------------------------------- main
def train(args):
    """The training loop, as nanoGPT's: batches, loss, backward, step, log, save. `args`: settings()."""
    torch.set_num_threads(args.threads)
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    # What a --resume must not change, and what the run is made of (saved with it)
    run = {**{k: getattr(args, k) for k in SAME_RUN}, "made_of": made_of(args)}
    with ExitStack() as cleanup:                    # undone in reverse order, however the run ends
        cleanup.enter_context(locked(args.out, rank == 0))
        inputs = [args.model, args.data, args.init, args.tokenizer]
        state = open_run(args.out, inputs, run, args.resume, args.overwrite, rank)   # None, or the saved state
        # A resumed run continues from its own last save.
        model, tok = (load_model(args.out) if args.resume else
                      load_model(args.model, args.init, args.tokenizer, args.seed))
        max_len = min(args.max_seq_len, model.config.max_position_embeddings)
        examples, dropped = load_examples(args.data, args.mode, tok, max_len)
        lengths = [len(ids) for ids, _ in examples]
        per_epoch = math.ceil(len(examples) / args.batch_size)
        total, start = args.epochs * per_epoch, state["step"] if state else 0
        if state and start >= total:
            raise UserError(f"{args.out}: this run finished at step {total}; nothing to resume")
        if rank == 0:
            print(f"{args.mode}: {len(examples)} examples ({dropped} dropped: no supervised token in "
                  f"{max_len}), {sum(lengths)} tokens, {total} steps, "
                  f"{model.num_params() / 1e6:.2f}M parameters")
        device = distribute(model, world, device, args.grad_checkpoint)
        if world > 1:
            cleanup.callback(torch.distributed.destroy_process_group)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        if state:
            resume(model, opt, state, args.out, world)
        log_file = os.path.join(args.out, "log.jsonl")
        if rank == 0:
            trim_log(log_file, start)
        saved, batches = (start or None), None
        signals = cleanup.enter_context(interrupts())    # Ctrl-C and SIGTERM caught so far
        bar = tqdm(total=total, initial=start, desc=args.mode, unit="step", disable=rank > 0)
        cleanup.enter_context(bar)                  # closed first: an error line below the bar, not on it
        for step in range(start, total):
            epoch, k = divmod(step, per_epoch)
            if batches is None or k == 0:
                batches = epoch_batches(lengths, args.batch_size, args.seed, epoch, args.group_by_length)
            batch, t0, loss = batches[k], time.time(), torch.zeros((), device=device)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, args.lr, args.warmup)
            for part, weight in micro_batches(batch, rank, world, args.micro_batch_size):
                x, y = collate([examples[i] for i in part], tok.eos_id)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    losses = example_losses(model, x.to(device), y.to(device)) * weight
                # The mean over the batch of each example's per-token mean NLL, as the paper's code computes
                # it (micro-batch 1 and accumulation). FSDP averages gradients over processes, hence * world.
                (losses.sum() * world / len(batch)).backward()
                loss += losses.detach().sum() / len(batch)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip or math.inf)
            loss, norm, interrupted = agree(loss, norm, signals, world)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                raise diverged(f"step {step + 1}: loss {loss}, gradient norm {norm}", args.out, saved)
            opt.step()
            opt.zero_grad(set_to_none=True)
            ntok = sum(lengths[i] for i in batch)
            rec = {"step": step + 1, "epoch": round(epoch + (k + 1) / per_epoch, 4), "loss": round(loss, 5),
                   "lr": opt.param_groups[0]["lr"], "grad_norm": round(norm, 4), "tokens": ntok,
                   "tok_per_s": round(ntok / (time.time() - t0))}
            if rank == 0:
                append_jsonl(log_file, rec)
            bar.update()
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=rec["tok_per_s"])
            stop = interrupted or step + 1 == args.stop_at
            if stop or step + 1 == total or (args.save_every and (step + 1) % args.save_every == 0):
                saved = save(model, opt, tok, args.out, run, step + 1, total, world, rank, saved)
            if stop:
                break
        bar.close()                                 # the line below the bar, not on it
        if rank == 0:
            print(f"saved {args.out} at step {saved} of {total}" + "; continue with --resume" * (saved < total))
        if world > 1:
            torch.distributed.barrier()             # every rank done (rank 0's files too) before the group goes
        if signals:
            raise SystemExit(130)                   # interrupted: not a finished run


def main(argv=None):
    train(settings(argv))


if __name__ == "__main__":
    cli(main)
