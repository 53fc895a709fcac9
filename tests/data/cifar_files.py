"""Small CIFAR-10 look-alikes in the real format, for tests that must not download 163 MB.

`write_fake_cifar(folder, n_train_per_batch, n_test)` writes `cifar-10-batches-py/` (or, with tarball=True,
`cifar-10-python.tar.gz` holding it) as the official files are: five training batches and a test batch, each a
protocol-2 pickle of a dict with bytes keys (b"data": uint8 [n, 3072], the red plane then green then blue, each
row-major; b"labels": a list of ints 0..9; b"batch_label", b"filenames"), written the way Python 2 wrote them
(strings as Python 2 strs, numpy's array reconstruction named `numpy.core.multiarray._reconstruct`), so reading
them needs `encoding="bytes"` exactly as the real ones do. Pixel values are a known function of the image number
(`fake_pixel`), labels `fake_label`.

`use_fake_cifar(monkeypatch, folder, ...)` writes one and makes the registered `cifar10` accept it for the test:
the fake batches' MD5s in place of the official ones, and the splits scaled down (train = all but the last
`n_valid` training images, default a tenth; valid = those; test = the test batch). Then
`data.name=cifar10 data.root=FOLDER data.download=false` trains on it:

    from tests.data.cifar_files import use_fake_cifar

    def test_a_cifar_preset_trains(monkeypatch, tmp_path):
        root = use_fake_cifar(monkeypatch, tmp_path, n_train_per_batch=8, n_test=10)
        ...tiny_config("data.name=cifar10", f"data.root={root}", "data.download=false")
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

from advnets.data import cifar10

TEST_OFFSET = 100_000  # test image j is image number TEST_OFFSET + j of fake_pixel / fake_label


def fake_pixel(image: int, channel: int, y: int, x: int) -> int:
    """The value of pixel (channel, y, x) of fake image number `image`."""
    return (image * 37 + channel * 85 + y * 3 + x) % 256


def fake_label(image: int) -> int:
    return (image * 7 + image // 10) % 10


def fake_rows(first: int, count: int) -> np.ndarray:
    """Fake images first .. first + count - 1 as CIFAR rows [count, 3072] uint8 (R plane, G plane, B plane)."""
    image = np.arange(first, first + count)[:, None, None, None]
    channel = np.arange(3)[None, :, None, None]
    y = np.arange(32)[None, None, :, None]
    x = np.arange(32)[None, None, None, :]
    return ((image * 37 + channel * 85 + y * 3 + x) % 256).astype(np.uint8).reshape(count, 3072)


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Pickles (protocol 2) the way Python 2's cPickle did for the CIFAR-10 batches: str and bytes alike as Python 2
    strs (SHORT_BINSTRING / BINSTRING, read back as bytes under encoding="bytes"), globals by their numpy 1 names."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        self.save_bytes(obj.encode("latin1"))

    def save_global(self, obj: object, name: str | None = None) -> None:
        module = getattr(obj, "__module__", "")
        module = "numpy.core.multiarray" if module.endswith("core.multiarray") else module
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())  # type: ignore[attr-defined]
        self.memoize(obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def batch_pickle(rows: np.ndarray, labels: list[int], batch_label: str) -> bytes:
    """One batch file's bytes, as the official batches hold them."""
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": labels,
        b"data": rows,
        b"filenames": [f"fake_{i}.png".encode() for i in range(len(labels))],
    }
    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(batch)
    return out.getvalue()


def fake_batches(n_train_per_batch: int, n_test: int) -> dict[str, bytes]:
    """name -> bytes of the five training batches and the test batch (training images numbered in batch order)."""
    batches = {}
    for b in range(5):
        first = b * n_train_per_batch
        labels = [fake_label(i) for i in range(first, first + n_train_per_batch)]
        batches[f"data_batch_{b + 1}"] = batch_pickle(
            fake_rows(first, n_train_per_batch), labels, f"training batch {b + 1} of 5"
        )
    test_labels = [fake_label(TEST_OFFSET + j) for j in range(n_test)]
    batches["test_batch"] = batch_pickle(fake_rows(TEST_OFFSET, n_test), test_labels, "testing batch 1 of 1")
    return batches


def write_fake_cifar(
    folder: Path, n_train_per_batch: int = 20, n_test: int = 10, *, tarball: bool = False
) -> Path:
    """Write a fake CIFAR-10 into `folder`: the extracted `cifar-10-batches-py/` (default) or
    `cifar-10-python.tar.gz`. Returns the path written."""
    folder.mkdir(parents=True, exist_ok=True)
    files = fake_batches(n_train_per_batch, n_test)
    files["batches.meta"] = pickle.dumps({b"label_names": [n.encode() for n in cifar10.CLASS_NAMES]}, protocol=2)
    if not tarball:
        extracted = folder / cifar10.FOLDER
        extracted.mkdir(exist_ok=True)
        for name, data in files.items():
            (extracted / name).write_bytes(data)
        return extracted
    path = folder / "cifar-10-python.tar.gz"
    with tarfile.open(path, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def use_fake_cifar(
    monkeypatch,
    folder: Path,
    n_train_per_batch: int = 20,
    n_test: int = 10,
    *,
    tarball: bool = False,
    n_valid: int | None = None,
) -> Path:
    """Write a fake CIFAR-10 into `folder` and make `cifar10` accept it for this test (its MD5s, splits scaled
    down: train = the first 5 n_train_per_batch - n_valid training images, valid = the rest, test = the test
    batch). Returns `folder`, for data.root."""
    write_fake_cifar(folder, n_train_per_batch, n_test, tarball=tarball)
    for name, data in fake_batches(n_train_per_batch, n_test).items():
        monkeypatch.setitem(cifar10.BATCH_MD5, name, hashlib.md5(data).hexdigest())
    n_train = 5 * n_train_per_batch
    n_valid = max(1, n_train // 10) if n_valid is None else n_valid
    splits = {
        "train": cifar10.CifarSplit("train", 0, n_train - n_valid),
        "valid": cifar10.CifarSplit("train", n_train - n_valid, n_train),
        "test": cifar10.CifarSplit("test", 0, n_test),
        "trainval": cifar10.CifarSplit("train", 0, n_train),
    }
    for split, span in splits.items():
        monkeypatch.setitem(cifar10.SPLITS, split, span)
    cifar10._read_checked.cache_clear()
    return folder
