"""One training update each: `d_step`, `g_step` (Algorithm 1 of the paper) and `simultaneous_step` (what the
paper's code ran, PAPER.md §0). They return detached monitoring tensors and never synchronise with the host.

D emits logits; `loss` is a `GanLoss` from `advnets.losses`. Fakes are detached for D's update, and D's
parameters are frozen during G's update so they accumulate no gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from advnets.losses import GanLoss


def _monitor(
    d_loss: torch.Tensor, g_loss: torch.Tensor | None, real_logits, fake_logits
) -> dict[str, torch.Tensor]:
    out = {"d_loss": d_loss.detach(), "d_fake": torch.sigmoid(fake_logits.detach()).mean()}
    if real_logits is not None:
        out["d_real"] = torch.sigmoid(real_logits.detach()).mean()
    if g_loss is not None:
        out["g_loss"] = g_loss.detach()
    return out


def d_step(
    G: nn.Module,
    D: nn.Module,
    loss: GanLoss,
    real: torch.Tensor,
    z: torch.Tensor,
    d_opt: torch.optim.Optimizer,
    *,
    half: bool,
) -> dict[str, torch.Tensor]:
    """One D update on a real batch [N, C, H, W] and G(z) for z [M, z_dim]."""
    with torch.no_grad():
        fake = G(z)
    real_logits, fake_logits = D(real), D(fake)
    d_loss = loss.d_loss(real_logits, fake_logits, half=half)
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    return _monitor(d_loss, None, real_logits, fake_logits)


def g_step(
    G: nn.Module, D: nn.Module, loss: GanLoss, z: torch.Tensor, g_opt: torch.optim.Optimizer
) -> dict[str, torch.Tensor]:
    """One G update through D (dropout active, as in training) for z [M, z_dim]."""
    D.requires_grad_(False)
    try:
        fake_logits = D(G(z))
        g_loss = loss.g_loss(fake_logits)
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
    finally:
        D.requires_grad_(True)
    return {"g_loss": g_loss.detach(), "d_fake_g": torch.sigmoid(fake_logits.detach()).mean()}


def simultaneous_step(
    G: nn.Module,
    D: nn.Module,
    loss: GanLoss,
    real: torch.Tensor,
    z: torch.Tensor,
    g_opt: torch.optim.Optimizer,
    d_opt: torch.optim.Optimizer,
    *,
    half: bool,
) -> dict[str, torch.Tensor]:
    """The paper code's update: one fake batch S = G(z) and one D pass over it give both D's loss and G's loss
    (same dropout masks); each gradient is taken only w.r.t. its own player's parameters, both applied at once."""
    fake = G(z)
    real_logits, fake_logits = D(real), D(fake)
    d_loss = loss.d_loss(real_logits, fake_logits, half=half)
    g_loss = loss.g_loss(fake_logits)
    d_params = [p for p in D.parameters() if p.requires_grad]
    g_params = [p for p in G.parameters() if p.requires_grad]
    d_opt.zero_grad(set_to_none=True)
    g_opt.zero_grad(set_to_none=True)
    d_loss.backward(inputs=d_params, retain_graph=True)
    g_loss.backward(inputs=g_params)
    d_opt.step()
    g_opt.step()
    return _monitor(d_loss, g_loss, real_logits, fake_logits)
