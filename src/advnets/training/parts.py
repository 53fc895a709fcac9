"""The ready parts a training loop composes: players, optimisers, loss, penalties, input transforms, G objectives,
and the moving average of G's weights when `train.ema_decay` asks for one.

`advnets.training.components.build_components` makes them from a config; the steps and update rules only read
them. Keeping them in one plain container (no behaviour) is what lets a population of runs share the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from advnets.losses import Loss
from advnets.objectives import GObjective
from advnets.penalties import Penalty
from advnets.transforms import Transform


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
