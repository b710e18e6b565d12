"""The machinery of a training run that the method does not need, for train.py: FSDP sharding, saving a run
and resuming it exactly (state.pt), Ctrl-C and SIGTERM, and what every process must agree on under torchrun."""
import contextlib
import functools
import math
import os
import random
import shutil
import signal

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_optimizer_state_dict)

from lib.util import UserError, check_run_dir, code_sha256, fingerprint, recover

# What --resume must not change.
SAME_RUN = ("mode", "data", "epochs", "lr", "batch_size", "max_seq_len", "warmup", "weight_decay", "clip",
            "seed", "group_by_length")
# The code a training run runs.
CODE = ("model.py", "chat.py", "train.py", "lib/runtime.py", "lib/hf.py", "lib/util.py")
CODE_SHA256 = code_sha256(CODE)     # read as the process starts: the code it runs, even if edited while it runs


def made_of(args):
    """What a run of train.py is made of, saved with it: its settings, its inputs by content and its code. A
    run is reused (experiments/reproduce.py) only when this is the same."""
    return {**{k: getattr(args, k) for k in SAME_RUN if k != "data"}, "data": fingerprint(args.data),
            "start": fingerprint(args.init or args.model), "tokenizer": fingerprint(args.init and args.tokenizer),
            "precision": args.precision, "micro_batch_size": args.micro_batch_size, "code": CODE_SHA256}


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


def micro_batches(batch, rank, world, size):
    """This process's share of an optimizer step's batch (example indices) as micro-batches (indices,
    weight). All processes take as many (FSDP's collectives must match), one with no examples left running a
    weight-0 one."""
    mine = batch[rank::world]
    for s in range(0, math.ceil(len(batch) / world), size):
        part = mine[s:s + size]
        yield (part or batch[:1]), bool(part)


def recomputed(forward, *args):
    """Gradient checkpointing: run `forward` keeping only its inputs; recompute it in the backward pass."""
    return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False)


def distribute(model, world, device, grad_checkpoint=False):
    """The model on its device, in training mode, each block recomputed in backward with `grad_checkpoint`
    and, under torchrun, sharded with FSDP (fully_shard per block, then the whole model). Returns the device."""
    if world > 1:
        from torch.distributed.fsdp import fully_shard
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
    model.to(device).train()
    for block in model.model.layers:
        if grad_checkpoint:
            block.forward = functools.partial(recomputed, block.forward)
        if world > 1:
            fully_shard(block)
    if world > 1:
        fully_shard(model)
    return device


def open_run(out, inputs, run, resume, overwrite, rank):
    """Ready the run directory `out` for this run: an interrupted save finished or undone, the directory
    checked (util.check_run_dir), and with `resume` the saved state read and checked against `run`, the
    settings of SAME_RUN."""
    if rank == 0:
        recover(out)                                # a save cut short: the old run put aside comes back
    check_run_dir(out, inputs, resume, overwrite)
    return read_state(out, run) if resume else None


def read_state(out, run):
    """The state.pt of the run to resume; a corrupt or tampered one is a clear error, not a traceback later."""
    path = os.path.join(out, "state.pt")
    try:
        state = torch.load(path, weights_only=True)
        changed = [k for k in SAME_RUN if state["args"].get(k, run[k]) != run[k]]
        ok = type(state["step"]) is int and state["step"] >= 0 and torch.is_tensor(state["rng"])
    # Not a zip, a pickle of foreign objects, keys missing, ...
    except Exception as e:
        raise UserError(f"{path}: cannot resume from it ({type(e).__name__})")
    if not ok:
        raise UserError(f"{path}: cannot resume from it (not a state.pt of train.py)")
    if changed:
        raise UserError(f"{out}: --resume with a different {', '.join(changed)} than the saved run")
    return state


def resume(model, opt, state, out, world):
    """The optimizer state and RNG of the saved run (a tampered state.pt can still fail here)."""
    try:
        options = StateDictOptions(full_state_dict=world > 1)
        set_optimizer_state_dict(model, opt, state["optimizer"], options=options)
        torch.set_rng_state(state["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise UserError(f"{out}: its state.pt does not fit its model ({type(e).__name__}); cannot resume")


def diverged(why, out, saved):
    """The error of a loss or weights not finite: the run stops, the last good checkpoint is kept."""
    kept = f"the last good checkpoint (step {saved}) is in {out}" if saved else "none was saved"
    return UserError(f"{why}; stopped: {kept}")


def save(model, opt, tok, out, run, step, total, world, rank, saved):
    """Save the run at `step` in `out`: HF checkpoint + state.pt (with `run`, the settings of SAME_RUN) +
    log.jsonl, swapped in whole by save_pretrained. Collective under FSDP (gathers the full tensors). Returns
    the step saved."""
    # The loss was finite, yet an update can overflow the weights (too high an --lr): never save those.
    finite = torch.stack([(p.to_local() if world > 1 else p).isfinite().all() for p in model.parameters()])
    finite = finite.all().int()
    if world > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    if not finite.item():
        why = f"step {step}: the weights are no longer finite (is --lr {run['lr']:g} too high?)"
        raise diverged(why, out, saved)
    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    sd = get_model_state_dict(model, options=full)
    # A finished run needs no optimizer state.
    optim = get_optimizer_state_dict(model, opt, options=full) if step < total else {}
    if rank == 0:
        with torch.device("meta"):
            plain = type(model)(model.config)          # unsharded, to save as one HF checkpoint
        plain.load_state_dict(sd, assign=True)
        state = {"step": step, "args": run, "optimizer": optim,
                 "rng": torch.get_rng_state()}

        def add(folder):
            try:
                torch.save(state, os.path.join(folder, "state.pt"))
            # torch reports a failed write (a full disk) as a RuntimeError of its writer; replace_dir makes the
            # OSError one line.
            except RuntimeError as e:
                raise OSError(f"state.pt not written (is the disk full?): {str(e).splitlines()[0]}")
            if os.path.isfile(os.path.join(out, "log.jsonl")):
                shutil.copyfile(os.path.join(out, "log.jsonl"), os.path.join(folder, "log.jsonl"))
        plain.save_pretrained(out, tokenizer=tok, extra=add)
    return step


def agree(loss, norm, signals, world):
    """The step's loss and gradient norm as floats, and whether to stop (Ctrl-C, SIGTERM), the same in every
    process."""
    flags = torch.tensor([len(signals)], device=loss.device)
    if world > 1:
        dist.all_reduce(loss)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        norm = norm.full_tensor()
    return loss.item(), norm.item(), flags.item()


@contextlib.contextmanager
def interrupts():
    """Ctrl-C and SIGTERM are noted in the list it yields, so the loop finishes the step, saves and stops; a
    second one stops at once. The handlers are restored at the end."""
    caught = []

    def on_signal(sig, frame):
        caught.append(sig)
        signal.signal(sig, signal.SIG_DFL)
    handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)


