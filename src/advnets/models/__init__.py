"""Generators and discriminators by family: `model.generator.arch` and `model.discriminator.arch` pick one.

A family is registered with its options dataclass (the keys it accepts under model.generator / model.discriminator,
with their defaults) and a `ModelFamily`: `build(options, spec)` constructs the module with PyTorch's default init;
`init(module, options, spec)`, when given, re-initialises a freshly built module (the paper's pylearn2 configs:
U(-r, r) weights and zero biases, G's output bias from the data's marginals; docs/paper.md §0). Loading a checkpoint
builds without init. Paper-specific initialisations are off by default and switched on by the paper's presets.

A family is *conditional* when its module takes class labels (`ModelFamily(conditional=True)`): it is then called
as `G(z, labels)` / `D(x, labels)`, always through advnets.models.players (`generate`, `discriminate`), and it
needs a data set with labels (`ModelSpec.num_classes`); on unlabelled data building it is a one-line UserError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from advnets.data.dataset import Kind
from advnets.errors import UserError
from advnets.models.init import output_bias_from_marginals_, uniform_init_
from advnets.models.layers import Maxout, spectral_norm_
from advnets.models.minibatch import MinibatchDiscrimination
from advnets.models.mlp import (
    MaxoutDiscriminator,
    MaxoutDiscriminatorOptions,
    MLPDiscriminator,
    MLPDiscriminatorOptions,
    MLPGenerator,
    MLPGeneratorOptions,
    check_output_matches,
)
from advnets.models.noise import sample_noise
from advnets.models.norm import VirtualBatchNorm1d
from advnets.models.set_discriminator import SetDiscriminator, SetDiscriminatorOptions, examples_per_logit
from advnets.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """What a builder knows about the data: G maps z [N, z_dim] to examples [N, *shape]; D maps those to logits [N]."""

    z_dim: int
    shape: tuple[int, ...]  # one example: (C, H, W) or (D,)
    kind: Kind
    data_mean: torch.Tensor | None = None  # mean training example [*shape]; None when building to load a checkpoint
    noise: str = "uniform"  # the prior of z (model.noise); VBN draws its reference batch from it
    num_classes: int | None = None  # labels are 0 .. num_classes - 1; None when the data have no labels


@dataclass(frozen=True)
class ModelFamily:
    build: Callable[[Any, ModelSpec], nn.Module]
    init: Callable[[nn.Module, Any, ModelSpec], None] | None = None
    conditional: bool = False  # the module takes labels: G(z, labels) / D(x, labels) (advnets.models.players)


GENERATORS: Registry[ModelFamily] = Registry("model.generator.arch")
DISCRIMINATORS: Registry[ModelFamily] = Registry("model.discriminator.arch")


def _uniform_init(module: nn.Module, options: Any, spec: ModelSpec) -> None:
    if options.init_range is not None:
        uniform_init_(module, options.init_range)


def _build_mlp_generator(options: MLPGeneratorOptions, spec: ModelSpec) -> nn.Module:
    check_output_matches(options.output, spec.kind)
    return MLPGenerator(
        spec.z_dim,
        options.hidden,
        spec.shape,
        activation=options.hidden_activations(),
        output=options.output,
        norm=options.norm,
        reference_batch=options.reference_batch,
        noise=spec.noise,
    )


def _init_mlp_generator(G: nn.Module, options: MLPGeneratorOptions, spec: ModelSpec) -> None:
    _uniform_init(G, options, spec)
    if options.bias_from_marginals:
        if spec.data_mean is None:
            raise ValueError("model.generator.bias_from_marginals needs the data's mean (ModelSpec.data_mean)")
        assert isinstance(G, MLPGenerator)
        output_bias_from_marginals_(G.output_layer, spec.data_mean.flatten(), options.output)


GENERATORS.register("mlp", options=MLPGeneratorOptions)(ModelFamily(_build_mlp_generator, _init_mlp_generator))
def _normalised(D: nn.Module, options: Any) -> nn.Module:
    # At build time, not init: a checkpoint of a spectrally normalised D holds the parametrisation's tensors.
    return spectral_norm_(D) if options.spectral_norm else D


def _skeleton_keys(options: Any) -> dict[str, Any]:
    """The keys both dropout discriminator families share: dropout keeps and minibatch discrimination."""
    return {
        "input_keep": options.input_keep,
        "hidden_keep": options.hidden_keep,
        "minibatch_kernels": options.minibatch_kernels,
        "minibatch_kernel_dims": options.minibatch_kernel_dims,
    }


DISCRIMINATORS.register("maxout", options=MaxoutDiscriminatorOptions)(
    ModelFamily(
        lambda o, spec: _normalised(MaxoutDiscriminator(spec.shape, o.hidden, pieces=o.pieces, **_skeleton_keys(o)), o),
        _uniform_init,
    )
)
DISCRIMINATORS.register("mlp", options=MLPDiscriminatorOptions)(
    ModelFamily(
        lambda o, spec: _normalised(MLPDiscriminator(spec.shape, o.hidden, activation=o.activation, **_skeleton_keys(o)), o),
        _uniform_init,
    )
)

DISCRIMINATORS.register("set", options=SetDiscriminatorOptions)(
    ModelFamily(
        lambda o, spec: _normalised(
            SetDiscriminator(spec.shape, o.set_size, o.hidden, activation=o.activation, sort=o.sort), o
        ),
        _uniform_init,
    )
)


def _build(registry: Registry[ModelFamily], options: Any, spec: ModelSpec, *, init: bool) -> nn.Module:
    family = registry.get(options.arch)
    if family.conditional and spec.num_classes is None:
        raise UserError(
            f"{registry.kind}={options.arch} is a conditional family: it needs a data set with class labels, and "
            "this one has none; choose an unconditional family or a labelled data set"
        )
    module = family.build(options, spec)
    # Plain attributes, read by models.players and models.sampling (which draws classes for a conditional G).
    module.conditional = family.conditional  # type: ignore[assignment]
    if family.conditional:
        module.num_classes = spec.num_classes  # type: ignore[assignment]
    if init and family.init is not None:
        family.init(module, options, spec)
    return module


def build_generator(options: Any, spec: ModelSpec, *, init: bool = True) -> nn.Module:
    """G for the resolved `cfg.model.generator`, built (and initialised) from the global torch RNG."""
    return _build(GENERATORS, options, spec, init=init)


def build_discriminator(options: Any, spec: ModelSpec, *, init: bool = True) -> nn.Module:
    """D for the resolved `cfg.model.discriminator` (emits logits [N]), from the global torch RNG."""
    return _build(DISCRIMINATORS, options, spec, init=init)


__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "MLPDiscriminator",
    "MLPGenerator",
    "Maxout",
    "MaxoutDiscriminator",
    "MinibatchDiscrimination",
    "ModelFamily",
    "ModelSpec",
    "SetDiscriminator",
    "build_discriminator",
    "build_generator",
    "examples_per_logit",
    "output_bias_from_marginals_",
    "sample_noise",
    "uniform_init_",
    "VirtualBatchNorm1d",
]
