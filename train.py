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
import random
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from chat import segments
from model import Tokenizer, Transformer, read_config
from lib.cli import Help, UserError, cli, parse
from lib.conversations import load_conversations, load_documents
from lib.run import Run

IGNORE = -100                                  # label of a token that carries no loss

# The conditions as loss masks over one text: (is the instruction's text kept, which roles carry loss).
# Roles: "tmpl" (BOS and the chat tags), "ins" (an instruction), "resp" (a response and its EOS),
# "text" (a pretraining document).
# >>> assignment 1: the loss masks
# stand-in: MASKS = dict.fromkeys(["instruction", "response", "single-task", "instruction-modelling", "pretrain"])
MASKS = {
    "instruction": (True, {"resp"}),             # Hewitt Eq. 1: instruction tuning. Never BOS or the tags.
    "response": (False, {"resp"}),               # Hewitt Eq. 2, §2.2: the user turn kept (its tags), emptied
    "single-task": (True, {"resp"}),             # Hewitt §5: Eq. 1's mask on one narrow task's data
    "instruction-modelling": (True, {"ins", "resp"}),   # Shi et al. Eq. 4 (their code also trains on the tags)
    "pretrain": (True, {"text"}),                # plain documents, loss on every token
}
# <<< assignment 1


# --------------------------------------------------------------------------------------------- the data
def apply_mask(segs, mode):
    """(input_ids, labels) of (ids, role) pieces under the mode's MASKS; labels IGNORE where there is no loss."""
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
    pieces = (tok.piece(i).replace("▁", " ").replace("<0x0A>", "\n") for i in ids)
    return "".join(f"[{p}]" if l != IGNORE else p for p, l in zip(pieces, labels))


# --------------------------------------------------------------------------------------------- loading
def packed_examples(tok, docs, max_len):
    """Pretraining: BOS + doc + EOS for every document, concatenated and cut into max_len blocks."""
    stream = [i for doc in tqdm(docs, desc="tokenize", leave=False, disable=len(docs) < 10000)
              for i in tok.encode(doc, bos=True, eos=True)]
    ids, labels = (torch.tensor(t) for t in apply_mask([(stream, "text")], "pretrain"))
    return [(x, y) for x, y in zip(ids.split(max_len), labels.split(max_len)) if len(x) > 1]


def load_examples(data, mode, tok, max_len):
    """(examples, dropped) of the file `data` for `mode`, truncated to max_len. A conversation left with no
    supervised token is dropped and counted (as the paper's code does): it would only add 0/0 to the loss."""
    if mode == "pretrain":
        return packed_examples(tok, load_documents(data), max_len), 0
    convs = load_conversations(data)
    examples = [build_example(tok, m, mode) for _, m in convs]
    examples = [(ids[:max_len], labels[:max_len]) for ids, labels in examples]
    # labels[0] never carries loss: no token predicts it.
    examples = [(ids, labels) for ids, labels in examples if any(l != IGNORE for l in labels[1:])]
    if not examples:
        raise UserError(f"{data}: no example keeps a supervised token within --max-seq-len {max_len}")
    return examples, len(convs) - len(examples)


def load_model(path, init=None, tokenizer=None, seed=0):
    """(model, tokenizer) to train: the checkpoint `path`, or a fresh random model of config.json `init`."""
    if not init:
        return Transformer.from_pretrained(path, dtype=torch.float32), Tokenizer(path)
    config, tok = read_config(init), Tokenizer(tokenizer, config=init)     # one piece per row of the model
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
    """[B, T] ids and labels, right-padded with pad_id (EOS, as everywhere): causal attention hides it."""
    T = max(len(ids) for ids, _ in examples)
    x = torch.full((len(examples), T), pad_id, dtype=torch.long)
    y = torch.full((len(examples), T), IGNORE, dtype=torch.long)
    for i, (ids, labels) in enumerate(examples):
        x[i, :len(ids)], y[i, :len(ids)] = torch.as_tensor(ids), torch.as_tensor(labels)
    return x, y


def token_nll(model, x, y):
    """NLL [B, T] of each labelled token (0 elsewhere) and their mask [B, T]: the project's one-token shift."""
    logits = model(x).float()                                       # [B, T, V]
    target = F.pad(y[:, 1:], (0, 1), value=IGNORE)                  # [B, T]: position t predicts token t+1
    nll = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE, reduction="none")
    return nll.view(target.shape), target != IGNORE


def example_losses(model, x, y):
    """Each example's token-mean NLL [B]."""
    nll, mask = token_nll(model, x, y)
    return nll.sum(1) / mask.sum(1).clamp(min=1)


def epoch_batches(lengths, batch, seed, epoch, group=False):
    """One epoch's optimizer steps (lists of example indices), a pure function of (seed, epoch) so a resumed
    run sees the same order. Grouped: each window of 32 steps sorted by length, so little goes to padding."""
    rnd = random.Random(seed * 100003 + epoch)
    order = rnd.sample(range(len(lengths)), len(lengths))
    if group:
        w = batch * 32
        order = [i for s in range(0, len(order), w) for i in sorted(order[s:s + w], key=lambda i: -lengths[i])]
    batches = [order[s:s + batch] for s in range(0, len(order), batch)]
    rnd.shuffle(batches)
    return batches


def lr_at(step, total, peak, warmup):
    """Linear warmup, then linear decay to 0: the paper's scripts (its appendix says cosine)."""
    warm = int(total * warmup)
    return peak * ((step + 1) / (warm + 1) if step < warm else (total - step) / (total - warm))


# ------------------------------------------------------------------------------------------------ flags
# The paper's epochs for Llama-2-7B (single-task: by data set, experiments/reproduce.py); IM takes IT's.
EPOCHS = {"instruction": 15, "response": 5, "single-task": 15, "instruction-modelling": 15, "pretrain": 1}
ROOT = os.path.dirname(os.path.abspath(__file__))


def settings(argv=None, **values):
    """The run's settings: the command line's, or (from Python) `values` by flag name over its defaults."""
    ap = argparse.ArgumentParser(formatter_class=Help, description="Adapt a model with one of the papers' loss "
                                 "masks, or pretrain one (defaults: the toy world on a CPU; helps: 7B).")
    add = ap.add_argument
    add("--mode", choices=MASKS, default="response", help="the condition, i.e. the loss mask")
    add("--data", help="messages JSONL or Alpaca JSON, default data/toy/lima.jsonl (single-task: required); "
        "pretrain: {\"text\"} JSONL or text, blank lines between documents, default data/toy/corpus.jsonl")
    add("--model", help="HF checkpoint to tune (default checkpoints/toy-base)")
    add("--init", help="config.json of a fresh random model to train (instead of --model)")
    add("--tokenizer", help="tokenizer.model for --init")
    add("--out", help="run directory, an HF checkpoint once done (default runs/<mode>)")
    Run.add_flags(ap)                           # --resume, --overwrite, --save-every, --stop-at: the run's own
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
    add("--group-by-length", action="store_true", help="batch similar lengths, less padding (paper: shuffled)")
    add("--precision", choices=("auto", "bf16", "fp32"), default="auto", help="bf16 autocast; auto: on GPUs")
    add("--grad-checkpoint", action="store_true", help="recompute each block in the backward pass")
    add("--threads", type=int, default=1, help="CPU threads; more help only on an idle multi-core CPU")
    args = parse(ap, argv, values, "train")
    args.epochs = EPOCHS[args.mode] if args.epochs is None else args.epochs
    args.out = args.out or os.path.join(ROOT, "runs", args.mode)
    args.model = None if args.init else args.model or os.path.join(ROOT, "checkpoints", "toy-base")
    toy = os.path.join(ROOT, "data", "toy")
    args.data = args.data or os.path.join(toy, "corpus.jsonl" if args.mode == "pretrain" else "lima.jsonl")
    return args


# ------------------------------------------------------------------------------------------------- main
def train(args):
    """The training loop, as nanoGPT's: batches, the loss under the condition's mask, backward, clip, step, log,
    save. The run (lib/run.py) owns the directory: its lock, resume, log, signals and whole saves."""
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    with Run(args) as run:
        # A resumed run continues from its own last save.
        model, tok = (load_model(args.out) if args.resume else
                      load_model(args.model, args.init, args.tokenizer, args.seed))
        max_len = min(args.max_seq_len, model.config.max_position_embeddings)
        examples, dropped = load_examples(args.data, args.mode, tok, max_len)
        lengths = [len(ids) for ids, _ in examples]
        per_epoch = math.ceil(len(examples) / args.batch_size)
        total = args.epochs * per_epoch
        run.begin(total, f"{args.mode}: {len(examples)} examples ({dropped} dropped: no supervised token in "
                  f"{max_len}), {sum(lengths)} tokens, {total} steps, {model.num_params() / 1e6:.2f}M parameters")
        device = run.place(model, device, args.grad_checkpoint)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        run.restore(model, opt)
        for step in run.steps():
            epoch, k = divmod(step, per_epoch)
            if k == 0 or step == run.start:
                batches = epoch_batches(lengths, args.batch_size, args.seed, epoch, args.group_by_length)
            batch, t0, loss = batches[k], time.time(), torch.zeros((), device=device)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, args.lr, args.warmup)
            for part, weight in run.micro_batches(batch, args.micro_batch_size):
                x, y = collate([examples[i] for i in part], tok.eos_id)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    losses = example_losses(model, x.to(device), y.to(device)) * weight
                # The mean over the batch of each example's per-token mean NLL, as the paper's code computes
                # it (micro-batch 1 and accumulation). FSDP averages gradients over processes, hence * world.
                (losses.sum() * run.world / len(batch)).backward()
                loss += losses.detach().sum() / len(batch)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip or math.inf)
            loss, norm = run.agree(step, loss, norm)            # floats; not finite: the run stops here
            opt.step()
            opt.zero_grad(set_to_none=True)
            ntok = sum(lengths[i] for i in batch)
            run.log({"step": step + 1, "epoch": round(epoch + (k + 1) / per_epoch, 4), "loss": round(loss, 5),
                     "lr": opt.param_groups[0]["lr"], "grad_norm": round(norm, 4), "tokens": ntok,
                     "tok_per_s": round(ntok / (time.time() - t0))})
            if run.save_due(step + 1):
                run.save(model, opt, tok, step + 1)


def main(argv=None):
    train(settings(argv))


if __name__ == "__main__":
    cli(main)
