"""scikit-learn's bundled 8x8 handwritten digits: a small stand-in for MNIST that needs no download.

1797 images of 8x8 pixels with values 0..16 (the UCI optdigits test set, as `sklearn.datasets.load_digits()`
ships it), scaled /16 into [0, 1] as MNIST's /255 is (Goodfellow et al. 2014, docs/paper.md §1a). Splits
are fixed slices of sklearn's order, like MNIST's train/valid/test.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from advnets.data.images import ImageDataOptions, unit_images

MAX_VALUE = 16  # load_digits() pixels are counts of set bits in 4x4 blocks: 0..16
SPLITS = {"train": (0, 1400), "valid": (1400, 1600), "test": (1600, 1797), "trainval": (0, 1600)}


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    # Imported here: sklearn.datasets takes about a second to import, which every other command would pay.
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    bunch = load_digits()
    images, labels = bunch.images, bunch.target  # [1797, 8, 8] float64, [1797] int64
    images.flags.writeable = False  # shared by every call: nobody may change the cached copy
    labels.flags.writeable = False
    return images, labels


def load_digits_split(cfg: ImageDataOptions, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A split of the 8x8 digits: images [N, 1, 8, 8] float32 in [0, 1], labels [N] int64."""
    start, stop = SPLITS[split]
    images, labels = _digits()
    return unit_images(images[start:stop, None], MAX_VALUE), torch.from_numpy(
        labels[start:stop].astype(np.int64)
    )
