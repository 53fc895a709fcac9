"""Unrolled GAN (Metz et al. 2017): G's update differentiates through K unrolled D updates.

G's loss is taken against D_K, the discriminator after K plain gradient steps θ_{k+1} = θ_k − η ∇θ L_D(θ_k; x, G(z))
from D's current weights, on this iteration's real batch and G's batch. The unrolled steps are functions of G's
output, so G's gradient includes how D would react to G's move (Metz et al., Eq. 6-7), which discourages G from
collapsing onto the mode D currently misjudges. D itself is updated normally (its k D steps); the unrolled copies
are discarded. Only the adversarial loss is unrolled (penalties and constraints act on D's real updates). The
unrolling calls D through `discriminate_with` (torch.func.functional_call) with its weights as plain tensors, so D's own
parameters and optimiser are untouched. With K = 0 this is exactly the plain G update.

How an unrolled step moves D is a rule chosen by name (`train.rule.optimizer`, UNROLL_RULES): `sgd`, plain
gradient steps; `adam`, D's own Adam update continued from its current moment estimates, as the authors' 2-D code
unrolls its optimiser. The choice matters: D's Adam steps move each weight by about the learning rate whatever the
gradient's scale, while a plain step at that rate moves it by rate × gradient, which for a trained D can be hundreds
of times less (measured on ring-8: README, mode coverage).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from advnets.errors import UserError
from advnets.models.players import discriminate_with, full_precision
from advnets.training.parts import Batch, Parts
from advnets.training.steps import Stats, apply, g_objective
from advnets.transforms import apply_transforms

Weights = dict[str, torch.Tensor]
UnrollStep = Callable[[Weights, tuple[torch.Tensor, ...]], Weights]  # (D's weights, grads of L_D) -> next weights


def sgd_rule(parts: Parts, lr: float) -> UnrollStep:
    """Plain gradient steps: θ ← θ − lr ∇θ L_D."""

    def step(weights: Weights, grads: tuple[torch.Tensor, ...]) -> Weights:
        return {name: w - lr * g for (name, w), g in zip(weights.items(), grads)}

    return step


def adam_rule(parts: Parts, lr: float) -> UnrollStep:
    """D's Adam update from its optimiser's current state (moments m, v and step count t; zero before D's first
    update): m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g², t ← t + 1, θ ← θ − lr m̂ / (√v̂ + ε), with
    m̂ = m / (1 − β1^t) and v̂ = v / (1 − β2^t), as torch.optim.Adam; every step a function of G's output."""
    group = parts.d_opt.param_groups[0]
    b1, b2 = group["betas"]
    eps = group["eps"]
    moments: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}
    for name, p in parts.D.named_parameters():
        state = parts.d_opt.state.get(p, {})
        if state:
            moments[name] = (state["exp_avg"].detach(), state["exp_avg_sq"].detach(), float(state["step"]))
        else:
            moments[name] = (torch.zeros_like(p), torch.zeros_like(p), 0.0)

    def step(weights: Weights, grads: tuple[torch.Tensor, ...]) -> Weights:
        new = {}
        for (name, w), g in zip(weights.items(), grads):
            m, v, t = moments[name]
            m, v, t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g, t + 1
            moments[name] = (m, v, t)
            # The floor keeps √ off 0, whose slope is infinite (0 × inf = NaN in G's gradient for a weight with no
            # gradient yet); below 1e-30, √v̂ is negligible beside ε = 1e-8 anyway.
            denom = (v / (1 - b2**t)).clamp_min(1e-30).sqrt() + eps
            new[name] = w - lr * (m / (1 - b1**t)) / denom
        return new

    return step


UNROLL_RULES: dict[str, Callable[[Parts, float], UnrollStep]] = {"sgd": sgd_rule, "adam": adam_rule}


@dataclass
class UnrolledOptions:
    """`train.rule` under `train.update=unrolled`: the keys of the unrolling."""

    steps: int = 5  # K: unrolled D updates G looks through (0: the plain G update; Metz et al. 2017)
    lr: float | None = None  # step size of the unrolled D updates; null = D's current learning rate
    optimizer: str = "sgd"  # each unrolled D update: sgd (plain gradient steps) | adam (D's Adam update from its current moments, as the authors' 2-D code; needs train.d_optimizer.name=adam)

    def validate(self, prefix: str) -> None:
        if self.steps < 0:
            raise UserError(f"{prefix}.steps={self.steps} must be >= 0 (0 is the plain G update)")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"{prefix}.lr={self.lr} must be a finite number > 0, or null for D's learning rate")
        if self.optimizer not in UNROLL_RULES:
            raise UserError(f"{prefix}.optimizer={self.optimizer!r} is not one of: {', '.join(UNROLL_RULES)}")


@dataclass(frozen=True)
class Unroll:
    """One G update's unrolling: the options with the step size resolved (D's lr at this update when null)."""

    steps: int  # K: unrolled D steps (0: the plain G update)
    lr: float  # their step size
    optimizer: str = "sgd"  # the rule of each step: a name in UNROLL_RULES


def unrolled_g_loss(parts: Parts, batch: Batch, step: int, unroll: Unroll) -> tuple[torch.Tensor, Stats]:
    """G's loss (and stats) against D unrolled `unroll.steps` steps on batch.real and G(batch.z); z [M, z_dim]."""
    D = parts.D
    fake = apply_transforms(parts.transforms, parts.generate(batch.z, batch.fake_labels), step)  # attached to G
    real = batch.real
    needs_real = unroll.steps > 0 or bool(parts.g_objectives)
    real_in = apply_transforms(parts.transforms, real, step) if needs_real and real is not None else real
    weights = {name: p.detach().requires_grad_(True) for name, p in D.named_parameters()}
    # Copies: in train mode batch norm (running statistics) and spectral norm (power-iteration vectors) update their
    # buffers in place, and the look-ahead passes must leave D's own state as it was.
    buffers = {name: b.clone() for name, b in D.named_buffers()}
    update = UNROLL_RULES[unroll.optimizer](parts, unroll.lr) if unroll.steps > 0 else None
    for _ in range(unroll.steps):
        assert real_in is not None and update is not None, "unrolling needs this iteration's real batch"
        real_logits = full_precision(discriminate_with(D, weights, buffers, real_in, batch.real_labels))
        fake_logits = full_precision(discriminate_with(D, weights, buffers, fake, batch.fake_labels))
        d_loss = parts.loss.d_terms(real_logits, fake_logits)["d_loss"]
        # create_graph: the next weights stay functions of G's output, so G's gradient flows through them.
        grads = torch.autograd.grad(d_loss, list(weights.values()), create_graph=True)
        weights = update(weights, grads)
    fake_logits = full_precision(discriminate_with(D, weights, buffers, fake, batch.fake_labels))
    return g_objective(parts, batch, fake, fake_logits, real_in, step)


def unrolled_g_step(parts: Parts, batch: Batch, step: int, unroll: Unroll) -> Stats:
    """One G update through `unroll.steps` unrolled D updates; only G's parameters get gradients (D's are
    constants of the unrolling), through the same `apply` as every other step."""
    with parts.autocast():
        g_loss, stats = unrolled_g_loss(parts, batch, step, unroll)
    apply(parts, g_loss=g_loss)
    return stats
