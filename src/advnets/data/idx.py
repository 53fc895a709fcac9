"""MNIST and Fashion-MNIST from the standard IDX files: where they are found, checksums, download, parsing.

Splits follow the paper's code (Goodfellow et al. 2014 as in docs/paper.md §1a, pylearn2's MNIST):
train = train[0:50000], valid (the monitoring set) = train[50000:60000], test = the 10k test set; pixels /255
into [0, 1], not binarised. Fashion-MNIST (Xiao et al. 2017) has the same layout and is split the same way.

IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian uint32 magic number whose low byte is the number
of dimensions (2051 = 0x803: uint8, 3-d images; 2049 = 0x801: uint8, 1-d labels), one big-endian uint32 per
dimension, then the uint8 values.

Every file is checked against the SHA-256 of the official file's *unpacked* content, whether found as .gz
or unpacked: that identity survives recompression, which matters because Debian's `dataset-fashion-mnist`
ships the official data re-gzipped (other gzip headers, so other .gz checksums). Downloads are pinned to the
official .gz checksums as well. A file that fails any check stops the run with one message naming it; we
never modify or delete a user's file. Where the files are looked for, the download and the message when they are
missing are every file-based data set's (data/files.py); this module adds the IDX files and their parsing.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from advnets.data import files
from advnets.data.files import cache_folder, download_cause  # noqa: F401 -- idx.cache_folder, idx.download_cause: earlier names
from advnets.data.images import ImageDataOptions, unit_images
from advnets.errors import UserError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
BAD_FILE_FIX = "delete it and rerun to download it again, or point data.root at a good copy"


@dataclass(frozen=True)
class IdxFile:
    name: str  # the unpacked name; the compressed file is name + ".gz"
    magic: int  # IMAGES_MAGIC | LABELS_MAGIC
    gz_sha256: str | None  # the official .gz file: pins downloads
    raw_sha256: (
        str | None
    )  # its unpacked content: every local copy is checked against this (None: structure only)

    @property
    def found_as(self) -> tuple[str, ...]:
        """Gzipped (as published, so downloaded) before unpacked (files.PublishedFile)."""
        return (f"{self.name}.gz", self.name)

    @property
    def published_sha256(self) -> str | None:
        return self.gz_sha256


@dataclass(frozen=True)
class IdxSplit:
    part: str  # which file pair: "train" | "t10k"
    start: int
    stop: int


@dataclass(frozen=True)
class IdxSource:
    name: (
        str  # the registered data set name; also the subfolder name under data.root, $ADVNETS_DATA, the cache
    )
    parts: Mapping[str, tuple[IdxFile, IdxFile]]  # part -> (images, labels)
    splits: Mapping[str, IdxSplit]
    mirrors: tuple[str, ...]  # base URLs, tried in order
    system_folders: tuple[Path, ...] = ()  # where an OS package installs the files
    forms: str = "gzipped or not"  # how a file may be found, for messages (files.Source)

    @property
    def files(self) -> tuple[IdxFile, ...]:
        """Every IDX file of the data set, read from `parts` each time (tests swap the parts)."""
        return tuple(file for pair in self.parts.values() for file in pair)


# train[0:50000] / train[50000:60000] / t10k, docs/paper.md §1a; trainval = train[0:60000].
PAPER_SPLITS = {
    "train": IdxSplit("train", 0, 50000),
    "valid": IdxSplit("train", 50000, 60000),
    "test": IdxSplit("t10k", 0, 10000),
    "trainval": IdxSplit("train", 0, 60000),  # all official training images, for experiments that used them
}

# Official checksums, listed for users in docs/data.md (also pinned by torchvision and tensorflow-datasets).
MNIST = IdxSource(
    name="mnist",
    parts={
        "train": (
            IdxFile(
                "train-images-idx3-ubyte",
                IMAGES_MAGIC,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ),
            IdxFile(
                "train-labels-idx1-ubyte",
                LABELS_MAGIC,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
        ),
        "t10k": (
            IdxFile(
                "t10k-images-idx3-ubyte",
                IMAGES_MAGIC,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ),
            IdxFile(
                "t10k-labels-idx1-ubyte",
                LABELS_MAGIC,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ),
    },
    splits=PAPER_SPLITS,
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
)

# .gz SHA-256: tensorflow-datasets' url_checksums/fashion_mnist.txt (the zalandoresearch README publishes
# the matching md5s, e.g. 8d4fb7e6c68d591d4c3dfef9ec88bf0d for train-images). Unpacked SHA-256: computed from
# the contents of Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1, whose unpacked md5s equal the
# published unpacked md5s (train-images f4a8712d7a061bf5bd6d2ca38dc4d50a, train-labels
# 9018921c3c673c538a1fc5bad174d6f9, t10k-images 8181f5470baa50b63fa0f6fddb340f0a, t10k-labels
# 15d484375f8d13e6eb1aabb0c3f46965).
FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    parts={
        "train": (
            IdxFile(
                "train-images-idx3-ubyte",
                IMAGES_MAGIC,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            ),
            IdxFile(
                "train-labels-idx1-ubyte",
                LABELS_MAGIC,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ),
        ),
        "t10k": (
            IdxFile(
                "t10k-images-idx3-ubyte",
                IMAGES_MAGIC,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            ),
            IdxFile(
                "t10k-labels-idx1-ubyte",
                LABELS_MAGIC,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        ),
    },
    splits=PAPER_SPLITS,
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    # Debian/Ubuntu `apt install dataset-fashion-mnist` puts the four .gz files here.
    system_folders=(Path("/usr/share/datasets/fashion-mnist"),),
)


# -- where the files are: the generic search, download and message of data/files.py ---------------------------


def search_folders(source: IdxSource, root: str | None) -> list[Path]:
    """Folders searched in order: data.root, $ADVNETS_DATA (each, then its <name>/), OS package, cache."""
    return files.search_folders(source, root)


def find_file(file: IdxFile, folders: list[Path]) -> Path | None:
    """The first folder holding the file wins; within a folder the .gz is preferred to the unpacked file."""
    return files.find_file(file, folders)


def locate_all(source: IdxSource, idx_files: list[IdxFile], cfg: ImageDataOptions) -> list[Path]:
    """The paths of IDX files: found locally, else downloaded (if data.download), else one UserError that names
    every file of the data set not found, the folders searched in order, why a download failed, and the fix."""
    return files.locate_all(source, idx_files, root=cfg.root, download_missing=cfg.download)


def locate(source: IdxSource, file: IdxFile, cfg: ImageDataOptions) -> Path:
    """The path of one IDX file: found locally, else downloaded (if data.download), else a UserError."""
    return locate_all(source, [file], cfg)[0]


# -- reading ------------------------------------------------------------------------------------------------


def parse_idx(data: bytes, magic: int, where: str) -> np.ndarray:
    """IDX bytes -> a read-only uint8 array; header, magic number and exact length are checked."""
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = int.from_bytes(data[:4], "big") if len(data) >= 4 else "missing"
        raise UserError(
            f"{where} is not an IDX {kind} file (magic number {found}, expected {magic}); {BAD_FILE_FIX}"
        )
    ndim = magic & 0xFF
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise UserError(f"{where} is truncated ({len(data)} bytes, shorter than its header); {BAD_FILE_FIX}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_bytes + int(np.prod(dims))
    if len(data) != expected:
        raise UserError(
            f"{where} holds {len(data)} bytes but its header ({' x '.join(map(str, dims))}) needs "
            f"{expected}; {BAD_FILE_FIX}"
        )
    # np.frombuffer on bytes is read-only and copy-free: nobody can change the cached array by accident.
    return np.frombuffer(data, dtype=np.uint8, offset=header_bytes).reshape(dims)


def read_idx(path: Path, file: IdxFile) -> np.ndarray:
    """One IDX file, checked and decoded once per process: [N, H, W] images or [N] labels, uint8, read-only.

    Cached by path, size and modification time, so a replaced file is read again.
    """
    stat = path.stat()
    return _read_checked(str(path.absolute()), stat.st_size, stat.st_mtime_ns, file)


@functools.lru_cache(maxsize=8)
def _read_checked(path: str, size: int, mtime_ns: int, file: IdxFile) -> np.ndarray:
    data = Path(path).read_bytes()
    if path.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (
            OSError,
            EOFError,
            zlib.error,
        ) as err:  # BadGzipFile is an OSError; a cut-off file an EOFError
            raise UserError(f"{path} is not a complete gzip file ({err}); {BAD_FILE_FIX}") from None
    array = parse_idx(data, file.magic, path)
    if file.raw_sha256 is not None and hashlib.sha256(data).hexdigest() != file.raw_sha256:
        raise UserError(
            f"{path} is a well-formed IDX file but not the official {file.name} (its SHA-256 differs); "
            f"{BAD_FILE_FIX}"
        )
    return array


def read_split(
    source: IdxSource, split: str, *, root: str | None, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A split of an IDX data set as stored: images [N, H, W] and labels [N], uint8 read-only views of the cached
    files (data.root / $ADVNETS_DATA / download as `locate_all`)."""
    span = source.splits[split]
    image_file, label_file = source.parts[span.part]
    image_path, label_path = files.locate_all(source, [image_file, label_file], root=root, download_missing=download)
    images = read_idx(image_path, image_file)  # [N, H, W] uint8
    labels = read_idx(label_path, label_file)  # [N] uint8
    if len(images) != len(labels):
        raise UserError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels; they must "
            f"be a matching pair: point data.root at a folder with both official {source.name} files"
        )
    if len(images) < span.stop:
        raise UserError(
            f"{image_path} holds {len(images)} images, but the {split} split is [{span.start}:{span.stop}]; "
            f"use the full official {source.name} files"
        )
    return images[span.start : span.stop], labels[span.start : span.stop]


def load_idx(source: IdxSource, cfg: ImageDataOptions, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A split of an IDX data set: images [N, 1, H, W] float32 in [0, 1], labels [N] int64."""
    images, labels = read_split(source, split, root=cfg.root, download=cfg.download)
    return unit_images(images[:, None], 255), torch.from_numpy(labels.astype(np.int64))  # [N, 1, H, W], [N]
