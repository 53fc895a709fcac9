"""An exponential moving average of G's weights (`train.ema_decay`): G_ema <- decay * G_ema + (1 - decay) * G after
every G update, which samples and scores then use in place of G (Yazici et al. 2019, "The Unusual Effectiveness
of Averaging in GAN Training"; Karras et al. 2018, progressive GANs, decay 0.999; stylegan2-ada-pytorch
training/training_loop.py).

G_ema starts as an exact copy of the initialised G, so after t updates the initial weights still weigh decay^t:
choose the decay for the run's length (0.999 forgets the init within a few thousand steps), or start the average
later (`train.ema_start`: until that G update, G_ema copies G), so that a large decay averages trained weights only.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(G: nn.Module) -> nn.Module:
    """A frozen copy of G, in eval mode, on G's device. A deep copy draws nothing from the global RNG, so
    switching the EMA on leaves every weight and minibatch of training as it was."""
    G_ema = copy.deepcopy(G)
    G_ema.requires_grad_(False)
    return G_ema.eval()


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    """G_ema <- decay * G_ema + (1 - decay) * G for every parameter, in place on the device (one fused lerp, no
    host sync). Buffers are copied, not averaged: they are not trained but statistics (batch-norm running means
    and variances, already moving averages of G's own activations) or integer counters that cannot be
    interpolated, so G_ema takes G's current ones, as stylegan2-ada-pytorch does."""
    ema_params: list[torch.Tensor] = list(G_ema.parameters())
    params: list[torch.Tensor] = list(G.parameters())
    if ema_params:
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)  # ema + (1 - decay) * (G - ema)
    ema_buffers, buffers = list(G_ema.buffers()), list(G.buffers())
    if ema_buffers:
        torch._foreach_copy_(ema_buffers, buffers)
