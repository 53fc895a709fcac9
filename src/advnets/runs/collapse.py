"""Signals that make mode collapse and mode cycling measurable, logged with every metrics line beside the health
monitor's `diversity` (docs/mnist-zeros.md; the failures of docs/paper.md §6).

`diversity` (runs/health.py), the mean pairwise distance of G's samples on the fixed latent grid over that of as
many training examples, falls when G's samples crowd together, but a G that makes two or three distinct zeros keeps
it high. Two more numbers, both from the same fixed grid, cost one forward pass of G per metrics line:

- `nn_diversity`: the mean distance from each sample to its nearest *other* sample, over the same for as many
  training examples. Near 0 when every sample has a near-twin, which is what collapse onto one or a few modes
  looks like, however far apart those few modes are; near 1 for a G as varied as the data.
- `mode_jump`: how far the mean sample moved since the previous metrics line (or since this process started),
  over the data's mean pairwise distance. A G that has settled moves little; a collapsed G that cycles, jumping
  from one nearly constant output to another as D learns to reject the last one, moves about one data spread at
  each jump, so cycling shows as spikes in `mode_jump` while `nn_diversity` stays low.
"""

from __future__ import annotations

from typing import Any

import torch

from advnets.models.sampling import generate_from
from advnets.runs.health import mean_pairwise_distance

REFERENCE_SEED_OFFSET = (
    15485863  # the reference examples' own RNG, apart from training's and the health monitor's
)


def nearest_neighbour_distance(x: torch.Tensor) -> float:
    """Mean over the rows of x [N, ...] (N >= 2) of the Euclidean distance to the nearest other row."""
    flat = x.detach().flatten(1).double()
    if flat.shape[0] < 2:
        raise ValueError(f"need at least 2 rows for a nearest neighbour, got shape {tuple(x.shape)}")
    distances = torch.cdist(flat, flat)
    distances.fill_diagonal_(float("inf"))  # a row is not its own neighbour
    return float(distances.min(dim=1).values.mean())


def mean_shift(previous_mean: torch.Tensor, samples: torch.Tensor) -> float:
    """Euclidean distance from `previous_mean` [D] to the mean of samples [N, ...] flattened to [N, D]."""
    return float(torch.linalg.vector_norm(samples.detach().flatten(1).double().mean(0) - previous_mean))


class CollapseSignals:
    """`nn_diversity` and `mode_jump` for MetricsHook: `start` once when training (re)starts, `signals` at each
    metrics line. Keeps the data's reference distances (computed once) and the last mean sample."""

    def __init__(self) -> None:
        self.data_nn: float | None = None
        self.data_spread: float | None = None
        self.last_mean: torch.Tensor | None = None

    def _samples(self, trainer: Any) -> torch.Tensor:
        return generate_from(trainer.G, trainer.fixed_z, trainer.fixed_labels)  # [grid, *shape]

    def _reference(self, trainer: Any, n: int) -> None:
        gen = torch.Generator().manual_seed(trainer.cfg.seed + REFERENCE_SEED_OFFSET)
        examples = trainer.train_set.examples
        pick = torch.randperm(len(examples), generator=gen)[: min(n, len(examples))]
        reference = trainer.train_set.take(pick.to(examples.device)).cpu()
        self.data_nn = nearest_neighbour_distance(reference)
        self.data_spread = mean_pairwise_distance(reference)

    def start(self, trainer: Any) -> None:
        if len(trainer.fixed_z) >= 2:
            self.last_mean = self._samples(trainer).flatten(1).double().mean(0)

    def signals(self, trainer: Any) -> dict[str, float]:
        n = len(trainer.fixed_z)
        if n < 2 or len(trainer.train_set.examples) < 2:
            return {}
        if self.data_nn is None:
            self._reference(trainer, n)
        assert self.data_nn is not None and self.data_spread is not None
        samples = self._samples(trainer)
        out: dict[str, float] = {}
        if self.data_nn > 0:
            out["nn_diversity"] = nearest_neighbour_distance(samples) / self.data_nn
        if self.last_mean is not None and self.data_spread > 0:
            out["mode_jump"] = mean_shift(self.last_mean, samples) / self.data_spread
        self.last_mean = samples.flatten(1).double().mean(0)
        return out
