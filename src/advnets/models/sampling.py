"""Sampling from G, in one place: G in eval mode (no dropout, batch statistics frozen), restored afterwards, with
noise from its own seeded RNG so that drawing samples never disturbs training and is reproducible."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from advnets.models.noise import sample_noise


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode and without autograd for the block; its previous mode is restored."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)


def generate(
    G: nn.Module, z_dim: int, noise: str, n: int, *, seed: int = 0, batch_size: int = 1000
) -> torch.Tensor:
    """n samples [n, *shape] on the CPU from G's noise prior `noise`, reproducible from `seed`."""
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    chunks = []
    with eval_mode(G):
        for start in range(0, n, batch_size):
            z = sample_noise(min(batch_size, n - start), z_dim, noise, generator=gen)
            chunks.append(G(z.to(device)).float().cpu())
    return torch.cat(chunks)


def generate_from(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G(z) [N, *shape] on the CPU for a given latent batch z [N, z_dim] (the fixed grid of sample pictures)."""
    with eval_mode(G):
        return G(z).float().cpu()
