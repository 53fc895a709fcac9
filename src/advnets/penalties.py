"""Penalties and constraints on D: the second axis beside the adversarial loss, empty by default.

`penalties.NAME.key=value` switches an entry on. An entry is a builder `options -> Penalty`; a Penalty has a
`term` added to D's loss (given D, what D saw of the real and fake batches, their logits and the step count: enough
for gradient penalties, R1 and weight penalties, with annealing by step) and/or a `constrain` applied to D after
each of its optimiser steps (weight clipping, projections). The term is returned already weighted, and logged as
`penalty_NAME`. Entries run in the order the config lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from advnets.registry import Registry


@dataclass(frozen=True)
class PenaltyInputs:
    """What a penalty may look at in one D update. Tensors are what D saw (after the input transforms)."""

    D: nn.Module
    real: torch.Tensor  # [N, *shape]
    fake: torch.Tensor  # [M, *shape], detached from G
    real_logits: torch.Tensor  # [N]
    fake_logits: torch.Tensor  # [M]
    step: int  # G updates completed before this iteration


@dataclass(frozen=True)
class Penalty:
    term: Callable[[PenaltyInputs], torch.Tensor] | None = None  # -> scalar added to D's loss
    constrain: Callable[[nn.Module], None] | None = None  # applied to D after its optimiser step


PENALTIES: Registry[Callable[[Any], Penalty]] = Registry("penalties")


def build_penalties(options: dict[str, Any]) -> dict[str, Penalty]:
    """The resolved `cfg.penalties` (name -> options) -> name -> Penalty, in config order."""
    return {name: PENALTIES.get(name)(opts) for name, opts in options.items()}
