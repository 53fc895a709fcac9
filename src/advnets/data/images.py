"""What every image data set shares: its options (the `data.*` keys), splits, class selection and the loader
wrapper that turns unit-range (or uint8) pixels into an image DataSet in the configured pixel range
(advnets.pixels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advnets.data.dataset import DataSet, ImageSet
from advnets.errors import UserError
from advnets.pixels import check_pixel_range, scale_pixels

SPLITS = ("train", "valid", "test", "trainval")


@dataclass
class ImageDataOptions:
    """The `data.*` keys of the image data sets (MNIST, Fashion-MNIST, digits)."""

    name: str = "digits"  # digits | mnist | fashion-mnist (advnets.data.DATASETS)
    root: str | None = None  # folder with the IDX .gz files; default $ADVNETS_DATA, else a user cache
    split: str = "train"  # train = train[0:50000] | valid = train[50000:60000] | test | trainval = all 60k
    classes: list[int] | None = None  # keep only these labels, e.g. [0] for the MNIST-zeros experiment
    pixel_range: str = "unit"  # unit: [0, 1] (sigmoid G) | symmetric: [-1, 1] (tanh G)
    download: bool = True  # fetch missing files (checksummed) when not found locally

    def validate(self, prefix: str) -> None:
        check_split(self.split)
        check_pixel_range(self.pixel_range)


# A loader maps (options, split) to images [N, C, H, W] and labels [N] int64: float32 in [0, 1], or uint8 pixels
# 0..255, which the DataSet keeps as they are and decodes a batch at a time (dataset.py).
UnitLoader = Callable[[Any, str], tuple[torch.Tensor, torch.Tensor]]


def image_source(loader: UnitLoader, splits: Sequence[str] = SPLITS) -> Callable[[Any, str], DataSet]:
    """Wrap a loader: check the split (one of `splits`), keep `options.classes`, scale to `options.pixel_range`.
    `options` is any options class with the keys `name`, `classes` and `pixel_range`."""

    def load(options: Any, split: str) -> DataSet:
        check_split(split, splits)
        check_pixel_range(options.pixel_range)
        images, labels = loader(options, split)  # [N, C, H, W] float32 in [0, 1] or uint8 0..255, [N]
        if options.classes is not None:
            images, labels = select_classes(images, labels, options.classes, f"{options.name} {split}")
        if images.dtype == torch.uint8:
            return ImageSet(images, labels, options.name, split, options.pixel_range)
        pixels = scale_pixels(images, options.pixel_range)
        return ImageSet(pixels, labels, options.name, split, options.pixel_range)

    return load


def unit_images(pixels: np.ndarray, max_value: float) -> torch.Tensor:
    """Integer-valued pixels [N, C, H, W] in 0..max_value -> a new float32 tensor in [0, 1]."""
    # astype copies, so the caller's (cached, read-only) array is never shared with the returned tensor.
    unit = pixels.astype(np.float32, order="C")
    unit /= np.float32(max_value)
    return torch.from_numpy(unit)


def check_split(split: str, splits: Sequence[str] = SPLITS) -> None:
    if split not in splits:
        raise UserError(f"data.split={split!r} is not allowed; choose one of: {', '.join(splits)}")


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
