"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", Section 3.2).

D's last hidden features f(x_i) [N, A] are multiplied by a learned tensor T [A, B, C], giving M_i = f(x_i)·T, one
C-dimensional row M_i,b per kernel b. Kernel b compares examples by c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_L1) and
gives each example o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j); o(x_i) [N, B] is concatenated to f(x_i) and both feed D's
logit layer. A batch of near-identical fakes (a collapsed G) gets large o, which D can learn to call fake.

Choices, against the paper's Eq. (in 3.2) and its released code (openai/improved-gan, mnist_svhn_cifar10/nn.py,
`MinibatchLayer`):
- The sum leaves out j = i. The paper's formula includes it, but the self term is the constant exp(0) = 1, and the
  released code removes it (it adds 1e6 to every self-distance); so a batch of one example gets o = 0.
- T ~ N(0, 0.05²), the released code's initialisation of its `theta`. The released code also weight-normalises T
  (a learned scale per kernel, data-dependent init) and adds a learned bias to o; neither is in the paper's
  definition and we leave both out (the logit layer's own bias absorbs a constant shift of o). The config's
  uniform init (`init_range`) and spectral norm act on Linear layers only and leave T as drawn.
- Cost: the pairwise distances are an [N, N, B, C] tensor per D call (N = 64, B = 100, C = 5: 2M floats). They are
  computed by broadcasting, not `torch.cdist`, so that penalties on ∇D (gradient_penalty, r1) and the unrolled G
  update can differentiate twice.

What "the minibatch" is: the examples of one call of D. Every step passes real and fake examples through D in
separate calls (advnets.training.steps: `d_step` D(real), D(fake); `g_step` D(fake); `joint_step`, the simultaneous
update, also D(real_in) and D(fake) as two calls; the unrolled G update calls D on the real and the fake batch
separately), so o compares reals with reals and fakes with fakes, as the paper intends, and never mixes the two
(tests/models/test_minibatch.py checks every update rule). Penalties call D on their own batches: the gradient
penalty on the N interpolates, R1 on the reals; there ∇ₓ Σ D(x) also carries the cross-example terms through o.
"""

from __future__ import annotations

import torch
from torch import nn

T_INIT_STD = 0.05  # as the released MinibatchLayer draws its theta (mnist_svhn_cifar10/nn.py)


class MinibatchDiscrimination(nn.Module):
    """f [N, in_features] -> [f, o(f)] [N, in_features + kernels]; `weight` is the paper's T [A, B, C]."""

    def __init__(self, in_features: int, kernels: int, kernel_dims: int) -> None:
        super().__init__()
        if in_features <= 0 or kernels <= 0 or kernel_dims <= 0:
            raise ValueError(
                f"minibatch discrimination needs positive sizes, got in_features={in_features}, kernels={kernels}, "
                f"kernel_dims={kernel_dims}"
            )
        self.in_features = in_features
        self.kernels = kernels
        self.kernel_dims = kernel_dims
        # Named `weight` like every other D weight, so weight_l2 covers it and weight_clip clamps it.
        self.weight = nn.Parameter(torch.empty(in_features, kernels, kernel_dims).normal_(0.0, T_INIT_STD))

    def minibatch_features(self, f: torch.Tensor) -> torch.Tensor:
        """o [N, B]: o_ib = Σ_{j≠i} exp(-||M_i,b - M_j,b||_1) for the features f [N, A] of one batch."""
        if f.dim() != 2 or f.shape[1] != self.in_features:
            raise ValueError(
                f"minibatch discrimination expects features [N, {self.in_features}], got {list(f.shape)}"
            )
        M = (f @ self.weight.flatten(1)).unflatten(1, (self.kernels, self.kernel_dims))  # [N, B, C]
        l1 = (M.unsqueeze(1) - M.unsqueeze(0)).abs().sum(-1)  # [N, N, B]: l1[i, j, b] = ||M_i,b - M_j,b||_1
        self_pairs = torch.eye(len(f), dtype=torch.bool, device=f.device).unsqueeze(-1)  # [N, N, 1]
        return torch.exp(-l1).masked_fill(self_pairs, 0.0).sum(1)  # [N, B]

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f, self.minibatch_features(f)], dim=1)  # [N, A + B]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, kernels={self.kernels}, kernel_dims={self.kernel_dims}"
