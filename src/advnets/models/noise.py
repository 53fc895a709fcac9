"""The noise prior p_z fed to G's first layer (docs/paper.md §0, §1a; Goodfellow et al. 2014, Section 5).

The paper's MNIST model used uniform noise with unit variance, U(-sqrt 3, sqrt 3), not U(-1, 1); its other
models used N(0, 1). The 1-D Gaussian lab (docs/paper.md §6) feeds its G U(0, 1): `uniform01`.
"""

from __future__ import annotations

import math

import torch

from advnets.checks import NOISE_KINDS
from advnets.errors import UserError

UNIFORM_BOUND = math.sqrt(3.0)  # U(-a, a) has variance a^2 / 3, so a = sqrt 3 gives unit variance


def sample_noise(
    n: int,
    z_dim: int,
    kind: str,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """n noise vectors [n, z_dim] float32 from the prior `kind` ("uniform", "gaussian" or "uniform01").

    With a `generator` the draw happens on the generator's device (so a CPU generator gives the same numbers
    whatever `device` is) and is then moved to `device`; without one it uses the global RNG on `device`.
    """
    if kind not in NOISE_KINDS:
        raise UserError(f"model.noise={kind!r} is not a noise prior; choose one of: {', '.join(NOISE_KINDS)}")
    draw_device = generator.device if generator is not None else device
    z = torch.empty(n, z_dim, dtype=torch.float32, device=draw_device)  # [n, z_dim]
    if kind == "uniform":
        z.uniform_(-UNIFORM_BOUND, UNIFORM_BOUND, generator=generator)
    elif kind == "uniform01":
        z.uniform_(0.0, 1.0, generator=generator)
    else:
        z.normal_(0.0, 1.0, generator=generator)
    return z if device is None else z.to(device)
