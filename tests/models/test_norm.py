"""G's hidden-layer norm (model.generator.norm): virtual batch norm against a hand computation, per-example
independence, the reference batch in checkpoints, batch norm's modes, one training step, config errors."""

import math

import pytest
import torch
from torch import nn

from advnets.config import load_config
from advnets.data import VectorKind
from advnets.errors import UserError
from advnets.models import ModelSpec, VirtualBatchNorm1d, build_generator
from advnets.models.mlp import MLPGenerator
from advnets.models.noise import UNIFORM_BOUND
from advnets.runs.session import load_generator, train
from advnets.training.trainer import Trainer
from tests.conftest import tiny_config
from tests.models.helpers import model_config

EPS = 1e-5
SMALL_G = {"arch": "mlp", "hidden": [16, 8], "activation": "relu", "output": "linear"}


def small_generator(norm: str, *, seed: int = 0, reference_batch: int = 5, noise: str = "uniform", init=True):
    options = model_config(
        generator={**SMALL_G, "norm": norm, "reference_batch": reference_batch}, z_dim=3
    ).generator
    torch.manual_seed(seed)
    return build_generator(options, ModelSpec(3, (4,), VectorKind(), noise=noise), init=init)


def test_vbn_of_two_reference_rows_and_one_example_against_the_hand_computation():
    layer = VirtualBatchNorm1d(2, reference_size=2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([2.0, 1.0]))  # γ
        layer.bias.copy_(torch.tensor([0.5, -1.0]))  # β
    h = torch.tensor(
        [[1.0, 0.0], [3.0, 0.0], [5.0, 3.0]]
    )  # reference rows 1 and 3 (0 and 0), then x = (5, 3)
    # Feature 0: reference mean 2, mean square 5, var 1 -> (1 - 2) / sqrt(1 + eps), (3 - 2) / sqrt(1 + eps).
    #   x = 5: mean = 5/3 + 2·2/3 = 3, mean square = 25/3 + 5·2/3 = 35/3, var = 35/3 - 9 = 8/3.
    # Feature 1: reference mean 0, var 0 -> 0 / sqrt(eps) = 0.
    #   x = 3: mean = 3/3 = 1, mean square = 9/3 = 3, var = 3 - 1 = 2.
    expected = torch.tensor(
        [
            [2.0 * -1.0 / math.sqrt(1.0 + EPS) + 0.5, 1.0 * 0.0 - 1.0],
            [2.0 * 1.0 / math.sqrt(1.0 + EPS) + 0.5, 1.0 * 0.0 - 1.0],
            [
                2.0 * (5.0 - 3.0) / math.sqrt(8.0 / 3.0 + EPS) + 0.5,
                1.0 * (3.0 - 1.0) / math.sqrt(2.0 + EPS) - 1.0,
            ],
        ]
    )
    torch.testing.assert_close(layer(h), expected)


def test_vbn_starts_as_gamma_one_beta_zero_and_refuses_a_batch_without_examples():
    layer = VirtualBatchNorm1d(3, reference_size=4)
    assert torch.equal(layer.weight, torch.ones(3)) and torch.equal(layer.bias, torch.zeros(3))
    with pytest.raises(ValueError, match="reference rows first"):
        layer(torch.zeros(4, 3))


def test_the_norm_sits_between_each_hidden_linear_and_its_activation():
    for norm, kind in (("batch", nn.BatchNorm1d), ("virtual_batch", VirtualBatchNorm1d)):
        G = small_generator(norm)
        types = [type(m) for m in G.hidden]
        assert types == [nn.Linear, kind, nn.ReLU, nn.Linear, kind, nn.ReLU]
    assert [type(m) for m in small_generator("none").hidden] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]
    assert small_generator("none").z_ref is None and small_generator("batch").z_ref is None


def test_the_reference_batch_is_drawn_last_from_the_prior_and_kept_as_a_buffer():
    G, plain = small_generator("virtual_batch", reference_batch=200), small_generator("none")
    assert G.z_ref.shape == (200, 3) and "z_ref" in G.state_dict()
    assert G.z_ref.abs().max() <= UNIFORM_BOUND
    # Drawn after the layers: the Linear weights are those of the same seed without VBN.
    linears = [[m for m in net.modules() if isinstance(m, nn.Linear)] for net in (plain, G)]
    assert len(linears[0]) == len(linears[1]) == 3
    for a, b in zip(*linears):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    gaussian = small_generator("virtual_batch", reference_batch=200, noise="gaussian")
    assert gaussian.z_ref.abs().max() > UNIFORM_BOUND  # P(|z| > 1.73) = 8% per draw, 600 draws


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_with_vbn_each_output_depends_only_on_its_own_z(mode):
    G = small_generator("virtual_batch")
    G.train(mode == "train")
    torch.manual_seed(1)
    z = torch.randn(7, 3)
    batch = G(z)
    for i in range(len(z)):
        torch.testing.assert_close(G(z[i : i + 1])[0], batch[i])
    torch.testing.assert_close(G(z[[4, 0]]), batch[[4, 0]])
    # Through autograd too: output 0 has no gradient w.r.t. the other z.
    z.requires_grad_(True)
    (grad,) = torch.autograd.grad(G(z)[0].sum(), z)
    assert grad[0].abs().sum() > 0 and torch.equal(grad[1:], torch.zeros(6, 3))


def test_batch_norm_depends_on_the_batch_in_train_mode_and_uses_running_statistics_in_eval():
    G = small_generator("batch")
    torch.manual_seed(1)
    z = torch.randn(7, 3)
    G.train()
    assert not torch.allclose(G(z[:3])[0], G(z)[0])  # the check above would fail for batch norm
    G.eval()
    torch.testing.assert_close(G(z[:1])[0], G(z)[0])
    bn = G.hidden[1]
    assert bn.num_batches_tracked.item() == 2 and not torch.equal(bn.running_mean, torch.zeros(16))


def test_the_reference_batch_survives_a_checkpoint_round_trip():
    G = small_generator("virtual_batch", seed=0)
    state = G.state_dict()
    fresh = small_generator("virtual_batch", seed=1, init=False)  # another seed: another z_ref until loaded
    assert not torch.equal(fresh.z_ref, G.z_ref)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.z_ref, G.z_ref)
    z = torch.randn(5, 3)
    assert torch.equal(fresh(z), G(z))


def test_gradients_reach_every_parameter_of_a_vbn_generator():
    G = small_generator("virtual_batch")
    G(torch.randn(4, 3)).square().sum().backward()
    for name, p in G.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_trainer_draws_the_reference_batch_from_model_noise():
    cfg = load_config("digits", ["model.generator.norm=virtual_batch", "model.noise=gaussian"])
    G = Trainer.from_config(cfg).G
    assert isinstance(G, MLPGenerator) and G.z_ref.shape == (64, 32)
    assert G.z_ref.abs().max() > UNIFORM_BOUND


@pytest.mark.parametrize(
    ("norm", "extra"),
    [
        ("virtual_batch", ["train.update=alternating"]),
        ("virtual_batch", ["train.update=simultaneous", "train.ema_decay=0.9"]),
        ("batch", ["train.update=alternating"]),
        ("batch", ["train.update=simultaneous", "train.ema_decay=0.9"]),
    ],
)
def test_one_training_step_with_each_norm(norm, extra):
    trainer = Trainer.from_config(load_config("digits", [f"model.generator.norm={norm}", *extra]))
    norms = [m for m in trainer.G.modules() if isinstance(m, (nn.BatchNorm1d, VirtualBatchNorm1d))]
    assert len(norms) == 2
    before = [m.weight.detach().clone() for m in norms]
    stats = trainer.train_step()
    assert all(math.isfinite(float(v)) for v in stats.values()), stats
    assert all(not torch.equal(b, m.weight) for b, m in zip(before, norms))
    averaged = "train.ema_decay=0.9" in extra
    assert (trainer.parts.G_ema is not None) == averaged
    if averaged:
        averaged_buffers, buffers = dict(trainer.parts.G_ema.named_buffers()), dict(trainer.G.named_buffers())
        assert buffers  # z_ref or the running statistics, copied into the average:
        assert all(torch.equal(averaged_buffers[name], b) for name, b in buffers.items())


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        (
            "model.generator.norm=layer",
            r"model\.generator\.norm='layer' is not allowed.*none, batch, virtual_batch",
        ),
        ("model.generator.reference_batch=0", r"model\.generator\.reference_batch=0 .*> 0"),
        ("model.generator.reference_batch=-3", r"model\.generator\.reference_batch=-3 .*> 0"),
    ],
)
def test_bad_norm_settings_are_user_errors(override, pattern):
    with pytest.raises(UserError, match=pattern):
        load_config("digits", [override])


def test_a_run_folder_gives_back_the_trained_vbn_generator(tmp_path):
    cfg = tiny_config(
        "model.generator.norm=virtual_batch", "model.generator.reference_batch=10", "train.max_steps=3"
    )
    run_dir, status = train(cfg, tmp_path / "vbn")
    assert status == "completed"
    direct = Trainer.from_config(cfg)
    direct.fit()  # the same seed and steps without a run folder
    torch.manual_seed(99)  # load_generator builds G (and draws a z_ref) from whatever the global RNG holds
    G, *_ = load_generator(run_dir, device="cpu", ema=False)
    assert torch.equal(G.z_ref, direct.G.z_ref)
    z = torch.rand(6, cfg.model.z_dim)
    direct.G.eval()
    assert torch.equal(G(z), direct.G(z))
