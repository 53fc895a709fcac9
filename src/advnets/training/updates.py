"""Update rules: how one training iteration orders D's and G's updates. `train.update` picks one.

An iteration is what the step counter counts (one G update). A rule is a function of the parts and of the loop
(`Loop`: `next_batch`, the only place that draws real examples, their labels, z and the labels given to G; and the
bookkeeping that counts an update and sets its learning rate), so the trainer composes parts and never branches on
a mode string.

- simultaneous: the paper's code (docs/paper.md §0): one real batch, one shared fake batch, both players updated at
  once from the same D pass.
- alternating: Algorithm 1 of the paper: k = train.d_steps D updates, each on a fresh real batch, then one G
  update on a fresh fake batch of train.g_batch_size.
- unrolled: as alternating, but G's update differentiates through train.rule.steps unrolled D updates
  (Metz et al. 2017; advnets.training.unrolled).

A rule registers the dataclass of its own keys, which live in `train.rule` (`train.update=unrolled
train.rule.steps=5`), as every other axis does; its `check` sees the whole train section, for constraints that
involve the rest of it (d_steps, batch sizes, optimisers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from advnets.config import TrainConfig
from advnets.errors import UserError
from advnets.registry import Registry
from advnets.training.parts import Batch, Parts
from advnets.training.steps import Stats, d_step, g_step, joint_step
from advnets.training.unrolled import Unroll, UnrolledOptions, unrolled_g_step


class Loop(Protocol):
    """What the trainer offers an update rule."""

    step: int  # iterations completed before this one

    # The next real minibatch [batch_size, *shape] with its labels (unless real=False), and n_fake z from the prior
    # (default: as many as real examples) with the labels given to G; all on the device, from the run's generator.
    def next_batch(self, n_fake: int | None = None, *, real: bool = True) -> Batch: ...
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
    return joint_step(parts, loop.next_batch(), loop.step)


def _check_simultaneous(cfg: TrainConfig) -> None:
    if cfg.d_steps != 1 or cfg.g_batch_size is not None:
        raise UserError(
            "train.update=simultaneous shares one fake batch between D and G, so train.d_steps must be 1 and "
            "train.g_batch_size unset; use train.update=alternating for k D steps or a separate G batch"
        )


def _d_steps(parts: Parts, loop: Loop, cfg: TrainConfig) -> tuple[Stats, Batch]:
    """k = train.d_steps D updates, each on a fresh batch; returns the last stats and batch."""
    stats: Stats = {}
    for _ in range(cfg.d_steps):
        loop.begin_d_update()
        batch = loop.next_batch()
        stats = d_step(parts, batch, loop.step)
    return stats, batch


def _alternating(parts: Parts, loop: Loop, cfg: TrainConfig) -> Stats:
    stats, d_batch = _d_steps(parts, loop, cfg)
    loop.begin_g_update()
    # G objectives (feature matching) compare against the last real batch D saw in this iteration.
    batch = loop.next_batch(cfg.g_batch_size or cfg.batch_size, real=False).with_real_of(d_batch)
    return stats | g_step(parts, batch, loop.step)


def _unrolled(parts: Parts, loop: Loop, cfg: TrainConfig) -> Stats:
    stats, d_batch = _d_steps(parts, loop, cfg)
    loop.begin_g_update()
    options: UnrolledOptions = cfg.rule
    # The unrolled steps take D's current learning rate unless train.rule.lr sets one.
    lr = options.lr if options.lr is not None else parts.d_opt.param_groups[0]["lr"]
    batch = loop.next_batch(cfg.g_batch_size or cfg.batch_size, real=False).with_real_of(d_batch)
    return stats | unrolled_g_step(parts, batch, loop.step, Unroll(options.steps, lr, options.optimizer))


def _check_unrolled(cfg: TrainConfig) -> None:
    """Its own keys were checked by UnrolledOptions.validate; this is what needs the rest of train."""
    if cfg.rule.optimizer == "adam" and cfg.d_optimizer.name != "adam":
        raise UserError(
            f"train.rule.optimizer=adam unrolls D's Adam update, but train.d_optimizer.name is "
            f"{cfg.d_optimizer.name}; set train.d_optimizer.name=adam or train.rule.optimizer=sgd"
        )


# simultaneous and alternating declare no keys of their own (an empty train.rule).
UPDATES.register("simultaneous")(UpdateRule(_simultaneous, lambda cfg: 1, _check_simultaneous))
UPDATES.register("alternating")(UpdateRule(_alternating, lambda cfg: cfg.d_steps))
UPDATES.register("unrolled", options=UnrolledOptions)(
    UpdateRule(_unrolled, lambda cfg: cfg.d_steps, _check_unrolled)
)
