"""Models as the config builds them: the paper's MNIST nets by default, any family keys as overrides."""

import torch

from advnets.config import build_config
from advnets.data import ImageKind
from advnets.models import ModelSpec, build_discriminator, build_generator

MNIST = (1, 28, 28)
PAPER_G = {
    "arch": "mlp",
    "hidden": [1200, 1200],
    "activation": "relu",
    "output": "sigmoid",
    "init_range": 0.05,
    "bias_from_marginals": True,
}
PAPER_D = {"arch": "maxout", "hidden": [240, 240], "pieces": 5, "input_keep": 0.8, "hidden_keep": 0.5, "init_range": 0.005}


def model_config(generator=None, discriminator=None, **model):
    """The resolved cfg.model for these family keys (default: the paper's MNIST nets)."""
    g = PAPER_G if generator is None else generator
    d = PAPER_D if discriminator is None else discriminator
    return build_config(base={"model": {**model, "generator": g, "discriminator": d}}).model


def spec(model, shape=MNIST, means=None, pixel_range="unit"):
    mean = None if means is None else means.reshape(shape)
    return ModelSpec(model.z_dim, tuple(shape), ImageKind(pixel_range), mean)


def generator(model, shape=MNIST, means=None, pixel_range="unit"):
    return build_generator(model.generator, spec(model, shape, means, pixel_range))


def discriminator(model, shape=MNIST):
    return build_discriminator(model.discriminator, spec(model, shape))


__all__ = ["MNIST", "PAPER_D", "PAPER_G", "discriminator", "generator", "model_config", "spec", "torch"]
