"""Initialisation: pylearn2 irange and the output bias from pixel marginals (docs/paper.md §0, §1a)."""

import math

import pytest
import torch
from torch import nn

from advnets.config import build_config
from advnets.errors import UserError
from advnets.models.init import orthogonal_init_, output_bias_from_marginals_, uniform_init_
from advnets.models.layers import Maxout
from tests.models.helpers import PAPER_G, discriminator, generator, model_config


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def hand_means() -> torch.Tensor:
    """784 pixel means whose first entries hit both clips: 0, 1, 0.5, 0.25, 0.9, then 0.5 everywhere."""
    means = torch.full((784,), 0.5)
    means[:5] = torch.tensor([0.0, 1.0, 0.5, 0.25, 0.9])
    return means


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


# logit(clip(m, 1e-7, 1 - 1e-7)) for hand_means()[:5], computed in float64 by hand.
HAND_LOGITS = [logit(1e-7), logit(1.0 - 1e-7), 0.0, math.log(1.0 / 3.0), math.log(9.0)]


def test_uniform_init_range_spread_and_zero_bias():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(50, 40), nn.ReLU(), Maxout(40, 30, 4))
    uniform_init_(net, 0.3)
    for layer in linears(net):
        assert layer.weight.abs().max() <= 0.3
        assert layer.weight.abs().max() > 0.29
        assert layer.weight.min() < -0.29  # both signs, not U(0, r)
        torch.testing.assert_close(layer.bias, torch.zeros_like(layer.bias), rtol=0, atol=0)


def test_paper_generator_ranges_and_output_bias():
    torch.manual_seed(0)
    G = generator(model_config(), means=hand_means())
    layers = linears(G)
    assert len(layers) == 3
    for layer in layers:
        assert layer.weight.abs().max() <= 0.05
        assert layer.weight.abs().max() > 0.045
    for layer in layers[:-1]:
        torch.testing.assert_close(layer.bias, torch.zeros_like(layer.bias), rtol=0, atol=0)
    bias = G.output_layer.bias
    torch.testing.assert_close(bias[:5], torch.tensor(HAND_LOGITS))
    torch.testing.assert_close(bias[5:], torch.zeros(779), rtol=0, atol=0)
    # The clip at 1 - 1e-7 survives (float32 arithmetic would round it to 1 - 1.19e-7 and give 15.94).
    assert bias[1].item() == pytest.approx(16.1181, abs=1e-4)


def test_paper_discriminator_ranges():
    torch.manual_seed(0)
    D = discriminator(model_config())
    layers = linears(D)
    assert len(layers) == 3
    for layer in layers:
        assert layer.weight.abs().max() <= 0.005
        assert layer.weight.abs().max() > 0.0045
        torch.testing.assert_close(layer.bias, torch.zeros_like(layer.bias), rtol=0, atol=0)


def test_tanh_and_linear_marginals():
    layer = nn.Linear(3, 4)
    means = torch.tensor([-1.0, 1.0, 0.0, 0.5])
    output_bias_from_marginals_(layer, means, "tanh")
    atanh_clip = 0.5 * math.log((2.0 - 1e-7) / 1e-7)  # atanh(1 - 1e-7)
    expected = torch.tensor([-atanh_clip, atanh_clip, 0.0, 0.5493061443])  # atanh(0.5)
    torch.testing.assert_close(layer.bias.detach(), expected)
    output_bias_from_marginals_(layer, means, "linear")
    torch.testing.assert_close(layer.bias.detach(), means, rtol=0, atol=0)


def test_marginal_bias_makes_zero_input_emit_the_mean_image():
    # With z = 0 every ReLU hidden unit is 0 (zero biases), so G(0) = sigmoid(output bias) = clipped means.
    torch.manual_seed(0)
    means = hand_means()
    G = generator(model_config(), means=means)
    out = G(torch.zeros(1, 100)).flatten()
    torch.testing.assert_close(out, means.clamp(1e-7, 1 - 1e-7), rtol=1e-5, atol=1e-7)


def test_marginal_bias_errors():
    layer = nn.Linear(3, 4)
    with pytest.raises(ValueError, match=r"shape \[4\]"):
        output_bias_from_marginals_(layer, torch.zeros(5), "sigmoid")
    with pytest.raises(UserError, match=r"model\.generator\.output='relu'.*sigmoid, tanh, linear"):
        output_bias_from_marginals_(layer, torch.zeros(4), "relu")
    with pytest.raises(ValueError, match="data's mean"):
        generator(model_config())


def test_builds_are_reproducible_from_the_global_seed():
    def weights(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        model = model_config()
        G = generator(model, (1, 8, 8), torch.full((64,), 0.3))
        D = discriminator(model, (1, 8, 8))
        return [*G.state_dict().values(), *D.state_dict().values()]

    for a, b in zip(weights(4), weights(4), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(weights(4)[0], weights(5)[0])


def test_null_init_range_keeps_pytorch_default():
    torch.manual_seed(0)
    G = generator(model_config(generator={**PAPER_G, "init_range": None, "bias_from_marginals": False}))
    first, _, last = linears(G)
    # PyTorch's default Linear init is U(+-1/sqrt(fan_in)): 0.1 for fan_in 100, not the paper's 0.05.
    assert 0.095 < first.weight.abs().max() <= 0.1
    assert first.bias.abs().max() > 0.05
    bound = 1 / math.sqrt(1200)
    assert 0.95 * bound < last.bias.abs().max() <= bound


def test_paper_initialisation_is_off_unless_a_preset_asks_for_it():
    # The mlp family's defaults build with PyTorch's init; the paper's presets switch U(-r, r) and the bias on.
    model = model_config(generator={"arch": "mlp"}, discriminator={"arch": "maxout"})
    assert model.generator.init_range is None and not model.generator.bias_from_marginals
    assert model.discriminator.init_range is None
    torch.manual_seed(0)
    G = generator(model)  # no data mean needed
    assert G.output_layer.bias.abs().max() > 0  # PyTorch's default bias, not zeros or marginals


@pytest.mark.parametrize(("rows", "cols"), [(128, 256), (256, 128), (1, 128)])
def test_orthogonal_init_gives_orthogonal_weights_times_the_gain_and_zero_bias(rows, cols):
    layer = nn.Linear(cols, rows)
    orthogonal_init_(layer, 1.4)
    w = layer.weight.detach().double()
    gram = w @ w.T if rows <= cols else w.T @ w  # the shorter side's rows are orthonormal × 1.4
    assert torch.allclose(gram, 1.96 * torch.eye(min(rows, cols), dtype=torch.float64), atol=1e-5)
    assert torch.equal(layer.bias, torch.zeros(rows))
    with pytest.raises(ValueError, match="gain must be > 0"):
        orthogonal_init_(layer, 0.0)


def test_orthogonal_init_is_the_same_on_any_number_of_threads():
    threads = torch.get_num_threads()
    weights = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            torch.manual_seed(0)
            layer = nn.Linear(256, 128)
            orthogonal_init_(layer, 1.4)
            weights.append(layer.weight.detach().clone())
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(weights[0], weights[1])


def test_the_mlp_families_take_an_orthogonal_init_and_refuse_two_inits():
    cfg = build_config(overrides=["model.discriminator.arch=mlp", "model.discriminator.orthogonal_gain=1.4"])
    assert cfg.model.discriminator.orthogonal_gain == 1.4
    with pytest.raises(UserError, match="two inits of the same weights"):
        build_config(overrides=["model.generator.orthogonal_gain=1.4", "model.generator.init_range=0.05"])
    with pytest.raises(UserError, match="orthogonal_gain"):
        build_config(overrides=["model.generator.orthogonal_gain=-1"])
