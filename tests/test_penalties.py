"""Penalties and constraints on D against hand-computed values (a linear D makes every gradient known)."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from advnets.config import build_config
from advnets.errors import UserError
from advnets.penalties import (
    PenaltyInputs,
    build_penalties,
    clip_weights_,
    gradient_penalty,
    r1_penalty,
    weight_l2,
)


class LinearD(nn.Module):
    """D(x) = w · flatten(x) + b, so ∇ₓD = w everywhere; records the inputs it sees."""

    def __init__(self, w: list[float], b: float = 0.5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(w))
        self.bias = nn.Parameter(torch.tensor(b))
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return x.flatten(1) @ self.weight + self.bias


def penalties(*overrides):
    return build_penalties(build_config(overrides=list(overrides)).penalties)


def test_gradient_penalty_is_the_squared_distance_of_the_gradient_norm_from_one():
    D = LinearD([3.0, 4.0])  # ‖∇D‖ = 5 at every point
    real, fake = torch.rand(6, 1, 1, 2), torch.rand(6, 1, 1, 2)
    assert_close(gradient_penalty(D, real, fake), torch.tensor(16.0))  # (5 - 1)²
    assert_close(gradient_penalty(D, real, fake, target=2.0), torch.tensor(9.0))
    term = penalties("penalties.gradient_penalty.weight=10")["gradient_penalty"].term
    assert_close(term(PenaltyInputs(D, real, fake, D(real), D(fake), step=0)), torch.tensor(160.0))


def test_gradient_penalty_mixes_one_coefficient_per_example_not_per_pixel():
    D = LinearD([1.0] * 12)
    real, fake = torch.rand(5, 3, 2, 2), torch.rand(5, 3, 2, 2)
    torch.manual_seed(0)
    gradient_penalty(D, real, fake)
    mixed = D.seen[-1]
    # mixed_i = ε_i real_i + (1 - ε_i) fake_i with one ε_i for all 12 values of example i
    eps = (mixed - fake) / (real - fake)  # [5, 3, 2, 2]
    assert_close(eps, eps[:, :1, :1, :1].expand_as(eps), rtol=1e-4, atol=1e-5)
    assert eps.flatten(1)[:, 0].unique().numel() == 5 and bool(((eps >= 0) & (eps <= 1)).all())
    # A gradient that depends on x: D(x) = ½‖x‖², ∇D = x; the penalty is E(‖x̂‖ - 1)² at the mixed points.

    class Quadratic(nn.Module):
        def forward(self, x):
            return 0.5 * x.flatten(1).square().sum(1)

    torch.manual_seed(1)
    value = gradient_penalty(Quadratic(), real, fake)
    torch.manual_seed(1)
    e = torch.rand(5, 1, 1, 1)
    expected = ((e * real + (1 - e) * fake).flatten(1).norm(dim=1) - 1).square().mean()
    assert_close(value, expected)


def test_r1_and_weight_l2_match_hand_values():
    D = LinearD([1.0, -2.0], b=3.0)
    real = torch.rand(4, 2)
    assert_close(r1_penalty(D, real), torch.tensor(5.0))  # ‖w‖² = 1 + 4
    term = penalties("penalties.r1.weight=4")["r1"].term
    assert_close(term(PenaltyInputs(D, real, real, D(real), D(real), 0)), torch.tensor(10.0))  # γ/2 · 5
    assert_close(weight_l2(D), torch.tensor(5.0))  # the bias (3²) is not penalised
    term = penalties("penalties.weight_l2.weight=0.1")["weight_l2"].term
    assert_close(term(PenaltyInputs(D, real, real, D(real), D(real), 0)), torch.tensor(0.5))


def test_lazy_r1_is_every_nth_iteration_and_n_times_heavier():
    D = LinearD([1.0, -2.0], b=3.0)
    real = torch.rand(4, 2)
    term = penalties("penalties.r1.weight=4", "penalties.r1.every=3")["r1"].term
    values = [term(PenaltyInputs(D, real, real, D(real), D(real), step)) for step in range(7)]
    # By hand: steps 0, 3, 6 give 3 · γ/2 · ‖w‖² = 3 · 2 · 5 = 30; the others 0 (and no gradient to compute).
    assert [float(v.detach()) for v in values] == [30.0, 0.0, 0.0, 30.0, 0.0, 0.0, 30.0]
    assert values[0].requires_grad and not values[1].requires_grad and values[1].shape == ()


def test_r1_trains_d_through_the_gradient_norm():
    D = LinearD([1.0, -2.0])
    (grad,) = torch.autograd.grad(r1_penalty(D, torch.rand(3, 2)), D.weight)
    assert_close(grad, torch.tensor([2.0, -4.0]))  # d/dw ‖w‖² = 2w


def test_weight_clip_clamps_every_parameter_after_the_step():
    D = LinearD([0.5, -0.003], b=-0.2)
    clip_weights_(D, 0.01)
    assert_close(D.weight.detach(), torch.tensor([0.01, -0.003]))
    assert_close(D.bias.detach(), torch.tensor(-0.01))
    penalty = penalties("penalties.weight_clip.c=0.05")["weight_clip"]
    assert penalty.term is None and penalty.constrain is not None


@pytest.mark.parametrize(
    "override",
    ["penalties.weight_clip.c=0", "penalties.r1.weight=-1", "penalties.r1.every=0", "penalties.gradient_penalty.weight=0"],
)
def test_impossible_values_are_refused(override):
    with pytest.raises(UserError, match=override.split("=")[0].replace(".", r"\.")):
        build_config(overrides=[override])
