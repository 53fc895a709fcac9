"""Optimisers and the paper's schedules (docs/paper.md §0).

The paper's code uses classical momentum, v <- mu*v - lr*g; theta <- theta + v. PyTorch's SGD instead keeps
v <- mu*v + g and steps by lr*v, which differs whenever lr changes between updates (it does: every update divides
it by 1.000004), so `ClassicalSGD` implements the paper's rule. Schedules are pure functions of the update count
and the epoch, set on the optimiser before each update, so that resuming from a checkpoint is exact.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from advnets.config import OptimizerConfig


class ClassicalSGD(torch.optim.Optimizer):
    """SGD with classical momentum as in pylearn2's learning_rule.Momentum: v <- mu v - lr g; theta <- theta + v."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            velocities = []
            for p in params:
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p)
                velocities.append(state["velocity"])
            torch._foreach_mul_(velocities, mu)
            torch._foreach_add_(velocities, grads, alpha=-lr)
            torch._foreach_add_(params, velocities)


def build_optimizer(cfg: OptimizerConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.name == "sgd":
        return ClassicalSGD(params, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.betas[0], cfg.betas[1]), eps=cfg.eps)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps)
    raise AssertionError(f"optimizer {cfg.name!r} passed validation but has no builder")


def lr_at(cfg: OptimizerConfig, update: int) -> float:
    """Learning rate of update `update` (1-indexed): lr for the first lr_decay_start + 1 updates, then
    lr / lr_decay^(update-1-lr_decay_start), floored at lr_min (e.g. a decay over the second half of training)."""
    return max(cfg.lr / cfg.lr_decay ** max(0, update - 1 - cfg.lr_decay_start), min(cfg.lr_min, cfg.lr))


def momentum_at(cfg: OptimizerConfig, epoch: int) -> float:
    """Momentum in epoch `epoch` (1-indexed): linear from `momentum` at epoch 1 to `momentum_final` at
    `momentum_saturate_epochs` (pylearn2 MomentumAdjustor(start=1, saturate=250)), constant after."""
    span = max(cfg.momentum_saturate_epochs - 1, 1)
    fraction = min(1.0, (epoch - 1) / span)
    return cfg.momentum + (cfg.momentum_final - cfg.momentum) * fraction


def apply_schedule(
    opt: torch.optim.Optimizer, cfg: OptimizerConfig, update: int, epoch: int, scale: float = 1.0
) -> None:
    """Set lr (and SGD momentum) for update `update` in epoch `epoch`, both 1-indexed; `scale` multiplies the
    scheduled lr (the health monitor's lower-lr remedy; 1.0 leaves it exact)."""
    lr = lr_at(cfg, update) * scale
    for group in opt.param_groups:
        group["lr"] = lr
        if cfg.name == "sgd":
            group["momentum"] = momentum_at(cfg, epoch)
