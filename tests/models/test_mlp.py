"""The fully connected G and Ds: layer order, dropout placement and scaling, shapes (docs/paper.md §0, §1a, §6)."""

import pytest
import torch
from torch import nn

from advnets.config import build_config
from advnets.data import VectorKind
from advnets.errors import UserError
from advnets.models import DISCRIMINATORS, GENERATORS, ModelSpec, build_generator
from advnets.models.layers import Dropout, Maxout
from advnets.models.mlp import MaxoutDiscriminator, MLPDiscriminator, MLPGenerator
from tests.models.helpers import MNIST, PAPER_G, discriminator, generator, model_config


def describe(module: nn.Module) -> tuple:
    """A comparable summary of one layer."""
    if isinstance(module, (nn.Dropout, Dropout)):
        return ("Dropout", round(module.p, 12))
    if isinstance(module, Maxout):
        return ("Maxout", module.in_features, module.units, module.pieces)
    if isinstance(module, nn.Linear):
        return ("Linear", module.in_features, module.out_features)
    if isinstance(module, nn.LeakyReLU):
        return ("LeakyReLU", module.negative_slope)
    return (type(module).__name__,)


def layer_list(module: nn.Module) -> list[tuple]:
    """Leaf layers (Maxout counted as one) in forward order."""
    out = []
    for child in module.children():
        if isinstance(child, Maxout) or not list(child.children()):
            out.append(describe(child))
        else:
            out += layer_list(child)
    return out


def paper_models() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    model = model_config()
    return generator(model, means=torch.full((784,), 0.13)), discriminator(model)


def test_registries_hold_the_shipped_families():
    # A subset, not equality: a new family (or a plug-in registered by another test) needs no edit here.
    assert {"mlp"} <= set(GENERATORS.names())
    assert {"maxout", "mlp", "set"} <= set(DISCRIMINATORS.names())


def test_paper_discriminator_layers_and_dropout_placement():
    _, D = paper_models()
    assert isinstance(D, MaxoutDiscriminator)
    assert layer_list(D) == [
        ("Flatten",),
        ("Dropout", 0.2),
        ("Maxout", 784, 240, 5),
        ("Dropout", 0.5),
        ("Maxout", 240, 240, 5),
        ("Dropout", 0.5),
        ("Linear", 240, 1),
    ]


def test_paper_generator_layers_and_no_dropout():
    G, _ = paper_models()
    assert isinstance(G, MLPGenerator)
    assert G.z_dim == 100 and G.image_shape == MNIST
    assert layer_list(G) == [
        ("Linear", 100, 1200),
        ("ReLU",),
        ("Linear", 1200, 1200),
        ("ReLU",),
        ("Linear", 1200, 784),
        ("Sigmoid",),
    ]
    assert G.output_layer is list(G.modules())[-2]
    assert not any(isinstance(m, (nn.Dropout, Dropout)) for m in G.modules())


def test_dropout_scaling_in_train_mode():
    _, D = paper_models()
    D.train()
    seen = []
    D.hidden[1].register_forward_hook(
        lambda mod, inp, out: seen.append(out.detach())
    )  # returns None: no edit
    D(torch.ones(400, *MNIST))
    # Input dropout: keep 0.8, so each pixel becomes 0 or 1 / 0.8 = 1.25 (pylearn2's scale 1.25).
    (dropped_input,) = seen
    torch.testing.assert_close(dropped_input.unique(), torch.tensor([0.0, 1.25]), rtol=0, atol=0)
    dropped = (dropped_input == 0).float().mean()
    torch.testing.assert_close(dropped, torch.tensor(0.2), rtol=0, atol=0.01)
    # Hidden dropout: keep 0.5, scale 2.0 (pylearn2's scale 2.0); checked on the module directly with ones.
    hidden_out = D.hidden[3](torch.ones(400, 240))
    torch.testing.assert_close(hidden_out.unique(), torch.tensor([0.0, 2.0]), rtol=0, atol=0)


def test_eval_is_deterministic_and_train_is_not():
    _, D = paper_models()
    x = torch.rand(8, *MNIST)
    D.eval()
    torch.testing.assert_close(D(x), D(x), rtol=0, atol=0)
    D.train()
    assert not torch.equal(D(x), D(x))


def test_discriminator_emits_logits_and_features():
    _, D = paper_models()
    D.eval()
    with torch.no_grad():
        D.head[-1].weight.zero_()
        D.head[-1].bias.fill_(5.0)
    x = torch.rand(6, *MNIST)
    logits = D(x)
    assert logits.shape == (6,)
    # A logit of exactly 5: no sigmoid inside D.
    torch.testing.assert_close(logits, torch.full((6,), 5.0), rtol=0, atol=0)
    features = D.features(x)
    assert features.shape == (6, 240)
    expected = D.hidden[4](D.hidden[2](x.flatten(1)))  # the two Maxouts, no dropout in eval mode
    torch.testing.assert_close(features, expected)


def test_generator_output_ranges():
    G, _ = paper_models()
    images = G(torch.randn(5, 100) * 3)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() > 0 and images.max() < 1

    model = model_config(generator={**PAPER_G, "output": "tanh", "bias_from_marginals": False})
    images = generator(model, pixel_range="symmetric")(torch.randn(5, 100) * 3)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() > -1 and images.max() < 1
    assert images.min() < 0  # tanh, not sigmoid


def mnist_zeros_config():
    return model_config(
        z_dim=64,
        noise="gaussian",
        generator={"arch": "mlp", "hidden": [128, 512], "activation": "leaky_relu", "output": "tanh"},
        discriminator={"arch": "mlp", "hidden": [256], "activation": "leaky_relu"},
    )


def test_mnist_zeros_builds_the_right_widths():
    cfg = mnist_zeros_config()
    G, D = generator(cfg, pixel_range="symmetric"), discriminator(cfg)
    assert layer_list(G) == [
        ("Linear", 64, 128),
        ("LeakyReLU", 0.2),
        ("Linear", 128, 512),
        ("LeakyReLU", 0.2),
        ("Linear", 512, 784),
        ("Tanh",),
    ]
    assert isinstance(D, MLPDiscriminator)
    assert layer_list(D) == [("Flatten",), ("Linear", 784, 256), ("LeakyReLU", 0.2), ("Linear", 256, 1)]
    x = G(torch.randn(3, 64))
    assert x.shape == (3, 1, 28, 28)
    assert D(x).shape == (3,) and D.features(x).shape == (3, 256)


def test_mlp_discriminator_with_dropout_and_small_images():
    D = MLPDiscriminator((1, 8, 8), [16, 12], activation="elu", input_keep=0.8, hidden_keep=0.5)
    assert layer_list(D) == [
        ("Flatten",),
        ("Dropout", 0.2),
        ("Linear", 64, 16),
        ("ELU",),
        ("Dropout", 0.5),
        ("Linear", 16, 12),
        ("ELU",),
        ("Dropout", 0.5),
        ("Linear", 12, 1),
    ]
    assert D(torch.rand(4, 1, 8, 8)).shape == (4,)


def test_keep_one_removes_only_that_dropout():
    D = MaxoutDiscriminator(MNIST, [10], pieces=2, input_keep=1.0, hidden_keep=0.5)
    assert layer_list(D) == [("Flatten",), ("Maxout", 784, 10, 2), ("Dropout", 0.5), ("Linear", 10, 1)]
    # No hidden layers: the logit layer's input is the image, so it gets the input keep.
    D = MaxoutDiscriminator(MNIST, [], input_keep=0.8, hidden_keep=0.5)
    assert layer_list(D) == [("Flatten",), ("Dropout", 0.2), ("Linear", 784, 1)]


@pytest.mark.parametrize(
    ("keys", "pattern"),
    [
        ({"generator": {"arch": "conv"}}, r"model\.generator\.arch 'conv'.*mlp"),
        ({"discriminator": {"arch": "cnn"}}, r"model\.discriminator\.arch 'cnn'.*maxout, mlp"),
        ({"generator": {**PAPER_G, "activation": "gelu"}}, r"model\.generator\.activation='gelu'"),
        ({"generator": {**PAPER_G, "output": "relu"}}, r"model\.generator\.output='relu'.*sigmoid, tanh"),
        (
            {"discriminator": {"arch": "mlp", "activation": "swish"}},
            r"model\.discriminator\.activation='swish'",
        ),
        ({"discriminator": {"arch": "mlp", "pieces": 3}}, r"unknown config key 'model\.discriminator\.pieces'"),
        ({"generator": {**PAPER_G, "hiden": [3]}}, r"did you mean model\.generator\.hidden\?"),
    ],
)
def test_unknown_names_and_keys_are_user_errors(keys, pattern):
    with pytest.raises(UserError, match=pattern):
        model_config(**keys)


def test_per_layer_activations_build_the_1d_lab_generator():
    # docs/paper.md §6: G 1 -> 100 ELU -> 100 sigmoid -> 1 linear.
    keys = {"arch": "mlp", "hidden": [100, 100], "activations": ["elu", "sigmoid"], "output": "linear"}
    model = build_config(base={"data": {"name": "gauss-1d"}, "model": {"z_dim": 1, "generator": keys}}).model
    G = build_generator(model.generator, ModelSpec(1, (1,), VectorKind()))
    assert layer_list(G) == [
        ("Linear", 1, 100),
        ("ELU",),
        ("Linear", 100, 100),
        ("Sigmoid",),
        ("Linear", 100, 1),
        ("Identity",),
    ]
    # Without `activations` every hidden layer takes `activation`, as before.
    same = MLPGenerator(1, [4, 4], (1,), activation="tanh", output="linear")
    assert [d for d in layer_list(same) if d[0] != "Linear"] == [("Tanh",), ("Tanh",), ("Identity",)]


@pytest.mark.parametrize(
    ("activations", "pattern"),
    [
        (["elu"], r"activations=\['elu'\] names 1 activations for 2 hidden layers"),
        (["elu", "gelu"], r"model\.generator\.activations\[1\]='gelu' is not allowed"),
    ],
)
def test_bad_per_layer_activations_are_user_errors(activations, pattern):
    with pytest.raises(UserError, match=pattern):
        model_config(generator={**PAPER_G, "activations": activations})
