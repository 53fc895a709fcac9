"""The toy mixtures (advnets.data.toy): centres written out by hand, samples around them, fixed split seeds, and
the options' checks."""

import math
import re

import pytest
import torch

from advnets.config import build_config
from advnets.config_reference import reference_rows
from advnets.data import DATASETS, ImageDataOptions, VectorKind, load_data
from advnets.data.toy import (
    Gauss1dOptions,
    GridOptions,
    Mixture,
    RingOptions,
    check_separated,
    grid_centres,
    load_mixture,
    mixture_of,
    ring_centres,
)
from advnets.errors import UserError

H = math.sqrt(0.5)
RING_8 = [[1, 0], [H, H], [0, 1], [-H, H], [-1, 0], [-H, -H], [0, -1], [H, -H]]  # 0, 45, ..., 315 degrees
GRID_AXIS = [-4.0, -2.0, 0.0, 2.0, 4.0]
SMALL = {"ring-8": RingOptions(n=4000), "grid-25": GridOptions(n=4000), "gauss-1d": Gauss1dOptions(n=4000)}


def test_the_three_mixtures_are_registered_with_their_options():
    for name, options in SMALL.items():
        assert name in DATASETS.names() and DATASETS.options(name) is type(options)
        assert options.name == name


def test_ring_8_centres_are_the_eight_published_points_on_the_unit_circle():
    centres, std = RingOptions().mixture()
    torch.testing.assert_close(centres, torch.tensor(RING_8, dtype=torch.float64), rtol=0, atol=1e-12)
    assert std == 0.01
    # Neighbours are a chord 2 sin(π/8) apart; no two centres coincide (linspace(0, 2π, 8) would put two on 0).
    assert RingOptions().mixture().min_separation() == pytest.approx(2 * math.sin(math.pi / 8), rel=1e-12)
    assert len({tuple(round(v, 9) for v in c) for c in centres.tolist()}) == 8


def test_ring_radius_scales_the_centres():
    torch.testing.assert_close(ring_centres(8, 2.0), 2 * torch.tensor(RING_8, dtype=torch.float64))


def test_grid_25_centres_are_the_published_grid_row_major():
    centres, std = GridOptions().mixture()
    expected = [[a, b] for a in GRID_AXIS for b in GRID_AXIS]  # (-4, -4), (-4, -2), ..., (4, 4)
    torch.testing.assert_close(centres, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=0)
    assert std == 0.05 and GridOptions().mixture().min_separation() == 2.0
    torch.testing.assert_close(grid_centres(5, 1.0), centres / 2)


def test_gauss_1d_is_one_component_at_4_with_variance_1_25():
    centres, std = Gauss1dOptions().mixture()
    assert centres.tolist() == [[4.0]] and std == pytest.approx(math.sqrt(1.25), rel=1e-15)
    assert Gauss1dOptions().mixture().min_separation() == math.inf
    data = load_mixture(Gauss1dOptions(), "train")  # 50,000 examples
    assert data.shape == (1,) and data.examples.shape == (50000, 1) and data.labels.unique().tolist() == [0]
    # Sampling error: the mean's SE is sqrt(1.25 / 50000) = 0.005, the variance's 1.25 sqrt(2 / 50000) = 0.008.
    assert data.examples.mean().item() == pytest.approx(4.0, abs=0.025)
    assert data.examples.var().item() == pytest.approx(1.25, abs=0.04)


@pytest.mark.parametrize("name", ["ring-8", "grid-25"])
def test_examples_lie_around_the_centre_their_label_names(name):
    options = SMALL[name]
    data = load_data(options, "train")
    centres, std = options.mixture()
    assert isinstance(data.kind, VectorKind) and (data.name, data.split) == (name, "train")
    assert data.examples.shape == (4000, 2) and data.examples.dtype == torch.float32
    assert data.labels.dtype == torch.int64 and data.labels.shape == (4000,)
    offsets = data.examples.double() - centres[data.labels]  # [N, 2], each coordinate N(0, std²)
    # The sample std of 8,000 normal values is within 2.5% of std with probability > 0.99.
    assert offsets.std().item() == pytest.approx(std, rel=0.025)
    assert offsets.mean().abs().item() < 4 * std / math.sqrt(8000)
    assert offsets.norm(dim=1).max().item() < 6 * std  # a 6-std radius in 2-D holds all but e^-18 of the mass
    # Components are chosen uniformly: each count is about N / K (binomial sd ~ 42 for ring-8, ~ 12 for grid-25).
    counts = torch.bincount(data.labels, minlength=len(centres)).double()
    expected = 4000 / len(centres)
    assert ((counts - expected).abs() <= 5 * math.sqrt(expected)).all(), counts.tolist()


def test_splits_differ_and_each_is_the_same_every_time():
    options = RingOptions(n=100)
    train, again = load_data(options, "train"), load_data(options, "train")
    assert torch.equal(train.examples, again.examples) and torch.equal(train.labels, again.labels)
    valid, test = load_data(options, "valid"), load_data(options, "test")
    assert (valid.split, test.split) == ("valid", "test")
    assert not torch.equal(train.examples, valid.examples)
    assert not torch.equal(valid.examples, test.examples)
    assert not torch.equal(train.examples, test.examples)
    assert len(load_data(RingOptions(n=123, split="valid"))) == 123  # the split and n come from the options


def test_the_run_seed_does_not_change_the_data():
    overrides = ["data.name=ring-8", "data.n=50", "model.generator.output=linear"]
    first = load_data(build_config(overrides=[*overrides, "seed=0"]).data)
    second = load_data(build_config(overrides=[*overrides, "seed=7"]).data)
    assert torch.equal(first.examples, second.examples)


def test_coinciding_centres_are_caught():
    # The shipped bug: angles from linspace(0, 2π, 8) put the last centre on the first.
    angles = torch.linspace(0, 2 * math.pi, 8, dtype=torch.float64)
    buggy = Mixture(torch.stack([angles.cos(), angles.sin()], dim=1), 0.01)
    assert buggy.min_separation() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(
        UserError, match=r"data \(radius, std\) puts two centres [0-9.e-]+ apart, within 6 std"
    ):
        check_separated(buggy, "data", "radius, std")


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["data.name=ring-8", "data.split=trainval"], "data.split"),
        (["data.name=ring-8", "data.n=0"], "data.n"),
        (["data.name=grid-25", "data.std=-0.05"], "data.std"),
        (["data.name=gauss-1d", "data.variance=0"], "data.variance"),
        (["data.name=ring-8", "data.radius=0"], "data.radius"),
        (["data.name=grid-25", "data.spacing=0.2"], "data (spacing, std) puts two centres 0.2 apart"),
        (["data.name=ring-8", "data.std=0.2"], "data (radius, std) puts two centres 0.7654 apart"),
        (["data.name=ring-8", "data.spacing=1"], "unknown config key 'data.spacing'"),
    ],
)
def test_bad_options_name_the_key(overrides, key):
    with pytest.raises(UserError, match=re.escape(key)):
        build_config(overrides=[*overrides, "model.generator.output=linear"])


def test_a_split_the_toys_do_not_have_is_refused_when_loading():
    with pytest.raises(UserError, match="data.split='trainval'"):
        load_data(RingOptions(n=10), "trainval")


def test_mixture_of_gives_centres_and_std_and_refuses_other_data():
    centres, std = mixture_of(
        build_config(overrides=["data.name=grid-25", "model.generator.output=linear"]).data
    )
    assert centres.shape == (25, 2) and std == 0.05
    with pytest.raises(UserError, match="data.name=digits is not a mixture of Gaussians") as err:
        mixture_of(ImageDataOptions(name="digits"))
    assert "\n" not in str(err.value)


def test_advnets_config_shows_every_toy_key_with_its_meaning():
    rows = {key: comment for key, _, comment in reference_rows(build_config(overrides=["data.name=ring-8"]))}
    assert rows["data.radius"].startswith("radius of the circle") and "0.01" in rows["data.std"]
    assert rows["data.n"] == "examples in the split" and "own fixed seed" in rows["data.split"]
    grid = {key: comment for key, _, comment in reference_rows(build_config(overrides=["data.name=grid-25"]))}
    assert "distance between neighbouring centres" in grid["data.spacing"]
    gauss = {
        key: comment for key, _, comment in reference_rows(build_config(overrides=["data.name=gauss-1d"]))
    }
    assert gauss["data.variance"].startswith("its variance") and gauss["data.mean"].startswith("mean")
