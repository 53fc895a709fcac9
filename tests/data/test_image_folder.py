"""An image folder: PNG/JPEG files under data.root, flat or one subfolder per class, centre-cropped and resized,
kept as uint8; a held-out valid split only when data.valid asks; one clear message for every bad folder."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from advnets import cli
from advnets.config import build_config
from advnets.data import load_data
from advnets.data.image_folder import ImageFolderOptions, read_image, split_indices
from advnets.errors import UserError
from tests.conftest import TINY

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def save(path, pixels):
    """Write pixels [H, W, 3] uint8 as an image file (the format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return path


def solid(path, colour, width=6, height=4):
    return save(path, np.broadcast_to(np.array(colour, dtype=np.uint8), (height, width, 3)))


def folder_options(root, **kwargs) -> ImageFolderOptions:
    return ImageFolderOptions(root=str(root), **kwargs)


# -- one image: crop, resize, channels ----------------------------------------------------------------------


def test_the_centred_square_is_kept_wide_or_tall(tmp_path):
    wide = np.zeros((2, 6, 3), np.uint8)
    wide[:, 0:2], wide[:, 2:4], wide[:, 4:6] = RED, GREEN, BLUE  # the middle 2 x 2 is green
    tall = np.transpose(wide, (1, 0, 2)).copy()  # 6 high, 2 wide: green in the middle rows
    for name, pixels in (("wide.png", wide), ("tall.png", tall)):
        image = read_image(save(tmp_path / name, pixels), size=2, channels=3)
        assert image.shape == (3, 2, 2) and image.dtype == np.uint8
        assert image[:, 0, 0].tolist() == [0, 255, 0]  # channels first: R, G, B planes
        assert np.array_equal(image, np.broadcast_to(np.array(GREEN, np.uint8)[:, None, None], (3, 2, 2)))


def test_resized_with_lanczos_and_greyscale_by_luma(tmp_path):
    path = solid(tmp_path / "g.png", GREEN, width=40, height=30)
    assert np.all(read_image(path, size=8, channels=3) == np.array(GREEN)[:, None, None])  # a flat colour stays
    grey = read_image(path, size=8, channels=1)
    assert grey.shape == (1, 8, 8) and np.all(grey == 150)  # L = (38470 · 255 + 2^15) >> 16 = 150 (ITU-R 601-2)
    noisy = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    expected = Image.fromarray(noisy).crop((5, 0, 35, 30)).resize((8, 8), Image.Resampling.LANCZOS)
    got = read_image(save(tmp_path / "n.png", noisy), size=8, channels=3)
    assert np.array_equal(got, np.asarray(expected).transpose(2, 0, 1))


def test_sixteen_bit_greyscale_keeps_its_high_byte(tmp_path):
    Image.fromarray(np.array([[0, 256 * 100 + 99], [65535, 256 * 7]], dtype=np.uint16)).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "deep.png", size=2, channels=1)[0].tolist() == [[0, 100], [255, 7]]


def test_jpeg_and_an_alpha_channel(tmp_path):
    Image.new("RGBA", (5, 5), (10, 20, 30, 0)).save(tmp_path / "clear.png")  # alpha is dropped, not blended
    assert read_image(tmp_path / "clear.png", size=5, channels=3)[:, 2, 2].tolist() == [10, 20, 30]
    solid(tmp_path / "photo.JPG", (200, 100, 50), width=16, height=16)
    got = read_image(tmp_path / "photo.JPG", size=4, channels=3).astype(int)
    assert np.all(np.abs(got - np.array([200, 100, 50])[:, None, None]) <= 3)  # JPEG is lossy


# -- the folder: layouts, labels, storage -------------------------------------------------------------------


def test_a_flat_folder_is_unlabelled_and_kept_as_uint8(tmp_path):
    colours = [(i * 40, 255 - i * 40, 7 * i) for i in range(5)]
    for i, colour in enumerate(colours):
        solid(tmp_path / f"img{i}.png", colour)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"skipped, never read")
    s = load_data(folder_options(tmp_path, size=4, pixel_range="unit"))
    assert (s.name, s.split, s.shape, len(s), s.labels, s.class_names) == ("image-folder", "train", (3, 4, 4), 5, None, None)
    assert s.examples.dtype == torch.uint8 and s.encoded
    assert [tuple(s.examples[i, :, 0, 0].tolist()) for i in range(5)] == colours  # sorted file order
    assert s.take(torch.tensor([1]))[0, :, 0, 0].tolist() == pytest.approx([c / 255 for c in colours[1]], abs=1e-7)


def test_class_folders_are_labels_in_sorted_order(tmp_path):
    solid(tmp_path / "dogs" / "a.png", RED)
    solid(tmp_path / "dogs" / "deep" / "b.jpeg", RED)  # any depth below the class folder
    solid(tmp_path / "cats" / "c.png", BLUE)
    solid(tmp_path / "cats" / ".git" / "x.png", BLUE)  # hidden folders are skipped
    s = load_data(folder_options(tmp_path, size=2, channels=1))
    assert s.class_names == ("cats", "dogs")  # label k is class_names[k]
    assert s.labels.tolist() == [0, 1, 1] and s.shape == (1, 2, 2)
    dogs = load_data(folder_options(tmp_path, size=2, classes=[1]))
    assert len(dogs) == 2 and dogs.labels.tolist() == [1, 1]


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda root: None, r"data\.root=.*empty is not a folder"),
        (lambda root: root.mkdir(), r"holds no PNG or JPEG images \(\.png, \.jpg, \.jpeg\) and no class folders"),
        (
            lambda root: (solid(root / "a.png", RED), solid(root / "cats" / "b.png", RED)),
            r"mixes images \(a\.png, \.\.\.\) with folders of images \(cats/, \.\.\.\)",
        ),
        (
            lambda root: (solid(root / "cats" / "b.png", RED), (root / "dogs").mkdir()),
            r"class folder .*dogs holds no PNG or JPEG images",
        ),
        (lambda root: (root.mkdir(), (root / "bad.png").write_bytes(b"\x89PNG broken")), r"cannot read .*bad\.png as an image"),
    ],
    ids=["missing", "empty", "mixed", "empty-class", "unreadable"],
)
def test_a_bad_folder_is_one_line(tmp_path, make, message):
    root = tmp_path / "empty"
    make(root)
    with pytest.raises(UserError, match=message) as err:
        load_data(folder_options(root))
    assert "\n" not in str(err.value)


def test_a_root_is_required_and_a_flat_folder_has_no_classes(tmp_path):
    with pytest.raises(UserError, match="data.name=image-folder needs data.root=FOLDER"):
        load_data(ImageFolderOptions())
    solid(tmp_path / "a.png", RED)
    with pytest.raises(UserError, match="data.classes needs labels"):
        load_data(folder_options(tmp_path, classes=[0]))


# -- splits --------------------------------------------------------------------------------------------------


def test_valid_is_the_tail_of_a_seeded_permutation_and_train_the_rest():
    train, valid = split_indices(10, 0.3, 0, "train", "r"), split_indices(10, 0.3, 0, "valid", "r")
    order = np.random.default_rng(0).permutation(10)
    assert valid == sorted(order[7:].tolist()) and train == sorted(order[:7].tolist())
    assert split_indices(10, 0.3, 0, "trainval", "r") == list(range(10))
    assert len(split_indices(10, 2, 0, "valid", "r")) == 2  # a count
    assert split_indices(10, 0.3, 1, "valid", "r") != valid  # another seed, other images
    assert split_indices(10, 0, 0, "train", "r") == list(range(10))  # nothing held out


def test_split_checks(tmp_path):
    for i in range(4):
        solid(tmp_path / f"{i}.png", (i, i, i))
    with pytest.raises(UserError, match="data.split=valid, but the image folder holds no images out"):
        load_data(folder_options(tmp_path), "valid")
    with pytest.raises(UserError, match="data.split='test' is not allowed for an image folder"):
        load_data(folder_options(tmp_path), "test")
    with pytest.raises(UserError, match="data.valid=4.0 holds out 4 of the 4 images"):
        load_data(folder_options(tmp_path, valid=4.0))
    valid = load_data(folder_options(tmp_path, valid=1.0, size=1), "valid")
    train = load_data(folder_options(tmp_path, valid=1.0, size=1), "train")
    assert len(valid) == 1 and len(train) == 3
    assert sorted(torch.cat([valid.examples, train.examples])[:, 0, 0, 0].tolist()) == [0, 1, 2, 3]


def test_options_and_their_checks():
    cfg = build_config(overrides=["data.name=image-folder"])
    assert (cfg.data.size, cfg.data.channels, cfg.data.pixel_range, cfg.data.valid) == (64, 3, "symmetric", 0.0)
    assert build_config(overrides=["data.name=image-folder", "data.valid=1000"]).data.valid == 1000
    for bad, message in [
        ("data.channels=2", "data.channels=2 is not allowed"),
        ("data.size=0", "data.size=0 is impossible"),
        ("data.valid=2.5", "data.valid=2.5 is neither a fraction below 1 nor a whole number"),
        ("data.valid=-0.1", "data.valid=-0.1 is impossible"),
        ("data.split=test", "not allowed for an image folder"),
    ]:
        with pytest.raises(UserError, match=message):
            build_config(overrides=["data.name=image-folder", bad])


# -- end to end ----------------------------------------------------------------------------------------------


def test_advnets_train_on_an_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(40):
        save(tmp_path / "images" / f"{i:02d}.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    out = tmp_path / "run"
    data = ["data.name=image-folder", f"data.root={tmp_path / 'images'}", "data.size=8", "data.channels=1"]
    code = cli.main(["train", "--out", str(out), *TINY, *data, "data.pixel_range=unit", "data.valid=4", "--quiet"])
    assert code == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records and all(np.isfinite(r["d_loss"]) for r in records if "d_loss" in r)
    assert any((out / "samples").iterdir())
