"""Your own images: a folder of PNG and JPEG files under data.root, read with Pillow.

Layout. Either the images lie in data.root itself (unlabelled), or data.root holds one subfolder per class, each
with its images at any depth below it: labels are the class folders in sorted order, 0 .. K-1, and the DataSet's
`class_names` says which folder each label is. Hidden files and folders (".name") and files that are not
.png/.jpg/.jpeg are skipped; images beside class folders are refused as a mixed layout.

Each image is read as 8-bit RGB (data.channels=3; an alpha channel is dropped; 16-bit greyscale keeps its high
byte) or greyscale (data.channels=1, Pillow's "L": ITU-R 601-2 luma), turned upright by its EXIF orientation, centre-cropped to the largest square
and resized to data.size x data.size with Pillow's Lanczos filter (antialiased when shrinking). Images are kept
as uint8 and decoded per batch into data.pixel_range (dataset.py), so 200,000 images of 64 x 64 RGB take 2.4 GB;
only the images of the split asked for are read, a few at a time in threads.

Splits. A folder has no held-out images unless data.valid asks for them: then the last data.valid images (a
fraction < 1 or a count >= 1) of a permutation of the folder's sorted file list, fixed by data.split_seed, are the
valid split and the rest the train split, each in file-list order; trainval is every image. There is no test
split.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from advnets.checks import check_positive
from advnets.data.dataset import DataSet, ImageSet
from advnets.data.images import select_classes
from advnets.errors import UserError
from advnets.pixels import check_pixel_range

SUFFIXES = (".png", ".jpg", ".jpeg")  # compared lower-case
FOLDER_SPLITS = ("train", "valid", "trainval")
RESAMPLING = Image.Resampling.LANCZOS
WORKERS = min(8, os.cpu_count() or 1)  # Pillow releases the GIL while it decodes and resizes


@dataclass
class ImageFolderOptions:
    """The `data.*` keys of an image folder."""

    name: str = "image-folder"  # image-folder: PNG/JPEG files under data.root (one subfolder per class: labels)
    root: str | None = None  # the folder of images, or of one subfolder of images per class (required)
    split: str = "train"  # train = all but the held-out images | valid = the data.valid held out | trainval = all
    size: int = 64  # images are centre-cropped to a square and resized to size x size (Lanczos)
    channels: int = 3  # 3: RGB | 1: greyscale
    pixel_range: str = "symmetric"  # unit: [0, 1] (sigmoid G) | symmetric: [-1, 1] (tanh G)
    valid: float = 0.0  # images held out as the valid split: a fraction < 1 (0.05) or a count >= 1 (1000); 0: none
    split_seed: int = 0  # fixes the permutation whose last data.valid images are the valid split
    classes: list[int] | None = None  # keep only these labels (class folders in sorted order: 0, 1, ...)

    def validate(self, prefix: str) -> None:
        check_folder_split(self.split)
        check_positive(f"{prefix}.size", self.size)
        if self.channels not in (1, 3):
            raise UserError(f"{prefix}.channels={self.channels} is not allowed; choose 1 (greyscale) or 3 (RGB)")
        check_pixel_range(self.pixel_range)
        check_positive(f"{prefix}.valid", self.valid, allow_zero=True)
        if self.valid >= 1 and self.valid != int(self.valid):
            raise UserError(
                f"{prefix}.valid={self.valid} is neither a fraction below 1 nor a whole number of images"
            )


def check_folder_split(split: str) -> None:
    if split not in FOLDER_SPLITS:
        raise UserError(
            f"data.split={split!r} is not allowed for an image folder; choose one of: {', '.join(FOLDER_SPLITS)} "
            "(a folder has no test split; data.valid holds images out as the valid split)"
        )


def load_image_folder(options: ImageFolderOptions, split: str) -> DataSet:
    """One split of the folder: images [N, C, size, size] uint8 (decoded per batch into data.pixel_range) and
    labels [N] int64 from the class folders, or None for a flat folder."""
    check_folder_split(split)
    options.validate("data")
    paths, labels, class_names = scan(options.root)
    index = split_indices(len(paths), options.valid, options.split_seed, split, options.root)
    images = torch.from_numpy(read_images([paths[i] for i in index], options.size, options.channels))
    targets = torch.tensor([labels[i] for i in index], dtype=torch.int64) if labels is not None else None
    if options.classes is not None:
        if targets is None:
            raise UserError(
                f"data.classes needs labels, but data.root={options.root} holds its images directly; put them in "
                "one subfolder per class, or leave data.classes unset"
            )
        images, targets = select_classes(images, targets, options.classes, f"image-folder {split}")
    return ImageSet(images, targets, options.name, split, options.pixel_range, class_names=class_names)


# -- the folder ---------------------------------------------------------------------------------------------


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _is_image(path: Path) -> bool:
    return path.is_file() and _visible(path) and path.suffix.lower() in SUFFIXES


def _images_below(folder: Path) -> list[Path]:
    """The images anywhere below `folder`, hidden folders skipped, sorted by path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if _is_image(Path(dirpath) / f)]
    return sorted(found)


def scan(root: str | None) -> tuple[list[Path], list[int] | None, tuple[str, ...] | None]:
    """The images of the folder in sorted order, their labels (None for a flat folder) and the class folder names
    (label k is class_names[k])."""
    if root is None:
        raise UserError(
            "data.name=image-folder needs data.root=FOLDER: a folder of PNG/JPEG images, or of one subfolder of "
            "them per class"
        )
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise UserError(
            f"data.root={root} is not a folder; point it at a folder of PNG/JPEG images, or of one subfolder of "
            "them per class"
        )
    entries = sorted(p for p in folder.iterdir() if _visible(p))
    flat = [p for p in entries if _is_image(p)]
    class_folders = [p for p in entries if p.is_dir()]
    if flat:
        with_images = [d for d in class_folders if _images_below(d)]
        if with_images:
            raise UserError(
                f"data.root={root} mixes images ({flat[0].name}, ...) with folders of images "
                f"({with_images[0].name}/, ...); put every image in a class folder (labels), or none in a "
                "subfolder (no labels)"
            )
        return flat, None, None
    if not class_folders:
        raise UserError(f"data.root={root} holds no PNG or JPEG images (.png, .jpg, .jpeg) and no class folders")
    paths, labels = [], []
    for label, class_folder in enumerate(class_folders):
        images = _images_below(class_folder)
        if not images:
            raise UserError(
                f"class folder {class_folder} holds no PNG or JPEG images; remove it from data.root or fill it "
                "(every subfolder of data.root is a class)"
            )
        paths += images
        labels += [label] * len(images)
    return paths, labels, tuple(p.name for p in class_folders)


def split_indices(n: int, valid: float, seed: int, split: str, root: str | None) -> list[int]:
    """The positions in the sorted file list of one split: valid = the last `valid` (a fraction < 1 or a count)
    of the permutation numpy's default_rng(seed) gives, train = the rest, trainval = all; each sorted."""
    n_valid = 0 if valid == 0 else int(valid) if valid >= 1 else max(1, math.floor(valid * n + 0.5))
    if n_valid >= n:
        raise UserError(
            f"data.valid={valid} holds out {n_valid} of the {n} images in data.root={root}, leaving none to train "
            "on; hold out fewer"
        )
    if split == "trainval":
        return list(range(n))
    if split == "valid" and n_valid == 0:
        raise UserError(
            "data.split=valid, but the image folder holds no images out: set data.valid to a fraction (0.05) or a "
            "number of images (1000)"
        )
    order = np.random.default_rng(seed).permutation(n)
    chosen = order[n - n_valid :] if split == "valid" else order[: n - n_valid]
    return sorted(int(i) for i in chosen)


# -- reading ------------------------------------------------------------------------------------------------


def read_image(path: Path, size: int, channels: int) -> np.ndarray:
    """One image file -> [channels, size, size] uint8: upright (EXIF), in RGB or L, the centred square resized."""
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            if image.mode.startswith("I"):  # 16-bit greyscale (PNG): its high byte; convert() would clip at 255
                image = Image.fromarray((np.asarray(image).astype(np.int64) >> 8).clip(0, 255).astype(np.uint8))
            image = image.convert("RGB" if channels == 3 else "L")
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            square = image.crop((left, top, left + side, top + side)).resize((size, size), RESAMPLING)
            pixels = np.asarray(square, dtype=np.uint8)  # [size, size, 3] or [size, size]
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UserError(f"cannot read {path} as an image ({err}); remove it from data.root or replace it") from None
    return pixels.transpose(2, 0, 1) if channels == 3 else pixels[None]


def read_images(paths: list[Path], size: int, channels: int) -> np.ndarray:
    """The files at `paths` as [N, channels, size, size] uint8, in order (threads decode several at once)."""
    out = np.empty((len(paths), channels, size, size), dtype=np.uint8)

    def fill(i: int) -> None:
        out[i] = read_image(paths[i], size, channels)

    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        for _ in pool.map(fill, range(len(paths))):  # results in order: the first unreadable file is reported
            pass
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # after an error, the files not yet read are not read
    return out
