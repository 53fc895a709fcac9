"""Maxout against hand-computed values, and the named activations."""

import pytest
import torch
from torch import nn

from advnets.errors import UserError
from advnets.models.layers import Maxout, make_activation

# Linear(2, 6) of a Maxout(2, units=2, pieces=3): columns 0-2 belong to unit 0, columns 3-5 to unit 1.
WEIGHT = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [2.0, -1.0]]
BIAS = [0.0, 0.0, 0.0, 0.5, 0.0, -1.0]
X = [[1.0, 2.0], [-1.0, 0.5]]
# Pre-max columns, by hand:
#   x = [1, 2]:    1, 2, 3 | -0.5, -2, -1    -> units 3, -0.5
#   x = [-1, 0.5]: -1, 0.5, -0.5 | 1.5, -0.5, -3.5 -> units 0.5, 1.5
# Strided grouping (unit j = columns j, j+2, j+4) would give [[3, 2], [-0.5, 1.5]] instead.
EXPECTED = [[3.0, -0.5], [0.5, 1.5]]


def hand_maxout() -> Maxout:
    layer = Maxout(2, units=2, pieces=3)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor(WEIGHT))
        layer.linear.bias.copy_(torch.tensor(BIAS))
    return layer


def test_maxout_matches_hand_computation():
    out = hand_maxout()(torch.tensor(X))
    torch.testing.assert_close(out, torch.tensor(EXPECTED), rtol=0, atol=0)


def test_maxout_groups_contiguous_columns_not_strided():
    out = hand_maxout()(torch.tensor(X))
    strided = torch.tensor([[3.0, 2.0], [-0.5, 1.5]])
    assert not torch.equal(out, strided)
    torch.testing.assert_close(out[:, 1], torch.tensor([-0.5, 1.5]), rtol=0, atol=0)


def test_maxout_shapes_and_leading_dims():
    layer = hand_maxout()
    assert isinstance(layer.linear, nn.Linear)
    assert (layer.linear.in_features, layer.linear.out_features) == (2, 6)
    batched = layer(torch.tensor(X).expand(4, 2, 2))  # [4, 2, 2] -> [4, 2, units]
    torch.testing.assert_close(batched, torch.tensor(EXPECTED).expand(4, 2, 2), rtol=0, atol=0)


def test_maxout_gradient_reaches_only_the_winning_piece():
    layer = hand_maxout()
    layer(torch.tensor([[1.0, 2.0]])).sum().backward()
    # Unit 0 is won by column 2 and unit 1 by column 3 (see the table above).
    expected = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    torch.testing.assert_close(layer.linear.bias.grad, expected, rtol=0, atol=0)


def test_maxout_rejects_zero_pieces():
    with pytest.raises(ValueError, match="pieces"):
        Maxout(4, units=3, pieces=0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("relu", [0.0, 0.0, 2.0]),
        ("leaky_relu", [-0.2, 0.0, 2.0]),
        ("elu", [-0.6321205588, 0.0, 2.0]),  # exp(-1) - 1
        ("tanh", [-0.7615941560, 0.0, 0.9640275801]),
        ("sigmoid", [0.2689414214, 0.5, 0.8807970780]),
    ],
)
def test_activations(name, expected):
    out = make_activation(name, "model.generator.activation")(torch.tensor([-1.0, 0.0, 2.0]))
    torch.testing.assert_close(out, torch.tensor(expected))


def test_unknown_activation_names_key_and_choices():
    with pytest.raises(UserError, match=r"model\.discriminator\.activation='swish'.*relu, leaky_relu, elu"):
        make_activation("swish", "model.discriminator.activation")


def test_spectral_norm_makes_every_weights_largest_singular_value_one():
    from advnets.models.layers import spectral_norm_
    from tests.models.helpers import PAPER_D, discriminator, model_config

    torch.manual_seed(0)
    model = model_config(discriminator={**PAPER_D, "spectral_norm": True, "init_range": 0.05})
    D = discriminator(model)
    x = torch.rand(8, 1, 28, 28)
    for _ in range(100):  # each training-mode forward pass runs one power iteration
        D(x)
    layers = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(layers) == 3
    for layer in layers:
        # The initialisation went to the parametrisation's original weight (U(±0.05)), the effective one is W/σ.
        assert layer.parametrizations.weight.original.abs().max() <= 0.05
        sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
        assert abs(sigma.item() - 1.0) < 0.01  # the power iteration approaches σ from below
    # A checkpoint of it loads into a D built the same way without init.
    again = discriminator(model)
    again.load_state_dict(D.state_dict())
    D.eval(), again.eval()
    torch.testing.assert_close(again(x), D(x))
    plain = spectral_norm_(nn.Sequential(nn.Linear(3, 2), nn.ReLU()))
    assert hasattr(plain[0], "parametrizations")
