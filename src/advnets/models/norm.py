"""Normalisation of G's hidden layers (`model.generator.norm`): none, batch norm, or virtual batch norm.

Virtual batch normalisation follows Salimans et al. 2016, "Improved Techniques for Training GANs", Section 3.4,
as their released code computes it (openai/improved-gan, imagenet/, class `VBN`): a reference batch is fixed once,
and every example is normalised with statistics that depend only on the reference batch and on the example
itself, so G's output for one z does not depend on the other z of its batch (batch norm's output does).

Each VBN layer sees its input as R reference rows followed by N example rows (G puts z_ref in front of z):
- the reference rows are normalised with their own mean μ_ref and mean square s_ref over the R rows;
- an example row x is normalised with μ = x/(R+1) + μ_ref·R/(R+1) and s = x²/(R+1) + s_ref·R/(R+1);
- out = (x − μ) / sqrt(s − μ² + eps) · γ + β, per feature, with learnable γ = 1, β = 0 at init and eps = 1e-5.
The reference statistics are recomputed in every forward pass from the current weights (so gradients flow through
them, as in the released code); s − μ² is clamped at 0 against float rounding before eps is added. The released
code draws γ ~ N(1, 0.02); we start at exactly 1, like batch norm. Train and eval mode compute the same thing.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("none", "batch", "virtual_batch")
VBN_EPS = 1e-5


class VirtualBatchNorm1d(nn.Module):
    """h [R + N, F] (R reference rows, then N examples) -> the same shape, each part normalised as above."""

    def __init__(self, num_features: int, reference_size: int, eps: float = VBN_EPS) -> None:
        super().__init__()
        if num_features <= 0 or reference_size <= 0:
            raise ValueError(
                f"VBN needs num_features > 0 and reference_size > 0, got {num_features}, {reference_size}"
            )
        self.num_features = num_features
        self.reference_size = reference_size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))  # γ
        self.bias = nn.Parameter(torch.zeros(num_features))  # β

    def _normalise(self, h: torch.Tensor, mean: torch.Tensor, mean_square: torch.Tensor) -> torch.Tensor:
        var = (mean_square - mean.square()).clamp_min(0.0)
        return (h - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        R = self.reference_size
        if h.dim() != 2 or h.shape[0] <= R or h.shape[1] != self.num_features:
            raise ValueError(
                f"VBN expects [R + N, {self.num_features}] with the R = {R} reference rows first and N >= 1, "
                f"got {list(h.shape)}"
            )
        ref, x = h[:R], h[R:]  # [R, F], [N, F]
        ref_mean, ref_mean_square = ref.mean(0), ref.square().mean(0)  # [F]
        new = 1.0 / (R + 1)  # the example's weight among the R + 1 rows it is normalised with
        mean = new * x + (1.0 - new) * ref_mean  # [N, F]
        mean_square = new * x.square() + (1.0 - new) * ref_mean_square  # [N, F]
        return torch.cat(
            [self._normalise(ref, ref_mean, ref_mean_square), self._normalise(x, mean, mean_square)]
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, reference_size={self.reference_size}, eps={self.eps}"


def make_norm(name: str, num_features: int, reference_size: int) -> list[nn.Module]:
    """The normalisation layer after a hidden Linear of `num_features` outputs: [] for none."""
    if name == "none":
        return []
    if name == "batch":
        return [nn.BatchNorm1d(num_features)]
    if name == "virtual_batch":
        return [VirtualBatchNorm1d(num_features, reference_size)]
    raise ValueError(f"unknown norm {name!r}; choose one of: {', '.join(NORMS)}")
