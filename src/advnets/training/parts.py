"""The plain values an update works on: `Parts` (players, optimisers, loss, penalties, input transforms, G
objectives, G's weight average when `train.ema_decay` asks for one) and `Batch` (one draw of the loop: real examples,
their labels, z and the labels given to G).

`advnets.training.components.build_components` makes the parts from a config; the steps and update rules only read
them, and call the players only through `Parts.generate` / `Parts.discriminate` (advnets.models.players), so a
conditional family gets its labels. Keeping them plain containers is what lets a population of runs share the same
steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch
from torch import nn

from advnets.losses import Loss
from advnets.models.players import discriminate, full_precision, generate
from advnets.objectives import GObjective
from advnets.penalties import Penalty
from advnets.transforms import Transform


def keep_local(params: Sequence[torch.Tensor]) -> None:
    """The gradient sync of a single process: nothing to do (under torchrun: an all-reduce of the grads)."""


@dataclass(frozen=True)
class Batch:
    """One draw of the loop (`Loop.next_batch`): what one D or G update consumes. Labels are None for unlabelled
    data and unconditional runs; everything lives on the run's device."""

    real: torch.Tensor | None  # [N, *shape]; None for a G update that draws no real batch of its own
    real_labels: torch.Tensor | None  # [N] int64
    z: torch.Tensor  # [M, z_dim]
    fake_labels: torch.Tensor | None  # [M] int64: the classes G is asked for

    def with_real_of(self, other: Batch) -> Batch:
        """This batch's z and fake labels with `other`'s real examples (G objectives compare against them)."""
        return Batch(other.real, other.real_labels, self.z, self.fake_labels)


@dataclass
class Parts:
    G: nn.Module
    D: nn.Module
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    loss: Loss
    penalties: dict[str, Penalty] = field(default_factory=dict)
    transforms: list[Transform] = field(default_factory=list)
    g_objectives: dict[str, GObjective] = field(default_factory=dict)
    # G's weight average (advnets.training.ema): frozen, in eval mode, updated by the trainer after every G
    # update and used for samples and scores; None when train.ema_decay is unset.
    G_ema: nn.Module | None = None
    # Called on each player's parameters between backward and the optimiser step (advnets.training.steps.apply):
    # the one place where gradients would be averaged across processes.
    sync_grads: Callable[[Sequence[torch.Tensor]], None] = keep_local
    # The context of every update's forward pass: torch.autocast under speed.autocast (advnets.training.speed).
    autocast: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) [M, *shape]; labels [M] reach a conditional G."""
        return generate(self.G, z, labels)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D's logits for x [N, *shape]; labels [N] reach a conditional D. Under autocast they come back in
        float32, so that losses are taken in full precision (`full_precision`)."""
        return full_precision(discriminate(self.D, x, labels))
