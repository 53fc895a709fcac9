"""Unrolled GAN: K = 0 is the plain G update, and the unrolled gradient matches finite differences."""

import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from advnets.config import build_config
from advnets.errors import UserError
from advnets.losses import build_loss
from advnets.training.optim import ClassicalSGD
from advnets.training.parts import Parts
from advnets.training.trainer import Trainer
from advnets.training.unrolled import unrolled_g_loss
from tests.conftest import tiny_config


class SmallD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


def small_parts() -> Parts:
    torch.manual_seed(0)
    G, D = nn.Linear(2, 3).double(), SmallD().double()
    loss = build_loss(build_config().loss)
    return Parts(G, D, ClassicalSGD(G.parameters(), 0.1), ClassicalSGD(D.parameters(), 0.1), loss)


def test_unrolled_gradient_matches_finite_differences():
    parts = small_parts()
    z = torch.randn(5, 2, dtype=torch.float64)
    real = torch.randn(6, 3, dtype=torch.float64)

    def loss_at() -> torch.Tensor:
        return unrolled_g_loss(parts, z, real, 0, steps=3, lr=0.5)[0]

    params = list(parts.G.parameters())
    grads = torch.autograd.grad(loss_at(), params)
    h = 1e-6
    for p, g in zip(params, grads):
        numeric = torch.zeros_like(p)
        for i in range(p.numel()):
            with torch.no_grad():
                p.view(-1)[i] += h
            up = loss_at().item()
            with torch.no_grad():
                p.view(-1)[i] -= 2 * h
            down = loss_at().item()
            with torch.no_grad():
                p.view(-1)[i] += h
            numeric.view(-1)[i] = (up - down) / (2 * h)
        assert_close(g, numeric, rtol=1e-5, atol=1e-7)
    # Unrolling changes the gradient: it is not the plain one (D held fixed).
    plain = torch.autograd.grad(unrolled_g_loss(parts, z, real, 0, steps=0, lr=0.5)[0], params)
    assert any(not torch.allclose(a, b) for a, b in zip(grads, plain))
    # D's own weights are untouched by the unrolling.
    before = copy.deepcopy(parts.D.state_dict())
    unrolled_g_loss(parts, z, real, 0, steps=3, lr=0.5)
    for key, value in parts.D.state_dict().items():
        assert torch.equal(value, before[key])


def run(*overrides, steps=3):
    # One trainer at a time: training draws from the global RNG, which each build re-seeds.
    trainer = Trainer.from_config(tiny_config(*overrides))
    losses = [(s["d_loss"].item(), s["g_loss"].item()) for s in (trainer.train_step() for _ in range(steps))]
    return trainer, losses


def test_zero_unrolled_steps_is_exactly_the_alternating_update():
    plain, plain_losses = run("train.update=alternating", "train.d_steps=2")
    unrolled, unrolled_losses = run("train.update=unrolled", "train.d_steps=2", "train.unroll_steps=0")
    assert plain_losses == unrolled_losses
    for p, q in zip(plain.G.parameters(), unrolled.G.parameters()):
        assert torch.equal(p, q)


def test_unrolled_training_runs_and_differs_from_plain():
    plain, _ = run("train.update=alternating", steps=2)
    unrolled, losses = run("train.update=unrolled", "train.unroll_steps=3", steps=2)
    assert all(torch.isfinite(torch.tensor(pair)).all() for pair in losses)
    assert any(not torch.equal(p, q) for p, q in zip(plain.G.parameters(), unrolled.G.parameters()))


@pytest.mark.parametrize("override", ["train.unroll_steps=-1", "train.unroll_lr=0"])
def test_bad_unroll_settings(override):
    with pytest.raises(UserError, match=override.split("=")[0]):
        build_config(overrides=["train.update=unrolled", override])
