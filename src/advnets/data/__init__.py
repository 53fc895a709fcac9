"""Data sets by name: `load_data(cfg.data)` returns one split as a `DataSet` (examples with a declared kind).

DATASETS is the only place data set names live. An entry is `load(options, split) -> DataSet`, registered with
its options dataclass (the `data.*` keys it accepts). Image sets share `ImageDataOptions` and `image_source`,
which keep `data.classes` and scale pixels to `data.pixel_range`; splits and scaling follow the paper's code
(docs/paper.md §1a). A vector data set (a toy lab) registers its own options and returns a `VectorSet`; the
Gaussian mixtures (ring-8, grid-25, gauss-1d) live in `toy.py`, whose `mixture_of(options)` gives a metric their
centres and std.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from advnets.data import digits, idx, toy
from advnets.data.dataset import DataSet, ImageKind, ImageSet, VectorKind, VectorSet
from advnets.data.images import ImageDataOptions, image_source
from advnets.registry import Registry

Loader = Callable[[Any, str], DataSet]

DATASETS: Registry[Loader] = Registry("data.name")
for _source in (idx.MNIST, idx.FASHION_MNIST):
    DATASETS.register(_source.name, options=ImageDataOptions)(image_source(functools.partial(idx.load_idx, _source)))
DATASETS.register("digits", options=ImageDataOptions)(image_source(digits.load_digits_split))
DATASETS.register("ring-8", options=toy.RingOptions)(toy.load_mixture)
DATASETS.register("grid-25", options=toy.GridOptions)(toy.load_mixture)
DATASETS.register("gauss-1d", options=toy.Gauss1dOptions)(toy.load_mixture)


def load_data(options: Any, split: str | None = None) -> DataSet:
    """One split (default options.split) of the data set `options.name` (a resolved `cfg.data`)."""
    split = options.split if split is None else split
    return DATASETS.get(options.name)(options, split)


load_images = load_data  # the name earlier code and notebooks use

__all__ = [
    "DATASETS",
    "DataSet",
    "ImageDataOptions",
    "ImageKind",
    "ImageSet",
    "Loader",
    "VectorKind",
    "VectorSet",
    "load_data",
    "load_images",
]
