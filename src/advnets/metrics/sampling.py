"""G's samples as a stream of batches, for metrics that score tens of thousands of samples (fid50k) without holding
them at once.

`sample_stream(G, ..., n, seed=s)` yields (samples [b, *shape], labels [b] or None) batch by batch, and their
concatenation is exactly `advnets.models.sampling.generate_labelled(G, ..., n, seed=s)`: the same noise drawn in
the same order from the same seeded RNG (all of z first, a conditional G's classes after it), G called on the same
batches in eval mode. Only z ([n, z_dim], small) is held whole; images are made one batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

from advnets.models.noise import sample_noise
from advnets.models.players import generate as call_generator
from advnets.models.players import is_conditional
from advnets.models.sampling import eval_mode

if TYPE_CHECKING:
    from advnets.metrics import MetricInputs

Batch = tuple[torch.Tensor, torch.Tensor | None]


def sample_stream(
    G: nn.Module,
    z_dim: int,
    noise: str,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 1000,
    num_classes: int | None = None,
) -> Iterator[Batch]:
    """n samples of G in batches of `batch_size`, identical to generate_labelled(G, z_dim, noise, n, seed=seed)."""
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    num_classes = num_classes if num_classes is not None else getattr(G, "num_classes", None)
    zs = [sample_noise(min(batch_size, n - start), z_dim, noise, generator=gen) for start in range(0, n, batch_size)]
    labels = None
    if is_conditional(G):
        if num_classes is None:
            raise ValueError("a conditional G needs num_classes to draw its labels from")
        labels = torch.randint(num_classes, (n,), generator=gen)
    start = 0
    for z in zs:
        part = labels[start : start + len(z)] if labels is not None else None
        with eval_mode(G):
            images = call_generator(G, z.to(device), part.to(device) if part is not None else None).float().cpu()
        yield images, part
        start += len(z)


def stream(inputs: MetricInputs, n: int) -> Iterator[Batch]:
    """n samples in batches: the inputs' stream when it has one, else one batch from sample_labelled / sample."""
    if inputs.stream is not None:
        yield from inputs.stream(n)
    elif inputs.sample_labelled is not None:
        yield inputs.sample_labelled(n)
    else:
        yield inputs.sample(n), None
