"""Building blocks shared by the fully connected nets: Maxout and the named hidden activations.

Maxout follows Goodfellow et al. (2013), "Maxout Networks", as pylearn2's `models/maxout.py` ran it for the
GAN paper's discriminators (docs/paper.md §0): one dense layer of units * pieces outputs, then each unit takes the
max over a *contiguous* group of `pieces` outputs (unit j uses columns j*pieces ... j*pieces + pieces - 1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from advnets.errors import UserError
from advnets.randomness import dropout

# leaky_relu uses slope 0.2, the usual choice for GAN discriminators and generators.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def make_activation(name: str, key: str) -> nn.Module:
    """A fresh activation module for `name`; `key` is the config key it came from, for the error message."""
    if name not in ACTIVATIONS:
        raise UserError(f"{key}={name!r} is not an activation; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def spectral_norm_(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every Linear / Conv weight in `module`, and of every label
    embedding (a projection D's V, as Miyato & Koyama 2018 normalise it), in place: each weight is divided by its
    largest singular value, estimated by one power iteration per training forward pass
    (torch.nn.utils.parametrizations.spectral_norm)."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


class Maxout(nn.Module):
    """Linear(in_features, units * pieces), then the max over contiguous groups of `pieces` outputs."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        if units <= 0 or pieces <= 0:
            raise ValueError(f"Maxout needs units > 0 and pieces > 0, got units={units}, pieces={pieces}")
        self.in_features = in_features
        self.units = units
        self.pieces = pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [..., in] -> [..., units * pieces] -> [..., units, pieces] -> [..., units]. Splitting the last axis
        # as (units, pieces) puts columns j*pieces ... j*pieces + pieces - 1 in unit j, as pylearn2 does.
        return self.linear(x).unflatten(-1, (self.units, self.pieces)).amax(-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, units={self.units}, pieces={self.pieces}"


class Dropout(nn.Module):
    """nn.Dropout(p) whose masks come from the run's own generator (advnets.randomness), so that runs sharing a
    process draw independent masks. Same numbers as nn.Dropout for the same generator state; a no-op in eval
    mode. Holds no state, so checkpoints of nets built with nn.Dropout load unchanged."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p) if self.training and self.p > 0 else x

    def extra_repr(self) -> str:
        return f"p={self.p}"
