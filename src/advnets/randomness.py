"""A run's own random numbers: every draw a training step makes (noise z, labels given to G, dropout masks, the
gradient penalty's ε, instance noise) comes from the generator of the run being stepped, never from the
process-global RNG, so that two runs can share a process and ranks of one job can differ.

The trainer enters `drawing_from(run_generator)` around each iteration; the members that draw (the dropout layer,
penalties, transforms) ask `current_generator()` and pass it to PyTorch's sampling functions. Outside such a block
it is None and PyTorch's default generator is used, so a model or penalty used on its own behaves as plain PyTorch.

A solo run's generator continues exactly the stream the global RNG had after the models were built from the seed
(advnets.training.components), so the numbers of runs made before per-run generators did not move.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

_GENERATOR: ContextVar[torch.Generator | None] = ContextVar("advnets_generator", default=None)


@contextmanager
def drawing_from(generator: torch.Generator | None) -> Iterator[torch.Generator | None]:
    """Every draw inside the block that asks `current_generator()` uses `generator`."""
    token = _GENERATOR.set(generator)
    try:
        yield generator
    finally:
        _GENERATOR.reset(token)


def current_generator() -> torch.Generator | None:
    """The generator of the run being stepped, or None (PyTorch's default generator) outside a run."""
    return _GENERATOR.get()


def uniform(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """U(0, 1) [*shape] with `like`'s device and dtype, from the current generator."""
    return torch.rand(shape, generator=current_generator(), device=like.device, dtype=like.dtype)


def normal_like(x: torch.Tensor) -> torch.Tensor:
    """N(0, 1) of x's shape, device and dtype, from the current generator (as torch.randn_like)."""
    return torch.randn(x.shape, generator=current_generator(), device=x.device, dtype=x.dtype)


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout of x with drop probability p, masks from the current generator.

    The same arithmetic as PyTorch's CPU dropout (a Bernoulli(1 − p) mask divided by 1 − p, times x), so with the
    same generator state it gives the same numbers and the same gradient as `nn.functional.dropout`."""
    keep = 1 - p
    mask = torch.empty_like(x).bernoulli_(keep, generator=current_generator())
    mask.div_(keep)
    return x * mask
