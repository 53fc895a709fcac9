"""CIFAR-10 from the python-pickle batches: found and checked as every file data set is, read in the real format
from small fakes (tests/data/cifar_files.py), never unpickled with code in it, split and preprocessed as
docs/data.md says."""

import hashlib
import math
import os
import pickle
import re
import tarfile
from pathlib import Path

import numpy as np
import pooch
import pytest
import torch
from torch.testing import assert_close

from advnets.data import ImageKind, cifar10, files, load_data
from advnets.data.cifar10 import Cifar10Options
from advnets.errors import UserError
from advnets.training.trainer import Trainer
from tests.conftest import tiny_config
from tests.data.cifar_files import (
    TEST_OFFSET,
    fake_label,
    fake_pixel,
    fake_rows,
    use_fake_cifar,
    write_fake_cifar,
)

PER_BATCH, N_TEST, N_VALID = 4, 6, 3  # 20 training images: train = 0..16, valid = 17..19


def options(root: Path | None, **kwargs) -> Cifar10Options:
    return Cifar10Options(root=None if root is None else str(root), download=False, **kwargs)


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A fake CIFAR-10 in tmp_path/data, extracted (default) or as the tarball; returns data.root."""

    def make(tarball: bool = False) -> Path:
        return use_fake_cifar(monkeypatch, tmp_path / "data", PER_BATCH, N_TEST, tarball=tarball, n_valid=N_VALID)

    return make


# -- format, channel order, splits, labels ------------------------------------------------------------------


@pytest.mark.parametrize("tarball", [False, True], ids=["extracted", "tarball"])
@pytest.mark.parametrize(
    "split,numbers",
    [
        ("train", range(0, 17)),
        ("valid", range(17, 20)),
        ("trainval", range(0, 20)),
        ("test", range(TEST_OFFSET, TEST_OFFSET + N_TEST)),
    ],
)
def test_splits_labels_and_the_red_green_blue_planes(fake, tarball, split, numbers):
    s = load_data(options(fake(tarball), split=split, preprocess="unit"))
    assert (s.name, s.split, s.shape, s.pixel_range, len(s)) == ("cifar10", split, (3, 32, 32), "unit", len(numbers))
    assert s.examples.dtype == torch.uint8 and s.encoded  # kept as pixels, decoded per batch
    assert s.labels.dtype == torch.int64 and s.labels.tolist() == [fake_label(i) for i in numbers]
    assert s.class_names[0] == "airplane" and s.class_names[9] == "truck"
    for k, image in enumerate(numbers):  # the 3072 row is the red plane, then green, then blue, each row-major
        for channel, y, x in [(0, 0, 0), (0, 0, 31), (0, 1, 0), (1, 0, 0), (2, 31, 31), (1, 17, 5)]:
            assert s.examples[k, channel, y, x].item() == fake_pixel(image, channel, y, x)


@pytest.mark.parametrize("preprocess,expected", [("unit", lambda v: v / 255), ("symmetric", lambda v: 2 * v / 255 - 1)])
def test_unit_and_symmetric_pixels_against_hand_computed_values(fake, preprocess, expected):
    s = load_data(options(fake(), preprocess=preprocess, split="test"))
    assert s.pixel_range == preprocess and s.kind.value_range == ((0.0, 1.0) if preprocess == "unit" else (-1.0, 1.0))
    taken = s.take(torch.tensor([2, 0]))  # [2, 3, 32, 32] float32
    assert taken.dtype == torch.float32 and taken.shape == (2, 3, 32, 32)
    for row, image in enumerate([TEST_OFFSET + 2, TEST_OFFSET]):
        for channel, y, x in [(0, 0, 0), (1, 3, 4), (2, 31, 30)]:
            v = fake_pixel(image, channel, y, x)
            assert taken[row, channel, y, x].item() == pytest.approx(expected(v), abs=1e-7)
    # Exactly what scaling float32 images would give (the MNIST path): v / 255 in float32, then 2x - 1.
    unit = torch.from_numpy(fake_rows(TEST_OFFSET, N_TEST).astype(np.float32) / np.float32(255)).reshape(-1, 3, 32, 32)
    assert torch.equal(s.float_examples(), unit if preprocess == "unit" else unit * 2.0 - 1.0)


def test_classes_keeps_those_labels_after_the_split(fake):
    s = load_data(options(fake(), classes=[3, 0]))
    wanted = [i for i in range(17) if fake_label(i) in (0, 3)]
    assert s.labels.tolist() == [fake_label(i) for i in wanted] and len(wanted) > 0
    assert s.examples[0, 0, 0, 0].item() == fake_pixel(wanted[0], 0, 0, 0)
    with pytest.raises(UserError, match=r"data\.classes=\[42\] asks for labels cifar10 train does not have"):
        load_data(options(fake(), classes=[42]))


# -- global contrast normalisation (docs/paper.md §1c) ------------------------------------------------------


def test_gcn_by_hand():
    # Half the values a, half b: centred to ±(b - a)/2, norm sqrt(3072)·|b - a|/2, so every value is ±55/sqrt(3072).
    two_levels = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    two_levels.view(1, -1)[0, :1536] = 10
    two_levels.view(1, -1)[0, 1536:] = 200
    constant = torch.full((1, 3, 32, 32), 77, dtype=torch.uint8)  # norm 0 < 1e-8: divided by 1, so all zeros
    out = cifar10.global_contrast_normalize(torch.cat([two_levels, constant]))
    assert out.dtype == torch.float32 and out.shape == (2, 3, 32, 32)
    step = 55 / math.sqrt(3072)
    assert_close(out[0].flatten()[:1536], torch.full((1536,), -step), rtol=0, atol=1e-6)
    assert_close(out[0].flatten()[1536:], torch.full((1536,), step), rtol=0, atol=1e-6)
    assert torch.equal(out[1], torch.zeros(3, 32, 32))


def test_gcn_split_has_mean_0_norm_55_and_an_unbounded_kind(fake):
    s = load_data(options(fake(), preprocess="gcn", split="test"))
    assert s.examples.dtype == torch.float32 and not s.encoded
    assert s.pixel_range == "gcn" and s.kind.value_range is None and s.kind == ImageKind("gcn")
    flat = s.examples.flatten(1).double()
    assert_close(flat.mean(1), torch.zeros(N_TEST, dtype=torch.float64), rtol=0, atol=1e-6)
    assert_close(flat.norm(dim=1), torch.full((N_TEST,), 55.0, dtype=torch.float64), rtol=1e-6, atol=0)
    raw = fake_rows(TEST_OFFSET, N_TEST).astype(np.float64)  # the formula in numpy, float64
    centred = raw - raw.mean(1, keepdims=True)
    expected = centred / (np.sqrt((centred**2).sum(1, keepdims=True)) / 55.0)
    assert_close(s.examples.flatten(1), torch.from_numpy(expected).float(), rtol=0, atol=1e-6)


def test_gcn_images_refuse_a_bounded_generator_and_train_a_linear_one(fake, tmp_path):
    root = fake()
    data = ["data.name=cifar10", f"data.root={root}", "data.download=false", "data.preprocess=gcn"]
    with pytest.raises(UserError, match="unbounded images; set model.generator.output=linear"):
        Trainer.from_config(tiny_config(*data, "train.batch_size=8"))
    trainer = Trainer.from_config(
        tiny_config(*data, "train.batch_size=8", "model.generator.output=linear", "train.max_steps=2")
    )
    trainer.fit()
    assert trainer.step == 2
    trainer.train_set.kind.show(trainer.train_set.take(torch.arange(4)), tmp_path / "gcn.png")  # a picture, all the same
    assert (tmp_path / "gcn.png").stat().st_size > 0


def test_options_refuse_unknown_preprocessing_and_split():
    from advnets.config import build_config

    cfg = build_config(overrides=["data.name=cifar10"])
    assert (cfg.data.preprocess, cfg.data.pixel_range, cfg.data.split) == ("symmetric", "symmetric", "train")
    with pytest.raises(UserError, match="data.preprocess='zca' is not allowed; choose one of: unit, symmetric, gcn"):
        build_config(overrides=["data.name=cifar10", "data.preprocess=zca"])
    with pytest.raises(UserError, match="data.split='val'"):
        build_config(overrides=["data.name=cifar10", "data.split=val"])


# -- pickles are never trusted ------------------------------------------------------------------------------


class SystemCall:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class Eval:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (eval, (self.code,))


@pytest.mark.parametrize(
    "payload,named",
    [
        (lambda marker: SystemCall(f"touch {marker}"), r"(posix|nt)\.system"),
        (lambda marker: Eval(f"open({str(marker)!r}, 'w').close()"), r"(__builtin__|builtins)\.eval"),
    ],
    ids=["os.system", "eval"],
)
def test_a_batch_carrying_code_is_refused_and_the_code_never_runs(fake, monkeypatch, tmp_path, payload, named):
    root = fake()
    marker = tmp_path / "the-payload-ran"
    bad = root / cifar10.FOLDER / "test_batch"
    data = pickle.dumps({b"data": payload(marker), b"labels": [0]}, protocol=2)
    bad.write_bytes(data)
    monkeypatch.setitem(cifar10.BATCH_MD5, "test_batch", hashlib.md5(data).hexdigest())  # past the checksum
    with pytest.raises(UserError, match=rf"{re.escape(str(bad))} was refused: its pickle asks for {named}") as err:
        load_data(options(root, split="test"))
    assert "\n" not in str(err.value)
    assert not marker.exists()
    assert bad.read_bytes() == data  # left as it was


def test_with_the_official_checksums_a_changed_batch_is_refused_before_unpickling(tmp_path):
    write_fake_cifar(tmp_path, PER_BATCH, N_TEST)  # the official MD5s stay in place
    marker = tmp_path / "the-payload-ran"
    bad = tmp_path / cifar10.FOLDER / "test_batch"
    bad.write_bytes(pickle.dumps({b"data": SystemCall(f"touch {marker}")}, protocol=2))
    with pytest.raises(UserError, match=rf"{re.escape(str(bad))} is not the official CIFAR-10 test_batch \(its MD5"):
        load_data(options(tmp_path, split="test"))
    assert not marker.exists()


def test_the_unpickler_reads_python3_protocol_2_batches_too():
    rows = fake_rows(0, 3)
    python3 = pickle.dumps({b"data": rows, b"labels": [1, 2, 3]}, protocol=2)  # bytes via _codecs.encode
    decoded, labels = cifar10.decode_batch(python3, "x")
    assert np.array_equal(decoded, rows) and labels.tolist() == [1, 2, 3]
    with pytest.raises(UserError, match=r"asks for _codecs\.encode with encoding 'rot13'"):
        cifar10.decode_batch(pickle.dumps(_Encoded(), protocol=2), "x")


class _Encoded:
    def __reduce__(self):
        import _codecs

        return (_codecs.encode, ("text", "rot13"))


@pytest.mark.parametrize(
    "data,message",
    [
        (b"not a pickle", "not a readable CIFAR-10 batch"),
        (pickle.dumps([1, 2], protocol=2), "a list, not a dict"),
        (pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, protocol=2), r"uint8 \[N, 3072\]"),
        (pickle.dumps({b"data": fake_rows(0, 2), b"labels": [0]}, protocol=2), "one label per image"),
        (pickle.dumps({b"data": fake_rows(0, 2), b"labels": [0, 10]}, protocol=2), "outside 0..9"),
    ],
)
def test_malformed_batches_are_one_user_error_naming_the_file(data, message):
    with pytest.raises(UserError, match=rf"^some/test_batch .*{message}"):
        cifar10.decode_batch(data, "some/test_batch")


# -- where the files are found, and what is said when they are not ------------------------------------------


def test_found_under_the_root_its_cifar10_subfolder_or_advnets_data(monkeypatch, tmp_path):
    use_fake_cifar(monkeypatch, tmp_path / "root" / "cifar10", PER_BATCH, N_TEST, n_valid=N_VALID)
    assert len(load_data(options(tmp_path / "root", split="valid"))) == N_VALID
    monkeypatch.setenv("ADVNETS_DATA", str(tmp_path / "root"))
    assert len(load_data(options(None, split="valid"))) == N_VALID


def test_the_root_may_be_the_extracted_folder_itself(fake):
    root = fake()
    assert len(load_data(options(root / cifar10.FOLDER, split="valid"))) == N_VALID


def test_the_tarball_wins_over_the_folder_in_one_place(fake, tmp_path):
    root = fake()
    write_fake_cifar(root, PER_BATCH, N_TEST, tarball=True)
    found = files.find_file(cifar10.ARCHIVE, files.search_folders(cifar10.CIFAR10, str(root)))
    assert found == root / "cifar-10-python.tar.gz"
    assert len(load_data(options(root, split="test"))) == N_TEST


def test_missing_data_says_what_where_and_how_without_download(tmp_path):
    with pytest.raises(UserError) as err:
        load_data(options(tmp_path / "empty"))
    message = str(err.value)
    assert message.startswith(
        "cifar10 files not found: cifar-10-python.tar.gz (or the cifar-10-batches-py folder extracted from it); "
        f"looked in, in order: {tmp_path / 'empty'}, {tmp_path / 'empty' / 'cifar10'}, "
    )
    assert "data.download=true" in message and "\n" not in message


def test_no_network_is_one_message_naming_the_host(tmp_path):
    with pytest.raises(UserError, match=r"downloading from www\.cs\.toronto\.edu failed: .*docs/data\.md"):
        load_data(Cifar10Options(root=str(tmp_path)))  # the fixture's pooch.retrieve always fails


def test_the_download_is_the_official_url_pinned_to_its_sha256(monkeypatch, tmp_path):
    use_fake_cifar(monkeypatch, tmp_path / "made", PER_BATCH, N_TEST, tarball=True, n_valid=N_VALID)
    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash, fname))
        target = Path(path) / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((tmp_path / "made" / "cifar-10-python.tar.gz").read_bytes())
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    s = load_data(Cifar10Options(root=str(tmp_path / "empty"), split="test"))
    assert len(s) == N_TEST
    assert calls == [
        (
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            "cifar-10-python.tar.gz",
        )
    ]
    assert (files.cache_folder("cifar10") / "cifar-10-python.tar.gz").is_file()


def test_a_truncated_tarball_is_named(fake, tmp_path):
    root = fake(tarball=True)
    bad = root / "cifar-10-python.tar.gz"
    whole = bad.read_bytes()
    bad.write_bytes(whole[: len(whole) // 2])  # cut inside the training batches
    with pytest.raises(UserError, match=rf"{re.escape(str(bad))} is not a complete \.tar\.gz file"):
        load_data(options(root, split="train"))
    assert bad.read_bytes() == whole[: len(whole) // 2]


def test_a_tarball_without_the_batches_is_named(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, mode="w:gz") as tar:
        tar.add(__file__, arcname="something/else.py")
    with pytest.raises(UserError, match=r"holds no cifar-10-batches-py/test_batch: it is not the CIFAR-10"):
        load_data(options(tmp_path, split="test"))


def test_an_extracted_folder_missing_a_batch_is_named(fake):
    root = fake()
    (root / cifar10.FOLDER / "data_batch_3").unlink()
    with pytest.raises(UserError, match=r"data_batch_3 is missing: the cifar-10-batches-py folder must hold"):
        load_data(options(root))
    assert len(load_data(options(root, split="test"))) == N_TEST  # the test split needs only test_batch


def test_the_real_tables_pin_every_batch_and_the_tarball():
    assert set(cifar10.BATCH_MD5) == {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch"}
    assert all(len(md5) == 32 for md5 in cifar10.BATCH_MD5.values())
    assert len(cifar10.ARCHIVE.published_sha256) == 64
    spans = {name: (s.part, s.start, s.stop) for name, s in cifar10.SPLITS.items()}
    assert spans == {
        "train": ("train", 0, 45000),
        "valid": ("train", 45000, 50000),
        "test": ("test", 0, 10000),
        "trainval": ("train", 0, 50000),
    }


def test_real_cifar10():
    from tests.conftest import SESSION_ADVNETS_DATA

    found = files.find_file(cifar10.ARCHIVE, files.search_folders(cifar10.CIFAR10, SESSION_ADVNETS_DATA)[:-1])
    if found is None:
        pytest.skip("needs CIFAR-10: put cifar-10-python.tar.gz in $ADVNETS_DATA or $ADVNETS_DATA/cifar10")
    root = str(found.parent)
    train, valid, test = (load_data(options(Path(root), split=split)) for split in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (45000, 5000, 10000)
    assert test.labels.bincount().tolist() == [1000] * 10  # the test batch: 1,000 images of each class
    every = torch.cat([train.labels, valid.labels]).bincount().tolist()
    assert every == [5000] * 10
    assert test.examples.dtype == torch.uint8 and test.float_examples().min() == -1.0
