"""Training in several processes under torchrun (WORLD_SIZE > 1): the process group, FSDP's sharding, each
process's share of a batch, and the numbers every process must agree on. One process uses none of it."""
import math
import os

import torch
import torch.distributed as dist


def world():
    """(processes, this one's rank) under torchrun; (1, 0) for a plain run."""
    return int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))


def shard(model, device):
    """Join the process group and shard `model` with FSDP (fully_shard per block, then the whole model).
    Returns this process's device."""
    from torch.distributed.fsdp import fully_shard
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    model.to(device)
    for block in model.model.layers:
        fully_shard(block)
    fully_shard(model)
    return device


def share(batch, size, rank, processes):
    """This process's share of an optimizer step's batch (example indices) as micro-batches (indices, weight).
    All processes run as many (FSDP's collectives must match): one with no examples left runs a weight-0
    micro-batch."""
    mine = batch[rank::processes]
    for s in range(0, math.ceil(len(batch) / processes), size):
        part = mine[s:s + size]
        yield (part or batch[:1]), bool(part)


def agree(loss, norm, stop):
    """The loss summed over processes, the whole gradient's norm, and whether any process was asked to stop."""
    flag = torch.tensor([int(stop)], device=loss.device)
    dist.all_reduce(loss)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return loss, norm.full_tensor(), bool(flag.item())


def all_finite(finite):
    """Whether `finite` (a 0/1 tensor) holds in every process."""
    dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return finite


def local(p):
    """This process's shard of a parameter."""
    return p.to_local()


def finish(wait):
    """The process group gone (if it was made); with `wait`, only once every rank is done (rank 0's files too)."""
    if not dist.is_initialized():
        return
    if wait:
        dist.barrier()
    dist.destroy_process_group()
