"""Toy labs where GAN failures are visible (issue 11): mixtures of isotropic Gaussians with known components,
so that a generator's mode coverage can be counted (`advnets.metrics.modes`) and seen in a scatter plot.

- `ring-8`: 8 components on the unit circle, centres at angles 2πk/8 (k = 0..7), std 0.01: the 2-D ring of
  PacGAN (Lin et al. 2018, §5.1 and its released config), after VEEGAN's (Srivastava et al. 2017) protocol.
- `grid-25`: 25 components at {-4, -2, 0, 2, 4}², std 0.05: PacGAN's 2-D grid.
- `gauss-1d`: one component, N(4, variance 1.25): the 1-D Gaussian of docs/paper.md §6 (examples [N, 1]).

Each split is drawn from its own fixed seed (train 0, valid 1, test 2), so the splits differ from each other
and are the same in every run; `cfg.seed` does not change the data, as it does not change MNIST. An example's
label is the index of the component it was drawn from; components are chosen uniformly at random.

Every options class here has `mixture()`: the centres and std behind the data. `mixture_of(cfg.data)` is how a
metric asks for them, and any data set whose options define `mixture()` can be scored the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from advnets.checks import check_choice, check_positive
from advnets.data.dataset import DataSet, VectorSet
from advnets.errors import UserError

SPLIT_SEEDS = {"train": 0, "valid": 1, "test": 2}  # one fixed seed per split: different, reproducible splits
SEPARATION_STDS = 6.0  # centres closer than this many stds would share high-quality samples (3 std each side)


class Mixture(NamedTuple):
    """An equal-weight mixture of isotropic Gaussians: component k is N(centres[k], std² I)."""

    centres: torch.Tensor  # [K, D] float64
    std: float  # per coordinate, the same for every component

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n examples [n, D] float32 and their component indices [n] int64, drawn with `generator`."""
        labels = torch.randint(len(self.centres), (n,), generator=generator)  # [n]
        noise = torch.randn(n, self.centres.shape[1], generator=generator, dtype=torch.float64)  # [n, D]
        return (self.centres[labels] + self.std * noise).float(), labels

    def min_separation(self) -> float:
        """The smallest distance between two centres (inf for a single component)."""
        if len(self.centres) < 2:
            return math.inf
        dist = torch.cdist(self.centres, self.centres, compute_mode="donot_use_mm_for_euclid_dist")  # [K, K]
        return float(dist.fill_diagonal_(math.inf).min())


def ring_centres(count: int, radius: float) -> torch.Tensor:
    """`count` centres [count, 2] on a circle, at angles 2πk/count for k = 0..count-1.

    k stops at count - 1: an angle grid that includes 2π (`linspace(0, 2π, count)`) puts the last centre on
    the first, a bug public toy code has shipped."""
    angles = 2 * math.pi * torch.arange(count, dtype=torch.float64) / count  # [count]
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def grid_centres(per_side: int, spacing: float) -> torch.Tensor:
    """per_side² centres [per_side², 2] on a square grid centred on the origin, `spacing` apart; row-major
    (the first coordinate varies slowest): for 5 and 2, (-4, -4), (-4, -2), ..., (4, 4)."""
    axis = spacing * (torch.arange(per_side, dtype=torch.float64) - (per_side - 1) / 2)  # [per_side]
    return torch.cartesian_prod(axis, axis)


def check_separated(mixture: Mixture, prefix: str, keys: str) -> None:
    """Components whose 3-std balls overlap cannot be told apart by the modes metric: refuse such geometry."""
    separation = mixture.min_separation()
    if separation <= SEPARATION_STDS * mixture.std:
        raise UserError(
            f"{prefix} ({keys}) puts two centres {separation:.4g} apart, within {SEPARATION_STDS:g} std "
            f"({SEPARATION_STDS * mixture.std:.4g}) of each other, so their components overlap; "
            "make the components smaller or further apart"
        )


@dataclass
class ToyOptions:
    """The `data.*` keys every toy mixture has; a subclass adds its geometry and `mixture()`."""

    name: str = ""  # the toy data set (advnets.data.DATASETS)
    split: str = "train"  # train | valid | test, each drawn from its own fixed seed
    n: int = 50000  # examples in the split

    def validate(self, prefix: str) -> None:
        check_choice(f"{prefix}.split", self.split, list(SPLIT_SEEDS))
        check_positive(f"{prefix}.n", self.n)

    def mixture(self) -> Mixture:
        raise NotImplementedError(f"{type(self).__name__} must define mixture()")


@dataclass
class RingOptions(ToyOptions):
    """The `data.*` keys of `ring-8`."""

    name: str = "ring-8"  # ring-8: 8 Gaussians on a circle (PacGAN's 2-D ring)
    radius: float = 1.0  # radius of the circle of centres (PacGAN: 1)
    std: float = 0.01  # standard deviation of each component, per coordinate (PacGAN: 0.01)

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        check_positive(f"{prefix}.radius", self.radius)
        check_positive(f"{prefix}.std", self.std)
        check_separated(self.mixture(), prefix, "radius, std")

    def mixture(self) -> Mixture:
        return Mixture(ring_centres(8, self.radius), self.std)


@dataclass
class GridOptions(ToyOptions):
    """The `data.*` keys of `grid-25`."""

    name: str = "grid-25"  # grid-25: 5 x 5 Gaussians on a square grid (PacGAN's 2-D grid)
    spacing: float = 2.0  # distance between neighbouring centres, at spacing * {-2..2}² (PacGAN: 2)
    std: float = 0.05  # standard deviation of each component, per coordinate (PacGAN: 0.05)

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        check_positive(f"{prefix}.spacing", self.spacing)
        check_positive(f"{prefix}.std", self.std)
        check_separated(self.mixture(), prefix, "spacing, std")

    def mixture(self) -> Mixture:
        return Mixture(grid_centres(5, self.spacing), self.std)


@dataclass
class Gauss1dOptions(ToyOptions):
    """The `data.*` keys of `gauss-1d`."""

    name: str = "gauss-1d"  # gauss-1d: one 1-D Gaussian (docs/paper.md §6)
    mean: float = 4.0  # mean of the Gaussian (docs/paper.md §6: 4)
    variance: float = 1.25  # its variance (docs/paper.md §6: 1.25, std ≈ 1.118)

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        check_positive(f"{prefix}.variance", self.variance)

    def mixture(self) -> Mixture:
        return Mixture(torch.tensor([[self.mean]], dtype=torch.float64), math.sqrt(self.variance))


def load_mixture(options: Any, split: str) -> DataSet:
    """Split `split` of the mixture `options.mixture()`: options.n examples [n, D], component labels [n]."""
    check_choice("data.split", split, list(SPLIT_SEEDS))
    mixture = options.mixture()
    assert mixture.min_separation() > 0, f"{options.name}: two centres coincide: {mixture.centres.tolist()}"
    examples, labels = mixture.sample(options.n, torch.Generator().manual_seed(SPLIT_SEEDS[split]))
    return VectorSet(examples, options.name, split, labels)


def mixture_of(options: Any) -> Mixture:
    """The mixture behind the data options `options` (a resolved cfg.data) -> (centres [K, D], std).

    A data set that is not a mixture with known components is a UserError (one line)."""
    mixture = getattr(options, "mixture", None)
    if not callable(mixture):
        name = getattr(options, "name", options)
        raise UserError(
            f"data.name={name} is not a mixture of Gaussians with known centres; mode coverage needs one "
            "(ring-8, grid-25, gauss-1d)"
        )
    found = mixture()
    assert isinstance(found, Mixture), f"{type(options).__name__}.mixture() must return a Mixture"
    return found
