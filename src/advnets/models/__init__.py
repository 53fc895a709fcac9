"""Generators and discriminators by family: `model.generator.arch` and `model.discriminator.arch` pick one.

A family is registered with its options dataclass (the keys it accepts under model.generator / model.discriminator,
with their defaults) and a `ModelFamily`: `build(options, spec)` constructs the module with PyTorch's default init;
`init(module, options, spec)`, when given, re-initialises a freshly built module (the paper's pylearn2 configs:
U(-r, r) weights and zero biases, G's output bias from the data's marginals; docs/paper.md §0; DCGAN's N(0, 0.02)).
Loading a checkpoint builds without init. Paper-specific initialisations are off by default in the general families
(mlp, maxout, dcgan, ...) and switched on by the presets; the cifar-paper-* families, named for the 2014 configs,
default to those configs' values, init included.

The families: mlp.py (mlp G; maxout and mlp D), dcgan.py, cifar_paper.py, set_discriminator.py, and
conditional.py, whose families wrap an mlp or dcgan body.

A family is *conditional* when its module takes class labels (`ModelFamily(conditional=True)`): it is then called
as `G(z, labels)` / `D(x, labels)`, always through advnets.models.players (`generate`, `discriminate`), and it
needs a data set with labels (`ModelSpec.num_classes`); on unlabelled data building it is a one-line UserError.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from advnets.data.dataset import Kind
from advnets.errors import UserError
from advnets.models.cifar_paper import (
    ConvMaxoutDiscriminator,
    DeconvGenerator,
    PaperConvMaxoutDiscriminatorOptions,
    PaperDeconvGeneratorOptions,
    PaperDenseGeneratorOptions,
    PaperMaxoutDiscriminatorOptions,
)
from advnets.models.conditional import (
    ConcatDiscriminator,
    CondDCGANDiscriminatorOptions,
    CondDCGANGeneratorOptions,
    ConditionalGenerator,
    CondMaxoutDiscriminatorOptions,
    CondMLPDiscriminatorOptions,
    CondMLPGeneratorOptions,
    ProjectionDiscriminator,
)
from advnets.models.dcgan import (
    DCGANDiscriminator,
    DCGANDiscriminatorOptions,
    DCGANGenerator,
    DCGANGeneratorOptions,
)
from advnets.models.init import (
    normal_init_,
    orthogonal_init_,
    output_bias_from_marginals_,
    uniform_init_,
    weight_of,
)
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


def _init_weights(module: nn.Module, options: Any, spec: ModelSpec) -> None:
    """The family's `init_range` (pylearn2's irange) or, for the mlp families, `orthogonal_gain`."""
    if options.init_range is not None:
        uniform_init_(module, options.init_range)
    if getattr(options, "orthogonal_gain", None) is not None:
        orthogonal_init_(module, options.orthogonal_gain)


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
    _init_weights(G, options, spec)
    if options.bias_from_marginals:
        if spec.data_mean is None:
            raise ValueError("model.generator.bias_from_marginals needs the data's mean (ModelSpec.data_mean)")
        assert isinstance(G, MLPGenerator)
        output_bias_from_marginals_(G.output_layer, spec.data_mean.flatten(), options.output)


GENERATORS.register("mlp", options=MLPGeneratorOptions)(ModelFamily(_build_mlp_generator, _init_mlp_generator))


def _normal_init(module: nn.Module, options: Any, spec: ModelSpec) -> None:
    if options.init_std is not None:
        normal_init_(module, options.init_std)


def _build_dcgan_generator(options: DCGANGeneratorOptions, spec: ModelSpec) -> nn.Module:
    check_output_matches(options.output, spec.kind)
    return DCGANGenerator(spec.z_dim, spec.shape, width=options.width, output=options.output)


GENERATORS.register("dcgan", options=DCGANGeneratorOptions)(ModelFamily(_build_dcgan_generator, _normal_init))


# The paper's CIFAR-10 generators (models/cifar_paper.py).
def _build_paper_dense_generator(options: PaperDenseGeneratorOptions, spec: ModelSpec) -> nn.Module:
    check_output_matches(options.output, spec.kind)
    return MLPGenerator(spec.z_dim, options.hidden, spec.shape, activation=options.activations, output=options.output)


def _init_paper_dense_generator(G: nn.Module, options: PaperDenseGeneratorOptions, spec: ModelSpec) -> None:
    assert isinstance(G, MLPGenerator)
    if options.init_range is not None:
        uniform_init_(G.hidden, options.init_range)
    if options.output_init_range is not None:  # the config's output layer has its own irange (0.5)
        uniform_init_(G.output_layer, options.output_init_range)


def _build_paper_deconv_generator(options: PaperDeconvGeneratorOptions, spec: ModelSpec) -> nn.Module:
    check_output_matches(options.output, spec.kind)
    return DeconvGenerator(
        spec.z_dim,
        spec.shape,
        options.hidden,
        options.activations,
        channels=options.channels,
        kernel=options.kernel,
        stride=options.stride,
        output=options.output,
    )


GENERATORS.register("cifar-paper-dense", options=PaperDenseGeneratorOptions)(
    ModelFamily(_build_paper_dense_generator, _init_paper_dense_generator)
)
GENERATORS.register("cifar-paper-deconv", options=PaperDeconvGeneratorOptions)(
    ModelFamily(_build_paper_deconv_generator, _init_weights)
)


# Conditional generators (models/conditional.py): the body is built for z_dim + embed_dim inputs.
def _with_embedding(options: Any, spec: ModelSpec, build_body: Callable[[Any, ModelSpec], nn.Module]) -> nn.Module:
    assert spec.num_classes is not None  # _build refuses a conditional family on unlabelled data
    body = build_body(options, replace(spec, z_dim=spec.z_dim + options.embed_dim))
    return ConditionalGenerator(body, spec.num_classes, options.embed_dim)


def _init_cond_mlp_generator(G: nn.Module, options: CondMLPGeneratorOptions, spec: ModelSpec) -> None:
    assert isinstance(G, ConditionalGenerator)
    _init_mlp_generator(G.body, options, spec)  # the embedding keeps its N(0, 1), on the scale of z


def _init_cond_dcgan_generator(G: nn.Module, options: CondDCGANGeneratorOptions, spec: ModelSpec) -> None:
    assert isinstance(G, ConditionalGenerator)
    _normal_init(G.body, options, spec)  # the embedding keeps its N(0, 1), on the scale of z


GENERATORS.register("cond-mlp", options=CondMLPGeneratorOptions)(
    ModelFamily(lambda o, spec: _with_embedding(o, spec, _build_mlp_generator), _init_cond_mlp_generator, conditional=True)
)
GENERATORS.register("cond-dcgan", options=CondDCGANGeneratorOptions)(
    ModelFamily(
        lambda o, spec: _with_embedding(o, spec, _build_dcgan_generator),
        _init_cond_dcgan_generator,
        conditional=True,
    )
)


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


def _maxout_body(o: Any, shape: tuple[int, ...], input_keep: float) -> nn.Module:
    return MaxoutDiscriminator(shape, o.hidden, pieces=o.pieces, **{**_skeleton_keys(o), "input_keep": input_keep})


def _mlp_body(o: Any, shape: tuple[int, ...], input_keep: float) -> nn.Module:
    return MLPDiscriminator(shape, o.hidden, activation=o.activation, **{**_skeleton_keys(o), "input_keep": input_keep})


DISCRIMINATORS.register("maxout", options=MaxoutDiscriminatorOptions)(
    ModelFamily(lambda o, spec: _normalised(_maxout_body(o, spec.shape, o.input_keep), o), _init_weights)
)
DISCRIMINATORS.register("mlp", options=MLPDiscriminatorOptions)(
    ModelFamily(lambda o, spec: _normalised(_mlp_body(o, spec.shape, o.input_keep), o), _init_weights)
)

DISCRIMINATORS.register("set", options=SetDiscriminatorOptions)(
    ModelFamily(
        lambda o, spec: _normalised(
            SetDiscriminator(spec.shape, o.set_size, o.hidden, activation=o.activation, sort=o.sort), o
        ),
        _init_weights,
    )
)

DISCRIMINATORS.register("dcgan", options=DCGANDiscriminatorOptions)(
    ModelFamily(
        lambda o, spec: _normalised(DCGANDiscriminator(spec.shape, width=o.width, norm=o.norm), o), _normal_init
    )
)

# The paper's CIFAR-10 discriminators (models/cifar_paper.py); cifar-paper-maxout is the maxout D, other defaults.
DISCRIMINATORS.register("cifar-paper-maxout", options=PaperMaxoutDiscriminatorOptions)(
    ModelFamily(lambda o, spec: _normalised(_maxout_body(o, spec.shape, o.input_keep), o), _init_weights)
)
DISCRIMINATORS.register("cifar-paper-convmaxout", options=PaperConvMaxoutDiscriminatorOptions)(
    ModelFamily(
        lambda o, spec: _normalised(
            ConvMaxoutDiscriminator(
                spec.shape,
                o.channels,
                o.kernels,
                o.pads,
                o.pools,
                o.pool_strides,
                pieces=o.pieces,
                hidden=o.hidden,
                hidden_pieces=o.hidden_pieces,
                input_keep=o.input_keep,
                hidden_keep=o.hidden_keep,
            ),
            o,
        ),
        _init_weights,
    )
)


# Conditional discriminators (models/conditional.py): a body of the flat or the dcgan family, labels entering by
# projection or by concatenation.
def _flat_conditional(body: Callable[[Any, tuple[int, ...], float], nn.Module]) -> Callable[[Any, ModelSpec], nn.Module]:
    def build(o: Any, spec: ModelSpec) -> nn.Module:
        K = spec.num_classes
        assert K is not None  # _build refuses a conditional family on unlabelled data
        if o.conditioning == "projection":
            return _normalised(ProjectionDiscriminator(body(o, spec.shape, o.input_keep), K), o)
        # concat: the body takes the flattened image (dropped by the wrapper) and the one-hot label
        joined = body(o, (math.prod(spec.shape) + K,), 1.0)
        return _normalised(ConcatDiscriminator(joined, K, spatial=False, input_keep=o.input_keep), o)

    return build


def _build_cond_dcgan_discriminator(o: CondDCGANDiscriminatorOptions, spec: ModelSpec) -> nn.Module:
    K = spec.num_classes
    assert K is not None
    if o.conditioning == "projection":
        return _normalised(ProjectionDiscriminator(DCGANDiscriminator(spec.shape, width=o.width, norm=o.norm), K), o)
    channels, height, width = spec.shape
    body = DCGANDiscriminator((channels + K, height, width), width=o.width, norm=o.norm)
    return _normalised(ConcatDiscriminator(body, K, spatial=True), o)


@torch.no_grad()
def _init_projection(D: nn.Module, init: Callable[[torch.Tensor], Any] | None) -> None:
    """The projection's V gets the init of D's other weights (when the config sets one)."""
    if init is not None and isinstance(D, ProjectionDiscriminator):
        init(weight_of(D.embed))


def _init_cond_flat(D: nn.Module, o: Any, spec: ModelSpec) -> None:
    _init_weights(D, o, spec)
    r = o.init_range
    _init_projection(D, None if r is None else lambda weight: weight.uniform_(-r, r))


def _init_cond_dcgan(D: nn.Module, o: Any, spec: ModelSpec) -> None:
    _normal_init(D, o, spec)
    std = o.init_std
    _init_projection(D, None if std is None else lambda weight: weight.normal_(0.0, std))


DISCRIMINATORS.register("cond-maxout", options=CondMaxoutDiscriminatorOptions)(
    ModelFamily(_flat_conditional(_maxout_body), _init_cond_flat, conditional=True)
)
DISCRIMINATORS.register("cond-mlp", options=CondMLPDiscriminatorOptions)(
    ModelFamily(_flat_conditional(_mlp_body), _init_cond_flat, conditional=True)
)
DISCRIMINATORS.register("cond-dcgan", options=CondDCGANDiscriminatorOptions)(
    ModelFamily(_build_cond_dcgan_discriminator, _init_cond_dcgan, conditional=True)
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
    "ConcatDiscriminator",
    "ConditionalGenerator",
    "ConvMaxoutDiscriminator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DeconvGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "Maxout",
    "MaxoutDiscriminator",
    "MinibatchDiscrimination",
    "ModelFamily",
    "ModelSpec",
    "ProjectionDiscriminator",
    "SetDiscriminator",
    "build_discriminator",
    "build_generator",
    "examples_per_logit",
    "normal_init_",
    "orthogonal_init_",
    "output_bias_from_marginals_",
    "sample_noise",
    "uniform_init_",
    "VirtualBatchNorm1d",
]
