import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits

from advnets.data import DATASETS, load_images
from advnets.data import ImageDataOptions as DataConfig
from advnets.errors import UserError


def test_registered_names():
    assert {"mnist", "fashion-mnist", "digits"} <= set(DATASETS.names())


@pytest.mark.parametrize(
    "split,start,stop",
    [("train", 0, 1400), ("valid", 1400, 1600), ("test", 1600, 1797), ("trainval", 0, 1600)],
)
def test_digits_splits_are_slices_of_sklearns_order(split, start, stop):
    reference = load_digits()
    s = load_images(DataConfig(name="digits"), split)
    assert (s.name, s.split, s.pixel_range) == ("digits", split, "unit")
    assert len(s) == stop - start and s.image_shape == (1, 8, 8)
    assert s.images.dtype == torch.float32 and s.labels.dtype == torch.int64 and s.images.is_contiguous()
    assert_allclose(s.images[:, 0].numpy(), reference.images[start:stop] / 16.0, rtol=0, atol=1e-7)
    assert s.labels.tolist() == reference.target[start:stop].tolist()


def test_digits_unit_range_reaches_both_ends():
    images = load_images(DataConfig(name="digits", split="train")).images
    assert images.min().item() == 0.0 and images.max().item() == 1.0


def test_digits_symmetric_range():
    unit = load_images(DataConfig(name="digits", split="test")).images
    symmetric = load_images(DataConfig(name="digits", split="test", pixel_range="symmetric"))
    assert symmetric.pixel_range == "symmetric"
    assert symmetric.images.min().item() == -1.0 and symmetric.images.max().item() == 1.0
    torch.testing.assert_close(symmetric.images, unit * 2 - 1, rtol=0, atol=1e-6)


def test_digits_class_filter():
    s = load_images(DataConfig(name="digits", split="train", classes=[3, 7]))
    expected = np.bincount(load_digits().target[:1400])
    assert len(s) == expected[3] + expected[7]
    assert set(s.labels.tolist()) == {3, 7}


def test_split_argument_overrides_the_config():
    assert len(load_images(DataConfig(name="digits", split="train"), "valid")) == 200


@pytest.mark.parametrize(
    "cfg,key",
    [
        (DataConfig(name="digits", classes=[10]), "data.classes"),
        (DataConfig(name="digits", classes=[]), "data.classes"),
        (DataConfig(name="digits", split="validation"), "data.split"),
        (DataConfig(name="digits", pixel_range="0-255"), "data.pixel_range"),
        (DataConfig(name="svhn"), "data.name"),
    ],
)
def test_bad_data_config_names_the_key(cfg, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        load_images(cfg)
