"""The one in-memory form of an image data set (`ImageSet`) and the helpers every loader shares.

Loaders produce pixels in [0, 1], the scale the paper's code trained and evaluated on (pylearn2 MNIST /255,
Goodfellow et al. 2014 as in ../shared/PAPER.md §1a); a tanh generator wants [-1, 1] instead (the MNIST-zeros
reproduction, PAPER.md §6), so the scaling is applied once here and undone with `to_unit_range` wherever a
metric needs [0, 1] again (the Parzen estimate depends on scale, PAPER.md §4.11).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from advnets.errors import UserError

SPLITS = ("train", "valid", "test", "trainval")
PIXEL_RANGES = ("unit", "symmetric")  # unit: [0, 1]; symmetric: [-1, 1] = 2x - 1


@dataclass
class ImageSet:
    """One split of a data set, pixels already scaled to `pixel_range`."""

    images: torch.Tensor  # [N, C, H, W] float32, contiguous
    labels: torch.Tensor  # [N] int64
    name: str  # the registered data set name, e.g. "mnist"
    split: str  # "train" | "valid" | "test"
    pixel_range: str  # "unit" ([0, 1]) | "symmetric" ([-1, 1])

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"ImageSet needs images [N, C, H, W] and labels [N]; got {tuple(self.images.shape)} "
                f"and {tuple(self.labels.shape)}"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (c, h, w)

    def __len__(self) -> int:
        return self.images.shape[0]


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


def unit_images(pixels: np.ndarray, max_value: float) -> torch.Tensor:
    """Integer-valued pixels [N, C, H, W] in 0..max_value -> a new float32 tensor in [0, 1]."""
    # astype copies, so the caller's (cached, read-only) array is never shared with the returned tensor.
    unit = pixels.astype(np.float32, order="C")
    unit /= np.float32(max_value)
    return torch.from_numpy(unit)


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise UserError(f"data.split={split!r} is not allowed; choose one of: {', '.join(SPLITS)}")


def select_classes(
    images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int], where: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the examples whose label is in `classes`; asking for a label the split does not have is an error.

    images [N, C, H, W], labels [N]; `where` names the data set and split for the message.
    """
    present = sorted(int(c) for c in torch.unique(labels))
    shown = f"{present[0]}..{present[-1]}" if present == list(range(present[0], present[-1] + 1)) else present
    missing = sorted(set(int(c) for c in classes) - set(present))
    if not classes:
        raise UserError(
            f"data.classes=[] keeps no images; list the labels to keep ({where} has {shown}), "
            "or leave data.classes unset for all of them"
        )
    if missing:
        raise UserError(
            f"data.classes={list(classes)} asks for labels {where} does not have ({missing}); its labels are "
            f"{shown}: keep some of those, or leave data.classes unset for all of them"
        )
    keep = torch.isin(labels, torch.tensor(list(classes), dtype=labels.dtype))
    return images[keep].contiguous(), labels[keep].contiguous()
