"""The noise prior: unit-variance uniform (docs/paper.md §1a) and standard normal."""

import math

import pytest
import torch

from advnets.errors import UserError
from advnets.models.noise import sample_noise

N_DRAWS = 200_000


def test_uniform_bounds_mean_and_unit_variance():
    z = sample_noise(N_DRAWS // 100, 100, "uniform", generator=torch.Generator().manual_seed(0))
    assert z.shape == (N_DRAWS // 100, 100) and z.dtype == torch.float32
    bound = math.sqrt(3.0)
    assert z.min() >= -bound and z.max() <= bound
    # It fills the interval (not U(-1, 1)): the extremes come within 0.01 of +-sqrt 3.
    assert z.max() > bound - 0.01 and z.min() < -bound + 0.01
    torch.testing.assert_close(z.mean(), torch.tensor(0.0), rtol=0, atol=0.02)
    torch.testing.assert_close(z.var(), torch.tensor(1.0), rtol=0, atol=0.02)


def test_gaussian_mean_variance_and_tails():
    z = sample_noise(N_DRAWS, 1, "gaussian", generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(z.mean(), torch.tensor(0.0), rtol=0, atol=0.02)
    torch.testing.assert_close(z.var(), torch.tensor(1.0), rtol=0, atol=0.02)
    # P(|Z| > sqrt 3) = 0.0833 for N(0, 1); a uniform prior would give 0.
    tail = (z.abs() > math.sqrt(3.0)).float().mean()
    torch.testing.assert_close(tail, torch.tensor(0.0833), rtol=0, atol=0.005)


def test_uniform01_is_the_unit_interval():
    # The 1-D lab's prior (docs/paper.md §6): U(0, 1), mean 1/2, variance 1/12.
    z = sample_noise(N_DRAWS, 1, "uniform01", generator=torch.Generator().manual_seed(2))
    assert z.min() >= 0.0 and z.max() <= 1.0 and z.min() < 0.01 and z.max() > 0.99
    torch.testing.assert_close(z.mean(), torch.tensor(0.5), rtol=0, atol=0.005)
    torch.testing.assert_close(z.var(), torch.tensor(1 / 12), rtol=0, atol=0.002)


@pytest.mark.parametrize("kind", ["uniform", "gaussian", "uniform01"])
def test_reproducible_with_a_generator_and_leaves_global_rng_alone(kind):
    torch.manual_seed(5)
    before = torch.get_rng_state()
    a = sample_noise(7, 3, kind, generator=torch.Generator().manual_seed(42))
    b = sample_noise(7, 3, kind, generator=torch.Generator().manual_seed(42), device="cpu")
    c = sample_noise(7, 3, kind, generator=torch.Generator().manual_seed(43))
    assert torch.equal(torch.get_rng_state(), before)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_global_rng_when_no_generator():
    torch.manual_seed(9)
    a = sample_noise(4, 5, "uniform")
    torch.manual_seed(9)
    torch.testing.assert_close(sample_noise(4, 5, "uniform"), a, rtol=0, atol=0)


def test_unknown_kind_is_a_user_error():
    with pytest.raises(UserError, match=r"model\.noise='normal'.*uniform, gaussian, uniform01"):
        sample_noise(2, 3, "normal")
