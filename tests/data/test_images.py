import numpy as np
import pytest
import torch
from torch.testing import assert_close

from advnets.data import ImageSet, VectorSet
from advnets.data.images import check_split, select_classes, unit_images
from advnets.errors import UserError
from advnets.pixels import scale_pixels, to_unit_range


def test_unit_images_divides_by_the_maximum_into_a_new_float32_tensor():
    pixels = np.array([0, 51, 255, 102], dtype=np.uint8).reshape(1, 1, 2, 2)
    out = unit_images(pixels, 255)
    assert out.dtype == torch.float32 and out.is_contiguous()
    assert_close(out, torch.tensor([[[[0.0, 0.2], [1.0, 0.4]]]]), rtol=0, atol=1e-7)
    out[0, 0, 0, 0] = 9.0
    assert pixels[0, 0, 0, 0] == 0  # the caller's array is never shared


def test_scale_pixels_exact_values():
    unit = torch.tensor([0.0, 0.2, 0.5, 1.0])
    assert scale_pixels(unit, "unit") is unit
    assert_close(scale_pixels(unit, "symmetric"), torch.tensor([-1.0, -0.6, 0.0, 1.0]), rtol=0, atol=1e-7)


@pytest.mark.parametrize("pixel_range", ["unit", "symmetric"])
def test_to_unit_range_inverts_scale_pixels(pixel_range):
    unit = torch.linspace(0, 1, 11)
    assert_close(to_unit_range(scale_pixels(unit, pixel_range), pixel_range), unit, rtol=0, atol=1e-7)


def test_to_unit_range_of_symmetric_values():
    assert_close(to_unit_range(torch.tensor([-1.0, 0.0, 1.0]), "symmetric"), torch.tensor([0.0, 0.5, 1.0]))


@pytest.mark.parametrize("fn", [scale_pixels, to_unit_range])
def test_unknown_pixel_range_names_the_key(fn):
    with pytest.raises(UserError, match="data.pixel_range='bytes'"):
        fn(torch.zeros(2), "bytes")


def test_check_split_names_the_key():
    check_split("valid")
    with pytest.raises(UserError, match="data.split='val'"):
        check_split("val")


def test_image_set_shape_and_length():
    s = ImageSet(torch.zeros(5, 3, 4, 2), torch.zeros(5, dtype=torch.int64), "x", "train", "unit")
    assert s.image_shape == (3, 4, 2) and len(s) == 5


def test_image_set_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="C, H, W"):
        ImageSet(torch.zeros(5, 16), torch.zeros(5, dtype=torch.int64), "x", "train", "unit")
    with pytest.raises(ValueError, match="labels"):
        ImageSet(torch.zeros(5, 1, 4, 4), torch.zeros(4, dtype=torch.int64), "x", "train", "unit")


def test_data_sets_declare_their_kind_and_show_samples_accordingly(tmp_path):
    from PIL import Image

    images = ImageSet(torch.rand(4, 1, 6, 6), None, "x", "train", "symmetric")
    assert images.kind.name == "image" and images.kind.value_range == (-1.0, 1.0) and images.pixel_range == "symmetric"
    images.kind.show(images.examples, tmp_path / "grid.png")
    vectors = VectorSet(torch.randn(50, 2), "ring", "train")
    assert vectors.shape == (2,) and vectors.kind.value_range is None and vectors.pixel_range is None
    with pytest.raises(TypeError, match="not images"):
        _ = vectors.images
    vectors.kind.show(vectors.examples[:10], tmp_path / "scatter.png", reference=vectors.examples)
    VectorSet(torch.randn(50, 1), "gauss", "train").kind.show(torch.randn(20, 1), tmp_path / "hist.png")
    for name in ("grid.png", "scatter.png", "hist.png"):
        assert Image.open(tmp_path / name).size[0] > 50
    with pytest.raises(ValueError, match=r"vector examples must be \[D\]"):
        VectorSet(torch.zeros(5, 2, 2), "x", "train")


def test_select_classes_keeps_those_labels_in_order():
    images = torch.arange(6, dtype=torch.float32).reshape(6, 1, 1, 1)
    labels = torch.tensor([0, 1, 2, 0, 2, 1])
    kept_images, kept_labels = select_classes(images, labels, [2, 0], "toy train")
    assert kept_labels.tolist() == [0, 2, 0, 2]
    assert kept_images.flatten().tolist() == [0.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("classes", [[], [42], [0, 7]])
def test_select_classes_refuses_labels_the_split_lacks(classes):
    labels = torch.tensor([0, 1, 2, 0])
    with pytest.raises(UserError, match=r"data\.classes=.*toy train.*0\.\.2"):
        select_classes(torch.zeros(4, 1, 1, 1), labels, classes, "toy train")
