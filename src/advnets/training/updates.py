"""Update rules: how one training iteration orders D's and G's updates. `train.update` picks one.

An iteration is what the step counter counts (one G update). A rule is a function of the parts and of the loop
(`Loop`: the next real batch, noise, and the bookkeeping that counts an update and sets its learning rate), so
the trainer composes parts and never branches on a mode string.

- simultaneous: the paper's code (docs/paper.md §0): one real batch, one shared fake batch, both players updated at
  once from the same D pass.
- alternating: Algorithm 1 of the paper: k = train.d_steps D updates, each on a fresh real batch, then one G
  update on a fresh fake batch of train.g_batch_size.
- unrolled: as alternating, but G's update differentiates through train.unroll_steps unrolled D updates
  (Metz et al. 2017; advnets.training.unrolled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from advnets.config import TrainConfig
from advnets.errors import UserError
from advnets.registry import Registry
from advnets.training.parts import Parts
from advnets.training.steps import Stats, d_step, g_step, joint_step
from advnets.training.unrolled import UNROLL_RULES, Unroll, unrolled_g_step


class Loop(Protocol):
    """What the trainer offers an update rule."""

    step: int  # iterations completed before this one

    def real(self) -> torch.Tensor: ...  # the next real minibatch [batch_size, *shape]
    def noise(self, n: int) -> torch.Tensor: ...  # z [n, z_dim] from the prior, on the device
    def begin_d_update(self) -> None: ...  # counts a D update and sets D's lr/momentum for it
    def begin_g_update(self) -> None: ...


@dataclass(frozen=True)
class UpdateRule:
    run: Callable[[Parts, Loop, TrainConfig], Stats]
    d_updates_per_iteration: Callable[[TrainConfig], int]  # = real batches consumed per iteration
    check: Callable[[TrainConfig], None] = lambda cfg: None  # config constraints of this rule (UserError)


UPDATES: Registry[UpdateRule] = Registry("train.update")


def _simultaneous(parts: Parts, loop: Loop, cfg: TrainConfig) -> Stats:
    loop.begin_d_update()
    loop.begin_g_update()
    real = loop.real()
    return joint_step(parts, real, loop.noise(len(real)), loop.step)


def _check_simultaneous(cfg: TrainConfig) -> None:
    if cfg.d_steps != 1 or cfg.g_batch_size is not None:
        raise UserError(
            "train.update=simultaneous shares one fake batch between D and G, so train.d_steps must be 1 and "
            "train.g_batch_size unset; use train.update=alternating for k D steps or a separate G batch"
        )


def _d_steps(parts: Parts, loop: Loop, cfg: TrainConfig) -> tuple[Stats, torch.Tensor | None]:
    """k = train.d_steps D updates, each on a fresh real batch; returns the last stats and real batch."""
    stats: Stats = {}
    real = None
    for _ in range(cfg.d_steps):
        loop.begin_d_update()
        real = loop.real()
        stats = d_step(parts, real, loop.noise(len(real)), loop.step)
    return stats, real


def _alternating(parts: Parts, loop: Loop, cfg: TrainConfig) -> Stats:
    stats, real = _d_steps(parts, loop, cfg)
    loop.begin_g_update()
    # G objectives (feature matching) compare against the last real batch D saw in this iteration.
    return stats | g_step(parts, loop.noise(cfg.g_batch_size or cfg.batch_size), loop.step, real)


def _unrolled(parts: Parts, loop: Loop, cfg: TrainConfig) -> Stats:
    stats, real = _d_steps(parts, loop, cfg)
    loop.begin_g_update()
    # The unrolled steps take D's current learning rate unless train.unroll_lr sets one.
    lr = cfg.unroll_lr if cfg.unroll_lr is not None else parts.d_opt.param_groups[0]["lr"]
    z = loop.noise(cfg.g_batch_size or cfg.batch_size)
    return stats | unrolled_g_step(parts, z, real, loop.step, Unroll(cfg.unroll_steps, lr, cfg.unroll_optimizer))


def _check_unrolled(cfg: TrainConfig) -> None:
    if cfg.unroll_steps < 0:
        raise UserError(f"train.unroll_steps={cfg.unroll_steps} must be >= 0 (0 is the plain G update)")
    if cfg.unroll_lr is not None and not cfg.unroll_lr > 0:
        raise UserError(f"train.unroll_lr={cfg.unroll_lr} must be > 0, or null for D's learning rate")
    if cfg.unroll_optimizer not in UNROLL_RULES:
        raise UserError(
            f"train.unroll_optimizer={cfg.unroll_optimizer!r} is not one of: {', '.join(UNROLL_RULES)}"
        )
    if cfg.unroll_optimizer == "adam" and cfg.d_optimizer.name != "adam":
        raise UserError(
            f"train.unroll_optimizer=adam unrolls D's Adam update, but train.d_optimizer.name is "
            f"{cfg.d_optimizer.name}; set train.d_optimizer.name=adam or train.unroll_optimizer=sgd"
        )


UPDATES.register("simultaneous")(UpdateRule(_simultaneous, lambda cfg: 1, _check_simultaneous))
UPDATES.register("alternating")(UpdateRule(_alternating, lambda cfg: cfg.d_steps))
UPDATES.register("unrolled")(UpdateRule(_unrolled, lambda cfg: cfg.d_steps, _check_unrolled))
