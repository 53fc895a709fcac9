"""Stacked MNIST: three MNIST digits as the red, green and blue channels of one image, 1,000 modes.

The mode-collapse benchmark of the unrolled-GAN, VEEGAN and PacGAN papers: each example [3, 28, 28] stacks three
digits drawn independently and uniformly (with replacement) from MNIST, and its label is 100·a + 10·b + c for the
digits a (red), b (green), c (blue), so a generator that covers the data makes all 1,000 labels. PacGAN's code
(stacked_MNIST_experiments/VEEGAN_experiment: `num_training_sample` 128,000 in config.py) draws 128,000 triples
from all 70,000 MNIST images; here each split draws `data.n` triples (default 128,000) from the matching MNIST
split (train = train[0:50000], valid = train[50000:60000], test = the 10,000 test images, trainval = all 60,000,
as data/idx.py), so test digits never appear in training examples. The draws are a pure function of
(data.seed, split): numpy's PCG64 seeded with [seed, split number]. Pixels stay uint8 (128,000 examples are 301
MB) and are decoded per batch into data.pixel_range, exactly as MNIST's /255 (dataset.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from advnets.checks import check_positive
from advnets.data import idx
from advnets.data.images import SPLITS, check_split
from advnets.pixels import check_pixel_range

SPLIT_STREAMS = {"train": 0, "valid": 1, "test": 2, "trainval": 3}  # each split draws from its own stream
DIGIT_WEIGHTS = np.array([100, 10, 1], dtype=np.int64)  # label = 100 a + 10 b + c for channels (R, G, B)


@dataclass
class StackedMnistOptions:
    """The `data.*` keys of Stacked MNIST."""

    name: str = "stacked-mnist"  # stacked-mnist: three MNIST digits as R, G, B; label 100a + 10b + c (1,000 modes)
    root: str | None = None  # folder with MNIST's IDX .gz files; default $ADVNETS_DATA, else a user cache
    split: str = "train"  # digits from MNIST's train = train[0:50000] | valid = train[50000:60000] | test | trainval = all 60k
    n: int = 128000  # stacked examples in the split (PacGAN's stacked-MNIST experiments: 128,000)
    seed: int = 0  # which digits are stacked: each split draws from (seed, split)
    classes: list[int] | None = None  # keep only these labels 100a + 10b + c, e.g. [0, 111]
    pixel_range: str = "unit"  # unit: [0, 1] (sigmoid G) | symmetric: [-1, 1] (tanh G)
    download: bool = True  # fetch MNIST's files (checksummed) when not found locally

    def validate(self, prefix: str) -> None:
        check_split(self.split)
        check_positive(f"{prefix}.n", self.n)
        check_pixel_range(self.pixel_range)


def load_stacked_split(options: StackedMnistOptions, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A split of Stacked MNIST: images [n, 3, 28, 28] uint8 (channel k is the k-th digit) and labels [n] int64."""
    check_split(split, SPLITS)
    digits, digit_labels = idx.read_split(idx.MNIST, split, root=options.root, download=options.download)
    rng = np.random.default_rng([options.seed, SPLIT_STREAMS[split]])
    picks = rng.integers(0, len(digits), size=(options.n, 3))  # [n, 3]: the MNIST image in R, G, B
    images = digits[picks]  # [n, 3, 28, 28] uint8, a new array
    labels = digit_labels[picks].astype(np.int64) @ DIGIT_WEIGHTS  # [n]
    return torch.from_numpy(images), torch.from_numpy(labels)
