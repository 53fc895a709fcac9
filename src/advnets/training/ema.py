"""An exponential moving average of G's weights (`train.ema_decay`): G_ema <- decay * G_ema + (1 - decay) * G after
every G update, which samples and scores then use in place of G (Yazici et al. 2019, "The Unusual Effectiveness
of Averaging in GAN Training"; Karras et al. 2018, progressive GANs, decay 0.999; stylegan2-ada-pytorch
training/training_loop.py).

G_ema starts as an exact copy of the initialised G, so after t updates the initial weights still weigh decay^t:
choose the decay for the run's length (0.999 forgets the init within a few thousand steps), or start the average
later (`train.ema_start`: until that G update, G_ema copies G), so that a large decay averages trained weights only.

A G with batch norm: G's running statistics describe G's own activations, not the averaged weights', whose layer
outputs have other means and variances; sampling G_ema with them gives washed-out or blotchy images. So before
G_ema samples or is saved its statistics are re-estimated from its own activations on fresh noise
(`standing_statistics`, `train.ema_bn_batches` batches; BigGAN's "standing statistics", Brock et al. 2019).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from advnets.models.noise import sample_noise
from advnets.models.players import generate as call_generator
from advnets.models.players import is_conditional


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


def batch_norm_layers(G: nn.Module) -> list[_BatchNorm]:
    return [m for m in G.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def standing_statistics(
    G_ema: nn.Module, z_dim: int, noise: str, *, batch_size: int, batches: int, seed: int, num_classes: int | None
) -> None:
    """Re-estimates the running mean and variance of G_ema's batch-norm layers as the plain average over `batches`
    batches of `batch_size` noise draws (momentum None: a cumulative average), from a generator seeded with `seed`,
    so the same weights always get the same statistics. Only the batch-norm layers see training mode: dropout and
    everything else stay in eval mode. A conditional G gets classes drawn uniformly. No batch-norm layer: a no-op."""
    layers = batch_norm_layers(G_ema)
    if not layers or batches == 0:
        return
    device = next(G_ema.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    momenta = [layer.momentum for layer in layers]
    was_training = [layer.training for layer in layers]
    try:
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None
            layer.train()
        for _ in range(batches):
            z = sample_noise(batch_size, z_dim, noise, generator=gen)
            labels = None
            if is_conditional(G_ema):
                if num_classes is None:
                    raise ValueError("a conditional G needs num_classes to draw its classes")
                labels = torch.randint(num_classes, (batch_size,), generator=gen).to(device)
            call_generator(G_ema, z.to(device), labels)
    finally:
        for layer, momentum, training in zip(layers, momenta, was_training, strict=True):
            layer.momentum = momentum
            layer.train(training)
