"""One training update each: `d_step`, `g_step` (Algorithm 1 of the paper) and `joint_step` (the paper code's
simultaneous update, docs/paper.md §0). They return detached monitoring tensors and never synchronise with the host.

Every step runs the same pipeline from the parts (advnets.training.parts): the input transforms make what D sees,
D emits logits, the bound loss gives named terms, the penalties add to D's loss, the G objectives to G's, and the
constraints act on D after its optimiser step. Fakes are detached for D's update, and D's parameters are frozen
during G's update so they accumulate no gradient. With no penalties, transforms or objectives this is exactly the
paper's computation (tests/training/test_pinned_losses.py).
"""

from __future__ import annotations

import torch

from advnets.objectives import GInputs
from advnets.penalties import PenaltyInputs
from advnets.training.parts import Parts
from advnets.transforms import apply_transforms

Stats = dict[str, torch.Tensor]


def _detached(terms: Stats) -> Stats:
    return {key: value.detach() for key, value in terms.items()}


def d_objective(
    parts: Parts,
    real: torch.Tensor,
    fake: torch.Tensor,
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    step: int,
) -> tuple[torch.Tensor, Stats]:
    """D's loss plus its penalties, and the stats to log. real/fake are what D saw."""
    terms = parts.loss.d_terms(real_logits, fake_logits)
    total = terms["d_loss"]
    stats = _detached(terms)
    if parts.penalties:
        inputs = PenaltyInputs(parts.D, real, fake, real_logits, fake_logits, step)
        for name, penalty in parts.penalties.items():
            if penalty.term is not None:
                value = penalty.term(inputs)
                total = total + value
                stats[f"penalty_{name}"] = value.detach()
    return total, stats


def g_objective(
    parts: Parts, fake: torch.Tensor, fake_logits: torch.Tensor, real: torch.Tensor | None, step: int
) -> tuple[torch.Tensor, Stats]:
    """G's adversarial loss plus its objectives, and the stats to log. fake (attached to G) and real are what D saw."""
    terms = parts.loss.g_terms(fake_logits)
    total = terms["g_loss"]
    stats = _detached(terms)
    if parts.g_objectives:
        if real is None:
            raise ValueError("G objectives need this iteration's real batch")
        inputs = GInputs(parts.D, real, fake, fake_logits, step)
        extra = []
        for name, objective in parts.g_objectives.items():
            value = objective.term(inputs)
            stats[f"g_{name}"] = value.detach()
            extra.append(value)
            if not objective.keep_adversarial:
                total = torch.zeros_like(total)
        total = total + sum(extra)
    return total, stats


def constrain(parts: Parts) -> None:
    for penalty in parts.penalties.values():
        if penalty.constrain is not None:
            penalty.constrain(parts.D)


def d_step(parts: Parts, real: torch.Tensor, z: torch.Tensor, step: int) -> Stats:
    """One D update on a real batch [N, *shape] and G(z) for z [M, z_dim]."""
    with torch.no_grad():
        fake = parts.G(z)
    real_in = apply_transforms(parts.transforms, real, step)
    fake_in = apply_transforms(parts.transforms, fake, step)
    real_logits, fake_logits = parts.D(real_in), parts.D(fake_in)
    d_loss, stats = d_objective(parts, real_in, fake_in, real_logits, fake_logits, step)
    parts.d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    parts.d_opt.step()
    constrain(parts)
    return stats


def g_step(parts: Parts, z: torch.Tensor, step: int, real: torch.Tensor | None = None) -> Stats:
    """One G update through D (dropout active, as in training) for z [M, z_dim]; `real` is the iteration's real
    batch, which only G objectives look at."""
    D = parts.D
    D.requires_grad_(False)
    try:
        fake_in = apply_transforms(parts.transforms, parts.G(z), step)
        fake_logits = D(fake_in)
        real_in = apply_transforms(parts.transforms, real, step) if parts.g_objectives and real is not None else real
        g_loss, stats = g_objective(parts, fake_in, fake_logits, real_in, step)
        parts.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        parts.g_opt.step()
    finally:
        D.requires_grad_(True)
    return stats


def joint_step(parts: Parts, real: torch.Tensor, z: torch.Tensor, step: int) -> Stats:
    """The paper code's update: one fake batch S = G(z) and one D pass over it give both D's loss and G's loss
    (same dropout masks); each gradient is taken only w.r.t. its own player's parameters, both applied at once."""
    G, D = parts.G, parts.D
    fake = apply_transforms(parts.transforms, G(z), step)
    real_in = apply_transforms(parts.transforms, real, step)
    real_logits, fake_logits = D(real_in), D(fake)
    # D's penalties see the fakes detached, as in d_step; G's terms see them attached.
    d_loss, stats = d_objective(parts, real_in, fake.detach(), real_logits, fake_logits, step)
    g_loss, g_stats = g_objective(parts, fake, fake_logits, real_in, step)
    d_params = [p for p in D.parameters() if p.requires_grad]
    g_params = [p for p in G.parameters() if p.requires_grad]
    parts.d_opt.zero_grad(set_to_none=True)
    parts.g_opt.zero_grad(set_to_none=True)
    d_loss.backward(inputs=d_params, retain_graph=True)
    g_loss.backward(inputs=g_params)
    parts.d_opt.step()
    parts.g_opt.step()
    constrain(parts)
    return stats | g_stats
