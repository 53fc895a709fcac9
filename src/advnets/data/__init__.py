"""Data sets by name: `load_data(cfg.data)` returns one split as a `DataSet` (examples with a declared kind).

DATASETS is the only place data set names live. An entry is `load(options, split) -> DataSet`, registered with
its options dataclass (the `data.*` keys it accepts). MNIST, Fashion-MNIST and the 8x8 digits share
`ImageDataOptions` and `image_source`, which keep `data.classes` and scale pixels to `data.pixel_range`; splits and
scaling follow the paper's code (docs/paper.md §1a). Every data set read from files finds and downloads them the
same way (`files.py`); CIFAR-10 (`cifar10.py`), Stacked MNIST (`stacked_mnist.py`) and image folders
(`image_folder.py`) keep their pixels as uint8 and decode a batch at a time (`DataSet.take`). A vector data set (a
toy lab) registers its own options and returns a `VectorSet`; the Gaussian mixtures (ring-8, grid-25, gauss-1d)
live in `toy.py`, whose `mixture_of(options)` gives a metric their centres and std.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from advnets.data import cifar10, digits, idx, image_folder, stacked_mnist, toy
from advnets.data.dataset import DataSet, ImageKind, ImageSet, VectorKind, VectorSet
from advnets.data.images import ImageDataOptions, image_source
from advnets.registry import Registry

Loader = Callable[[Any, str], DataSet]

DATASETS: Registry[Loader] = Registry("data.name")
for _source in (idx.MNIST, idx.FASHION_MNIST):
    DATASETS.register(_source.name, options=ImageDataOptions)(image_source(functools.partial(idx.load_idx, _source)))
DATASETS.register("digits", options=ImageDataOptions)(image_source(digits.load_digits_split))
DATASETS.register("cifar10", options=cifar10.Cifar10Options)(cifar10.load_cifar10)
DATASETS.register("stacked-mnist", options=stacked_mnist.StackedMnistOptions)(
    image_source(stacked_mnist.load_stacked_split)
)
DATASETS.register("image-folder", options=image_folder.ImageFolderOptions)(image_folder.load_image_folder)
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
