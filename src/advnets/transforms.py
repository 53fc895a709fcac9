"""Transforms of what D sees: applied to every real and fake batch before D, in D's updates and G's alike.

`transforms.NAME.key=value` switches an entry on (instance noise is the classic member: Gaussian noise on every
input D sees, its std annealed to zero). An entry is a builder `options -> Transform`, and a Transform maps
(x [N, *shape], step) to the batch D sees; `step` (G updates completed) lets it anneal. Empty by default: D sees
the data as it is. Several transforms apply in config order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

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
