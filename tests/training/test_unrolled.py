"""Unrolled GAN: K = 0 is the plain G update, the unrolled gradient matches finite differences, the `adam`
unroll rule is D's own Adam step, the look-ahead copies leave D's buffers (batch norm, spectral norm) as they were,
and the rule's keys (train.rule.*, formerly train.unroll_*) are checked and upgraded."""

import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from advnets.config import build_config, to_dict
from advnets.data import ImageSet
from advnets.errors import UserError
from advnets.losses import build_loss
from advnets.training.optim import ClassicalSGD
from advnets.training.parts import Batch, Parts
from advnets.training.trainer import Trainer, check_resumable
from advnets.training.unrolled import Unroll, adam_rule, unrolled_g_loss, unrolled_g_step
from tests.conftest import tiny_config


class SmallD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


def small_parts(d_adam: bool = False) -> Parts:
    torch.manual_seed(0)
    G, D = nn.Linear(2, 3).double(), SmallD().double()
    loss = build_loss(build_config().loss)
    d_opt = torch.optim.Adam(D.parameters(), 0.05, betas=(0.5, 0.9)) if d_adam else ClassicalSGD(D.parameters(), 0.1)
    return Parts(G, D, ClassicalSGD(G.parameters(), 0.1), d_opt, loss)


def d_loss_of(parts: Parts, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return parts.loss.d_terms(parts.D(real), parts.D(parts.G(z).detach()))["d_loss"]


def train_d(parts: Parts, updates: int) -> None:
    """A few real D updates, so that D's Adam moments and step count are not at their start."""
    for _ in range(updates):
        parts.d_opt.zero_grad()
        d_loss_of(parts, torch.randn(6, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)).backward()
        parts.d_opt.step()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_unrolled_gradient_matches_finite_differences(optimizer):
    parts = small_parts(d_adam=optimizer == "adam")
    train_d(parts, 3)
    z = torch.randn(5, 2, dtype=torch.float64)
    real = torch.randn(6, 3, dtype=torch.float64)
    lr = 0.5 if optimizer == "sgd" else 0.05

    def loss_at() -> torch.Tensor:
        return unrolled_g_loss(parts, Batch(real, None, z, None), 0, Unroll(3, lr, optimizer))[0]

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
    plain = torch.autograd.grad(unrolled_g_loss(parts, Batch(real, None, z, None), 0, Unroll(0, lr))[0], params)
    assert any(not torch.allclose(a, b) for a, b in zip(grads, plain))
    # D's own weights and optimiser state are untouched by the unrolling.
    before = copy.deepcopy(parts.D.state_dict())
    opt_before = copy.deepcopy(parts.d_opt.state_dict())
    loss_at()
    for key, value in parts.D.state_dict().items():
        assert torch.equal(value, before[key])
    for p, state in opt_before["state"].items():
        for key, value in state.items():
            assert torch.equal(parts.d_opt.state_dict()["state"][p][key], value)


@pytest.mark.parametrize("updates_before", [0, 4])
def test_the_adam_unroll_step_is_ds_own_adam_update(updates_before):
    # From a fresh optimiser (zero moments) and from one 4 updates in, two unrolled steps land where two real
    # Adam updates of D on the same batches land.
    parts = small_parts(d_adam=True)
    train_d(parts, updates_before)
    real, z = torch.randn(6, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    step = adam_rule(parts, lr=0.05)
    weights = {name: p.detach().clone().requires_grad_(True) for name, p in parts.D.named_parameters()}
    for _ in range(2):
        fake = parts.G(z).detach()
        logits = torch.func.functional_call(parts.D, weights, (real,)), torch.func.functional_call(
            parts.D, weights, (fake,)
        )
        d_loss = parts.loss.d_terms(*logits)["d_loss"]
        weights = step(weights, torch.autograd.grad(d_loss, list(weights.values()), create_graph=True))
        parts.d_opt.zero_grad()
        d_loss_of(parts, real, z).backward()
        parts.d_opt.step()
    for name, p in parts.D.named_parameters():
        assert_close(weights[name].detach(), p.detach(), rtol=1e-12, atol=1e-14)


def run(*overrides, steps=3):
    # One trainer at a time: training draws from the global RNG, which each build re-seeds.
    trainer = Trainer.from_config(tiny_config(*overrides))
    losses = [(s["d_loss"].item(), s["g_loss"].item()) for s in (trainer.train_step() for _ in range(steps))]
    return trainer, losses


def test_zero_unrolled_steps_is_exactly_the_alternating_update():
    plain, plain_losses = run("train.update=alternating", "train.d_steps=2")
    unrolled, unrolled_losses = run("train.update=unrolled", "train.d_steps=2", "train.rule.steps=0")
    assert plain_losses == unrolled_losses
    for p, q in zip(plain.G.parameters(), unrolled.G.parameters()):
        assert torch.equal(p, q)


def test_unrolled_training_runs_and_differs_from_plain():
    plain, _ = run("train.update=alternating", "train.d_optimizer.name=adam", steps=2)
    by_sgd, sgd_losses = run("train.update=unrolled", "train.rule.steps=3", "train.d_optimizer.name=adam", steps=2)
    by_adam, adam_losses = run(
        "train.update=unrolled",
        "train.rule.steps=3",
        "train.d_optimizer.name=adam",
        "train.rule.optimizer=adam",
        steps=2,
    )
    assert all(torch.isfinite(torch.tensor(pair)).all() for pair in sgd_losses + adam_losses)
    for trainer in (by_sgd, by_adam):
        assert any(not torch.equal(p, q) for p, q in zip(plain.G.parameters(), trainer.G.parameters()))
    assert any(not torch.equal(p, q) for p, q in zip(by_sgd.G.parameters(), by_adam.G.parameters()))


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["train.rule.steps=-1"], r"train.rule.steps=-1 must be >= 0 \(0 is the plain G update\)"),
        (["train.rule.lr=0"], "train.rule.lr=0.0 must be a finite number > 0, or null"),
        (["train.rule.lr=inf"], "train.rule.lr=inf must be a finite number > 0"),
        (["train.rule.optimizer=rmsprop"], r"train.rule.optimizer='rmsprop' is not one of: sgd, adam"),
        (
            ["train.rule.optimizer=adam", "train.d_optimizer.name=sgd"],
            "train.rule.optimizer=adam unrolls D's Adam update, but train.d_optimizer.name is sgd; set "
            "train.d_optimizer.name=adam",
        ),
        # the old spelling is upgraded, so it is checked as the new one
        (["train.unroll_steps=-1"], "train.rule.steps=-1 must be >= 0"),
    ],
)
def test_bad_unroll_settings(overrides, match):
    with pytest.raises(UserError, match=match):
        build_config(overrides=["train.update=unrolled", *overrides])


def old_layout(saved: dict) -> dict:
    """A config dict as advnets <= 0.2.0 saved it: the unrolled keys as train.unroll_*, under every rule."""
    train = {k: v for k, v in saved["train"].items() if k != "rule"}
    rule = {"steps": 5, "lr": None, "optimizer": "sgd", **saved["train"]["rule"]}
    train |= {f"unroll_{key}": value for key, value in rule.items()}
    return {**saved, "train": train}


@pytest.mark.parametrize("update", ["unrolled", "alternating"])
def test_a_run_saved_with_the_old_unroll_keys_resumes(update):
    # `advnets resume` compares the checkpoint's saved dict with the config it goes on with.
    extra = ["train.rule.steps=2", "train.rule.lr=0.05"] if update == "unrolled" else []
    cfg = build_config(overrides=[f"train.update={update}", *extra])
    saved = old_layout(to_dict(cfg))
    assert "rule" not in saved["train"] and saved["train"]["unroll_steps"] == (2 if extra else 5)
    resumed = build_config(base=saved, overrides=["train.epochs=3"])
    assert resumed.train.rule == cfg.train.rule
    check_resumable(saved, resumed)  # only the schedule's length changed
    if update == "unrolled":
        with pytest.raises(UserError, match=r"cannot resume: train\.rule\.steps changed"):
            check_resumable(saved, build_config(base=saved, overrides=["train.unroll_steps=4"]))


@pytest.mark.parametrize(
    "d_keys",
    [
        ["model.discriminator.norm=batch"],  # running mean, variance and batch count
        ["model.discriminator.norm=none", "model.discriminator.spectral_norm=true"],  # power-iteration vectors u, v
    ],
)
def test_an_unrolled_g_step_leaves_ds_buffers_bit_identical(d_keys):
    # In train mode batch norm and spectral norm update their buffers in place on every call; the look-ahead copies
    # of D get copies of them, so only G moves and D's state is as it was.
    images = torch.rand(32, 1, 16, 16)
    data = ImageSet(images, None, "synthetic", "train", "unit")
    cfg = tiny_config(
        "train.update=unrolled",
        "train.rule.steps=2",
        "model.generator.arch=dcgan",
        "model.generator.width=4",
        "model.generator.output=sigmoid",
        "model.discriminator.arch=dcgan",
        "model.discriminator.width=4",
        *d_keys,
    )
    parts = Trainer.from_config(cfg, data=data).parts
    assert dict(parts.D.named_buffers()), "the test needs a D with buffers"
    before = {name: b.clone() for name, b in parts.D.named_buffers()}
    G_before = [p.detach().clone() for p in parts.G.parameters()]
    batch = Batch(images[:8], None, torch.randn(8, cfg.model.z_dim), None)
    unrolled_g_step(parts, batch, 0, Unroll(steps=2, lr=0.1))
    for name, buffer in parts.D.named_buffers():
        assert torch.equal(buffer, before[name]), f"the unrolled G step moved D's buffer {name}"
    assert any(not torch.equal(a, b) for a, b in zip(G_before, parts.G.parameters()))
    # Without the copies they would move: one plain train-mode call of D changes them.
    parts.D(images[:8])
    assert any(not torch.equal(b, before[name]) for name, b in parts.D.named_buffers())
