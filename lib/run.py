"""A training run in its directory, for train.py: the lock (one writer), resume (the saved state checked against
the settings, inputs and code of this run), the log, the progress bar, Ctrl-C and SIGTERM (finish the step, save,
stop), and saves swapped in whole (an HF checkpoint + state.pt + log.jsonl). Under torchrun the processes agree
on what they log and when they stop (lib/distributed.py)."""
import functools
import math
import os
import shutil
import signal

import torch
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_optimizer_state_dict)
from tqdm import tqdm

from lib import distributed
from lib.cli import UserError
from lib.files import append_jsonl
from lib.provenance import differences, made_of
from lib.rundir import check_run_dir, locked, recover, trim_log

# What the run is made of that --resume must not change: these settings, then its inputs and code.
SAME_RUN = ("mode", "data", "epochs", "lr", "batch_size", "max_seq_len", "warmup", "weight_decay", "clip",
            "seed", "group_by_length")
SAME_INPUTS = ("data", "start", "tokenizer", "code")


def run_made_of(args):
    """What a run of train.py (its settings, `args`) is made of, saved with it: its settings, its inputs by
    content and its code. A run is resumed or reused (experiments/reproduce.py) only while this is the same."""
    values = {k: getattr(args, k) for k in SAME_RUN if k != "data"}
    inputs = {"data": args.data, "start": args.init or args.model, "tokenizer": args.init and args.tokenizer}
    return made_of({**values, "precision": args.precision, "micro_batch_size": args.micro_batch_size}, inputs,
                   "train")


class Run:
    """`with Run(args) as run:` the training run of train.py's settings `args` in its directory args.out."""

    def __init__(self, args):
        self.out, self.resume, self.overwrite = args.out, args.resume, args.overwrite
        self.record = {**{k: getattr(args, k) for k in SAME_RUN}, "made_of": run_made_of(args)}
        self.inputs = [p for p in (args.model, args.data, args.init, args.tokenizer) if p]
        self.stop_at, self.save_every = args.stop_at, args.save_every
        self.world, self.rank = distributed.world()
        self.log_file = os.path.join(args.out, "log.jsonl")
        self.caught, self.stopping, self.saved, self.bar = [], False, None, None

    @staticmethod
    def add_flags(ap):
        """train.py's flags that manage the run in its directory rather than the training."""
        add = ap.add_argument
        add("--resume", action="store_true", help="continue the run saved in --out (its settings, data and code)")
        add("--overwrite", action="store_true", help="replace an existing --out")
        add("--save-every", type=int, default=200, help="steps between checkpoints, 0 for only at the end")
        add("--stop-at", type=int, help="save and stop after this step, as an interruption would")

    def __enter__(self):
        self.lock = locked(self.out, self.rank == 0)
        self.lock.__enter__()
        try:
            if self.rank == 0:
                recover(self.out)                   # a save cut short: the old run put aside comes back
            check_run_dir(self.out, self.inputs, self.resume, self.overwrite)
            self.state = read_state(self.out, self.record) if self.resume else None
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        self.start = self.state["step"] if self.state else 0
        self.saved = self.start or None
        return self

    def begin(self, total, summary):
        """The run's length in steps; `summary` printed once. Its log is trimmed to the saved step, and Ctrl-C
        and SIGTERM are caught from here on."""
        if self.state and self.start >= total:
            raise UserError(f"{self.out}: this run finished at step {total}; nothing to resume")
        self.total = total
        if self.rank == 0:
            print(summary)
            try:
                trim_log(self.log_file, self.start)
            except OSError as e:                    # a full disk: the log put aside comes back as the run ends
                raise UserError(f"{self.log_file}: cannot write it ({e.strerror}); the run is as it was")
        self.handlers = {sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        self.bar = tqdm(total=total, initial=self.start, desc=self.record["mode"], unit="step",
                        disable=self.rank > 0)

    def on_signal(self, sig, frame):
        """The first Ctrl-C or SIGTERM: finish the step, save, stop. A second one stops at once."""
        self.caught.append(sig)
        signal.signal(sig, signal.SIG_DFL)

    def place(self, model, device, grad_checkpoint=False):
        """The model on its device in training mode, each block recomputed in the backward pass with
        `grad_checkpoint`, sharded with FSDP under torchrun. Returns the device."""
        model.train()
        if grad_checkpoint:
            for block in model.model.layers:
                block.forward = functools.partial(recomputed, block.forward)
        if self.world > 1:
            return distributed.shard(model, device)
        model.to(device)
        return device

    def restore(self, model, opt):
        """The optimizer state and RNG of the run resumed (a tampered state.pt can still fail here)."""
        if not self.state:
            return
        try:
            options = StateDictOptions(full_state_dict=self.world > 1)
            set_optimizer_state_dict(model, opt, self.state["optimizer"], options=options)
            torch.set_rng_state(self.state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise UserError(f"{self.out}: its state.pt does not fit its model ({type(e).__name__}); cannot resume")

    def steps(self):
        """The steps left, from the saved one; ends after a step that saved to stop (Ctrl-C, --stop-at)."""
        for step in range(self.start, self.total):
            yield step
            if self.stopping:
                return

    def micro_batches(self, batch, size):
        """The micro-batches of an optimizer step's batch (example indices) that this process runs, each with
        its weight (1; 0 for the padding FSDP needs when a process has no examples left)."""
        if self.world > 1:
            return distributed.share(batch, size, self.rank, self.world)
        return ((batch[s:s + size], 1) for s in range(0, len(batch), size))

    def agree(self, step, loss, norm):
        """The step's loss and gradient norm as floats, the same in every process; a loss or norm that is not
        finite stops the run with the last good checkpoint kept."""
        stop = bool(self.caught)
        if self.world > 1:
            loss, norm, stop = distributed.agree(loss, norm, stop)
        loss, norm = loss.item(), norm.item()
        self.stopping = stop or step + 1 == self.stop_at
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise self.diverged(f"step {step + 1}: loss {loss}, gradient norm {norm}")
        return loss, norm

    def log(self, record):
        """One line of log.jsonl and the progress bar."""
        if self.rank == 0:
            append_jsonl(self.log_file, record)
        self.bar.update()
        self.bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=record["tok_per_s"])

    def save_due(self, step):
        """Whether the run saves after `step` steps: every --save-every, at the end, and before it stops."""
        return self.stopping or step == self.total or bool(self.save_every and step % self.save_every == 0)

    def diverged(self, why):
        """The error of a loss or weights not finite: the run stops, the last good checkpoint is kept."""
        kept = f"the last good checkpoint (step {self.saved}) is in {self.out}" if self.saved else "none was saved"
        return UserError(f"{why}; stopped: {kept}")

    def save(self, model, opt, tok, step):
        """Save the run at `step`: HF checkpoint + state.pt (the run's record, for --resume) + log.jsonl,
        swapped in whole. Collective under FSDP (it gathers the full tensors)."""
        # The loss was finite, yet an update can overflow the weights (too high an --lr): never save those.
        shards = [distributed.local(p) if self.world > 1 else p for p in model.parameters()]
        finite = torch.stack([p.isfinite().all() for p in shards]).all().int()
        if self.world > 1:
            finite = distributed.all_finite(finite)
        if not finite.item():
            why = f"step {step}: the weights are no longer finite (is --lr {self.record['lr']:g} too high?)"
            raise self.diverged(why)
        full = StateDictOptions(full_state_dict=True, cpu_offload=True)
        weights = get_model_state_dict(model, options=full)
        # A finished run needs no optimizer state.
        optim = get_optimizer_state_dict(model, opt, options=full) if step < self.total else {}
        if self.rank == 0:
            with torch.device("meta"):
                plain = type(model)(model.config)          # unsharded, to save as one HF checkpoint
            plain.load_state_dict(weights, assign=True)
            state = {"step": step, "args": self.record, "optimizer": optim, "rng": torch.get_rng_state()}
            plain.save_pretrained(self.out, tokenizer=tok, extra=functools.partial(self.add_state, state))
        self.saved = step

    def add_state(self, state, folder):
        """state.pt and the log, into the folder a save fills."""
        try:
            torch.save(state, os.path.join(folder, "state.pt"))
        # torch reports a failed write (a full disk) as a RuntimeError of its writer; replace_dir makes the
        # OSError one line.
        except RuntimeError as e:
            raise OSError(f"state.pt not written (is the disk full?): {str(e).splitlines()[0]}")
        if os.path.isfile(self.log_file):
            shutil.copyfile(self.log_file, os.path.join(folder, "log.jsonl"))

    def __exit__(self, kind, error, trace):
        try:
            if self.bar is not None:                # begun
                self.bar.close()                    # an error line, or the last line, below the bar, not on it
                for sig, handler in self.handlers.items():
                    signal.signal(sig, handler)
            if kind is None and self.rank == 0:
                print(f"saved {self.out} at step {self.saved} of {self.total}"
                      + "; continue with --resume" * (self.saved < self.total))
            if self.world > 1:
                distributed.finish(wait=kind is None)
        finally:
            self.lock.__exit__(kind, error, trace)
        if kind is None and self.caught:
            raise SystemExit(130)                   # interrupted: not a finished run


def recomputed(forward, *args):
    """Gradient checkpointing: run `forward` keeping only its inputs; recompute it in the backward pass."""
    return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False)


def read_state(out, record):
    """The state.pt of the run to resume, checked against this run's `record` (SAME_RUN, then its inputs and
    code); a corrupt or tampered one is a clear error, not a traceback later."""
    path = os.path.join(out, "state.pt")
    try:
        state = torch.load(path, weights_only=True)
        saved = state["args"]
        changed = [k for k in SAME_RUN if saved.get(k, record[k]) != record[k]]
        ok = type(state["step"]) is int and state["step"] >= 0 and torch.is_tensor(state["rng"])
    # Not a zip, a pickle of foreign objects, keys missing, ...
    except Exception as e:
        raise UserError(f"{path}: cannot resume from it ({type(e).__name__})")
    if not ok:
        raise UserError(f"{path}: cannot resume from it (not a state.pt of train.py)")
    if changed:
        values = ", ".join(f"{k} (saved {saved[k]}, now {record[k]})" for k in changed)
        raise UserError(f"{out}: --resume with a different {values} than the saved run")
    made = saved.get("made_of")
    inputs = differences({k: made.get(k) for k in SAME_INPUTS} if isinstance(made, dict) else None,
                         {k: record["made_of"][k] for k in SAME_INPUTS})
    if inputs:
        raise UserError(f"{out}: --resume with a changed {inputs} since the run was saved (pass --overwrite to "
                        f"start it again)")
    return state
