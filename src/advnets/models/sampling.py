"""Sampling from G, in one place: G in eval mode (no dropout, batch statistics frozen), restored afterwards, with
noise from its own seeded RNG so that drawing samples never disturbs training and is reproducible. A conditional G
gets labels: the ones asked for, or classes drawn uniformly from that seeded RNG."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from advnets.models.noise import sample_noise
from advnets.models.players import generate as call_generator
from advnets.models.players import is_conditional


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
    G: nn.Module,
    z_dim: int,
    noise: str,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 1000,
    num_classes: int | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """n samples [n, *shape] on the CPU from G's noise prior `noise`, reproducible from `seed`.

    A conditional G gets `labels` [n] when given, else classes drawn uniformly from 0 .. num_classes - 1 (default:
    G.num_classes, set when its family built it), after all the noise, from the same seeded RNG, so an
    unconditional G's samples are the same as ever."""
    return generate_labelled(G, z_dim, noise, n, seed=seed, batch_size=batch_size, num_classes=num_classes, labels=labels)[0]


def generate_labelled(
    G: nn.Module,
    z_dim: int,
    noise: str,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 1000,
    num_classes: int | None = None,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`generate`, and the labels G was given [n] (None for an unconditional G)."""
    batches = list(
        sample_stream(G, z_dim, noise, n, seed=seed, batch_size=batch_size, num_classes=num_classes, labels=labels)
    )
    given = [part for _, part in batches if part is not None]
    return torch.cat([samples for samples, _ in batches]), (torch.cat(given) if given else None)


def sample_stream(
    G: nn.Module,
    z_dim: int,
    noise: str,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 1000,
    num_classes: int | None = None,
    labels: torch.Tensor | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """n samples of G in batches of `batch_size` on the CPU, each with the labels G was given (None for an
    unconditional G), so a metric never holds all n at once. All the noise is drawn first, then a conditional G's
    classes, from one generator seeded with `seed`: the batches concatenate to `generate_labelled`'s samples."""
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    num_classes = num_classes if num_classes is not None else getattr(G, "num_classes", None)
    zs = [sample_noise(min(batch_size, n - start), z_dim, noise, generator=gen) for start in range(0, n, batch_size)]
    if is_conditional(G) and labels is None:
        if num_classes is None:
            raise ValueError("a conditional G needs labels or num_classes to draw them from")
        labels = torch.randint(num_classes, (n,), generator=gen)
    given = labels.cpu() if labels is not None and is_conditional(G) else None
    start = 0
    for z in zs:
        part = given[start : start + len(z)] if given is not None else None
        with eval_mode(G):
            samples = call_generator(G, z.to(device), part.to(device) if part is not None else None)
        yield samples.float().cpu(), part
        start += len(z)


def generate_from(G: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """G(z) [N, *shape] on the CPU for a given latent batch z [N, z_dim] (the fixed grid of sample pictures) and,
    for a conditional G, its labels [N]; both are moved to G's device."""
    device = next(G.parameters()).device
    with eval_mode(G):
        return call_generator(G, z.to(device), labels.to(device) if labels is not None else None).float().cpu()
