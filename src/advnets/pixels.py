"""Pixel ranges, in one place: the scale images are trained in and the [0, 1] scale they are shown and scored in.

Loaders produce pixels in [0, 1], the scale the paper's code trained and evaluated on (pylearn2 MNIST /255,
docs/paper.md §1a); a tanh generator wants [-1, 1] instead (the MNIST-zeros reproduction, docs/paper.md §6). The Parzen
estimate depends on scale (docs/paper.md §4.11), so metrics and pictures convert back with `to_unit_range`.

Beyond the two bounded ranges an image data set may declare an unbounded *scale*: "gcn", the paper's CIFAR-10
global contrast normalisation (docs/paper.md §1c: each image has mean 0 and L2 norm 55). No sigmoid or tanh G can
produce it, nothing maps it back to [0, 1] pixels for a score, and pictures show each image stretched to its own
largest magnitude (`display_unit`).
"""

from __future__ import annotations

import torch

from advnets.errors import UserError

PIXEL_RANGES = ("unit", "symmetric")  # unit: [0, 1]; symmetric: [-1, 1] = 2x - 1
BOUNDS = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}
# The range each bounded output nonlinearity of a generator produces; others (linear) are unbounded.
OUTPUT_RANGES = {"sigmoid": "unit", "tanh": "symmetric"}
GCN_SCALE = 55.0  # the L2 norm of every image after global contrast normalisation (docs/paper.md §1c: gcn: 55.)
UNBOUNDED_SCALES = ("gcn",)  # image scales with no bounds: only a linear G produces them
IMAGE_SCALES = (*PIXEL_RANGES, *UNBOUNDED_SCALES)  # what an image kind may declare as its pixel_range


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


def check_image_scale(pixel_range: str) -> None:
    """An image kind's scale: a pixel range, or an unbounded scale ("gcn") that a data set's preprocessing gives."""
    if pixel_range not in IMAGE_SCALES:
        raise ValueError(f"an image kind's pixel_range must be one of {IMAGE_SCALES}, got {pixel_range!r}")


def display_unit(images: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """Images [N, ...] in `pixel_range` -> [0, 1] for a picture. A pixel range maps back exactly
    (`to_unit_range`); an unbounded scale has no fixed map, so each image is stretched to its own largest
    magnitude, x / (2 max|x|) + 1/2 (0 stays mid-grey; what GCN removed, brightness and contrast, cannot be
    shown anyway). Values a picture cannot show are clamped by the picture."""
    check_image_scale(pixel_range)
    if pixel_range in PIXEL_RANGES:
        return to_unit_range(images, pixel_range)
    flat = images.flatten(1)
    peak = flat.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)  # [N, 1]; an all-zero image stays grey
    return (flat / (2.0 * peak) + 0.5).reshape(images.shape)
