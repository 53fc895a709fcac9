"""The paper's CIFAR-10 nets against the 2014 configs (docs/paper.md §1c, §1d: cifar10_fully_connected.yaml,
cifar10_convolutional.yaml, deconv.py): every layer's output shape and parameter count, worked out by hand from the
configs' numbers. The full-size nets are built on the meta device (shapes and counts without 100M floats); the
init, dropout and numerics are checked on small widths."""

import math

import pytest
import torch
from torch import nn

from advnets.config import build_config
from advnets.data import ImageKind
from advnets.errors import UserError
from advnets.models import ModelSpec, build_discriminator, build_generator
from advnets.models.cifar_paper import ConvMaxout, ConvMaxoutDiscriminator, DeconvGenerator
from advnets.models.layers import Dropout, Maxout
from advnets.models.mlp import MaxoutDiscriminator, MLPGenerator

CIFAR = (3, 32, 32)
N = 5


def cifar_spec() -> ModelSpec:
    return ModelSpec(100, CIFAR, ImageKind("unit"), None, "gaussian")


def paper_nets(generator: str, discriminator: str, *overrides: str, device: str = "meta"):
    cfg = build_config(
        overrides=[f"model.generator.arch={generator}", f"model.discriminator.arch={discriminator}", *overrides]
    )
    with torch.device(device):
        return build_generator(cfg.model.generator, cifar_spec()), build_discriminator(cfg.model.discriminator, cifar_spec())


def output_shapes(module: nn.Module, x: torch.Tensor, kinds: tuple[type, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """(class name, output shape without the batch axis) of every submodule of these kinds, in call order."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    handles = [
        m.register_forward_hook(lambda m, i, out: seen.append((type(m).__name__, tuple(out.shape[1:]))))
        for m in module.modules()
        if isinstance(m, kinds)
    ]
    try:
        module(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_fully_connected_generator_matches_the_config():
    # z(100) -> gh0 RectifiedLinear 8000 -> h1 Sigmoid 8000 -> y Linear 3072
    G, _ = paper_nets("cifar-paper-dense", "cifar-paper-maxout")
    assert isinstance(G, MLPGenerator)
    kinds = (nn.Linear, nn.ReLU, nn.Sigmoid, nn.Identity)
    assert output_shapes(G, torch.empty(N, 100, device="meta"), kinds) == [
        ("Linear", (8000,)),
        ("ReLU", (8000,)),
        ("Linear", (8000,)),
        ("Sigmoid", (8000,)),
        ("Linear", (3072,)),
        ("Identity", (3072,)),  # linear output: GCN pixels are unbounded
    ]
    linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [count(m) for m in linears] == [
        100 * 8000 + 8000,  # gh0: 808,000
        8000 * 8000 + 8000,  # h1: 64,008,000
        8000 * 3072 + 3072,  # y: 24,579,072
    ]
    assert count(G) == 808_000 + 64_008_000 + 24_579_072 == 89_395_072


def test_fully_connected_discriminator_matches_the_config():
    # 3072 -> dh0 Maxout 1600 x 5 -> h1 Maxout 1600 x 5 -> y Sigmoid 1, dropout 0.8 then 0.5 before every layer
    _, D = paper_nets("cifar-paper-dense", "cifar-paper-maxout")
    assert isinstance(D, MaxoutDiscriminator)
    shapes = output_shapes(D, torch.empty(N, *CIFAR, device="meta"), (nn.Flatten, Dropout, Maxout, nn.Linear))
    assert [s for s in shapes if s[0] != "Linear" or s[1] == (1,)] == [
        ("Flatten", (3072,)),
        ("Dropout", (3072,)),
        ("Maxout", (1600,)),
        ("Dropout", (1600,)),
        ("Maxout", (1600,)),
        ("Dropout", (1600,)),
        ("Linear", (1,)),
    ]
    assert [m.p for m in D.modules() if isinstance(m, Dropout)] == pytest.approx([0.2, 0.5, 0.5])
    maxouts = [m for m in D.modules() if isinstance(m, Maxout)]
    assert [count(m) for m in maxouts] == [
        3072 * (1600 * 5) + 1600 * 5,  # dh0: 24,584,000
        1600 * (1600 * 5) + 1600 * 5,  # h1: 12,808,000
    ]
    assert count(D) == 24_584_000 + 12_808_000 + (1600 + 1) == 37_393_601


def test_deconv_generator_matches_the_config():
    # z(100) -> gh0 8000 ReLU -> h1 8000 sigmoid -> 80 x 10 x 10 -> Deconv 3 maps, 5x5, stride 3, untied bias
    G, _ = paper_nets("cifar-paper-deconv", "cifar-paper-convmaxout")
    assert isinstance(G, DeconvGenerator)
    kinds = (nn.Linear, nn.ConvTranspose2d)
    assert output_shapes(G, torch.empty(N, 100, device="meta"), kinds) == [
        ("Linear", (8000,)),
        ("Linear", (8000,)),
        ("ConvTranspose2d", (3, 3 * (10 - 1) + 5, 3 * (10 - 1) + 5)),  # 32 x 32
    ]
    assert G.map_shape == (80, 10, 10)  # 80 * 10 * 10 = 8000
    assert count(G.hidden) == (100 * 8000 + 8000) + (8000 * 8000 + 8000)  # 808,000 + 64,008,000
    assert count(G.deconv) == 80 * 3 * 5 * 5  # 6,000 weights, the bias is separate:
    assert G.bias.shape == (3, 32, 32)  # tied_b: 0, one bias per channel and pixel: 3,072
    assert count(G) == 808_000 + 64_008_000 + 6_000 + 3_072 == 64_825_072


def test_conv_maxout_discriminator_matches_the_config():
    _, D = paper_nets("cifar-paper-deconv", "cifar-paper-convmaxout")
    assert isinstance(D, ConvMaxoutDiscriminator)
    shapes = output_shapes(D, torch.empty(N, *CIFAR, device="meta"), (nn.Conv2d, ConvMaxout, Maxout, nn.Linear))
    shapes = [s for s in shapes if s[0] != "Linear" or s[1] == (1,)]  # the Maxout's own Linear is not a layer
    assert shapes == [
        # dh0: 64 detector maps, 32 + 2*4 - 8 + 1 = 33; maxout pairs -> 32 maps; pool 4/2: ceil(29 / 2) + 1 = 16
        ("Conv2d", (64, 33, 33)),
        ("ConvMaxout", (32, 16, 16)),
        # h1: 16 + 2*3 - 8 + 1 = 15; pool 4/2: ceil(11 / 2) + 1 = 7
        ("Conv2d", (64, 15, 15)),
        ("ConvMaxout", (32, 7, 7)),
        # h2: 384 detector maps, 7 + 2*3 - 5 + 1 = 9; pool 2/2: ceil(7 / 2) + 1 = 5
        ("Conv2d", (384, 9, 9)),
        ("ConvMaxout", (192, 5, 5)),
        ("Maxout", (500,)),  # h3 on 192 * 5 * 5 = 4800 inputs
        ("Linear", (1,)),  # y
    ]
    convs = [m for m in D.modules() if isinstance(m, ConvMaxout)]
    assert [count(m) for m in convs] == [
        3 * 8 * 8 * 64 + 64,  # dh0: 12,288 weights + 64 tied biases (one per detector map)
        32 * 8 * 8 * 64 + 64,  # h1: 131,072 + 64
        32 * 5 * 5 * 384 + 384,  # h2: 307,200 + 384
    ]
    (h3,) = [m for m in D.modules() if isinstance(m, Maxout)]
    assert count(h3) == 4800 * (500 * 5) + 500 * 5  # 12,002,500
    assert count(D) == 12_352 + 131_136 + 307_584 + 12_002_500 + (500 + 1) == 12_454_073
    # Dropout before every layer: the image (keep 0.8), then h1, h2, h3 and y (keep 0.5).
    assert [m.p for m in D.modules() if isinstance(m, Dropout)] == pytest.approx([0.2, 0.5, 0.5, 0.5, 0.5])


def test_ceil_mode_pooling_keeps_the_partial_last_window():
    # 33 with pool 4 stride 2: windows start at 0, 2, ..., 30; the last one sees rows 30-32 only (floor mode
    # would give 15 windows and drop row 32).
    pool = ConvMaxout(1, 1, 1, 1, 0, 4, 2)
    with torch.no_grad():
        pool.conv.weight.fill_(1.0)
        pool.conv.bias.zero_()
    x = torch.zeros(1, 1, 33, 33)
    x[0, 0, 32, 32] = 5.0
    out = pool(x)
    assert out.shape == (1, 1, 16, 16)
    assert out[0, 0, 15, 15] == 5.0


def test_conv_maxout_takes_the_max_over_contiguous_maps():
    layer = ConvMaxout(1, 2, 3, 1, 0, 1, 1)  # 2 units x 3 pieces, 1x1 kernel, no pooling
    with torch.no_grad():
        layer.conv.weight.copy_(torch.tensor([1.0, -2.0, 3.0, 0.5, 4.0, -1.0]).view(6, 1, 1, 1))
        layer.conv.bias.zero_()
    out = layer(torch.full((1, 1, 2, 2), 2.0))
    # unit 0: max(2, -4, 6) = 6 over maps 0-2; unit 1: max(1, 8, -2) = 8 over maps 3-5
    assert torch.equal(out[0, :, 0, 0], torch.tensor([6.0, 8.0]))


SMALL = [
    "model.generator.hidden=[16,200]",  # 200 = 2 maps of 10 x 10
    "model.generator.channels=2",
    "model.discriminator.channels=[4,4,8]",
    "model.discriminator.hidden=6",
]


def test_inits_follow_the_config_ranges():
    torch.manual_seed(0)
    G, D = paper_nets("cifar-paper-deconv", "cifar-paper-convmaxout", *SMALL, device="cpu")
    for layer in [*G.hidden, G.deconv]:
        if isinstance(layer, (nn.Linear, nn.ConvTranspose2d)):
            assert layer.weight.abs().max() <= 0.05 and layer.weight.abs().max() > 0.04
    assert torch.equal(G.bias, torch.zeros(CIFAR))
    for layer in D.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            assert layer.weight.abs().max() <= 0.005 and torch.equal(layer.bias, torch.zeros_like(layer.bias))
    torch.manual_seed(0)
    dense, _ = paper_nets("cifar-paper-dense", "cifar-paper-maxout", "model.generator.hidden=[16,16]", device="cpu")
    hidden_max = max(m.weight.abs().max() for m in dense.hidden if isinstance(m, nn.Linear))
    assert 0.04 < hidden_max <= 0.05
    assert 0.45 < dense.output_layer.weight.abs().max() <= 0.5  # the output layer's own irange: 0.5


def test_small_nets_train_a_step_with_finite_gradients():
    torch.manual_seed(0)
    G, D = paper_nets("cifar-paper-deconv", "cifar-paper-convmaxout", *SMALL, device="cpu")
    logits = D(G(torch.randn(4, 100)))
    assert logits.shape == (4,)
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in [*G.parameters(), *D.parameters()])
    assert D.features(torch.randn(4, *CIFAR)).shape == (4, 6)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["model.generator.hidden=[16,100]"], r"hidden\[-1\]=100 must equal channels \* side\^2 = 2 \* 10\^2 = 200"),
        (["model.generator.kernel=4"], r"kernel=4 and stride=3 cannot make 32x32 images"),
        (["model.generator.activations=[relu]"], "names 1 activations for 2 hidden layers"),
        (["model.discriminator.pads=[4,3]"], r"pads=\[4, 3\] has 2 entries for 3 conv layers"),
    ],
)
def test_bad_paper_net_options_are_one_line_errors(overrides, match):
    with pytest.raises(UserError, match=match):
        paper_nets("cifar-paper-deconv", "cifar-paper-convmaxout", *SMALL, *overrides, device="cpu")


def test_the_deconv_map_side_comes_from_the_data():
    # 28 x 28 with kernel 4, stride 3: (28 - 4) / 3 + 1 = 9, so the last dense layer is channels * 81
    G = DeconvGenerator(8, (1, 28, 28), [2 * 81], ["sigmoid"], channels=2, kernel=4, stride=3)
    assert G(torch.randn(3, 8)).shape == (3, 1, 28, 28)
    assert math.prod(G.map_shape) == 162
