"""One-step smoke runs over every adversarial loss × every penalty (and with the input transform, the G objective
and spectral norm), under both update rules, on the CPU: each combination builds, updates both players and logs
finite numbers."""

import math

import pytest
import torch

from advnets.losses import LOSSES
from advnets.penalties import PENALTIES
from advnets.training.trainer import Trainer
from tests.conftest import tiny_config

PENALTY_KEYS = {name: f"penalties.{name}={{}}" for name in PENALTIES.names()}


@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
@pytest.mark.parametrize("penalty", [None, *PENALTIES.names()])
@pytest.mark.parametrize("loss", LOSSES.names())
def test_one_step_of_every_loss_and_penalty(loss, penalty, update):
    overrides = [f"loss.name={loss}", f"train.update={update}", "train.max_steps=1"]
    if update == "alternating":
        overrides.append("train.d_steps=2")
    if penalty is not None:
        overrides.append(PENALTY_KEYS[penalty])
    trainer = Trainer.from_config(tiny_config(*overrides))
    G0 = [p.detach().clone() for p in trainer.G.parameters()]
    D0 = [p.detach().clone() for p in trainer.D.parameters()]
    stats = trainer.train_step()
    assert all(math.isfinite(float(v)) for v in stats.values()), stats
    assert {"d_loss", "g_loss"} <= set(stats)
    if penalty in ("gradient_penalty", "r1", "weight_l2"):
        assert f"penalty_{penalty}" in stats
    assert any(not torch.equal(a, b) for a, b in zip(G0, trainer.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(D0, trainer.D.parameters()))
    if penalty == "weight_clip":
        assert max(p.abs().max().item() for p in trainer.D.parameters()) <= 0.01


@pytest.mark.parametrize("update", ["simultaneous", "alternating", "unrolled"])
def test_everything_at_once(update):
    cfg = tiny_config(
        "loss.name=wgan",
        f"train.update={update}",
        "train.max_steps=2",
        "penalties.gradient_penalty.weight=10",
        "transforms.instance_noise.std=0.1",
        "transforms.instance_noise.anneal_steps=10",
        "g_objectives.feature_matching.keep_adversarial=true",
        "model.discriminator.spectral_norm=true",
    )
    trainer = Trainer.from_config(cfg)
    for _ in range(2):
        stats = trainer.train_step()
    assert all(math.isfinite(float(v)) for v in stats.values())
    assert {"penalty_gradient_penalty", "g_feature_matching", "critic_gap"} <= set(stats)
