"""Data-parallel training under torchrun: `torchrun --nproc_per_node=N -m advnets train ...`.

Every rank builds the same G and D from the run's seed (and takes rank 0's weights, to be sure), draws its own
share of each global minibatch (training.batches: rank r takes the r-th slice of train.batch_size examples, so
the effective batch is N × train.batch_size) and its own noise, and computes its gradients alone. The ranks meet
at the one gradient seam (`steps.apply` calls `Parts.sync_grads`): each player's gradients are flattened into one
tensor and averaged by an all-reduce, as StyleGAN2-ADA does, instead of wrapping G and D in
DistributedDataParallel, which does not fit the toggled `requires_grad`, the two partial backward passes of the
simultaneous update or `autograd.grad` in the penalties. With the same weights and averaged gradients every rank's
optimiser takes the same step, so the players stay identical; batch-norm statistics are rank 0's, sent to the
others after every iteration (DistributedDataParallel's `broadcast_buffers`).

What every rank must agree on is agreed: the logged statistics are averaged over the ranks (so the health monitor
flags, and a divergence stops, every rank at the same step), and a stop (Ctrl-C, SIGTERM) reached by any rank
stops all at the next iteration boundary, so no rank is left waiting in a collective.

Randomness. Rank 0 draws from the run's generator exactly as a single process does, and checkpoints save it as
always. Rank r > 0 re-seeds its generator at every iteration from (seed, rank, step) (`rank_seed`), so its stream
is a function of the step and every rank's random state is in every checkpoint, with no collective at save time.
A checkpoint records the world size; a run resumes under torchrun with any number of processes, or in one, as long
as the examples it has seen in the current epoch fill whole global batches of the new size.

Only rank 0 writes: the run folder, its lock, metrics, samples, evaluations and checkpoints (the other ranks wait
in their next all-reduce while rank 0 evaluates; the group's timeout is `TIMEOUT`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from advnets.errors import UserError

# How long a rank waits in a collective: long enough for rank 0's evaluations (an Inception FID of 10,000
# images takes about half an hour on a CPU) and checkpoints.
TIMEOUT = timedelta(hours=3)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes: rank 0 of 1 outside torchrun."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def current_world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launched_as_main() -> bool:
    """Rank 0 by torchrun's environment (RANK), before the group is joined; True outside torchrun."""
    return not launched_by_torchrun() or int(os.environ.get("RANK", "0")) == 0


def join(device: torch.device) -> World:
    """Join the process group torchrun describes in the environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR,
    MASTER_PORT), once: gloo for the CPU, NCCL for CUDA (each rank on GPU LOCAL_RANK). Outside torchrun: rank 0
    of 1, nothing joined."""
    if not launched_by_torchrun() or not dist.is_available() or dist.is_initialized():
        return current_world()
    if device.type == "cuda":
        local, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= gpus:
            raise UserError(
                f"torchrun started process {local + 1} on this machine, which has {gpus} GPU(s) PyTorch sees: one "
                f"process per GPU (torchrun --nproc_per_node={gpus}), or several on the CPU with device=cpu"
            )
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    return current_world()


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The seed of rank r's generator at iteration `step` (r > 0): distinct per (seed, rank, step)."""
    return (seed * 1_000_003 + rank) * 1_000_000_007 + step


def average_grads(params: Sequence[torch.Tensor]) -> None:
    """Average the gradients of `params` over the ranks in place, in one flattened all-reduce. Which parameters
    have a gradient is the same on every rank (the same code ran), and those without one keep none, as the
    optimisers skip them."""
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in with_grad])  # type: ignore[union-attr]
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for p, piece in zip(with_grad, flat.split([p.numel() for p in with_grad])):
        p.grad.copy_(piece.view_as(p))  # type: ignore[union-attr]


def average_stats(stats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The iteration's statistics averaged over the ranks (one all-reduce), so every rank logs and judges the same
    numbers."""
    if not stats:
        return stats
    keys = sorted(stats)
    values = torch.stack([stats[k].detach().reshape(()).float() for k in keys])
    dist.all_reduce(values)
    values /= dist.get_world_size()
    return dict(zip(keys, values.unbind()))


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def share_rank0(modules: Sequence[nn.Module | None], *, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters (unless buffers_only) and floating buffers into every rank's modules."""
    for module in modules:
        if module is None:
            continue
        tensors: list[torch.Tensor] = [] if buffers_only else list(module.parameters())
        tensors += [b for b in module.buffers() if b.is_floating_point()]
        for tensor in tensors:
            with torch.no_grad():
                dist.broadcast(tensor.data, src=0)


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (a run folder's path, say)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
