"""G-side objectives: terms added to G's loss that may look at D's features and at a real batch.

`g_objectives.NAME.key=value` switches an entry on (feature matching, Salimans et al. 2016, is the classic member:
G matches the mean of an intermediate D layer on real and generated batches; D exposes `features(x)`). An entry
is a builder `options -> GObjective`; its `term` gets D, what D saw of this iteration's real batch and of G's
batch (still attached to G), the fake logits and the step count, and returns a weighted scalar, logged as
`g_NAME`. With `keep_adversarial=False` it replaces the adversarial G loss instead of adding to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from advnets.errors import UserError
from advnets.models.players import features
from advnets.registry import Registry


@dataclass(frozen=True)
class GInputs:
    D: nn.Module  # its parameters are frozen during G's update
    real: torch.Tensor  # [N, *shape], the real batch of this iteration as D saw it
    fake: torch.Tensor  # [M, *shape], G's batch as D saw it (gradients flow to G)
    fake_logits: torch.Tensor  # [M]
    step: int
    real_labels: torch.Tensor | None = None  # [N] for labelled data, else None
    fake_labels: torch.Tensor | None = None  # [M], the classes G was asked for


@dataclass(frozen=True)
class GObjective:
    term: Callable[[GInputs], torch.Tensor]
    keep_adversarial: bool = True  # False: G minimises this term alone (the adversarial loss is only logged)


G_OBJECTIVES: Registry[Callable[[Any], GObjective]] = Registry("g_objectives")


def build_g_objectives(options: dict[str, Any]) -> dict[str, GObjective]:
    return {name: G_OBJECTIVES.get(name)(opts) for name, opts in options.items()}


# ------------------------------------------------------------------------------------------------ members
@dataclass
class FeatureMatchingOptions:
    """g_objectives.feature_matching keys (Salimans et al. 2016, Section 3.1)."""

    weight: float = 1.0  # the term is weight · ‖mean f(x) − mean f(G(z))‖², f = D's last hidden layer
    keep_adversarial: bool = False  # false: G minimises this term alone, as in the paper; true: added to G's loss


def feature_matching(
    D: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    real_labels: torch.Tensor | None = None,
    fake_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """‖E f(x) − E f(G(z))‖₂² with f = D.features (the real side carries no gradient; labels reach a conditional
    D's features)."""
    with torch.no_grad():
        real_features = features(D, real, real_labels)
    fake_features = features(D, fake, fake_labels)
    if real_features is None or fake_features is None:
        raise UserError(
            f"g_objectives.feature_matching needs a discriminator with features(x); {type(D).__name__} has none"
        )
    return (fake_features.mean(0) - real_features.mean(0)).square().sum()


G_OBJECTIVES.register("feature_matching", options=FeatureMatchingOptions)(
    lambda o: GObjective(
        term=lambda i: o.weight * feature_matching(i.D, i.real, i.fake, i.real_labels, i.fake_labels),
        keep_adversarial=o.keep_adversarial,
    )
)
