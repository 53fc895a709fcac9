import gzip
import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pooch
import pytest
import requests
import torch
from torch.testing import assert_close
from urllib3.connection import HTTPSConnection
from urllib3.exceptions import MaxRetryError, NewConnectionError

from advnets.data import ImageDataOptions as DataConfig
from advnets.data import idx, load_images
from advnets.data.idx import IdxFile, IdxSplit
from advnets.errors import UserError
from tests.conftest import require_data

# A tiny MNIST look-alike: 3x2 images, each filled with one value, so every pixel's expected value is known.
H, W = 3, 2
TRAIN_VALUES = [0, 51, 255, 102, 204, 153, 17, 34]
TRAIN_LABELS = [0, 1, 2, 0, 1, 2, 0, 1]
TEST_VALUES = [255, 0, 51, 102]
TEST_LABELS = [2, 1, 0, 2]
TINY_SPLITS = {
    "train": IdxSplit("train", 0, 6),
    "valid": IdxSplit("train", 6, 8),
    "test": IdxSplit("t10k", 0, 4),
}


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def filled(values: list[int]) -> np.ndarray:
    return np.repeat(np.array(values, dtype=np.uint8), H * W).reshape(len(values), H, W)


RAW = {
    "train-images-idx3-ubyte": idx_bytes(filled(TRAIN_VALUES), idx.IMAGES_MAGIC),
    "train-labels-idx1-ubyte": idx_bytes(np.array(TRAIN_LABELS), idx.LABELS_MAGIC),
    "t10k-images-idx3-ubyte": idx_bytes(filled(TEST_VALUES), idx.IMAGES_MAGIC),
    "t10k-labels-idx1-ubyte": idx_bytes(np.array(TEST_LABELS), idx.LABELS_MAGIC),
}
GZ = {name: gzip.compress(data, mtime=0) for name, data in RAW.items()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiny_file(name: str, checked: bool = True) -> IdxFile:
    magic = idx.IMAGES_MAGIC if "images" in name else idx.LABELS_MAGIC
    return IdxFile(name, magic, sha256(GZ[name]), sha256(RAW[name]) if checked else None)


def write_files(folder: Path, gz: bool = True, contents: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (contents or RAW).items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def tiny_mnist(monkeypatch):
    """Make the registered "mnist" the tiny look-alike: its split table and checksums."""

    def install(checked: bool = True) -> None:
        for part in ("train", "t10k"):
            files = (
                tiny_file(f"{part}-images-idx3-ubyte", checked),
                tiny_file(f"{part}-labels-idx1-ubyte", checked),
            )
            monkeypatch.setitem(idx.MNIST.parts, part, files)
        for split, span in TINY_SPLITS.items():
            monkeypatch.setitem(idx.MNIST.splits, split, span)

    install()
    return install


def mnist(root: Path | None, **kwargs) -> DataConfig:
    return DataConfig(name="mnist", root=None if root is None else str(root), download=False, **kwargs)


# -- parsing ------------------------------------------------------------------------------------------------


def test_parse_idx_gives_n_h_w_in_row_major_order():
    data = idx_bytes(np.arange(12).reshape(2, 2, 3), idx.IMAGES_MAGIC)
    array = idx.parse_idx(data, idx.IMAGES_MAGIC, "x")
    assert array.shape == (2, 2, 3) and array.dtype == np.uint8
    assert array[1, 0, 2] == 8 and array[0, 1, 0] == 3
    assert not array.flags.writeable


def test_parse_idx_labels():
    array = idx.parse_idx(idx_bytes(np.array([7, 0, 9]), idx.LABELS_MAGIC), idx.LABELS_MAGIC, "x")
    assert array.tolist() == [7, 0, 9]


@pytest.mark.parametrize(
    "data,message",
    [
        (RAW["train-labels-idx1-ubyte"], "magic number 2049, expected 2051"),
        (b"\x00\x00", "magic number missing"),
        (RAW["train-images-idx3-ubyte"][:10], "shorter than its header"),
        (RAW["train-images-idx3-ubyte"][:-1], "holds 63 bytes but its header \\(8 x 3 x 2\\) needs 64"),
        (RAW["train-images-idx3-ubyte"] + b"\x00", "holds 65 bytes"),
    ],
)
def test_parse_idx_refuses_malformed_data(data, message):
    with pytest.raises(UserError, match=message):
        idx.parse_idx(data, idx.IMAGES_MAGIC, "some/file")


# -- splits, scaling, classes -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "unpacked"])
@pytest.mark.parametrize(
    "split,values,labels",
    [
        ("train", TRAIN_VALUES[:6], TRAIN_LABELS[:6]),
        ("valid", TRAIN_VALUES[6:], TRAIN_LABELS[6:]),
        ("test", TEST_VALUES, TEST_LABELS),
    ],
)
def test_splits_and_unit_pixels(tiny_mnist, tmp_path, gz, split, values, labels):
    s = load_images(mnist(write_files(tmp_path / "data", gz=gz), split=split))
    assert (s.name, s.split, s.pixel_range, s.image_shape) == ("mnist", split, "unit", (1, H, W))
    assert s.images.dtype == torch.float32 and s.images.is_contiguous()
    assert s.labels.dtype == torch.int64 and s.labels.tolist() == labels
    expected = (
        (torch.tensor(values, dtype=torch.float64) / 255).float().reshape(-1, 1, 1, 1).expand(-1, 1, H, W)
    )
    assert_close(s.images, expected, rtol=0, atol=1e-7)


def test_symmetric_pixels_exact(tiny_mnist, tmp_path):
    s = load_images(mnist(write_files(tmp_path), pixel_range="symmetric"))
    # 2 * v / 255 - 1 for v = 0, 51, 255, 102, 204, 153
    assert_close(s.images[:, 0, 0, 0], torch.tensor([-1.0, -0.6, 1.0, -0.2, 0.6, 0.2]), rtol=0, atol=1e-6)
    assert s.images.min().item() == -1.0 and s.images.max().item() == 1.0


def test_class_filter_applies_after_the_split(tiny_mnist, tmp_path):
    s = load_images(mnist(write_files(tmp_path), classes=[2]))
    # train = the first 6: labels 0 1 2 0 1 2, so images 2 and 5 (values 255 and 153)
    assert s.labels.tolist() == [2, 2]
    assert_close(s.images[:, 0, 0, 0], torch.tensor([1.0, 0.6]), rtol=0, atol=1e-7)
    with pytest.raises(UserError, match=r"data\.classes=\[2\] asks for labels mnist valid does not have"):
        load_images(mnist(tmp_path, classes=[2], split="valid"))  # valid = labels 0 1


# -- where files are found ----------------------------------------------------------------------------------


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVNETS_DATA", str(tmp_path / "env"))
    folders = idx.search_folders(idx.FASHION_MNIST, str(tmp_path / "root"))
    assert folders == [
        tmp_path / "root",
        tmp_path / "root" / "fashion-mnist",
        tmp_path / "env",
        tmp_path / "env" / "fashion-mnist",
        Path("/usr/share/datasets/fashion-mnist"),  # Debian's dataset-fashion-mnist
        Path(pooch.os_cache("advnets")) / "fashion-mnist",
    ]
    assert idx.search_folders(idx.MNIST, None) == [
        tmp_path / "env",
        tmp_path / "env" / "mnist",
        folders[-1].parent / "mnist",
    ]


def test_root_subfolder(tiny_mnist, tmp_path):
    write_files(tmp_path / "mnist")
    assert len(load_images(mnist(tmp_path))) == 6


def test_advnets_data(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVNETS_DATA", str(write_files(tmp_path / "env")))
    assert len(load_images(mnist(None, split="test"))) == 4


def test_download_cache_is_searched(tiny_mnist, tmp_path):
    write_files(idx.cache_folder("mnist"))
    assert len(load_images(mnist(None, split="valid"))) == 2


def test_root_wins_over_advnets_data_and_gz_over_unpacked(tiny_mnist, tmp_path, monkeypatch):
    write_files(tmp_path / "root", gz=False)
    write_files(tmp_path / "env")
    monkeypatch.setenv("ADVNETS_DATA", str(tmp_path / "env"))
    file = tiny_file("train-images-idx3-ubyte")
    assert idx.locate(idx.MNIST, file, mnist(tmp_path / "root")) == tmp_path / "root" / file.name
    write_files(tmp_path / "root" / "mnist")  # the root itself still comes before its subfolder
    assert idx.locate(idx.MNIST, file, mnist(tmp_path / "root")) == tmp_path / "root" / file.name
    write_files(tmp_path / "root")  # now both forms in one folder: the .gz is taken
    assert idx.locate(idx.MNIST, file, mnist(tmp_path / "root")) == tmp_path / "root" / f"{file.name}.gz"


def test_missing_file_without_download(tiny_mnist, tmp_path):
    with pytest.raises(UserError) as err:
        load_images(mnist(tmp_path / "empty"))
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "empty" / "mnist") in message
    assert "data.root" in message and "data.download=true" in message and "\n" not in message


# -- downloading (pooch is faked: no test touches the network) ----------------------------------------------


def test_download_tries_mirrors_in_order_with_pinned_hashes(tiny_mnist, tmp_path, monkeypatch):
    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash))
        if url.startswith(idx.MNIST.mirrors[0]):
            raise OSError("mirror down")
        target = Path(path) / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(GZ[fname.removesuffix(".gz")])
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    s = load_images(DataConfig(name="mnist", root=str(tmp_path / "empty"), download=True, split="test"))
    assert s.labels.tolist() == TEST_LABELS
    name = "t10k-images-idx3-ubyte"
    assert calls[:2] == [(f"{m}{name}.gz", f"sha256:{sha256(GZ[name])}") for m in idx.MNIST.mirrors]
    assert len(calls) == 4  # labels: the same two tries
    assert (idx.cache_folder("mnist") / f"{name}.gz").read_bytes() == GZ[name]


def test_all_mirrors_failing_is_one_user_error(tiny_mnist, tmp_path):
    with pytest.raises(UserError) as err:  # the fixture's pooch.retrieve always fails
        load_images(DataConfig(name="mnist", root=str(tmp_path), download=True))
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "failed: " in message
    assert all(urlsplit(m).hostname in message for m in idx.MNIST.mirrors)


def refused(url, *args, **kwargs):
    """What requests raises without a network: urllib3's errors nested in its own, in one long line."""
    host = urlsplit(url).hostname
    reason = NewConnectionError(
        HTTPSConnection(host), "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    raise requests.exceptions.ConnectionError(MaxRetryError(None, urlsplit(url).path, reason=reason))


def test_no_data_and_no_network_says_what_is_missing_where_it_looked_why_and_what_to_do(
    tiny_mnist, tmp_path, monkeypatch
):
    monkeypatch.setattr(pooch, "retrieve", refused)
    monkeypatch.setenv("ADVNETS_DATA", str(tmp_path / "env"))
    write_files(tmp_path / "root", contents={k: v for k, v in RAW.items() if k.startswith("t10k")})
    with pytest.raises(UserError) as err:
        load_images(DataConfig(name="mnist", root=str(tmp_path / "root"), download=True))
    message = str(err.value)
    # Where, in the order searched.
    folders = [tmp_path / "root", tmp_path / "root" / "mnist", tmp_path / "env", tmp_path / "env" / "mnist"]
    looked_in = f"{', '.join(map(str, folders))}, {idx.cache_folder('mnist')}"
    assert f"looked in, in order: {looked_in};" in message
    # One line, short but for the folders (the error it replaces had ~900 characters of urllib3's).
    assert "\n" not in message and len(message) - len(looked_in) < 450
    # Which files: the missing ones only (the t10k pair is in place).
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz (gzipped or not)" in message
    assert "t10k" not in message
    # Why, in a few words, from both mirrors.
    hosts = " and ".join(urlsplit(m).hostname for m in idx.MNIST.mirrors)
    assert f"downloading from {hosts} failed: no network (connection refused);" in message
    assert "Max retries" not in message and "HTTPSConnection" not in message
    # What to do.
    assert "data.root=FOLDER (or $ADVNETS_DATA)" in message and "docs/data.md" in message


@pytest.mark.parametrize(
    "error,cause",
    [
        (
            OSError("[Errno -3] Temporary failure in name resolution"),
            "no network (the server's name could not",
        ),
        (requests.exceptions.HTTPError("404 Client Error: Not Found for url: https://x/y.gz"), "HTTP 404"),
        (ValueError("SHA256 hash of downloaded file (abc) does not match the known hash"), "checksum"),
        (requests.exceptions.ConnectTimeout("Connection to x timed out"), "timed out"),
        (OSError("something else entirely"), "OSError: something else entirely"),
    ],
)
def test_download_causes_in_a_few_words(error, cause):
    assert cause in idx.download_cause(error)


def test_real_sources_pin_every_file():
    for source in (idx.MNIST, idx.FASHION_MNIST):
        for pair in source.parts.values():
            for file in pair:
                assert len(file.gz_sha256) == 64 and len(file.raw_sha256) == 64
    assert idx.FASHION_MNIST.mirrors == ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


# -- bad files: one UserError naming the file, and the file left as it was ----------------------------------


def other_pixels() -> dict[str, bytes]:
    return {**RAW, "train-images-idx3-ubyte": idx_bytes(filled([1] * 8), idx.IMAGES_MAGIC)}


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "unpacked"])
def test_wrong_checksum(tiny_mnist, tmp_path, gz):
    write_files(tmp_path, gz=gz, contents=other_pixels())
    bad = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    before = bad.read_bytes()
    with pytest.raises(UserError, match=rf"{re.escape(str(bad))}.*SHA-256 differs.*delete it"):
        load_images(mnist(tmp_path))
    assert bad.read_bytes() == before


def test_truncated_gzip(tiny_mnist, tmp_path):
    write_files(tmp_path)
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(GZ["train-labels-idx1-ubyte"][:-12])
    with pytest.raises(UserError, match=rf"{re.escape(str(bad))} is not a complete gzip file"):
        load_images(mnist(tmp_path))
    assert bad.read_bytes() == GZ["train-labels-idx1-ubyte"][:-12]


def test_not_gzip_at_all(tiny_mnist, tmp_path):
    write_files(tmp_path)
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(b"<html>404</html>")
    with pytest.raises(UserError, match=rf"{re.escape(str(bad))} is not a complete gzip file"):
        load_images(mnist(tmp_path))
    assert bad.read_bytes() == b"<html>404</html>"


def test_bad_magic(tiny_mnist, tmp_path):
    wrong = {**RAW, "t10k-images-idx3-ubyte": b"\x00\x00\x08\x04" + RAW["t10k-images-idx3-ubyte"][4:]}
    write_files(tmp_path, contents=wrong)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    before = bad.read_bytes()
    with pytest.raises(
        UserError,
        match=rf"{re.escape(str(bad))} is not an IDX images file \(magic number 2052, expected 2051\)",
    ):
        load_images(mnist(tmp_path, split="test"))
    assert bad.read_bytes() == before


def test_images_and_labels_must_pair(tiny_mnist, tmp_path):
    tiny_mnist(checked=False)  # structure only, so the mismatch itself is what is caught
    write_files(
        tmp_path, contents={**RAW, "train-labels-idx1-ubyte": idx_bytes(np.zeros(7), idx.LABELS_MAGIC)}
    )
    with pytest.raises(UserError, match="holds 8 images but .* holds 7 labels"):
        load_images(mnist(tmp_path))


def test_file_too_short_for_the_split(tiny_mnist, tmp_path):
    tiny_mnist(checked=False)
    short = {
        **RAW,
        "train-images-idx3-ubyte": idx_bytes(filled(TRAIN_VALUES[:7]), idx.IMAGES_MAGIC),
        "train-labels-idx1-ubyte": idx_bytes(np.array(TRAIN_LABELS[:7]), idx.LABELS_MAGIC),
    }
    write_files(tmp_path, contents=short)
    assert len(load_images(mnist(tmp_path))) == 6
    with pytest.raises(UserError, match=r"holds 7 images, but the valid split is \[6:8\]"):
        load_images(mnist(tmp_path, split="valid"))


# -- each file is hashed once per process ---------------------------------------------------------------


def test_each_file_is_checked_once_and_again_when_replaced(tiny_mnist, tmp_path, monkeypatch):
    write_files(tmp_path)
    hashed = []
    real_sha256 = hashlib.sha256

    def counting_sha256(data=b""):
        hashed.append(len(data))
        return real_sha256(data)

    monkeypatch.setattr(idx.hashlib, "sha256", counting_sha256)
    for split in ("train", "valid", "train"):
        load_images(mnist(tmp_path, split=split))
    assert hashed == [len(RAW["train-images-idx3-ubyte"]), len(RAW["train-labels-idx1-ubyte"])]
    # A replaced file (new content, new mtime) is read and checked again.
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(other_pixels()["train-images-idx3-ubyte"], mtime=0))
    os.utime(bad, ns=(1_000_000_000, 1_000_000_000))
    with pytest.raises(UserError, match="SHA-256 differs"):
        load_images(mnist(tmp_path))


# -- the real MNIST -----------------------------------------------------------------------------------------


def test_real_mnist():
    root = str(require_data("mnist"))  # $ADVNETS_DATA as the session started (tests/conftest.py)
    cfg = DataConfig(name="mnist", root=root, download=False)
    train = load_images(cfg, "train")
    hits = idx._read_checked.cache_info().hits
    train_again = load_images(cfg, "train")
    valid, test = load_images(cfg, "valid"), load_images(cfg, "test")
    assert (len(train), len(valid), len(test)) == (50000, 10000, 10000)
    assert train.image_shape == (1, 28, 28) and train.labels[0].item() == 5
    assert test.labels.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    for s in (train, valid, test):
        assert s.images.min().item() == 0.0 and s.images.max().item() == 1.0
    assert torch.equal(train.images, train_again.images)
    assert idx._read_checked.cache_info().hits > hits  # decoded once, served from the cache after
    zeros = load_images(DataConfig(name="mnist", root=root, download=False, classes=[0]))
    assert len(zeros) == 4932  # of the 5,923 zeros in train[0:60000], these fall in train[0:50000]
    every = load_images(DataConfig(name="mnist", root=root, download=False, split="trainval"))
    assert len(every) == 60000 and torch.equal(every.images[:50000], train.images)
    assert torch.equal(every.images[50000:], valid.images)
    all_zeros = load_images(
        DataConfig(name="mnist", root=root, download=False, split="trainval", classes=[0])
    )
    assert len(all_zeros) == 5923  # docs/paper.md §6: the mnist-zeros experiment used all of them


FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (FASHION_DEBIAN / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist_from_debians_package():
    # Found with no root and no download, checked against the pinned official checksums.
    cfg = DataConfig(name="fashion-mnist", download=False)
    train, valid, test = (load_images(cfg, split) for split in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (50000, 10000, 10000)
    assert test.labels.bincount().tolist() == [1000] * 10
    assert train.labels[:5].tolist() == [9, 0, 0, 3, 0]
    for s in (train, valid, test):
        assert s.images.min().item() == 0.0 and s.images.max().item() == 1.0
