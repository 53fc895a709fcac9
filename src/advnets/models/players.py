"""The two entry points to the players: `generate(G, z, labels)` and `discriminate(D, x, labels)`.

Every caller in advnets (training steps, penalties, G objectives, the unrolled rule, sampling, metrics, figures)
calls G and D through these, never as `G(z)` / `D(x)`, so a conditional family receives the labels wherever the
data has them and an unconditional one ignores them. A family declares whether it is conditional
(`ModelFamily(conditional=True)`, advnets.models); the built module carries that as `module.conditional`, and a
conditional module is called as `G(z, labels)` / `D(x, labels)` (and `D.features(x, labels)`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call


def is_conditional(module: nn.Module) -> bool:
    """Whether `module` takes class labels (set by the family that built it; False for any other module)."""
    return bool(getattr(module, "conditional", False))


def _args(module: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    if not is_conditional(module):
        return (x,)
    if labels is None:
        raise ValueError(f"{type(module).__name__} is conditional: it needs labels [N] beside its input")
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must be [N] with N = {x.shape[0]}, got {tuple(labels.shape)}")
    return (x, labels)


def generate(G: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """G(z) [N, *shape] for z [N, z_dim]; `labels` [N] (int64) reach a conditional G, others ignore them."""
    return G(*_args(G, z, labels))


def discriminate(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """D's logits [L] for x [N, *shape] (L = N, or N / set_size for a set D); `labels` [N] reach a conditional D."""
    return D(*_args(D, x, labels))


def full_precision(logits: torch.Tensor) -> torch.Tensor:
    """Logits as the losses take them: lower-precision ones (from D under autocast) in float32; float32 and float64
    logits are returned as they are (the same tensor)."""
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def discriminate_with(
    D: nn.Module,
    weights: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """`discriminate` with D's parameters replaced by `weights` (torch.func.functional_call), for the unrolled
    rule's look-ahead copies of D."""
    return functional_call(D, (weights, buffers), _args(D, x, labels))


def features(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor | None:
    """D's features f(x) [N, F] (feature matching), or None when D exposes no `features`."""
    method = getattr(D, "features", None)
    if method is None:
        return None
    return method(*_args(D, x, labels))
