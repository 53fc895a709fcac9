"""One training update each: `d_step`, `g_step` (Algorithm 1 of the paper) and `joint_step` (the paper code's
simultaneous update, docs/paper.md §0). They return detached monitoring tensors and never synchronise with the host.

Each step is a pure function that computes the player's loss from the parts and one `Batch` (`d_losses`,
`g_losses`, `joint_losses`: no optimiser touched) plus one `apply`: zero_grad → backward → `parts.sync_grads`
(identity in one process; the place for an all-reduce under torchrun) → optimiser step → D's constraints. The
unrolled rule (advnets.training.unrolled) uses the same `apply`. Losses are computed inside `parts.autocast()` (a
no-op unless speed.autocast is on) and backpropagated outside it.

Every loss runs the same pipeline from the parts (advnets.training.parts): the input transforms make what D sees,
D emits logits, the bound loss gives named terms, the penalties add to D's loss, the G objectives to G's. Fakes are
detached for D's update, and D's parameters are frozen during G's update so they accumulate no gradient. With no
penalties, transforms or objectives this is exactly the paper's computation (tests/training/test_pinned_losses.py).
"""

from __future__ import annotations

import torch

from advnets.objectives import GInputs
from advnets.penalties import PenaltyInputs
from advnets.training.parts import Batch, Parts
from advnets.transforms import apply_transforms

Stats = dict[str, torch.Tensor]


def _detached(terms: Stats) -> Stats:
    return {key: value.detach() for key, value in terms.items()}


def _real(batch: Batch) -> torch.Tensor:
    if batch.real is None:
        raise ValueError("this update needs a batch with real examples (Loop.next_batch(real=True))")
    return batch.real


def d_objective(
    parts: Parts,
    batch: Batch,
    real: torch.Tensor,
    fake: torch.Tensor,
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    step: int,
) -> tuple[torch.Tensor, Stats]:
    """D's loss plus its penalties, and the stats to log. real/fake are what D saw of the batch."""
    terms = parts.loss.d_terms(real_logits, fake_logits)
    total = terms["d_loss"]
    stats = _detached(terms)
    if parts.penalties:
        inputs = PenaltyInputs(
            parts.D, real, fake, real_logits, fake_logits, step, batch.real_labels, batch.fake_labels
        )
        for name, penalty in parts.penalties.items():
            if penalty.term is not None:
                value = penalty.term(inputs)
                total = total + value
                stats[f"penalty_{name}"] = value.detach()
    return total, stats


def g_objective(
    parts: Parts,
    batch: Batch,
    fake: torch.Tensor,
    fake_logits: torch.Tensor,
    real: torch.Tensor | None,
    step: int,
) -> tuple[torch.Tensor, Stats]:
    """G's adversarial loss plus its objectives, and the stats to log. fake (attached to G) and real are what D saw."""
    terms = parts.loss.g_terms(fake_logits)
    total = terms["g_loss"]
    stats = _detached(terms)
    if parts.g_objectives:
        if real is None:
            raise ValueError("G objectives need this iteration's real batch")
        inputs = GInputs(parts.D, real, fake, fake_logits, step, batch.real_labels, batch.fake_labels)
        extra = []
        for name, objective in parts.g_objectives.items():
            value = objective.term(inputs)
            stats[f"g_{name}"] = value.detach()
            extra.append(value)
            if not objective.keep_adversarial:
                total = torch.zeros_like(total)
        total = total + sum(extra)
    return total, stats


def d_losses(parts: Parts, batch: Batch, step: int) -> tuple[torch.Tensor, Stats]:
    """D's loss on a real batch [N, *shape] and G(z) for z [M, z_dim] (G not differentiated)."""
    with torch.no_grad():
        fake = parts.generate(batch.z, batch.fake_labels)
    real_in = apply_transforms(parts.transforms, _real(batch), step)
    fake_in = apply_transforms(parts.transforms, fake, step)
    real_logits = parts.discriminate(real_in, batch.real_labels)
    fake_logits = parts.discriminate(fake_in, batch.fake_labels)
    return d_objective(parts, batch, real_in, fake_in, real_logits, fake_logits, step)


def g_losses(parts: Parts, batch: Batch, step: int) -> tuple[torch.Tensor, Stats]:
    """G's loss through D for z [M, z_dim]; `batch.real` (the iteration's real batch) is read only by G objectives.
    Call with D frozen (`g_step` does) so that D accumulates no gradient."""
    fake_in = apply_transforms(parts.transforms, parts.generate(batch.z, batch.fake_labels), step)
    fake_logits = parts.discriminate(fake_in, batch.fake_labels)
    real = batch.real
    real_in = apply_transforms(parts.transforms, real, step) if parts.g_objectives and real is not None else real
    return g_objective(parts, batch, fake_in, fake_logits, real_in, step)


def joint_losses(parts: Parts, batch: Batch, step: int) -> tuple[torch.Tensor, torch.Tensor, Stats]:
    """The paper code's update: one fake batch S = G(z) and one D pass over it give both D's loss and G's loss
    (same dropout masks); returns (d_loss, g_loss, stats)."""
    fake = apply_transforms(parts.transforms, parts.generate(batch.z, batch.fake_labels), step)
    real_in = apply_transforms(parts.transforms, _real(batch), step)
    real_logits = parts.discriminate(real_in, batch.real_labels)
    fake_logits = parts.discriminate(fake, batch.fake_labels)
    # D's penalties see the fakes detached, as in d_step; G's terms see them attached.
    d_loss, stats = d_objective(parts, batch, real_in, fake.detach(), real_logits, fake_logits, step)
    g_loss, g_stats = g_objective(parts, batch, fake, fake_logits, real_in, step)
    return d_loss, g_loss, stats | g_stats


def apply(parts: Parts, *, d_loss: torch.Tensor | None = None, g_loss: torch.Tensor | None = None) -> None:
    """The one gradient seam: zero_grad → backward → sync_grads → optimiser step → D's constraints, for each player
    given a loss. With both, both gradients are taken before either player moves (the simultaneous update), each
    only w.r.t. its own player's parameters."""
    players = [
        (loss, module, opt)
        for loss, module, opt in ((d_loss, parts.D, parts.d_opt), (g_loss, parts.G, parts.g_opt))
        if loss is not None
    ]
    params = [[p for p in module.parameters() if p.requires_grad] for _, module, _ in players]
    for _, _, opt in players:
        opt.zero_grad(set_to_none=True)
    for i, (loss, _, _) in enumerate(players):
        # A population's losses are [N], one per member (advnets.training.population): their sum gives every
        # member its own gradient, as members share no parameter.
        total = loss if loss.dim() == 0 else loss.sum()
        total.backward(inputs=params[i], retain_graph=i < len(players) - 1)
    for own in params:
        parts.sync_grads(own)
    for _, _, opt in players:
        opt.step()
    if d_loss is not None:
        constrain(parts)


def constrain(parts: Parts) -> None:
    for penalty in parts.penalties.values():
        if penalty.constrain is not None:
            penalty.constrain(parts.D)


def d_step(parts: Parts, batch: Batch, step: int) -> Stats:
    """One D update (see `d_losses`)."""
    with parts.autocast():
        d_loss, stats = d_losses(parts, batch, step)
    apply(parts, d_loss=d_loss)
    return stats


def g_step(parts: Parts, batch: Batch, step: int) -> Stats:
    """One G update through D (dropout active, as in training), D's parameters frozen (see `g_losses`)."""
    parts.D.requires_grad_(False)
    try:
        with parts.autocast():
            g_loss, stats = g_losses(parts, batch, step)
        apply(parts, g_loss=g_loss)
    finally:
        parts.D.requires_grad_(True)
    return stats


def joint_step(parts: Parts, batch: Batch, step: int) -> Stats:
    """The simultaneous update: both players stepped at once from `joint_losses`."""
    with parts.autocast():
        d_loss, g_loss, stats = joint_losses(parts, batch, step)
    apply(parts, d_loss=d_loss, g_loss=g_loss)
    return stats
