"""The set discriminator: D judges a whole set of samples at once, not one point (docs/paper.md §6, the 1-D
Gaussian lab: D 100 -> 50 ELU -> 50 ELU -> 1 sigmoid, its input a set of 100 samples).

A batch x [N, *shape] is cut into N / set_size consecutive sets; each set is flattened into one input vector
[set_size * prod(shape)] and D emits one logit per set, so a batch gives logits [N / set_size]. The losses take
logits of any length, so nothing else in the pipeline changes; the gradient penalties group their gradients by
set (advnets.penalties, `examples_per_logit`).

Order within a set: with `sort` (the default) each set of 1-D samples is sorted before D sees it. The samples of
a set are i.i.d., so their order carries no information; sorted, the input is the set's empirical quantile
function, D becomes permutation-invariant (it judges the set, as intended, not an arrangement of it) and need not
learn the same decision for all 100! orderings. `sort: false` feeds the samples as they come, as the source does.
Sorting is differentiable (gradients flow back to the samples through the permutation) and only defined for 1-D
examples, so `sort` needs them.

Because D sees a set and emits one logit per set, the batch sizes must be multiples of `set_size`;
`check_batch_sizes` refuses other sizes when the components are built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from advnets.checks import check_choice, check_positive
from advnets.errors import UserError
from advnets.models.layers import ACTIVATIONS, make_activation


@dataclass
class SetDiscriminatorOptions:
    """model.discriminator keys of `arch: set` (D judges sets of `set_size` samples)."""

    arch: str = "set"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    set_size: int = 100  # samples per set: D emits one logit per set (the 1-D lab: 100); batch sizes must be multiples
    hidden: list[int] = field(default_factory=lambda: [50, 50])  # units per hidden layer (the 1-D lab: 50, 50)
    activation: str = "elu"  # hidden activation (the 1-D lab: elu)
    sort: bool = True  # sort each set of 1-D samples first (permutation-invariant D); false = as they come
    init_range: float | None = None  # weights ~ U(-r, r), biases 0; null = PyTorch's
    spectral_norm: bool = False  # divide every weight by its largest singular value (Miyato et al. 2018)

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.set_size", self.set_size)
        if any(w <= 0 for w in self.hidden):
            raise UserError(f"{prefix}.hidden={self.hidden} must list positive layer widths")
        check_choice(f"{prefix}.activation", self.activation, list(ACTIVATIONS))
        if self.init_range is not None:
            check_positive(f"{prefix}.init_range", self.init_range)


class SetDiscriminator(nn.Module):
    """x [N, *shape] -> logits [N / set_size], one per set of `set_size` consecutive examples."""

    def __init__(
        self,
        example_shape: tuple[int, ...],
        set_size: int,
        hidden: Sequence[int],
        *,
        activation: str = "elu",
        sort: bool = True,
    ) -> None:
        super().__init__()
        if sort and math.prod(example_shape) != 1:
            raise UserError(
                f"model.discriminator.sort=true sorts sets of 1-D samples, but the data's examples have shape "
                f"{list(example_shape)}; set model.discriminator.sort=false"
            )
        self.example_shape = tuple(example_shape)
        self.set_size = set_size
        self.sort = sort
        layers: list[nn.Module] = []
        width = set_size * math.prod(example_shape)
        for units in hidden:
            layers += [nn.Linear(width, units), make_activation(activation, "model.discriminator.activation")]
            width = units
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def sets(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, *shape] -> the sets D sees [N / set_size, set_size * prod(shape)], sorted when `sort`."""
        n = x.shape[0]
        if n % self.set_size != 0:
            raise ValueError(f"the set discriminator needs a batch that is a multiple of {self.set_size}, got {n}")
        sets = x.reshape(n // self.set_size, -1)  # [N / s, s * prod(shape)]
        return sets.sort(dim=1).values if self.sort else sets

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, *shape] -> the last hidden layer's output per set [N / set_size, F]."""
        return self.hidden(self.sets(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, *shape] -> logits [N / set_size] (pre-sigmoid; higher means "this set is real")."""
        return self.head(self.features(x)).squeeze(-1)


def examples_per_logit(D: nn.Module) -> int:
    """How many examples D judges together: set_size for a set discriminator, 1 for every per-example D."""
    return int(getattr(D, "set_size", 1))


def check_batch_sizes(D: nn.Module, batch_sizes: dict[str, int | None]) -> None:
    """Refuse batch sizes (config key -> size, None = unset) that D cannot cut into whole sets."""
    group = examples_per_logit(D)
    for key, size in batch_sizes.items():
        if size is not None and size % group != 0:
            raise UserError(
                f"{key}={size} is not a multiple of model.discriminator.set_size={group}: the set discriminator "
                f"judges whole sets of {group} samples; make {key} a multiple of {group} (or change the set size)"
            )
