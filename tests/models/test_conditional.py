"""Conditional families: G(z, y) with a label embedding beside z, D(x, y) by projection (Miyato & Koyama 2018) or
by a concatenated one-hot label: shapes, labels that change the output, the projection against a hand computation,
and the inits and checks."""

import pytest
import torch
from torch import nn

from advnets.config import build_config
from advnets.data import ImageKind
from advnets.errors import UserError
from advnets.models import ModelSpec, build_discriminator, build_generator
from advnets.models.conditional import ConcatDiscriminator, ConditionalGenerator, ProjectionDiscriminator
from advnets.models.layers import Maxout
from advnets.models.players import discriminate, features, generate

K = 3
SHAPE = (1, 16, 16)
SMALL = {
    "cond-mlp": ["model.generator.hidden=[12]", "model.generator.embed_dim=4"],
    "cond-dcgan": ["model.generator.width=4", "model.generator.embed_dim=4"],
}
SMALL_D = {
    "cond-maxout": ["model.discriminator.hidden=[6]", "model.discriminator.pieces=2"],
    "cond-mlp": ["model.discriminator.hidden=[6]"],
    "cond-dcgan": ["model.discriminator.width=4"],
}
PAIRS = [("cond-mlp", "cond-maxout"), ("cond-mlp", "cond-mlp"), ("cond-dcgan", "cond-dcgan")]


def spec(shape=SHAPE, classes=K, z_dim=8):
    return ModelSpec(z_dim, shape, ImageKind("unit"), torch.full(shape, 0.3), "gaussian", classes)


def nets(g_arch, d_arch, conditioning="projection", *overrides, shape=SHAPE, classes=K):
    cfg = build_config(
        overrides=[
            f"model.generator.arch={g_arch}",
            f"model.discriminator.arch={d_arch}",
            "model.generator.output=sigmoid",
            f"model.discriminator.conditioning={conditioning}",
            *SMALL[g_arch],
            *SMALL_D[d_arch],
            *overrides,
        ]
    )
    return build_generator(cfg.model.generator, spec(shape, classes)), build_discriminator(
        cfg.model.discriminator, spec(shape, classes)
    )


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
@pytest.mark.parametrize("g_arch, d_arch", PAIRS)
def test_shapes_and_labels_change_the_output(g_arch, d_arch, conditioning):
    torch.manual_seed(0)
    G, D = nets(g_arch, d_arch, conditioning)
    assert G.conditional and D.conditional and G.num_classes == D.num_classes == K
    G.eval(), D.eval()  # no dropout: only the labels differ between the calls below
    z = torch.randn(5, 8)
    zeros, twos = torch.zeros(5, dtype=torch.long), torch.full((5,), 2)
    x = generate(G, z, zeros)
    assert x.shape == (5, *SHAPE)
    assert not torch.allclose(x, generate(G, z, twos))
    logits = discriminate(D, x, zeros)
    assert logits.shape == (5,)
    assert not torch.allclose(logits, discriminate(D, x, twos))
    assert features(D, x, zeros).shape[0] == 5


def test_the_generators_body_takes_z_and_the_embedding():
    G, _ = nets("cond-dcgan", "cond-dcgan")
    assert isinstance(G, ConditionalGenerator)
    first = next(m for m in G.modules() if isinstance(m, nn.ConvTranspose2d))
    assert first.in_channels == 8 + 4  # z_dim + embed_dim, channel-wise on the 1x1 map
    G, _ = nets("cond-mlp", "cond-mlp")
    first = next(m for m in G.modules() if isinstance(m, nn.Linear))
    assert first.in_features == 8 + 4


def test_projection_is_psi_of_phi_plus_the_class_embedding_inner_product():
    # A 2-pixel image, one hidden layer of 2 LeakyReLU units, 3 classes; every weight set by hand.
    cfg = build_config(overrides=["model.discriminator.arch=cond-mlp", "model.discriminator.hidden=[2]"])
    D = build_discriminator(cfg.model.discriminator, spec(shape=(1, 1, 2)))
    assert isinstance(D, ProjectionDiscriminator)
    linear, psi = [m for m in D.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 1.0]]))
        linear.bias.copy_(torch.tensor([0.0, 0.5]))
        psi.weight.copy_(torch.tensor([[0.5, -1.0]]))
        psi.bias.fill_(0.25)
        D.embed.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]]))
    x = torch.tensor([1.0, 3.0]).view(1, 1, 1, 2).expand(3, -1, -1, -1)
    # φ(x) = LeakyReLU([1*1 + 2*3 + 0, -1*1 + 1*3 + 0.5]) = [7, 2.5]; ψ(φ) = 0.5*7 - 1*2.5 + 0.25 = 1.25
    # <V_0, φ> = 7, <V_1, φ> = 2 * 2.5 = 5, <V_2, φ> = -7 + 2.5 = -4.5
    logits = discriminate(D, x, torch.tensor([0, 1, 2]))
    torch.testing.assert_close(logits, torch.tensor([1.25 + 7.0, 1.25 + 5.0, 1.25 - 4.5]))
    torch.testing.assert_close(features(D, x, torch.tensor([0, 1, 2])), torch.tensor([[7.0, 2.5]] * 3))


def test_flat_concat_joins_the_one_hot_label_after_the_images_dropout():
    torch.manual_seed(0)
    _, D = nets("cond-mlp", "cond-maxout", "concat", "model.discriminator.input_keep=0.5")
    assert isinstance(D, ConcatDiscriminator)
    first = next(m for m in D.body.modules() if isinstance(m, nn.Linear))
    assert first.in_features == 16 * 16 + K
    seen = []
    D.body.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x, labels = torch.ones(4, *SHAPE), torch.tensor([0, 1, 2, 1])
    discriminate(D, x, labels)  # train mode: the image's pixels are dropped (0) or scaled (2), the label never
    joined = seen[0]
    assert set(joined[:, :256].unique().tolist()) == {0.0, 2.0}
    assert torch.equal(joined[:, 256:], nn.functional.one_hot(labels, K).float())
    assert isinstance(D.body.hidden[1], Maxout)  # flatten, then the first layer: the body drops nothing itself


def test_spatial_concat_adds_one_constant_map_per_class():
    _, D = nets("cond-dcgan", "cond-dcgan", "concat")
    first = next(m for m in D.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 1 + K
    joined = D.joined(torch.zeros(2, *SHAPE), torch.tensor([2, 0]))
    assert joined.shape == (2, 1 + K, 16, 16)
    assert torch.equal(joined[0, 1:, 5, 7], torch.tensor([0.0, 0.0, 1.0]))
    assert torch.equal(joined[1, 1:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_the_projection_embedding_gets_the_inits_and_spectral_norm_of_d():
    torch.manual_seed(0)
    _, D = nets("cond-mlp", "cond-maxout", "projection", "model.discriminator.init_range=0.005")
    assert 0.004 < D.embed.weight.abs().max() <= 0.005
    _, D = nets("cond-dcgan", "cond-dcgan", "projection", "model.discriminator.init_std=0.02")
    assert 0.01 < D.embed.weight.std() < 0.03
    _, D = nets("cond-dcgan", "cond-dcgan", "projection")
    assert D.embed.weight.abs().max() <= (4 * 2 * 4 * 4) ** -0.5  # U(-1/√F, 1/√F), F = 8 maps of 4x4
    _, D = nets("cond-mlp", "cond-mlp", "projection", "model.discriminator.spectral_norm=true")
    assert hasattr(D.embed, "parametrizations")


def test_conditional_family_errors():
    with pytest.raises(UserError, match="model.generator.arch=cond-dcgan is a conditional family: it needs a data set"):
        nets("cond-dcgan", "cond-dcgan", classes=None)
    with pytest.raises(UserError, match="model.discriminator.conditioning='sum' is not allowed"):
        nets("cond-mlp", "cond-mlp", "sum")
    with pytest.raises(UserError, match="virtual_batch is not available for a conditional G"):
        nets("cond-mlp", "cond-mlp", "projection", "model.generator.norm=virtual_batch")


def test_cond_mlp_g_keeps_the_mlp_inits():
    torch.manual_seed(0)
    G, _ = nets(
        "cond-mlp", "cond-mlp", "projection", "model.generator.init_range=0.05", "model.generator.bias_from_marginals=true"
    )
    torch.testing.assert_close(G.body.output_layer.bias, torch.logit(torch.full((256,), 0.3)))
    assert G.body.output_layer.weight.abs().max() <= 0.05
    assert G.embed.weight.std() > 0.5  # the embedding keeps N(0, 1), on z's scale
