"""reporting/density.py: the pieces of the paper's Figure 1, by hand (runs/test_figures.py draws it from a run)."""

import math

import numpy as np

from advnets.reporting.density import DensityPanel, mixture_density, pick_evenly, plot_density_strip


def test_pick_evenly_keeps_the_first_and_the_last():
    items = [f"c{i}" for i in range(10)]
    assert pick_evenly(items, 4) == ["c0", "c3", "c6", "c9"]
    assert pick_evenly(items, 1) == ["c9"]
    assert pick_evenly(items[:3], 5) == ["c0", "c1", "c2"]


def test_mixture_density_by_hand():
    xs = np.array([0.0, 1.0])
    # N(0, 1) at 0 and 1: 1/sqrt(2 pi) and exp(-1/2)/sqrt(2 pi).
    np.testing.assert_allclose(mixture_density(xs, np.array([0.0]), 1.0), [0.398942, 0.241971], rtol=0, atol=1e-6)
    # The mean of N(-1, 4) and N(1, 4) at 0: both at one std, exp(-1/8)/(2 sqrt(2 pi)).
    expected = math.exp(-1 / 8) / (2 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(mixture_density(np.array([0.0]), np.array([-1.0, 1.0]), 2.0), [expected], atol=1e-9)


def test_a_strip_without_d(tmp_path):
    xs = np.linspace(0, 8, 50)
    panel = DensityPanel(step=7, samples=np.full(100, 4.0), d_of_x=None)
    plot_density_strip([panel], xs, mixture_density(xs, np.array([4.0]), 1.118), tmp_path / "one.png")
    assert (tmp_path / "one.png").is_file()
