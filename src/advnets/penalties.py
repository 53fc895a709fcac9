"""Penalties and constraints on D: the second axis beside the adversarial loss, empty by default.

`penalties.NAME.key=value` switches an entry on (gradient_penalty, r1, weight_l2, weight_clip; below). An entry
is a builder `options -> Penalty`; a Penalty has a `term` added to D's loss (given D, what D saw of the real and fake batches, their logits and the step count: enough
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

from advnets.checks import check_positive
from advnets.models.players import discriminate
from advnets.models.set_discriminator import examples_per_logit
from advnets.randomness import member_count, uniform
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
    real_labels: torch.Tensor | None = None  # [N] for labelled data, else None
    fake_labels: torch.Tensor | None = None  # [M], the classes G was asked for

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """D's logits for x, with labels for a conditional D (advnets.models.players)."""
        return discriminate(self.D, x, labels)


@dataclass(frozen=True)
class Penalty:
    term: Callable[[PenaltyInputs], torch.Tensor] | None = None  # -> scalar added to D's loss
    constrain: Callable[[nn.Module], None] | None = None  # applied to D after its optimiser step


PENALTIES: Registry[Callable[[Any], Penalty]] = Registry("penalties")


def build_penalties(options: dict[str, Any]) -> dict[str, Penalty]:
    """The resolved `cfg.penalties` (name -> options) -> name -> Penalty, in config order."""
    return {name: PENALTIES.get(name)(opts) for name, opts in options.items()}


# ------------------------------------------------------------------------------------------------ members
def input_gradients(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """∇ₓ Σ D(x) per logit, flattened [L, d], kept in the graph (create_graph) so a penalty on it trains D.

    A per-example D gives one row per example (L = N); a set discriminator one row per set, the gradient w.r.t.
    all of the set's samples (L = N / set_size), so the norms below are those of D's own input. The stacked D of
    a population (x [M, N, ...], logits [M, L]) gives [M, L, d]: members share no weight, so member m's rows are
    the gradients of its own D."""
    x = x.detach().requires_grad_(True)
    logits = discriminate(D, x, labels)  # [L] (a population's: [M, L])
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.reshape(*logits.shape, -1)


@dataclass
class GradientPenaltyOptions:
    """penalties.gradient_penalty keys (WGAN-GP, Gulrajani et al. 2017, Eq. 3)."""

    weight: float = 10.0  # λ
    target: float = 1.0  # the gradient norm the penalty pulls towards (1: the 1-Lipschitz critic)

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.weight", self.weight)


def gradient_penalty(
    D: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    target: float = 1.0,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """E[(‖∇D(x̂)‖₂ − target)²] at x̂ = ε·x + (1 − ε)·G(z), ε ~ U(0, 1) drawn once per *example* (one scalar per
    row, broadcast over its pixels), never per pixel: a per-pixel ε leaves the segment between x and G(z). For a
    set discriminator "example" is a set: one ε per set of set_size rows. A conditional D judges the interpolates
    with the real examples' labels [N]; ε comes from the run's generator (advnets.randomness). Inside a
    population's update the tensors are [members, N, ...], each member's ε is drawn from its own generator
    (`randomness.drawing_per_member`) and the penalty is [members]."""
    axis = 0 if member_count() is None else 1  # where the examples are
    n = min(real.shape[axis], fake.shape[axis])
    real, fake = real.narrow(axis, 0, n).detach(), fake.narrow(axis, 0, n).detach()
    # One ε per input of D: per example, or per set for a set discriminator (the set moves along its segment).
    group = examples_per_logit(D)
    eps = uniform((n // group, *([1] * (real.dim() - 1 - axis))), like=real)  # [(M,) N/group, 1, ...]
    eps = eps.repeat_interleave(group, dim=axis)  # [(M,) N, 1, ...]
    mixed = eps * real + (1.0 - eps) * fake
    norms = input_gradients(D, mixed, labels.narrow(axis, 0, n) if labels is not None else None).norm(dim=-1)
    return (norms - target).square().mean(-1)


@dataclass
class R1Options:
    """penalties.r1 keys (Mescheder et al. 2018, Eq. 9)."""

    weight: float = 10.0  # γ: the penalty is γ/2 · E‖∇D(x)‖² on real examples
    every: int = 1  # lazy R1 (StyleGAN2): only in the D updates of every N-th iteration, weighted N × γ/2

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.weight", self.weight)
        check_positive(f"{prefix}.every", self.every)


def lazy_r1(options: R1Options, inputs: PenaltyInputs) -> torch.Tensor:
    """The R1 term of one D update: γ/2 · E‖∇D(x)‖², or with `every` = N (StyleGAN2's lazy regularisation, Karras
    et al. 2020, §3.1) N · γ/2 · E‖∇D(x)‖² when the iteration's step is a multiple of N and 0 otherwise (no extra
    pass through D), the same on average at a fraction of the cost of its double backward."""
    if inputs.step % options.every:
        return inputs.real_logits.new_zeros(inputs.real_logits.shape[:-1])  # [] (a population's: [M])
    return options.every * 0.5 * options.weight * r1_penalty(inputs.D, inputs.real, inputs.real_labels)


def r1_penalty(D: nn.Module, real: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """E‖∇D(x)‖² over real examples x (with their labels for a conditional D); [M], one per member, for a
    population's stacked D."""
    return input_gradients(D, real, labels).square().sum(-1).mean(-1)


@dataclass
class WeightL2Options:
    """penalties.weight_l2 keys: an L2 penalty on D's weights (the remedy for failing to converge, docs/paper.md §6)."""

    weight: float = 1e-4  # λ: the penalty is λ · Σ ‖W‖² over D's weight matrices (biases are not penalised)

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.weight", self.weight)


def weight_l2(D: nn.Module) -> torch.Tensor:
    """Σ of squared entries of every weight tensor of D (parameters named *weight*, biases excluded)."""
    return torch.stack([p.square().sum() for name, p in D.named_parameters() if name.endswith("weight")]).sum()


@dataclass
class WeightClipOptions:
    """penalties.weight_clip keys (WGAN, Arjovsky et al. 2017, Algorithm 1)."""

    c: float = 0.01  # after every D update, each of D's parameters is clamped to [-c, c]

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.c", self.c)


@torch.no_grad()
def clip_weights_(D: nn.Module, c: float) -> None:
    """Clamp every parameter of D to [-c, c] in place."""
    params: list[torch.Tensor] = list(D.parameters())
    torch._foreach_clamp_min_(params, -c)
    torch._foreach_clamp_max_(params, c)


PENALTIES.register("gradient_penalty", options=GradientPenaltyOptions)(
    lambda o: Penalty(term=lambda i: o.weight * gradient_penalty(i.D, i.real, i.fake, o.target, i.real_labels))
)
PENALTIES.register("r1", options=R1Options)(lambda o: Penalty(term=lambda i: lazy_r1(o, i)))
PENALTIES.register("weight_l2", options=WeightL2Options)(
    lambda o: Penalty(term=lambda i: o.weight * weight_l2(i.D))
)
PENALTIES.register("weight_clip", options=WeightClipOptions)(
    lambda o: Penalty(constrain=lambda D: clip_weights_(D, o.c))
)
