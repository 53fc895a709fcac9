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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple, TypeVar

import torch

_GENERATOR: ContextVar[torch.Generator | None] = ContextVar("advnets_generator", default=None)
T = TypeVar("T")


@contextmanager
def _holding(var: ContextVar[T | None], value: T) -> Iterator[T]:
    """`var` is `value` inside the block and what it was before after it."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


class MaskSpec(NamedTuple):
    """What one dropout call draws: its input's shape, strides and dtype, and the drop probability."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    p: float


# A population (advnets.training.population) draws each member's dropout masks from the member's own generator
# before its batched forward pass, where no draw may happen: first it records what the pass would draw
# (`recording_masks`, on a shape-only copy of the net), then hands the drawn masks in (`given_masks`).
_RECORDING: ContextVar[list[MaskSpec] | None] = ContextVar("advnets_recording_masks", default=None)
_GIVEN: ContextVar[list[torch.Tensor] | None] = ContextVar("advnets_given_masks", default=None)
# Inside a population's update, tensors carry the members' axis first; `normal_like` draws each member's slice from
# the member's own generator (`drawing_per_member`).
_MEMBERS: ContextVar[Sequence[torch.Generator] | None] = ContextVar("advnets_member_generators", default=None)


@contextmanager
def drawing_from(generator: torch.Generator | None) -> Iterator[torch.Generator | None]:
    """Every draw inside the block that asks `current_generator()` uses `generator`."""
    with _holding(_GENERATOR, generator):
        yield generator


@contextmanager
def drawing_per_member(generators: Sequence[torch.Generator]) -> Iterator[None]:
    """Inside the block, `normal_like(x)` takes x as [members, ...] and draws member m's slice from generators[m],
    and `uniform(shape)` gives [members, *shape] the same way."""
    with _holding(_MEMBERS, generators):
        yield


def member_count() -> int | None:
    """The number of members inside a population's update (`drawing_per_member`), else None."""
    members = _MEMBERS.get()
    return None if members is None else len(members)


def current_generator() -> torch.Generator | None:
    """The generator of the run being stepped, or None (PyTorch's default generator) outside a run."""
    return _GENERATOR.get()


def uniform(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """U(0, 1) [*shape] with `like`'s device and dtype, from the current generator; inside `drawing_per_member`,
    [members, *shape], member m's from its own generator (what its run alone draws)."""
    members = _MEMBERS.get()
    if members is not None:
        return torch.stack([torch.rand(shape, generator=g, device=like.device, dtype=like.dtype) for g in members])
    return torch.rand(shape, generator=current_generator(), device=like.device, dtype=like.dtype)


def normal_like(x: torch.Tensor) -> torch.Tensor:
    """N(0, 1) of x's shape, device and dtype, from the current generator (as torch.randn_like); inside
    `drawing_per_member`, x is [members, ...] and member m's slice is what its run alone draws for x[m]."""
    members = _MEMBERS.get()
    if members is not None:
        if len(members) != len(x):
            raise ValueError(f"{len(members)} members' generators for a batch of {len(x)} members")
        return torch.stack([torch.randn(x.shape[1:], generator=g, device=x.device, dtype=x.dtype) for g in members])
    return torch.randn(x.shape, generator=current_generator(), device=x.device, dtype=x.dtype)


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout of x with drop probability p, masks from the current generator.

    The same arithmetic as PyTorch's CPU dropout (a Bernoulli(1 − p) mask divided by 1 − p, times x), so with the
    same generator state it gives the same numbers and the same gradient as `nn.functional.dropout`."""
    given = _GIVEN.get()
    if given is not None:
        return x * given.pop(0)
    recording = _RECORDING.get()
    if recording is not None:
        recording.append(MaskSpec(tuple(x.shape), tuple(x.stride()), x.dtype, p))
        return x
    keep = 1 - p
    mask = torch.empty_like(x).bernoulli_(keep, generator=current_generator())
    mask.div_(keep)
    return x * mask


def draw_mask(spec: MaskSpec, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """The mask `dropout` would draw for an input `spec` describes, from `generator`: the same numbers, since a
    tensor of the same shape and strides is filled in the same order."""
    keep = 1 - spec.p
    mask = torch.empty_strided(spec.shape, spec.stride, dtype=spec.dtype, device=device)
    return mask.bernoulli_(keep, generator=generator).div_(keep)


@contextmanager
def recording_masks() -> Iterator[list[MaskSpec]]:
    """Inside the block, dropout draws nothing and returns its input; the list gets each call's MaskSpec."""
    with _holding(_RECORDING, []) as specs:
        yield specs


@contextmanager
def given_masks(masks: list[torch.Tensor]) -> Iterator[None]:
    """Inside the block, each dropout call multiplies by the next of `masks` (drawn by `draw_mask`) instead of
    drawing one."""
    with _holding(_GIVEN, list(masks)):
        yield
