"""Transforms of what D sees: applied to every real and fake batch before D, in D's updates and G's alike.

`transforms.NAME.key=value` switches an entry on (instance noise is the classic member: Gaussian noise on every
input D sees, its std annealed to zero). An entry is a builder `options -> Transform`, and a Transform maps
(x [N, *shape], step) to the batch D sees; `step` (G updates completed) lets it anneal. Random draws come from
the run's generator (advnets.randomness.current_generator). Empty by default: D sees
the data as it is. Several transforms apply in config order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from advnets.checks import check_positive
from advnets.randomness import normal_like
from advnets.registry import Registry

Transform = Callable[[torch.Tensor, int], torch.Tensor]

TRANSFORMS: Registry[Callable[[Any], Transform]] = Registry("transforms")


def build_transforms(options: dict[str, Any]) -> list[Transform]:
    """The resolved `cfg.transforms` (name -> options) -> transforms in config order."""
    return [TRANSFORMS.get(name)(opts) for name, opts in options.items()]


def apply_transforms(transforms: list[Transform], x: torch.Tensor, step: int) -> torch.Tensor:
    for transform in transforms:
        x = transform(x, step)
    return x


# ------------------------------------------------------------------------------------------------ members
@dataclass
class InstanceNoiseOptions:
    """transforms.instance_noise keys (Sønderby et al. 2017; Arjovsky & Bottou 2017)."""

    std: float = 0.1  # std of the Gaussian noise added to every input D sees, real and fake alike, at step 0 ...
    anneal_steps: int | None = None  # ... falling linearly to 0 at this step (G updates); null = constant

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.std", self.std)
        if self.anneal_steps is not None:
            check_positive(f"{prefix}.anneal_steps", self.anneal_steps)


def noise_std_at(options: InstanceNoiseOptions, step: int) -> float:
    """The instance-noise std at `step`: std · max(0, 1 − step / anneal_steps), or std when not annealed."""
    if options.anneal_steps is None:
        return options.std
    return options.std * max(0.0, 1.0 - step / options.anneal_steps)


def instance_noise(options: InstanceNoiseOptions) -> Transform:
    def add_noise(x: torch.Tensor, step: int) -> torch.Tensor:
        std = noise_std_at(options, step)
        # Annealed to zero: D sees the data itself (and no RNG is consumed).
        return x + std * normal_like(x) if std > 0 else x

    return add_noise


TRANSFORMS.register("instance_noise", options=InstanceNoiseOptions)(instance_noise)
