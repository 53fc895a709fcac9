"""A small CNN classifier per data set, trained by advnets on the data set's training split on first use, as the
feature extractor of FID, KID, IS and the class metrics on small images (`classifier-mnist`, ...; see
advnets.metrics.features). Scores with such a network follow the practice of the MNIST GAN literature (e.g. the
"MNIST score" of Salimans et al. 2016 §B.2 and the Stacked MNIST protocol of VEEGAN, Srivastava et al. 2017 §5.2,
which classify samples with a pretrained MNIST classifier).

The network is [C, H, W] -> conv3x3(32) BN ReLU maxpool2 -> conv3x3(64) BN ReLU maxpool2 -> fc(128) ReLU (the
*features*) -> dropout -> fc(classes) (the logits; their softmax is p(y|x)). It is trained with Adam on the
training split in unit pixel range, seeded, and its accuracy on the test split is measured and stored with it.

The trained weights are cached under a content hash of what determines them: the training data's content (a
SHA-256 of the training images and labels as loaded), the architecture and the training recipe. A second process,
or a later session, finds the file and loads it with `torch.load(weights_only=True)`; nothing is trained twice.

The same recipe trained on two CPUs gives other weights (float rounding differs), so scores made with them could
not be compared (a score's protocol names its extractor's weight hash). advnets therefore ships the classifiers its
published tables use (MNIST, Fashion-MNIST) in `advnets/metrics/classifiers/`, named like the cache files: where
the user's training split hashes to the same content, that file is loaded and nothing is trained, on every machine.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from advnets.data.dataset import DataSet
from advnets.errors import UserError
from advnets.io import atomic_write
from advnets.pixels import to_unit_range

# Classifiers shipped with the package (`<name>-<content hash[:16]>.pt`), found before training (module docstring).
BUNDLED = Path(__file__).parent / "classifiers"
ARCHITECTURE = "small-cnn-v2: conv3x3(32) bn relu pool2, conv3x3(64) bn relu pool2, fc(128) relu, dropout, fc(classes)"


class SmallCNN(nn.Module):
    """images [N, C, H, W] in [0, 1] -> (features [N, 128], logits [N, classes]); H and W divisible by 4."""

    def __init__(self, channels: int, height: int, width: int, num_classes: int, *, dropout: float = 0.3) -> None:
        super().__init__()
        if height % 4 or width % 4:
            raise ValueError(f"SmallCNN needs H and W divisible by 4, got {height}x{width}")
        # Batch norm after each convolution: the few epochs of the recipes then reach the accuracy targets.
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64 * (height // 4) * (width // 4), 128)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(128, num_classes)
        self.input_shape = (channels, height, width)
        self.num_classes = num_classes
        self.num_features = 128

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.norm1(self.conv1(x))), 2)  # [N, 32, H/2, W/2]
        x = F.max_pool2d(F.relu(self.norm2(self.conv2(x))), 2)  # [N, 64, H/4, W/4]
        features = F.relu(self.fc(x.flatten(1)))  # [N, 128]
        return features, self.out(self.dropout(features))


SMALL_DATA_VALUES = 10_000_000  # training sets with fewer pixel values than this train on one thread


@dataclass(frozen=True)
class Recipe:
    """How a classifier is trained; part of its content hash."""

    epochs: int
    batch_size: int = 128
    lr: float = 1e-3  # Adam's, decayed to 0 by a cosine over all steps
    seed: int = 0


# Per data set: enough epochs for the targets (MNIST >= 99%, Fashion-MNIST >= 90% test accuracy) in about a minute
# on two CPU cores for the MNIST family; the 1,400 8x8 digits train in a second or two.
RECIPES = {
    "digits": Recipe(epochs=20, batch_size=64),
    "mnist": Recipe(epochs=3, batch_size=64, lr=2e-3),
    "fashion-mnist": Recipe(epochs=6, batch_size=64, lr=2e-3),
    "cifar10": Recipe(epochs=15, batch_size=64, lr=2e-3),
}


@dataclass(frozen=True)
class TrainedClassifier:
    """A classifier checkpoint: the network in eval mode, where it lies and what it scored."""

    network: SmallCNN
    path: Path
    content_hash: str  # what determined the weights (data, architecture, recipe)
    weight_hash: str  # SHA-256 of the checkpoint file: the weights actually used
    test_accuracy: float
    test_count: int


def data_hash(data: DataSet) -> str:
    """SHA-256 of a split's examples as loaded (float32 bytes, or uint8 pixels and their values), then its labels."""
    digest = hashlib.sha256()
    digest.update(data.examples.contiguous().numpy().tobytes())
    if data.pixel_values is not None:
        digest.update(data.pixel_values.contiguous().numpy().tobytes())
    if data.labels is not None:
        digest.update(data.labels.contiguous().numpy().tobytes())
    return digest.hexdigest()


def content_hash(train: DataSet, recipe: Recipe) -> str:
    """The cache key of a classifier: the training data's content, the architecture and the recipe."""
    described = {"data": train.name, "train": data_hash(train), "architecture": ARCHITECTURE, "recipe": asdict(recipe)}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def unit_images(data: DataSet, index: torch.Tensor | slice) -> torch.Tensor:
    """The images of `data` at `index` in [0, 1] [n, C, H, W] (decoded when kept as uint8)."""
    return to_unit_range(data.take(index), data.pixel_range or "unit")


def train_classifier(train: DataSet, recipe: Recipe, *, progress: bool = False) -> SmallCNN:
    """A SmallCNN trained on `train` (images with labels) with `recipe`, in eval mode on the CPU."""
    if train.labels is None:
        raise UserError(f"{train.name} has no labels, so no classifier can be trained on it")
    channels, height, width = train.shape
    num_classes = int(train.labels.max()) + 1
    threads = torch.get_num_threads()
    if len(train) * channels * height * width < SMALL_DATA_VALUES:
        # Tiny steps (the 8x8 digits) are quicker on one thread, and many times quicker when other processes
        # share the cores: threads waiting for each other at every small op is most of the time then.
        torch.set_num_threads(1)
    try:
        return _train(train, recipe, num_classes, progress)
    finally:
        torch.set_num_threads(threads)


def _train(train: DataSet, recipe: Recipe, num_classes: int, progress: bool) -> SmallCNN:
    assert train.labels is not None
    channels, height, width = train.shape
    with torch.random.fork_rng(devices=[]):  # the global RNG of a training run in this process is left alone
        torch.manual_seed(recipe.seed)
        network = SmallCNN(channels, height, width, num_classes)
        optimizer = torch.optim.Adam(network.parameters(), lr=recipe.lr)
        steps = math.ceil(len(train) / recipe.batch_size)
        # The lr falls to 0 along a cosine over the whole run: a few epochs then reach the accuracy of many.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs * steps)
        order_rng = torch.Generator().manual_seed(recipe.seed)
        network.train()
        # On first use this is minutes of silent work inside a score, so it says what it is doing (stderr).
        bar = tqdm(
            total=recipe.epochs * steps,
            desc=f"training classifier-{train.name} (first use, then cached)",
            unit="step",
            disable=not progress,
        )
        for epoch in range(recipe.epochs):
            order = torch.randperm(len(train), generator=order_rng)
            total = 0.0
            for i in range(steps):
                index = order[i * recipe.batch_size : (i + 1) * recipe.batch_size]
                _, logits = network(unit_images(train, index))
                loss = F.cross_entropy(logits, train.labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += float(loss.detach())
                bar.update()
            bar.set_postfix(epoch=f"{epoch + 1}/{recipe.epochs}", loss=f"{total / steps:.4f}")
        bar.close()
    return network.eval()


@torch.no_grad()
def accuracy(network: SmallCNN, data: DataSet, batch_size: int = 1000) -> float:
    """The share of `data` that `network` classifies as labelled."""
    assert data.labels is not None
    correct = 0
    for start in range(0, len(data), batch_size):
        _, logits = network(unit_images(data, slice(start, start + batch_size)))
        correct += int((logits.argmax(1) == data.labels[start : start + batch_size]).sum())
    return correct / len(data)


def load_or_train(
    name: str, train: DataSet, test: DataSet, recipe: Recipe, folder: Path, *, progress: bool = False
) -> TrainedClassifier:
    """The classifier `name` (e.g. classifier-mnist) from `folder/<name>-<hash>.pt`, else the one shipped with
    advnets for the same content (`BUNDLED`), else trained and saved to `folder` first. `train` and `test` are the
    data set's splits in unit pixel range."""
    key = content_hash(train, recipe)
    file = f"{name}-{key[:16]}.pt"
    path = folder / file
    if not path.exists() and (BUNDLED / file).is_file():
        return load_classifier(BUNDLED / file)
    if not path.exists():
        started = time.perf_counter()
        network = train_classifier(train, recipe, progress=progress)
        state = {
            "state_dict": network.state_dict(),
            "input_shape": list(network.input_shape),
            "num_classes": network.num_classes,
            "test_accuracy": accuracy(network, test),
            "test_count": len(test),
            "content_hash": key,
            "architecture": ARCHITECTURE,
            "recipe": asdict(recipe),
            "train_seconds": time.perf_counter() - started,
        }
        atomic_write(path, lambda f: torch.save(state, f))  # a reader never sees a partial file
    return load_classifier(path)


def load_classifier(path: Path) -> TrainedClassifier:
    """A cached classifier checkpoint (tensors and plain values only: weights_only=True)."""
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        channels, height, width = state["input_shape"]
        network = SmallCNN(channels, height, width, state["num_classes"])
        network.load_state_dict(state["state_dict"])
    except Exception as err:  # noqa: BLE001 -- any unreadable file gets the same fix
        cause = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise UserError(f"{path} is not a readable classifier checkpoint ({cause}); delete it to train it again") from None
    return TrainedClassifier(
        network=network.eval(),
        path=path,
        content_hash=state["content_hash"],
        weight_hash=file_sha256(path),
        test_accuracy=float(state["test_accuracy"]),
        test_count=int(state["test_count"]),
    )

