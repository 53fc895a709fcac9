"""Minibatch discrimination (Salimans et al. 2016, §3.2): hand-computed features, D's widths, gradients, one batch
per D call under every update rule, one training step, config errors."""

import math

import pytest
import torch

from advnets.config import load_config
from advnets.errors import UserError
from advnets.models import MinibatchDiscrimination
from advnets.models.mlp import MaxoutDiscriminator, MLPDiscriminator
from advnets.training.trainer import Trainer
from tests.models.helpers import PAPER_D, discriminator, model_config

E1, E2 = math.exp(-1.0), math.exp(-2.0)


def hand_layer() -> MinibatchDiscrimination:
    """A = 2 features, B = 2 kernels, C = 2 dims: kernel 0 projects f onto itself, kernel 1 onto (f_0, f_0)."""
    layer = MinibatchDiscrimination(2, 2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [0.0, 0.0]]]))  # T[a, b, c]
    return layer


def test_three_examples_against_the_hand_computation():
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # Kernel 0: M_i = f_i; L1 distances d01 = 2, d02 = 1, d12 = 1.
    # Kernel 1: M_i = (f_i0, f_i0) = (1,1), (0,0), (1,1); d01 = 2, d02 = 0, d12 = 2.
    # o_ib = Σ_{j≠i} exp(-d_ij) (the self term is left out).
    expected = torch.tensor(
        [
            [E2 + E1, E2 + 1.0],
            [E2 + E1, E2 + E2],
            [E1 + E1, 1.0 + E2],
        ]
    )
    layer = hand_layer()
    torch.testing.assert_close(layer.minibatch_features(f), expected)
    torch.testing.assert_close(layer(f), torch.cat([f, expected], dim=1))


def test_the_self_term_is_left_out_and_duplicates_count_once_each():
    layer = hand_layer()
    assert torch.equal(layer.minibatch_features(torch.tensor([[0.3, -2.0]])), torch.zeros(1, 2))
    # Two identical examples: each sees the other at distance 0, exp(0) = 1, and not itself.
    twins = torch.tensor([[0.3, -2.0], [0.3, -2.0]])
    torch.testing.assert_close(layer.minibatch_features(twins), torch.ones(2, 2))


def test_t_is_drawn_from_a_normal_with_std_005_and_the_uniform_init_leaves_it_alone():
    torch.manual_seed(0)
    D = discriminator(model_config(discriminator={**PAPER_D, "minibatch_kernels": 100}))  # init_range 0.005
    T = D.head[0].weight
    assert T.shape == (240, 100, 5)
    assert abs(T.std().item() - 0.05) < 0.0005  # 120,000 draws: the std's standard error is 1e-4
    assert abs(T.mean().item()) < 0.0005
    assert T.abs().max().item() > 0.1  # far outside U(-0.005, 0.005)


@pytest.mark.parametrize("arch", ["maxout", "mlp"])
def test_the_logit_layer_grows_by_b_and_features_stay_the_hidden_layer(arch):
    keys = {"arch": arch, "hidden": [12, 7], "minibatch_kernels": 4, "minibatch_kernel_dims": 3}
    if arch == "maxout":
        keys["pieces"] = 2
    torch.manual_seed(0)
    D = discriminator(model_config(discriminator=keys), shape=(1, 8, 8))
    assert isinstance(D, MaxoutDiscriminator if arch == "maxout" else MLPDiscriminator)
    layer, logit = D.head[0], D.head[-1]
    assert isinstance(layer, MinibatchDiscrimination)
    assert (layer.in_features, layer.kernels, layer.kernel_dims) == (7, 4, 3)
    assert logit.in_features == 7 + 4 and logit.out_features == 1
    x = torch.rand(5, 1, 8, 8)
    D.eval()
    assert D.features(x).shape == (5, 7)
    assert D(x).shape == (5,)
    # The logit is the logit layer on [f, o(f)].
    f = D.features(x)
    torch.testing.assert_close(D(x), logit(torch.cat([f, layer.minibatch_features(f)], 1)).squeeze(-1))


def test_off_by_default_leaves_d_exactly_as_it_was():
    torch.manual_seed(0)
    plain = discriminator(model_config())
    torch.manual_seed(0)
    off = discriminator(model_config(discriminator={**PAPER_D, "minibatch_kernels": 0}))
    assert list(plain.state_dict()) == list(off.state_dict())
    assert not any(isinstance(m, MinibatchDiscrimination) for m in off.modules())
    for a, b in zip(plain.state_dict().values(), off.state_dict().values()):
        assert torch.equal(a, b)


def test_gradients_reach_t_and_flow_between_examples():
    torch.manual_seed(0)
    D = discriminator(model_config(discriminator={**PAPER_D, "minibatch_kernels": 6}), shape=(1, 8, 8))
    D.eval()
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    D(x)[0].backward()
    T = D.head[0].weight
    assert T.grad is not None and T.grad.abs().sum() > 0
    assert x.grad is not None and x.grad[1].abs().sum() > 0  # logit 0 depends on example 1 through o


def record_batch_sizes(trainer: Trainer) -> list[int]:
    sizes: list[int] = []
    layer = next(m for m in trainer.D.modules() if isinstance(m, MinibatchDiscrimination))
    layer.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    return sizes


@pytest.mark.parametrize(
    ("update", "extra"),
    [
        ("simultaneous", []),
        ("alternating", ["train.d_steps=2", "train.g_batch_size=20"]),
        ("unrolled", ["train.d_steps=2", "train.rule.steps=1", "train.g_batch_size=20"]),
    ],
)
def test_every_update_rule_gives_the_layer_one_batch_per_call_never_real_and_fake_together(update, extra):
    cfg = load_config("digits", ["model.discriminator.minibatch_kernels=8", f"train.update={update}", *extra])
    trainer = Trainer.from_config(cfg)
    sizes = record_batch_sizes(trainer)
    stats = trainer.train_step()
    assert all(math.isfinite(float(v)) for v in stats.values()), stats
    # batch_size 64: a call on real and fake together would have 64 + 64 (or 64 + 20) rows.
    expected = {
        "simultaneous": [64, 64],  # joint_step: D(real), D(fake)
        "alternating": [64, 64, 64, 64, 20],  # two d_steps of D(real), D(fake); g_step D(fake)
        "unrolled": [
            64,
            64,
            64,
            64,
            64,
            20,
            20,
        ],  # two d_steps; one unrolled D step on real, fake; G's D(fake)
    }[update]
    assert sizes == expected


@pytest.mark.parametrize("arch", ["maxout", "mlp"])
def test_one_training_step_updates_t(arch):
    overrides = [f"model.discriminator.arch={arch}", "model.discriminator.minibatch_kernels=16"]
    trainer = Trainer.from_config(load_config("digits", overrides))
    T = next(m for m in trainer.D.modules() if isinstance(m, MinibatchDiscrimination)).weight
    before = T.detach().clone()
    stats = trainer.train_step()
    assert all(math.isfinite(float(v)) for v in stats.values()), stats
    assert not torch.equal(before, T.detach())


def test_penalties_on_grad_d_and_feature_matching_work_with_it():
    overrides = [
        "model.discriminator.minibatch_kernels=8",
        "penalties.gradient_penalty.weight=10",
        "penalties.r1.weight=1",
        "g_objectives.feature_matching.keep_adversarial=true",
    ]
    stats = Trainer.from_config(load_config("digits", overrides)).train_step()
    assert {"penalty_gradient_penalty", "penalty_r1", "g_feature_matching"} <= set(stats)
    assert all(math.isfinite(float(v)) for v in stats.values()), stats


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("model.discriminator.minibatch_kernels=-1", r"model\.discriminator\.minibatch_kernels=-1 .*>= 0"),
        (
            "model.discriminator.minibatch_kernel_dims=0",
            r"model\.discriminator\.minibatch_kernel_dims=0 .*> 0",
        ),
    ],
)
@pytest.mark.parametrize("arch", ["maxout", "mlp"])
def test_impossible_sizes_are_user_errors(arch, override, pattern):
    with pytest.raises(UserError, match=pattern):
        load_config("digits", [f"model.discriminator.arch={arch}", override])
