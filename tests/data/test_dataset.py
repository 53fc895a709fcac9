"""A DataSet keeps float32 examples, or uint8 pixels decoded a batch at a time; readers go through `take`, `chunks`,
`mean` and `float_examples`, which give a uint8 set exactly the numbers of the same data stored as float32."""

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from advnets.data import DataSet, ImageKind, ImageSet
from advnets.data.dataset import pixel_values
from advnets.data.images import unit_images
from advnets.pixels import display_unit, scale_pixels
from advnets.training.components import build_components
from advnets.training.trainer import Trainer
from tests.conftest import tiny_config


def pixels(n=70, shape=(1, 8, 8), seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize("pixel_range", ["unit", "symmetric"])
def test_each_pixel_value_is_exactly_what_the_float_loaders_make(pixel_range):
    every = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    as_loaded = scale_pixels(unit_images(every, 255), pixel_range).flatten()  # MNIST's path: /255, then scaled
    assert torch.equal(pixel_values(pixel_range), as_loaded)
    assert pixel_values(pixel_range)[0] == (0.0 if pixel_range == "unit" else -1.0) and pixel_values(pixel_range)[255] == 1.0


def test_a_float_set_is_read_exactly_as_before():
    examples = torch.rand(10, 1, 4, 4)
    s = ImageSet(examples, None, "x", "train", "unit")
    index = torch.tensor([3, 1, 3])
    assert not s.encoded and s.pixel_values is None
    assert torch.equal(s.take(index), examples[index]) and torch.equal(s.take(slice(0, 4)), examples[:4])
    assert torch.equal(s.mean(), examples.mean(0))  # the pinned data mean of mnist-paper's output bias
    assert s.float_examples() is examples and s.images is examples
    assert s.to("cpu").examples is examples


def test_a_uint8_set_decodes_per_batch_and_walks_in_chunks(monkeypatch):
    raw = pixels()
    s = ImageSet(raw, torch.arange(70) % 3, "x", "train", "symmetric", class_names=("a", "b", "c"))
    decoded = scale_pixels(unit_images(raw.numpy(), 255), "symmetric")  # the float set of the same data
    assert s.encoded and s.examples.dtype == torch.uint8 and s.examples is raw  # not copied
    assert s.shape == (1, 8, 8) and s.image_shape == (1, 8, 8) and len(s) == 70 and s.class_names[2] == "c"
    index = torch.tensor([5, 0, 69])
    assert s.take(index).dtype == torch.float32 and torch.equal(s.take(index), decoded[index])
    monkeypatch.setattr("advnets.data.dataset.CHUNK", 16)  # walk in several pieces
    assert [len(c) for c in s.chunks(32)] == [32, 32, 6]
    assert torch.equal(torch.cat(list(s.chunks(32))), decoded)
    assert torch.equal(s.float_examples(), decoded) and torch.equal(s.images, decoded)
    assert_close(s.mean(), decoded.double().mean(0).float(), rtol=0, atol=1e-6)
    assert s.mean().dtype == torch.float32
    moved = s.to("cpu")
    assert moved.encoded and moved.class_names == s.class_names and moved.kind == s.kind


def test_a_dataset_checks_its_storage():
    with pytest.raises(ValueError, match="uint8 examples need pixel_values"):
        DataSet(pixels(), None, "x", "train", ImageKind("unit"))
    with pytest.raises(ValueError, match="uint8 examples need pixel_values"):
        DataSet(torch.rand(3, 1, 2, 2), None, "x", "train", ImageKind("unit"), pixel_values("unit"))
    with pytest.raises(ValueError, match=r"pixel_values must be \[256\]"):
        DataSet(pixels(), None, "x", "train", ImageKind("unit"), torch.zeros(10))
    with pytest.raises(ValueError, match="pixel_range must be one of"):
        ImageKind("bytes")


def test_an_unbounded_kind_is_shown_per_image(tmp_path):
    kind = ImageKind("gcn")
    assert kind.value_range is None
    images = torch.tensor([[[[-2.0, 1.0]]], [[[0.0, 0.0]]]])  # [2, 1, 1, 2]
    assert_close(display_unit(images, "gcn"), torch.tensor([[[[0.0, 0.75]]], [[[0.5, 0.5]]]]))
    kind.show(torch.randn(4, 3, 5, 5) * 3, tmp_path / "grid.png")
    assert (tmp_path / "grid.png").is_file()


@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
def test_a_uint8_set_trains_with_the_numbers_of_the_same_data_as_float32(update):
    raw, labels = pixels(), torch.arange(70) % 10
    encoded = ImageSet(raw, labels, "digits", "train", "unit")
    plain = ImageSet(encoded.float_examples().clone(), labels, "digits", "train", "unit")
    states = []
    for data in (encoded, plain):
        cfg = tiny_config(f"train.update={update}", "train.max_steps=2")
        trainer = Trainer(cfg, build_components(cfg, data))
        trainer.fit()
        assert trainer.step == 2 and trainer.train_set.encoded == (data is encoded)
        states.append({**trainer.G.state_dict(), **{f"D.{k}": v for k, v in trainer.D.state_dict().items()}})
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
