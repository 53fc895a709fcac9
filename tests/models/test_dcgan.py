"""DCGAN's G and D (Radford et al. 2016): the resolution taken from the data, layer shapes and widths, batch norm
placement, parameter counts against a hand computation, the paper's N(0, 0.02) init, and the output range check."""

import pytest
import torch
from torch import nn

from advnets.config import build_config
from advnets.data import ImageKind, VectorKind
from advnets.errors import UserError
from advnets.models import ModelSpec, build_discriminator, build_generator
from advnets.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_grid


def dcgan(shape, *overrides, pixel_range="symmetric", z_dim=100):
    cfg = build_config(overrides=["model.generator.arch=dcgan", "model.discriminator.arch=dcgan", *overrides])
    spec = ModelSpec(z_dim, tuple(shape), ImageKind(pixel_range), None, "gaussian")
    return build_generator(cfg.model.generator, spec), build_discriminator(cfg.model.discriminator, spec)


def conv_shapes(module: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    """The output shape (without the batch axis) of every conv / transposed conv / linear layer, in call order."""
    seen: list[tuple[int, ...]] = []
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    handles = [m.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:]))) for m in module.modules() if isinstance(m, kinds)]
    module(x)
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize(
    "side, grid",
    [(8, (4, 1)), (16, (4, 2)), (28, (7, 2)), (32, (4, 3)), (64, (4, 4))],
)
def test_the_grid_is_start_times_a_power_of_two(side, grid):
    assert dcgan_grid((1, side, side)) == grid


@pytest.mark.parametrize("shape, match", [((1, 28, 32), "square images"), ((1, 7, 7), "start >= 4 and n >= 1"), ((2,), "square")])
def test_shapes_dcgan_cannot_make_are_one_line_errors(shape, match):
    with pytest.raises(UserError, match=match):
        dcgan_grid(shape)


def test_mnist_28_lands_on_7x7_then_doubles_twice():
    G, D = dcgan((1, 28, 28), "model.generator.width=16", "model.discriminator.width=8")
    z = torch.randn(3, 100)
    # project z to 2*16 maps of 7x7 (a 7x7 transposed conv on the 1x1 map), 14x14 with 16, then 28x28 with 1
    assert conv_shapes(G, z) == [(32, 7, 7), (16, 14, 14), (1, 28, 28)]
    x = G(z)
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1.0  # tanh
    # D mirrors it: 8 maps of 14x14, 16 of 7x7, then the logit from the flattened 16 * 7 * 7 map
    assert conv_shapes(D, x) == [(8, 14, 14), (16, 7, 7), (1,)]
    assert D(x).shape == (3,) and D.features(x).shape == (3, 16 * 7 * 7)


def test_64x64_is_figure_1_and_counts_as_the_torch_code():
    G, D = dcgan((3, 64, 64))  # width 64 = the PyTorch example's ngf = ndf = 64
    z = torch.randn(2, 100)
    assert conv_shapes(G, z) == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (3, 64, 64)]
    assert conv_shapes(D, G(z)) == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1,)]
    # G: bias-free transposed convs (batch norm follows), BN scale + shift per map, the output layer with a bias.
    g_count = (
        100 * 512 * 4 * 4 + 2 * 512  # 819,200 + 1,024
        + 512 * 256 * 4 * 4 + 2 * 256  # 2,097,152 + 512
        + 256 * 128 * 4 * 4 + 2 * 128  # 524,288 + 256
        + 128 * 64 * 4 * 4 + 2 * 64  # 131,072 + 128
        + 64 * 3 * 4 * 4 + 3  # 3,072 + 3
    )
    assert sum(p.numel() for p in G.parameters()) == g_count == 3_576_707
    # D: the first conv with a bias (no batch norm after it), the others without, the logit layer on 512 * 4 * 4.
    d_count = (
        3 * 64 * 4 * 4 + 64  # 3,072 + 64
        + 64 * 128 * 4 * 4 + 2 * 128  # 131,072 + 256
        + 128 * 256 * 4 * 4 + 2 * 256  # 524,288 + 512
        + 256 * 512 * 4 * 4 + 2 * 512  # 2,097,152 + 1,024
        + 512 * 4 * 4 + 1  # 8,192 + 1
    )
    assert sum(p.numel() for p in D.parameters()) == d_count == 2_765_633


def test_batch_norm_everywhere_but_g_output_and_d_input():
    G, D = dcgan((1, 16, 16), "model.generator.width=4", "model.discriminator.width=4")
    g_layers = [type(m).__name__ for m in G.modules() if not list(m.children())]
    assert g_layers == [
        "ConvTranspose2d", "BatchNorm2d", "ReLU",
        "ConvTranspose2d", "BatchNorm2d", "ReLU",
        "ConvTranspose2d", "Tanh",
    ]  # fmt: skip
    d_layers = [type(m).__name__ for m in D.modules() if not list(m.children())]
    assert d_layers == ["Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten", "Linear"]
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    _, plain = dcgan((1, 16, 16), "model.discriminator.width=4", "model.discriminator.norm=none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))


def test_the_papers_init_is_an_option():
    torch.manual_seed(0)
    G, D = dcgan((3, 32, 32), "model.generator.init_std=0.02", "model.discriminator.init_std=0.02")
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.weight.numel() > 1000:
                assert abs(m.weight.std().item() - 0.02) < 0.002 and abs(m.weight.mean().item()) < 0.002
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.bias is not None:
                assert torch.equal(m.bias, torch.zeros_like(m.bias))
            if isinstance(m, nn.BatchNorm2d):
                assert abs(m.weight.mean().item() - 1.0) < 0.01 and 0 < m.weight.std().item() < 0.04
                assert torch.equal(m.bias, torch.zeros_like(m.bias))
    torch.manual_seed(0)
    default, _ = dcgan((3, 32, 32))  # PyTorch's init: BN scales exactly 1
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in default.modules() if isinstance(m, nn.BatchNorm2d))


def test_output_must_match_the_pixel_range():
    G, _ = dcgan((1, 8, 8), "model.generator.output=sigmoid", pixel_range="unit")
    assert G(torch.randn(4, 100)).min() >= 0.0
    with pytest.raises(UserError, match="model.generator.output=tanh produces symmetric pixels but data.pixel_range=unit"):
        dcgan((1, 8, 8), pixel_range="unit")
    cfg = build_config(overrides=["model.generator.arch=dcgan"])
    with pytest.raises(UserError, match="unbounded"):
        build_generator(cfg.model.generator, ModelSpec(4, (2,), VectorKind(), None, "gaussian"))


def test_spectral_norm_covers_the_convolutions():
    _, D = dcgan((1, 16, 16), "model.discriminator.width=4", "model.discriminator.spectral_norm=true")
    normalised = [m for m in D.modules() if hasattr(m, "parametrizations")]
    assert len(normalised) == 3  # two convs and the logit layer


def test_modules_are_plain_pytorch_without_the_registry():
    G = DCGANGenerator(8, (3, 32, 32), width=4, output="sigmoid")
    D = DCGANDiscriminator((3, 32, 32), width=4)
    assert D(G(torch.randn(2, 8))).shape == (2,)
