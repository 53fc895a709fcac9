"""Stacked MNIST on the tiny IDX look-alike of test_idx.py: each example three digits of one MNIST split as R, G, B,
label 100a + 10b + c, drawn from (seed, split) alone."""

import numpy as np
import pytest
import torch

from advnets.config import build_config
from advnets.data import idx, load_data
from advnets.data.idx import IdxSplit
from advnets.data.stacked_mnist import StackedMnistOptions
from advnets.errors import UserError
from tests.data.test_idx import (  # noqa: F401 -- tiny_mnist is a fixture
    TEST_LABELS,
    TEST_VALUES,
    TRAIN_LABELS,
    TRAIN_VALUES,
    tiny_mnist,
    write_files,
)

# Every tiny image is filled with one value, distinct within a split: the value says which image a channel holds.
TRAIN = dict(zip(TRAIN_VALUES[:6], TRAIN_LABELS[:6], strict=True))
VALID = dict(zip(TRAIN_VALUES[6:], TRAIN_LABELS[6:], strict=True))
TEST = dict(zip(TEST_VALUES, TEST_LABELS, strict=True))


pytestmark = pytest.mark.usefixtures("tiny_mnist")  # the registered mnist is the tiny look-alike


def stacked(root, **kwargs) -> StackedMnistOptions:
    return StackedMnistOptions(root=str(root), download=False, **kwargs)


@pytest.mark.parametrize("split,digits", [("train", TRAIN), ("valid", VALID), ("test", TEST)])
def test_each_channel_is_a_digit_of_the_split_and_the_label_reads_them(tmp_path, split, digits):
    s = load_data(stacked(write_files(tmp_path), split=split, n=300))
    assert (s.name, s.split, s.shape, len(s), s.pixel_range) == ("stacked-mnist", split, (3, 3, 2), 300, "unit")
    assert s.examples.dtype == torch.uint8 and s.labels.dtype == torch.int64
    values = s.examples[:, :, 0, 0]  # [300, 3]: the value filling each channel
    assert torch.equal(s.examples, values[:, :, None, None].expand(-1, -1, 3, 2))  # each channel one whole digit
    assert set(values.flatten().tolist()) == set(digits)  # every digit of this split, none of another
    read = [100 * digits[a] + 10 * digits[b] + digits[c] for a, b, c in values.tolist()]
    assert s.labels.tolist() == read


def test_the_draws_are_a_function_of_seed_and_split(tmp_path, monkeypatch):
    monkeypatch.setitem(idx.MNIST.splits, "trainval", IdxSplit("train", 0, 8))
    root = write_files(tmp_path)
    first, again = (load_data(stacked(root, n=50)) for _ in range(2))
    assert torch.equal(first.examples, again.examples) and torch.equal(first.labels, again.labels)
    other_seed = load_data(stacked(root, n=50, seed=1))
    assert not torch.equal(first.examples, other_seed.examples)
    trainval = load_data(stacked(root, n=50, split="trainval"))
    assert set(trainval.examples[:, :, 0, 0].flatten().tolist()) <= set(TRAIN) | set(VALID)
    assert not torch.equal(first.examples, trainval.examples)  # another split, another stream


def test_each_digit_is_drawn_uniformly(tmp_path):
    s = load_data(stacked(write_files(tmp_path), n=6000))
    for channel in range(3):
        counts = np.bincount([list(TRAIN).index(v) for v in s.examples[:, channel, 0, 0].tolist()], minlength=6)
        assert np.all(np.abs(counts - 1000) < 120)  # 6,000 draws of 6 images: ~1000 ± 31 each


def test_pixels_decode_as_mnist_does(tmp_path):
    root = write_files(tmp_path)
    s = load_data(stacked(root, n=20, pixel_range="symmetric"))
    overrides = ["data.name=mnist", f"data.root={root}", "data.download=false", "data.pixel_range=symmetric"]
    mnist = load_data(build_config(overrides=overrides).data)
    by_value = {int(round((v + 1) * 255 / 2)): v for v in mnist.images[:, 0, 0, 0].tolist()}
    taken = s.take(torch.arange(20))  # [20, 3, 3, 2] float32 in [-1, 1]
    assert taken.dtype == torch.float32
    for row, channels in enumerate(s.examples[:, :, 0, 0].tolist()):
        for channel, value in enumerate(channels):
            assert taken[row, channel, 0, 0].item() == by_value[value]  # exactly MNIST's float for that digit


def test_classes_keeps_those_labels(tmp_path):
    root = write_files(tmp_path)
    every = load_data(stacked(root, n=400))
    some = sorted(set(every.labels.tolist()))[:2]
    kept = load_data(stacked(root, n=400, classes=some))
    assert set(kept.labels.tolist()) == set(some)
    assert len(kept) == int(torch.isin(every.labels, torch.tensor(some)).sum())


def test_options_and_their_checks():
    cfg = build_config(overrides=["data.name=stacked-mnist"])
    assert (cfg.data.n, cfg.data.seed, cfg.data.pixel_range, cfg.data.split) == (128000, 0, "unit", "train")
    with pytest.raises(UserError, match="data.n=0 is impossible"):
        build_config(overrides=["data.name=stacked-mnist", "data.n=0"])


def test_missing_mnist_is_mnists_message(tmp_path):
    with pytest.raises(UserError, match=r"^mnist files not found: train-images-idx3-ubyte\.gz"):
        load_data(stacked(tmp_path / "empty"))
