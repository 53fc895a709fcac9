"""Pixel ranges, in one place: the scale images are trained in and the [0, 1] scale they are shown and scored in.

Loaders produce pixels in [0, 1], the scale the paper's code trained and evaluated on (pylearn2 MNIST /255,
docs/paper.md §1a); a tanh generator wants [-1, 1] instead (the MNIST-zeros reproduction, docs/paper.md §6). The Parzen
estimate depends on scale (docs/paper.md §4.11), so metrics and pictures convert back with `to_unit_range`.
"""

from __future__ import annotations

import torch

from advnets.errors import UserError

PIXEL_RANGES = ("unit", "symmetric")  # unit: [0, 1]; symmetric: [-1, 1] = 2x - 1
BOUNDS = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}
# The range each bounded output nonlinearity of a generator produces; others (linear) are unbounded.
OUTPUT_RANGES = {"sigmoid": "unit", "tanh": "symmetric"}


def check_pixel_range(pixel_range: str) -> None:
    if pixel_range not in PIXEL_RANGES:
        raise UserError(
            f"data.pixel_range={pixel_range!r} is not allowed; choose one of: {', '.join(PIXEL_RANGES)}"
        )


def scale_pixels(unit_images: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """Pixels in [0, 1] -> the given range ("unit" returns the same tensor)."""
    check_pixel_range(pixel_range)
    if pixel_range == "symmetric":
        return unit_images * 2.0 - 1.0
    return unit_images


def to_unit_range(images: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """Pixels in the given range -> [0, 1]; the inverse of `scale_pixels`."""
    check_pixel_range(pixel_range)
    if pixel_range == "symmetric":
        return (images + 1.0) * 0.5
    return images
