"""CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html) from its python-pickle batches.

The published `cifar-10-python.tar.gz` holds `cifar-10-batches-py/` with `data_batch_1` .. `data_batch_5` (10,000
training images each) and `test_batch` (10,000). Each batch is a Python 2 pickle (protocol 2) of a dict with bytes
keys: `b"data"`, a uint8 array [10000, 3072] whose row is one 32x32 image as its red plane, then green, then blue
(each plane row-major), and `b"labels"`, a list of 10,000 labels 0..9. The tarball or the folder extracted from it
is found like every file-based data set (data/files.py: data.root, $ADVNETS_DATA, the cache; data.root may also be
the extracted folder itself) and read in memory: nothing is extracted to disk.

Trust. A pickle can run any code when it is loaded, so a user's file is never given to `pickle.load`: a
restricted unpickler admits only what the format needs (numpy's array reconstruction, numpy.ndarray, numpy.dtype,
a few builtins) and refuses anything else with one message naming the file. Before that, each batch is checked
against the MD5 of the official batch (the checksums torchvision pins, which match the published MD5 of the
tarball, c58f30108f718f92721af3b95e74349a), whether it was found in a tarball or in the extracted folder, so a
re-packed copy of the official data is accepted. The download is pinned to the tarball's SHA-256.

Splits: train = the first 45,000 training images, valid = the last 5,000, trainval = all 50,000, test = the
10,000 test images. (The paper's CIFAR-10 runs trained on train[0:40000] and monitored train[40000:50000],
docs/paper.md §1c.) Preprocessing (`data.preprocess`): `unit` [0, 1] or `symmetric` [-1, 1] pixels, kept as
uint8 and decoded per batch (dataset.py), or `gcn`, the paper's global contrast normalisation with scale 55
(§1c, pylearn2's `global_contrast_normalize`): each image minus its mean, divided by its L2 norm / 55, stored as
float32. GCN images are unbounded, so only a linear G can produce them (the kind's pixel_range is "gcn").
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advnets.checks import check_choice
from advnets.data import files
from advnets.data.dataset import DataSet, ImageSet
from advnets.data.images import check_split, select_classes
from advnets.errors import UserError
from advnets.pixels import GCN_SCALE

FOLDER = "cifar-10-batches-py"  # the folder the tarball holds, and what extracting it makes
ARCHIVE = files.DataFile(
    found_as=("cifar-10-python.tar.gz", f"{FOLDER}/"),
    # SHA-256 of the official tarball (170,498,071 bytes, MD5 c58f30108f718f92721af3b95e74349a as published on
    # the CIFAR page), as Keras' cifar10.load_data pins it.
    published_sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
)
CIFAR10 = files.DataSource(
    name="cifar10",
    files=(ARCHIVE,),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    forms=f"or the {FOLDER} folder extracted from it",
)
# MD5 of each official batch file (torchvision's CIFAR10.train_list / test_list); tests swap them for their own.
BATCH_MD5: dict[str, str | None] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
PARTS = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SIDE = 32
PIXELS = 3 * SIDE * SIDE  # 3072 values a row: the red plane, then green, then blue
PREPROCESSING = ("unit", "symmetric", "gcn")
BAD_FILE_FIX = "delete it and rerun to download it again, or point data.root at a good copy"


@dataclass(frozen=True)
class CifarSplit:
    part: str  # "train" (the five data batches, in order) | "test"
    start: int
    stop: int


SPLITS = {
    "train": CifarSplit("train", 0, 45000),
    "valid": CifarSplit("train", 45000, 50000),
    "test": CifarSplit("test", 0, 10000),
    "trainval": CifarSplit("train", 0, 50000),
}


@dataclass
class Cifar10Options:
    """The `data.*` keys of CIFAR-10."""

    name: str = "cifar10"  # cifar10: CIFAR-10's 32x32 colour images, 10 classes
    root: str | None = None  # folder with cifar-10-python.tar.gz or cifar-10-batches-py/; default $ADVNETS_DATA, else a user cache
    split: str = "train"  # train = train[0:45000] | valid = train[45000:50000] | test = the 10k test images | trainval = all 50k
    classes: list[int] | None = None  # keep only these labels (0 airplane, 1 automobile, ... 9 truck)
    preprocess: str = "symmetric"  # unit: [0, 1] | symmetric: [-1, 1] (tanh G) | gcn: per-image contrast normalised, norm 55 (docs/paper.md §1c; unbounded: linear G)
    download: bool = True  # fetch cifar-10-python.tar.gz (163 MB, checksummed) when not found locally

    def validate(self, prefix: str) -> None:
        check_split(self.split, tuple(SPLITS))
        check_choice(f"{prefix}.preprocess", self.preprocess, PREPROCESSING)

    @property
    def pixel_range(self) -> str:
        """The scale of the examples (what the image kind declares and a saved config is read back with)."""
        return self.preprocess


def load_cifar10(options: Cifar10Options, split: str) -> DataSet:
    """One split: images [N, 3, 32, 32] (uint8 decoded per batch into [0, 1] or [-1, 1], or GCN float32) and
    labels [N] int64 0..9."""
    check_split(split, tuple(SPLITS))
    check_choice("data.preprocess", options.preprocess, PREPROCESSING)
    span = SPLITS[split]
    path = batches_folder_at(options.root) or files.locate(
        CIFAR10, ARCHIVE, root=options.root, download_missing=options.download
    )
    rows, labels = read_part(path, span.part)  # [N, 3072] uint8, [N] int64, read-only
    if len(rows) < span.stop:
        raise UserError(
            f"{path} holds {len(rows)} {span.part} images, but the {split} split is [{span.start}:{span.stop}]; "
            "use the full official CIFAR-10 files"
        )
    # np.array copies: the cached, read-only arrays are never shared with a DataSet.
    images = torch.from_numpy(np.array(rows[span.start : span.stop]).reshape(-1, 3, SIDE, SIDE))  # R, G, B planes
    targets = torch.from_numpy(labels[span.start : span.stop].astype(np.int64))
    if options.classes is not None:
        images, targets = select_classes(images, targets, options.classes, f"cifar10 {split}")
    if options.preprocess == "gcn":
        return ImageSet(global_contrast_normalize(images), targets, "cifar10", split, "gcn", class_names=CLASS_NAMES)
    return ImageSet(images, targets, "cifar10", split, options.preprocess, class_names=CLASS_NAMES)


def batches_folder_at(root: str | None) -> Path | None:
    """data.root itself, when it is the extracted cifar-10-batches-py folder (it holds data_batch_1); else None."""
    folder = Path(root).expanduser() if root else None
    return folder if folder is not None and (folder / "data_batch_1").is_file() else None


def global_contrast_normalize(pixels: torch.Tensor, scale: float = GCN_SCALE) -> torch.Tensor:
    """Images [N, ...] of raw values (uint8 0..255) -> float32 [N, ...], each minus its mean and divided by its L2
    norm / `scale`, so every image vector has norm `scale`; computed in float64. As pylearn2's
    `global_contrast_normalize(X, scale=55.)` (subtract_mean, no std, sqrt_bias 0): a constant image, whose norm
    is below min_divisor 1e-8, is divided by 1 and stays all zeros (docs/paper.md §1c)."""
    out = torch.empty(pixels.shape, dtype=torch.float32)
    flat_out = out.view(len(pixels), -1)
    for start in range(0, len(pixels), 4096):  # float64 a chunk at a time: 45,000 images at once would be 1.1 GB
        x = pixels[start : start + 4096].reshape(-1, flat_out.shape[1]).to(torch.float64)
        x = x - x.mean(dim=1, keepdim=True)
        norms = x.square().sum(dim=1, keepdim=True).sqrt() / scale  # [n, 1]
        norms[norms < 1e-8] = 1.0
        flat_out[start : start + 4096] = (x / norms).to(torch.float32)
    return out


# -- reading ------------------------------------------------------------------------------------------------


def read_part(path: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """The batches of one part ("train": data_batch_1..5 in order, "test": test_batch) from the tarball or the
    extracted folder at `path`, checked, decoded once per process: rows [N, 3072] uint8 and labels [N] int64,
    read-only. Cached by path, size and modification time, so a replaced file is read again."""
    if path.is_dir():
        batch_files = [path / name for name in PARTS[part]]
        for file in batch_files:
            if not file.is_file():
                raise UserError(
                    f"{file} is missing: the {FOLDER} folder must hold {', '.join(BATCH_MD5)} as extracted from "
                    f"cifar-10-python.tar.gz; extract the tarball again, or put the tarball itself in {path.parent}"
                )
        stamp = tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in batch_files)
    else:
        stamp = ((path.stat().st_size, path.stat().st_mtime_ns),)
    return _read_checked(str(path.absolute()), stamp, part)


@functools.lru_cache(maxsize=2)
def _read_checked(path: str, stamp: tuple[tuple[int, int], ...], part: str) -> tuple[np.ndarray, np.ndarray]:
    raw = _batch_bytes(Path(path), PARTS[part])
    rows, labels = [], []
    for name in PARTS[part]:
        data, where = raw[name]
        expected = BATCH_MD5.get(name)
        if expected is not None and hashlib.md5(data, usedforsecurity=False).hexdigest() != expected:
            raise UserError(f"{where} is not the official CIFAR-10 {name} (its MD5 differs); {BAD_FILE_FIX}")
        batch_rows, batch_labels = decode_batch(data, where)
        rows.append(batch_rows)
        labels.append(batch_labels)
    all_rows, all_labels = np.concatenate(rows), np.concatenate(labels)
    all_rows.flags.writeable = False  # shared by every call: nobody may change the cached copy
    all_labels.flags.writeable = False
    return all_rows, all_labels


def _batch_bytes(path: Path, names: tuple[str, ...]) -> dict[str, tuple[bytes, str]]:
    """name -> (the batch file's bytes, where it was read, for messages), from the folder or the tarball."""
    if path.is_dir():
        return {name: ((path / name).read_bytes(), str(path / name)) for name in names}
    wanted = {f"{FOLDER}/{name}": name for name in names}
    found: dict[str, tuple[bytes, str]] = {}
    try:
        # One pass through the gzip stream, reading only the members wanted into memory; nothing is extracted,
        # so member names cannot write anywhere.
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is None or not member.isfile():
                    continue
                reader = tar.extractfile(member)
                assert reader is not None, "a regular member always has a reader"
                found[name] = (reader.read(), f"{path} (member {FOLDER}/{name})")
                if len(found) == len(names):
                    break
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise UserError(f"{path} is not a complete .tar.gz file ({err}); {BAD_FILE_FIX}") from None
    missing = [f"{FOLDER}/{name}" for name in names if name not in found]
    if missing:
        raise UserError(
            f"{path} holds no {', '.join(missing)}: it is not the CIFAR-10 python tarball; {BAD_FILE_FIX}"
        )
    return found


# -- the restricted unpickler -------------------------------------------------------------------------------


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for something a CIFAR-10 batch never holds."""


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 writes bytes into a protocol-2 pickle as _codecs.encode(text, "latin1"); only that is admitted.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise RefusedGlobal(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct as reconstruct  # numpy >= 2
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct as reconstruct  # type: ignore[no-redef]
    return reconstruct


def _safe_globals() -> dict[tuple[str, str], Any]:
    """(module, name) -> object: everything a batch's pickle may name. Each is harmless to call with any
    arguments: numpy's array reconstruction, the array and dtype types, plain builtin containers and scalars."""
    allowed: dict[tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),  # what the official (numpy 1) pickles name
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),  # what numpy 2 writes
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,
    }
    for builtin in (dict, list, tuple, bytes, str, int, float, bool):
        for module in ("builtins", "__builtin__"):  # Python 3's name and Python 2's
            allowed[(module, builtin.__name__)] = builtin
    return allowed


SAFE_GLOBALS = _safe_globals()


class BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 batch and nothing else: any global outside SAFE_GLOBALS is refused, so a pickle that
    would call os.system, eval or any other function fails before it can."""

    def find_class(self, module: str, name: str) -> Any:
        found = SAFE_GLOBALS.get((module, name))
        if found is None:
            raise RefusedGlobal(f"{module}.{name}")
        return found


def decode_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch's pickle bytes -> rows [n, 3072] uint8 and labels [n] int64; anything else is a UserError that
    names `where`."""
    try:
        batch = BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except RefusedGlobal as err:
        raise UserError(
            f"{where} was refused: its pickle asks for {err}, which a CIFAR-10 batch never holds, so it was not "
            f"loaded (a pickle can run code); {BAD_FILE_FIX}"
        ) from None
    except Exception as err:  # a malformed pickle raises nearly anything (UnpicklingError, EOFError, ValueError...)
        raise UserError(f"{where} is not a readable CIFAR-10 batch ({type(err).__name__}: {err}); {BAD_FILE_FIX}") from None
    if not isinstance(batch, dict):
        raise UserError(f"{where} is not a CIFAR-10 batch (a {type(batch).__name__}, not a dict); {BAD_FILE_FIX}")
    rows, labels = batch.get(b"data"), batch.get(b"labels")
    if not (isinstance(rows, np.ndarray) and rows.dtype == np.uint8 and rows.ndim == 2 and rows.shape[1] == PIXELS):
        shown = f"{rows.dtype} {list(rows.shape)}" if isinstance(rows, np.ndarray) else type(rows).__name__
        raise UserError(
            f"{where} is not a CIFAR-10 batch: its b'data' must be uint8 [N, {PIXELS}], got {shown}; {BAD_FILE_FIX}"
        )
    if not (isinstance(labels, list | np.ndarray) and len(labels) == len(rows)):
        raise UserError(
            f"{where} is not a CIFAR-10 batch: its b'labels' must list one label per image ({len(rows)}); "
            f"{BAD_FILE_FIX}"
        )
    try:
        targets = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise UserError(f"{where} holds labels that are not integers ({err}); {BAD_FILE_FIX}") from None
    if targets.ndim != 1 or (len(targets) and not 0 <= targets.min() <= targets.max() <= 9):
        raise UserError(f"{where} holds labels outside 0..9; {BAD_FILE_FIX}")
    return rows, targets
