"""Generators and discriminators chosen by config name (`model.generator.arch`, `model.discriminator.arch`).

Registered builders take (model_cfg: ModelConfig, image_shape) and construct a module with PyTorch's
default init. `build_generator` / `build_discriminator` then apply the config's init as the paper's pylearn2
configs did (PAPER.md §0): U(-r, r) weights with zero biases when `init_range` is set, and G's output bias
from the pixel marginals when `bias_from_marginals` is set. Every generator exposes `output_layer`
(nn.Linear) for the latter.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from advnets.config import ModelConfig
from advnets.models.init import output_bias_from_marginals_, uniform_init_
from advnets.models.layers import Maxout
from advnets.models.mlp import MaxoutDiscriminator, MLPDiscriminator, MLPGenerator
from advnets.models.noise import sample_noise
from advnets.registry import Registry

Builder = Callable[[ModelConfig, tuple[int, int, int]], nn.Module]

GENERATORS: Registry[Builder] = Registry("model.generator.arch")
DISCRIMINATORS: Registry[Builder] = Registry("model.discriminator.arch")


@GENERATORS.register("mlp")
def _mlp_generator(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> nn.Module:
    g = cfg.generator
    return MLPGenerator(cfg.z_dim, g.hidden, image_shape, activation=g.activation, output=g.output)


@DISCRIMINATORS.register("maxout")
def _maxout_discriminator(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> nn.Module:
    d = cfg.discriminator
    return MaxoutDiscriminator(
        image_shape, d.hidden, pieces=d.pieces, input_keep=d.input_keep, hidden_keep=d.hidden_keep
    )


@DISCRIMINATORS.register("mlp")
def _mlp_discriminator(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> nn.Module:
    d = cfg.discriminator
    return MLPDiscriminator(
        image_shape, d.hidden, activation=d.activation, input_keep=d.input_keep, hidden_keep=d.hidden_keep
    )


def build_generator(
    cfg: ModelConfig, image_shape: tuple[int, int, int], pixel_means: torch.Tensor | None = None
) -> nn.Module:
    """G for `cfg`, initialised from the global torch RNG.

    pixel_means: [C*H*W] mean training image in G's output space; used only when
    `cfg.generator.bias_from_marginals` is set, and then required.
    """
    g_cfg = cfg.generator
    if g_cfg.bias_from_marginals and pixel_means is None:
        raise ValueError("model.generator.bias_from_marginals is set, so build_generator needs pixel_means")
    G = GENERATORS.get(g_cfg.arch)(cfg, image_shape)
    if g_cfg.init_range is not None:
        uniform_init_(G, g_cfg.init_range)
    if pixel_means is not None and g_cfg.bias_from_marginals:
        output_layer = getattr(G, "output_layer", None)
        if not isinstance(output_layer, nn.Linear):
            raise TypeError(f"generator {g_cfg.arch!r} has no nn.Linear `output_layer` for the marginal bias")
        output_bias_from_marginals_(output_layer, pixel_means, g_cfg.output)
    return G


def build_discriminator(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> nn.Module:
    """D for `cfg` (emits logits [N]), initialised from the global torch RNG."""
    D = DISCRIMINATORS.get(cfg.discriminator.arch)(cfg, image_shape)
    if cfg.discriminator.init_range is not None:
        uniform_init_(D, cfg.discriminator.init_range)
    return D


__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "MLPDiscriminator",
    "MLPGenerator",
    "Maxout",
    "MaxoutDiscriminator",
    "build_discriminator",
    "build_generator",
    "output_bias_from_marginals_",
    "sample_noise",
    "uniform_init_",
]
