"""Adversarial losses as pure functions of D's logits, chosen by name.

Sign convention, stated once: D emits a logit l, higher means "real", D(x) = sigmoid(l). Everything is computed
from logits with softplus, never log(sigmoid(.)): softplus(-l) = -log D and softplus(l) = -log(1 - D).

Goodfellow et al. (2014), Eq. 1: D maximises log D(x) + log(1 - D(G(z))); G minimises log(1 - D(G(z)))
("minimax", which saturates early in training) or, as Section 3 recommends and the paper's code does, maximises
log D(G(z)) ("ns", non-saturating). The code averages D's real and fake terms (PAPER.md §0: the 0.5 factor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from advnets.registry import Registry


@dataclass(frozen=True)
class GanLoss:
    """D's and G's objectives; both are minimised and return a scalar (batch mean)."""

    d_loss: Callable[..., torch.Tensor]  # (real_logits [N], fake_logits [M], *, half: bool) -> []
    g_loss: Callable[[torch.Tensor], torch.Tensor]  # (fake_logits [M]) -> []


LOSSES: Registry[GanLoss] = Registry("loss")


def bce_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, half: bool = True) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), batch means; halved when `half` (the paper code's d_obj)."""
    loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    return 0.5 * loss if half else loss


def minimax_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """log(1 - D(G(z))) = -softplus(l): Eq. 1 as written, whose gradient vanishes when D rejects fakes."""
    return -F.softplus(fake_logits).mean()


def non_saturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)) = softplus(-l): same fixed point, strong gradients early (paper Section 3)."""
    return F.softplus(-fake_logits).mean()


LOSSES.register("minimax")(GanLoss(d_loss=bce_d_loss, g_loss=minimax_g_loss))
LOSSES.register("ns")(GanLoss(d_loss=bce_d_loss, g_loss=non_saturating_g_loss))
