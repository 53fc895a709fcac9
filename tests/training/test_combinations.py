"""One-step smoke runs on the CPU: each combination builds, updates both players and logs finite numbers.

- The MLP nets (mlp G, maxout D) under every adversarial loss × every penalty (and with the input transform, the G
  objective and spectral norm), under both plain update rules.
- Every other architecture (DCGAN, the paper's CIFAR-10 nets at a tiny width, the conditional families with both
  ways of conditioning D) on tiny synthetic images with random labels. The full product (7 architectures × 5
  losses × 5 penalty settings × 3 rules, 525 runs) would take minutes on 2 cores, and what breaks is an
  architecture meeting one member of an axis, not a particular triple. So each architecture runs 5 updates, a
  Latin square: every loss once, every penalty setting (none and the four penalties) once, paired differently for
  each architecture, with the update rule rotating so that each architecture sees all three rules. Gradient
  penalties (gradient_penalty, r1) judge each example's gradient, which batch norm makes depend on the rest of the
  batch (Gulrajani et al. 2017, Section 4), so with those a DCGAN D runs without batch norm (`norm: none`), as
  such a run should be configured.
"""

import math

import pytest
import torch

from advnets.data import ImageSet
from advnets.losses import LOSSES
from advnets.penalties import PENALTIES
from advnets.training.trainer import Trainer
from tests.conftest import tiny_config

PENALTY_KEYS = {name: f"penalties.{name}={{}}" for name in PENALTIES.names()}
RULES = ["simultaneous", "alternating", "unrolled"]


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


# name -> (example shape, overrides); each small enough for a step in a fraction of a second.
G_SIGMOID = "model.generator.output=sigmoid"  # the synthetic pixels are in [0, 1]
ARCHITECTURES = {
    "dcgan": (
        (1, 16, 16),
        ["model.generator.arch=dcgan", "model.generator.width=4", G_SIGMOID, "model.discriminator.arch=dcgan",
         "model.discriminator.width=4"],
    ),
    "cifar-paper-dense": (
        (3, 32, 32),
        ["model.generator.arch=cifar-paper-dense", "model.generator.hidden=[16,16]",
         "model.discriminator.arch=cifar-paper-maxout", "model.discriminator.hidden=[8,8]",
         "model.discriminator.pieces=2"],
    ),
    # 14 x 14 rather than 32 x 32 keeps the paper's kernels, pads and pools at a fifth of the cost: G's map is
    # (14 - 5) / 3 + 1 = 4 on a side (2 maps: 32 units); D's maps are 15 -> 7, 6 -> 2, 4 -> 2.
    "cifar-paper-conv": (
        (3, 14, 14),
        ["model.generator.arch=cifar-paper-deconv", "model.generator.hidden=[16,32]", "model.generator.channels=2",
         "model.discriminator.arch=cifar-paper-convmaxout", "model.discriminator.channels=[4,4,8]",
         "model.discriminator.hidden=6"],
    ),
    "cond-mlp-projection": (
        (1, 8, 8),
        ["model.generator.arch=cond-mlp", "model.generator.hidden=[16]", "model.generator.embed_dim=4",
         "model.discriminator.arch=cond-maxout", "model.discriminator.hidden=[12]", "model.discriminator.pieces=2",
         "model.discriminator.conditioning=projection"],
    ),
    "cond-mlp-concat": (
        (1, 8, 8),
        ["model.generator.arch=cond-mlp", "model.generator.hidden=[16]", "model.generator.embed_dim=4",
         "model.discriminator.arch=cond-mlp", "model.discriminator.hidden=[12]",
         "model.discriminator.conditioning=concat"],
    ),
    "cond-dcgan-projection": (
        (1, 16, 16),
        ["model.generator.arch=cond-dcgan", "model.generator.width=4", G_SIGMOID, "model.discriminator.arch=cond-dcgan",
         "model.discriminator.width=4", "model.discriminator.conditioning=projection"],
    ),
    "cond-dcgan-concat": (
        (1, 16, 16),
        ["model.generator.arch=cond-dcgan", "model.generator.width=4", G_SIGMOID, "model.discriminator.arch=cond-dcgan",
         "model.discriminator.width=4", "model.discriminator.conditioning=concat"],
    ),
}  # fmt: skip
LOSS_NAMES, PENALTY_NAMES = LOSSES.names(), PENALTIES.names()


def cross() -> list[tuple[str, str, str | None, str]]:
    """(architecture, loss, penalty, rule): per architecture i, loss j gets penalty setting (2i + j) mod 5 and rule
    (i + j) mod 3, so each architecture meets every loss, every penalty setting and every rule."""
    settings = [None, *PENALTY_NAMES]
    cases = []
    for i, arch in enumerate(ARCHITECTURES):
        for j, loss in enumerate(LOSS_NAMES):
            cases.append((arch, loss, settings[(2 * i + j) % len(settings)], RULES[(i + j) % len(RULES)]))
    return cases


def synthetic_images(shape: tuple[int, ...], n: int = 16, classes: int = 3) -> ImageSet:
    """n random images in [0, 1] with random labels 0 .. classes - 1 (an unconditional family ignores them)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(n, *shape, generator=gen)
    labels = torch.arange(n) % classes  # every class present, so num_classes = classes
    return ImageSet(images, labels[torch.randperm(n, generator=gen)], "synthetic", "train", "unit")


@pytest.mark.parametrize("arch, loss, penalty, rule", cross())
def test_one_update_of_every_architecture(arch, loss, penalty, rule):
    shape, keys = ARCHITECTURES[arch]
    overrides = [*keys, f"loss.name={loss}", f"train.update={rule}", "train.batch_size=4", "train.max_steps=1"]
    if rule == "unrolled":
        overrides.append("train.rule.steps=1")  # one look-ahead step exercises the double backward
    if penalty is not None:
        overrides.append(PENALTY_KEYS[penalty])
    if penalty in ("gradient_penalty", "r1") and "dcgan" in arch:
        overrides.append("model.discriminator.norm=none")
    trainer = Trainer.from_config(tiny_config(*overrides), data=synthetic_images(shape))
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


def test_the_cross_covers_every_loss_penalty_and_rule_per_architecture():
    cases = cross()
    for arch in ARCHITECTURES:
        mine = [case for case in cases if case[0] == arch]
        assert {loss for _, loss, _, _ in mine} == set(LOSS_NAMES)
        assert {penalty for _, _, penalty, _ in mine} == {None, *PENALTY_NAMES}
        assert {rule for *_, rule in mine} == set(RULES)
