"""The sample strip: which pictures it takes, and the figure it draws from hand-made grids and records."""

import pytest
from PIL import Image

from advnets.errors import UserError
from advnets.reporting.strip import pick_evenly, plot_strip, write_strip
from advnets.runs.run_dir import RunDir

RECORDS = [
    {"step": 10, "diversity": 0.9, "nn_diversity": 0.8, "mode_jump": 0.1},
    {"step": 20, "diversity": 0.1, "nn_diversity": 0.05, "mode_jump": 1.2},
    {"epoch": 1.0},  # no step: left out
]


def grids(folder, steps, size=(40, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    for value, step in enumerate(steps):
        Image.new("L", size, 30 * value).save(folder / f"step-{step:07d}.png")
    Image.new("L", size).save(folder / "latest.png")
    Image.new("L", size).save(folder / "sample-step0000020-n64-seed0.png")


def test_sample_pictures_are_the_step_grids_in_step_order(tmp_path):
    grids(tmp_path / "samples", [20, 0, 10000000, 5])
    assert [step for step, _ in RunDir(tmp_path).sample_pictures()] == [0, 5, 20, 10000000]
    assert RunDir(tmp_path / "missing").sample_pictures() == []


def test_pick_evenly_keeps_one_stride_the_first_and_the_last():
    assert pick_evenly(list(range(13)), 13) == list(range(13))
    assert pick_evenly(list(range(25)), 13) == list(range(0, 25, 2))
    assert pick_evenly(list(range(24)), 13) == [
        *range(0, 23, 2),
        23,
    ]  # stride 2, then the last after a gap of 1
    assert pick_evenly(list(range(100)), 4) == [0, 33, 66, 99]
    with pytest.raises(ValueError, match="k must be >= 2"):
        pick_evenly([1, 2, 3], 1)


def test_the_strip_is_one_column_per_picture_over_the_curves(tmp_path):
    grids(tmp_path / "samples", [0, 10, 20, 30, 40])
    pictures = RunDir(tmp_path).sample_pictures()
    assert write_strip(pictures, RECORDS, tmp_path / "strip.png", title="t")
    with Image.open(tmp_path / "strip.png") as strip:  # 5 columns of 1.6 in; 1.95 + 2.6 in high; 120 dpi
        assert strip.size == (960, 546)
    assert write_strip(pictures, RECORDS, tmp_path / "three.png", max_pictures=3)
    with Image.open(tmp_path / "three.png") as strip:  # 3 pictures (0, 20, 40): the 4-column minimum width
        assert strip.size == (768, 546)


def test_no_pictures_no_strip(tmp_path):
    assert not write_strip(RunDir(tmp_path).sample_pictures(), RECORDS, tmp_path / "strip.png")
    assert not (tmp_path / "strip.png").exists()
    with pytest.raises(UserError, match="no sample pictures"):
        plot_strip([], RECORDS, tmp_path / "strip.png")
    plot_strip([(0, Image.new("RGB", (8, 8)))], [], tmp_path / "rgb.png")  # colour grids, no curves yet
    assert (tmp_path / "rgb.png").is_file()
