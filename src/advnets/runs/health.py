"""The health monitor: cheap signals of how training is going, flags for the classic failures, and a stop on
divergence that never leaves a bad checkpoint behind (docs/paper.md §6: vanishing gradients, mode collapse,
failure to converge; D's accuracy falling towards 50 % means its feedback has become noise).

Signals, computed once per `log.every_steps` (no extra host sync in the hot loop): D's accuracy on real and fake
examples (from the loss's own monitors), the gradient norms of G and D of the last update (the `.grad` tensors the
update left behind), the spread of the losses within the interval, and sample diversity: the mean pairwise distance
of G's samples on the fixed latent grid over that of as many training examples. Flags: `mode_collapse`,
`mode_cycling` (collapsed while the mean sample jumps, runs/collapse.py), `d_overconfident`, `diverged`.
Divergence (NaN/inf, or |loss| > health.max_loss) stops the run with one line that names the last good
checkpoint; a checkpoint is never written from non-finite weights.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from advnets.config import HealthConfig
from advnets.errors import UserError
from advnets.models.sampling import generate_from


class TrainingDiverged(UserError):
    """The losses or weights became NaN/inf, or the losses exploded."""


def grad_norm(module: nn.Module) -> float | None:
    """‖∇‖₂ over the module's parameters from the last backward pass (None when no gradient is held)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of rows of x [N, ...] (N >= 2)."""
    flat = x.detach().flatten(1).double()
    n = flat.shape[0]
    return float(torch.pdist(flat).sum() / (n * (n - 1) / 2))


class HealthSignals:
    """Computes the signals for MetricsHook; keeps the data's reference spread (computed once)."""

    def __init__(self) -> None:
        self.data_spread: float | None = None

    def signals(self, trainer: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, module in (("g_grad_norm", trainer.G), ("d_grad_norm", trainer.D)):
            norm = grad_norm(module)
            if norm is not None:
                out[name] = norm
        n = len(trainer.fixed_z)
        if n >= 2:
            if self.data_spread is None:
                gen = torch.Generator().manual_seed(trainer.cfg.seed + 104729)
                examples = trainer.train_set.examples
                pick = torch.randperm(len(examples), generator=gen)[:n].to(examples.device)
                self.data_spread = mean_pairwise_distance(trainer.train_set.take(pick))
            if self.data_spread > 0:
                out["diversity"] = mean_pairwise_distance(generate_from(trainer.G, trainer.fixed_z, trainer.fixed_labels)) / self.data_spread
        return out


def flags(record: dict[str, Any], cfg: HealthConfig) -> list[str]:
    """The failure flags a metrics record raises."""
    found = []
    if diverged(record, cfg):
        found.append("diverged")
    if record.get("diversity", math.inf) < cfg.collapse_ratio:
        found.append("mode_collapse")
        # Collapsed, and the one mode moves: G jumps from mode to mode as D learns to reject each (docs/paper.md §6).
        if record.get("mode_jump", 0.0) > cfg.cycling_jump:
            found.append("mode_cycling")
    if min(record.get("d_acc_real", 0.0), record.get("d_acc_fake", 0.0)) > cfg.overconfident:
        found.append("d_overconfident")
    return found


def diverged(record: dict[str, Any], cfg: HealthConfig) -> bool:
    losses = [record[k] for k in ("d_loss", "g_loss") if k in record]
    return any(not math.isfinite(v) or abs(v) > cfg.max_loss for v in losses)


def finite_weights(*modules: nn.Module) -> bool:
    """All parameters finite (one host sync)."""
    params = [p.detach() for m in modules for p in m.parameters()]
    return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())


def divergence_message(what: str, step: int, last_good: str | None) -> str:
    remedy = "lower the learning rates or add a remedy (e.g. penalties.gradient_penalty, loss.real_target=0.9)"
    if last_good is None:
        return f"training diverged: {what} by step {step}; stopped before any checkpoint was written; {remedy}"
    return (
        f"training diverged: {what} by step {step}; stopped, and the last good checkpoint, {last_good}, stays "
        f"`latest`; {remedy} and start a new run (or `advnets resume` it to retry from there)"
    )
