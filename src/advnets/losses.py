"""Adversarial losses, chosen by `loss.name` and bound to their options when built.

Sign convention, stated once: D emits a logit l, higher means "real", D(x) = sigmoid(l). Everything is computed
from logits with softplus, never log(sigmoid(.)): softplus(-l) = -log D and softplus(l) = -log(1 - D).

Goodfellow et al. (2014), Eq. 1: D maximises log D(x) + log(1 - D(G(z))); G minimises log(1 - D(G(z)))
("minimax", which saturates early in training) or, as Section 3 recommends and the paper's code does, maximises
log D(G(z)) ("ns", non-saturating). The code averages D's real and fake terms (docs/paper.md §0: the 0.5 factor).

A registered entry is a builder `options -> Loss`. A `Loss` returns *named terms*: `d_terms` gives "d_loss" (the
tensor D minimises) and `g_terms` gives "g_loss", each with the loss's own monitoring values (detached), and
`panel` says how to plot those values (mean D(x) and D(G(z)) against the D = 1/2 line here; a critic would report
its scores instead). The training steps only read "d_loss" and "g_loss", so a new loss needs no new keyword.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from advnets.errors import UserError
from advnets.registry import Registry

Terms = dict[str, torch.Tensor]


@dataclass(frozen=True)
class MonitorPanel:
    """How the loss's monitoring values are drawn under the loss curves (advnets.reporting.figures)."""

    keys: tuple[str, ...]  # metrics.jsonl columns to draw
    labels: dict[str, str] = field(default_factory=dict)  # column -> legend label
    ylabel: str = ""
    reference: float | None = None  # a dashed horizontal line, e.g. the equilibrium D = 1/2
    reference_label: str = ""


PROBABILITY_PANEL = MonitorPanel(
    keys=("d_real", "d_fake"),
    labels={"d_real": "mean D(x)", "d_fake": "mean D(G(z))"},
    ylabel="D output",
    reference=0.5,
    reference_label="D = 1/2 (equilibrium)",
)


class Loss(Protocol):
    @property
    def panel(self) -> MonitorPanel: ...

    def d_terms(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Terms:
        """real_logits [N], fake_logits [M] -> {"d_loss": scalar to minimise, **detached monitoring values}."""
        ...

    def g_terms(self, fake_logits: torch.Tensor) -> Terms:
        """fake_logits [M] -> {"g_loss": scalar to minimise, **detached monitoring values}."""
        ...


LOSSES: Registry[Callable[[Any], Loss]] = Registry("loss.name")


# --------------------------------------------------------------------------------------- pure functions
def bce_d_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    *,
    half: bool = True,
    real_target: float = 1.0,
    smoothing: str = "target",
) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), batch means; halved when `half` (the paper code's d_obj).

    With real_target t < 1, one-sided label smoothing (Salimans et al. 2016; fakes keep target 0):
    - smoothing "target": the real term is the cross-entropy against t everywhere, t·softplus(-l) +
      (1 - t)·softplus(l), which also weakens D's push on real examples it still doubts;
    - smoothing "above": the plain -log D(x) while D(x) <= t, and only above t the cross-entropy against t, shifted
      to meet it at D(x) = t. Since softplus(l) - softplus(-l) = l, that is softplus(-l) + (1 - t)·relu(l - logit t):
      its gradient in l is D(x) - t above t (pulled back to t) and the unsmoothed -(1 - D(x)) below."""
    if real_target == 1.0:
        real_term = F.softplus(-real_logits).mean()
    elif smoothing == "above":
        threshold = math.log(real_target / (1.0 - real_target))  # logit(t)
        real_term = (F.softplus(-real_logits) + (1.0 - real_target) * F.relu(real_logits - threshold)).mean()
    else:
        real_term = (real_target * F.softplus(-real_logits) + (1.0 - real_target) * F.softplus(real_logits)).mean()
    loss = real_term + F.softplus(fake_logits).mean()
    return 0.5 * loss if half else loss


def minimax_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """log(1 - D(G(z))) = -softplus(l): Eq. 1 as written, whose gradient vanishes when D rejects fakes."""
    return -F.softplus(fake_logits).mean()


def non_saturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)) = softplus(-l): same fixed point, strong gradients early (paper Section 3)."""
    return F.softplus(-fake_logits).mean()


def accuracies(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, threshold: float) -> Terms:
    """D's accuracy: the share of real examples scored above `threshold` and of fakes scored below it (the health
    monitor's signal of an overconfident D, and of D's feedback turning to noise near 50 %)."""
    return {
        "d_acc_real": (real_logits.detach() > threshold).float().mean(),
        "d_acc_fake": (fake_logits.detach() < threshold).float().mean(),
    }


# -------------------------------------------------------------------------------------------- entries
SMOOTHINGS = ("target", "above")


@dataclass
class BCEOptions:
    """loss keys of `name: ns` and `name: minimax`."""

    name: str = "ns"  # ns: G minimises -log D(G(z)) | minimax: G minimises log(1 - D(G(z)))
    d_half: bool = True  # the paper's code averages D's real and fake terms (a 0.5 factor), docs/paper.md §4.3
    real_target: float = 1.0  # D's target for real examples; 0.9 = one-sided label smoothing
    smoothing: str = "target"  # with real_target < 1: target (cross-entropy against it) | above (only D(x) > it is penalised)

    def validate(self, prefix: str) -> None:
        if not 0.0 < self.real_target <= 1.0:
            raise UserError(f"{prefix}.real_target={self.real_target} must be in (0, 1]; 0.9 is the usual smoothing")
        if self.smoothing not in SMOOTHINGS:
            raise UserError(f"{prefix}.smoothing={self.smoothing!r} is not a smoothing; choose one of: target, above")


@dataclass(frozen=True)
class BCELoss:
    """D's binary cross-entropy with G's loss `g_loss`; monitors mean D(x) and D(G(z))."""

    g_loss: Callable[[torch.Tensor], torch.Tensor]
    half: bool = True
    real_target: float = 1.0
    smoothing: str = "target"
    panel: MonitorPanel = PROBABILITY_PANEL

    def d_terms(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Terms:
        loss = bce_d_loss(
            real_logits, fake_logits, half=self.half, real_target=self.real_target, smoothing=self.smoothing
        )
        return {
            "d_loss": loss,
            "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
            **accuracies(real_logits, fake_logits, threshold=0.0),
        }

    def g_terms(self, fake_logits: torch.Tensor) -> Terms:
        return {"g_loss": self.g_loss(fake_logits), "d_fake_g": torch.sigmoid(fake_logits.detach()).mean()}


@LOSSES.register("ns", options=BCEOptions)
def _non_saturating(options: BCEOptions) -> Loss:
    return BCELoss(non_saturating_g_loss, options.d_half, options.real_target, options.smoothing)


@LOSSES.register("minimax", options=BCEOptions)
def _minimax(options: BCEOptions) -> Loss:
    return BCELoss(minimax_g_loss, options.d_half, options.real_target, options.smoothing)


def build_loss(options: Any) -> Loss:
    """The bound loss for the resolved `cfg.loss`."""
    return LOSSES.get(options.name)(options)


# --------------------------------------------------------------------------------- critics and least squares
CRITIC_PANEL = MonitorPanel(
    keys=("critic_real", "critic_fake"),
    labels={"critic_real": "mean D(x)", "critic_fake": "mean D(G(z))"},
    ylabel="critic score (no sigmoid)",
)


@dataclass
class CriticOptions:
    """loss keys of `name: wgan` and `name: hinge`."""

    name: str = "wgan"  # wgan: D maximises D(x) - D(G(z)) | hinge: margin 1 on both sides


def _critic_monitors(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Terms:
    real, fake = real_logits.detach().mean(), fake_logits.detach().mean()
    # For WGAN, real - fake estimates the Wasserstein-1 distance (up to the critic's Lipschitz constant).
    return {"critic_real": real, "critic_fake": fake, "critic_gap": real - fake}


@dataclass(frozen=True)
class WassersteinLoss:
    """WGAN (Arjovsky et al. 2017): the critic D minimises E[D(G(z))] - E[D(x)]; G minimises -E[D(G(z))]. Needs a
    Lipschitz constraint on D: penalties.weight_clip, or penalties.gradient_penalty (WGAN-GP)."""

    panel: MonitorPanel = CRITIC_PANEL

    def d_terms(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Terms:
        return {"d_loss": fake_logits.mean() - real_logits.mean(), **_critic_monitors(real_logits, fake_logits)}

    def g_terms(self, fake_logits: torch.Tensor) -> Terms:
        return {"g_loss": -fake_logits.mean()}


@dataclass(frozen=True)
class HingeLoss:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];
    G minimises -E[D(G(z))]."""

    panel: MonitorPanel = CRITIC_PANEL

    def d_terms(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Terms:
        loss = F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        return {"d_loss": loss, **_critic_monitors(real_logits, fake_logits)}

    def g_terms(self, fake_logits: torch.Tensor) -> Terms:
        return {"g_loss": -fake_logits.mean()}


# D's raw output, whose optimum with targets 0 / 1 is also D = 1/2.
LEAST_SQUARES_PANEL = dataclasses.replace(PROBABILITY_PANEL, ylabel="D output (least squares)")


@dataclass
class LeastSquaresOptions:
    """loss keys of `name: lsgan`."""

    name: str = "lsgan"  # least squares on D's raw output (Mao et al. 2017), targets below
    real_target: float = 1.0  # b: D's target for real examples
    fake_target: float = 0.0  # a: D's target for generated examples
    g_target: float = 1.0  # c: the value G wants D to give its samples


@dataclass(frozen=True)
class LeastSquaresLoss:
    """LSGAN (Mao et al. 2017, Eq. 2): D minimises ½E[(D(x) - b)²] + ½E[(D(G(z)) - a)²]; G minimises
    ½E[(D(G(z)) - c)²]. D's output is used raw (no sigmoid); with a = 0, b = c = 1 the optimum is D = 1/2."""

    real_target: float = 1.0
    fake_target: float = 0.0
    g_target: float = 1.0
    panel: MonitorPanel = LEAST_SQUARES_PANEL

    def d_terms(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Terms:
        loss = 0.5 * (real_logits - self.real_target).square().mean() + 0.5 * (
            fake_logits - self.fake_target
        ).square().mean()
        midpoint = 0.5 * (self.real_target + self.fake_target)
        return {
            "d_loss": loss,
            "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(),
            **accuracies(real_logits, fake_logits, threshold=midpoint),
        }

    def g_terms(self, fake_logits: torch.Tensor) -> Terms:
        return {"g_loss": 0.5 * (fake_logits - self.g_target).square().mean()}


LOSSES.register("wgan", options=CriticOptions)(lambda options: WassersteinLoss())
LOSSES.register("hinge", options=CriticOptions)(lambda options: HingeLoss())
LOSSES.register("lsgan", options=LeastSquaresOptions)(
    lambda o: LeastSquaresLoss(o.real_target, o.fake_target, o.g_target)
)
