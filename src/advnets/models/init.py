"""Weight initialisation as the paper's pylearn2 configs set it (docs/paper.md §0 "Initialisation"), and DCGAN's.

`irange` r: every weight ~ U(-r, r) and biases 0. `init_sigmoid_bias_from_marginals`: G's output bias is the
inverse output nonlinearity of the per-pixel training mean, so an untrained G already emits the mean image
(pylearn2 `models/dbm/__init__.py`). DCGAN (Radford et al. 2016, Section 4): every weight ~ N(0, 0.02), and, as
the authors' code does (Newmu/dcgan_code, `inits.Normal(loc=1., scale=0.02)` for the batch-norm gains), every
batch-norm scale ~ N(1, 0.02) with its shift 0. All draw from the global torch RNG, so a seeded trainer builds the
same weights every time.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from advnets.errors import UserError

# pylearn2 clips the marginals away from the asymptotes of the output nonlinearity before inverting it.
MARGINAL_EPS = 1e-7
OUTPUTS = ("sigmoid", "tanh", "linear")

# Layers whose weights pylearn2's irange covers: dense, and the conv / transposed-conv layers of conv nets.
_WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def weight_of(layer: nn.Module) -> torch.Tensor:
    """The tensor that holds `layer`'s weight: a spectrally normalised weight is computed from its
    parametrisation's `original`, so that is the one to initialise."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations["weight"].original  # type: ignore[union-attr,index,return-value]
    return layer.weight  # type: ignore[return-value]


@torch.no_grad()
def uniform_init_(module: nn.Module, r: float) -> None:
    """Every Linear (and Conv2d / ConvTranspose2d) weight in `module` ~ U(-r, r), every such bias 0."""
    if r <= 0:
        raise ValueError(f"init range r must be > 0, got {r}")
    for layer in module.modules():
        if isinstance(layer, _WEIGHTED):
            weight_of(layer).uniform_(-r, r)
            if layer.bias is not None:
                layer.bias.zero_()


@torch.no_grad()
def orthogonal_init_(module: nn.Module, gain: float) -> None:
    """Every Linear (and Conv2d / ConvTranspose2d) weight in `module` a random orthogonal matrix (Saxe et al. 2014;
    torch.nn.init.orthogonal_, as TensorFlow's orthogonal_initializer) times `gain`, every such bias 0. The
    unrolled GAN's 2-D code initialises G and D this way with gain 1.4."""
    if gain <= 0:
        raise ValueError(f"orthogonal init gain must be > 0, got {gain}")
    for layer in module.modules():
        if isinstance(layer, _WEIGHTED):
            _orthogonal_(weight_of(layer), gain)
            if layer.bias is not None:
                layer.bias.zero_()


def _orthogonal_(weight: torch.Tensor, gain: float) -> None:
    """torch.nn.init.orthogonal_'s draw (a float32 normal matrix from the global RNG) and construction (Q of its QR,
    columns signed by R's diagonal), with the QR in float64: LAPACK's float32 QR rounds differently with the
    number of threads (2.6e-6 relative in a D's weight sum here), the float64 one below float32's resolution, so a
    seed gives the same weights on any thread count."""
    rows = weight.shape[0]
    cols = weight.numel() // rows
    flat = weight.new_empty(rows, cols).normal_(0, 1).double()
    if rows < cols:
        flat = flat.T
    q, r = torch.linalg.qr(flat)
    q = q * torch.sign(torch.diagonal(r))
    if rows < cols:
        q = q.T
    weight.copy_((q * gain).view_as(weight))


@torch.no_grad()
def normal_init_(module: nn.Module, std: float) -> None:
    """DCGAN's init: every Linear / Conv2d / ConvTranspose2d weight in `module` ~ N(0, std) and its bias 0; every
    BatchNorm2d / BatchNorm1d scale ~ N(1, std) and its shift 0. Other tensors (label embeddings) are left as built."""
    if std <= 0:
        raise ValueError(f"init std must be > 0, got {std}")
    for layer in module.modules():
        if isinstance(layer, _WEIGHTED):
            weight_of(layer).normal_(0.0, std)
            if layer.bias is not None:
                layer.bias.zero_()
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and layer.affine:
            layer.weight.normal_(1.0, std)
            layer.bias.zero_()


@torch.no_grad()
def output_bias_from_marginals_(layer: nn.Linear, pixel_means: torch.Tensor, output: str) -> None:
    """Set `layer.bias` so that G's output equals `pixel_means` [D] (in G's output space) when its input is 0.

    sigmoid: logit(clip(m, 1e-7, 1 - 1e-7)); tanh: atanh(clip(m, -1 + 1e-7, 1 - 1e-7)); linear: m.
    """
    if output not in OUTPUTS:
        raise UserError(
            f"model.generator.output={output!r} is not allowed; choose one of: {', '.join(OUTPUTS)}"
        )
    if layer.bias is None:
        raise ValueError("the output layer has no bias to set from the pixel marginals")
    if pixel_means.shape != (layer.out_features,):
        raise ValueError(f"pixel_means must have shape [{layer.out_features}], got {list(pixel_means.shape)}")
    # float64 so the clip at 1 - 1e-7 is not rounded away (float32 cannot hold 1 - 1e-7 exactly).
    m = pixel_means.detach().to("cpu", torch.float64)
    if output == "sigmoid":
        bias = torch.logit(m.clamp(MARGINAL_EPS, 1.0 - MARGINAL_EPS))
    elif output == "tanh":
        bias = torch.atanh(m.clamp(-1.0 + MARGINAL_EPS, 1.0 - MARGINAL_EPS))
    else:
        bias = m
    layer.bias.copy_(bias)
