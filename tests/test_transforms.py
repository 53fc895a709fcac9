"""Input transforms: instance noise and its annealing."""

import pytest
import torch
from torch.testing import assert_close

from advnets.config import build_config
from advnets.transforms import apply_transforms, build_transforms, noise_std_at


def test_instance_noise_std_anneals_linearly_to_zero():
    options = build_config(
        overrides=["transforms.instance_noise.std=0.2", "transforms.instance_noise.anneal_steps=100"]
    ).transforms["instance_noise"]
    assert [noise_std_at(options, s) for s in (0, 25, 50, 100, 400)] == pytest.approx([0.2, 0.15, 0.1, 0.0, 0.0])
    constant = build_config(overrides=["transforms.instance_noise.std=0.3"]).transforms["instance_noise"]
    assert noise_std_at(constant, 10_000) == 0.3


def test_instance_noise_adds_gaussian_noise_of_that_std_then_nothing():
    transforms = build_transforms(
        build_config(
            overrides=["transforms.instance_noise.std=0.2", "transforms.instance_noise.anneal_steps=100"]
        ).transforms
    )
    x = torch.rand(4, 1, 3, 3)
    torch.manual_seed(5)
    noisy = apply_transforms(transforms, x, step=50)
    torch.manual_seed(5)
    assert_close(noisy, x + 0.1 * torch.randn_like(x))
    big = apply_transforms(transforms, torch.zeros(20000, 1), step=0)
    assert abs(big.std().item() - 0.2) < 0.005 and abs(big.mean().item()) < 0.005
    assert apply_transforms(transforms, x, step=100) is x  # annealed away: the data itself, no RNG used
