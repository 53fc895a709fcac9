"""Data sets by name: `load_images(cfg.data)` returns one split as an `ImageSet`, scaled for the generator.

The registry below is the only place data set names live; a loader maps (DataConfig, split) to unit-range
images [N, C, H, W] float32 and labels [N] int64, and `load_images` applies the class filter and the pixel
scaling that every data set shares. Splits and scaling follow the paper's code (../shared/PAPER.md §1a).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from advnets.config import DataConfig
from advnets.data import digits, idx
from advnets.data.images import (
    ImageSet,
    check_pixel_range,
    check_split,
    scale_pixels,
    select_classes,
    to_unit_range,
)
from advnets.registry import Registry

Loader = Callable[[DataConfig, str], tuple[torch.Tensor, torch.Tensor]]

DATASETS: Registry[Loader] = Registry("data.name")
for _source in (idx.MNIST, idx.FASHION_MNIST):
    DATASETS.register(_source.name)(functools.partial(idx.load_idx, _source))
DATASETS.register("digits")(digits.load_digits_split)


def load_images(cfg: DataConfig, split: str | None = None) -> ImageSet:
    """One split (default cfg.split) of data set cfg.name, kept to cfg.classes, scaled to cfg.pixel_range."""
    split = cfg.split if split is None else split
    check_split(split)
    check_pixel_range(cfg.pixel_range)
    loader = DATASETS.get(cfg.name)
    images, labels = loader(cfg, split)  # [N, C, H, W] float32 in [0, 1], [N] int64
    if cfg.classes is not None:
        images, labels = select_classes(images, labels, cfg.classes, f"{cfg.name} {split}")
    return ImageSet(scale_pixels(images, cfg.pixel_range), labels, cfg.name, split, cfg.pixel_range)


__all__ = ["DATASETS", "ImageSet", "Loader", "load_images", "scale_pixels", "to_unit_range"]
