"""Fully connected generator and discriminators of Goodfellow et al. (2014), docs/paper.md §0 and §1a.

G: z -> [Linear -> (norm) -> activation] * len(hidden) -> Linear -> output nonlinearity, reshaped to the image
   shape. The paper's MNIST G is 100 -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid, without dropout or norm.
   `norm` (advnets.models.norm) is off by default; batch norm or virtual batch norm (Salimans et al. 2016, §3.4).
   Each hidden layer may have its own activation (the 1-D lab's G, docs/paper.md §6: 1 -> 100 ELU -> 100
   sigmoid -> 1 linear).
D: flatten -> [Dropout -> hidden layer] * len(hidden) -> Dropout -> Linear(., 1), emitting a logit (no
   sigmoid: the losses apply it stably). pylearn2's `dropout_fprop` drops the input of *every* D layer, the
   logit layer included: keep 0.8 on the image, 0.5 after that, with inverted scaling 1/keep.
   Dropout(p = 1 - keep) does exactly that (masks from the run's generator, advnets.randomness); a keep of 1.0 adds no module. The paper's MNIST D uses
   Maxout(240 units, 5 pieces) hidden layers; MLPDiscriminator swaps in Linear + activation (docs/paper.md §6,
   MNIST zeros: 784 -> 256 LeakyReLU -> 1). With `minibatch_kernels` B > 0 (advnets.models.minibatch, Salimans
   et al. 2016, §3.2) the logit layer's input is [last hidden features, B minibatch features]; `features(x)`
   (feature matching) stays the hidden features.

These modules build with PyTorch's default init; `advnets.models.build_*` apply the config's init.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from advnets.checks import check_choice, check_positive, check_probability
from advnets.data.dataset import Kind
from advnets.errors import UserError
from advnets.models.layers import ACTIVATIONS, Dropout, Maxout, make_activation
from advnets.models.minibatch import MinibatchDiscrimination
from advnets.models.noise import sample_noise
from advnets.models.norm import NORMS, make_norm
from advnets.pixels import OUTPUT_RANGES

OUTPUT_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
}


def _check_widths(prefix: str, hidden: list[int], init_range: float | None, orthogonal_gain: float | None = None) -> None:
    if any(w <= 0 for w in hidden):
        raise UserError(f"{prefix}.hidden={hidden} must list positive layer widths")
    if init_range is not None:
        check_positive(f"{prefix}.init_range", init_range)
    if orthogonal_gain is not None:
        check_positive(f"{prefix}.orthogonal_gain", orthogonal_gain)
        if init_range is not None:
            raise UserError(
                f"{prefix}.init_range={init_range} and {prefix}.orthogonal_gain={orthogonal_gain} are two inits of "
                f"the same weights; set one of them to null"
            )


def _check_minibatch(prefix: str, kernels: int, kernel_dims: int) -> None:
    check_positive(f"{prefix}.minibatch_kernels", kernels, allow_zero=True)  # 0 = off
    check_positive(f"{prefix}.minibatch_kernel_dims", kernel_dims)


@dataclass
class MLPGeneratorOptions:
    """model.generator keys of `arch: mlp`."""

    arch: str = "mlp"  # generator family: mlp | dcgan | cifar-paper-dense | cifar-paper-deconv | cond-mlp | cond-dcgan
    hidden: list[int] = field(default_factory=lambda: [1200, 1200])  # units per hidden layer (default [1200, 1200]: the paper's MNIST G)
    activation: str = "relu"  # hidden activation: relu | leaky_relu | elu | tanh | sigmoid
    activations: list[str] = field(default_factory=list)  # one activation per hidden layer, overriding `activation` ([] = all `activation`)
    output: str = "sigmoid"  # sigmoid ([0, 1] pixels) | tanh ([-1, 1] pixels) | linear (vectors)
    init_range: float | None = None  # weights ~ U(-r, r), biases 0 (pylearn2 irange; the paper: 0.05); null = PyTorch's
    orthogonal_gain: float | None = None  # weights orthogonal × gain, biases 0 (the unrolled GAN's 2-D code: 1.4); null = off
    bias_from_marginals: bool = False  # output bias = inverse output of the mean training example (the paper: on)
    norm: str = "none"  # after each hidden Linear: none | batch | virtual_batch (VBN, Salimans et al. 2016 §3.4)
    reference_batch: int = 64  # R: VBN's reference noise batch, drawn once when G is built; costs R rows per call

    def validate(self, prefix: str) -> None:
        _check_widths(prefix, self.hidden, self.init_range, self.orthogonal_gain)
        check_choice(f"{prefix}.activation", self.activation, list(ACTIVATIONS))
        if self.activations and len(self.activations) != len(self.hidden):
            raise UserError(
                f"{prefix}.activations={self.activations} names {len(self.activations)} activations for "
                f"{len(self.hidden)} hidden layers ({prefix}.hidden={self.hidden}); give one per hidden layer, or [] "
                f"to use {prefix}.activation everywhere"
            )
        for i, name in enumerate(self.activations):
            check_choice(f"{prefix}.activations[{i}]", name, list(ACTIVATIONS))
        check_choice(f"{prefix}.output", self.output, list(OUTPUT_ACTIVATIONS))
        check_choice(f"{prefix}.norm", self.norm, NORMS)
        check_positive(f"{prefix}.reference_batch", self.reference_batch)

    def hidden_activations(self) -> list[str]:
        """The activation of each hidden layer: `activations` when given, else `activation` for every layer."""
        return list(self.activations) if self.activations else [self.activation] * len(self.hidden)


@dataclass
class MaxoutDiscriminatorOptions:
    """model.discriminator keys of `arch: maxout` (the paper's D)."""

    arch: str = "maxout"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    hidden: list[int] = field(default_factory=lambda: [240, 240])  # maxout units per hidden layer
    pieces: int = 5  # linear pieces per maxout unit
    input_keep: float = 0.8  # dropout keep-probability on D's input
    hidden_keep: float = 0.5  # ... and on the input of every later D layer, the logit layer included
    init_range: float | None = None  # weights ~ U(-r, r), biases 0 (the paper: 0.005); null = PyTorch's
    spectral_norm: bool = False  # divide every weight by its largest singular value (Miyato et al. 2018)
    minibatch_kernels: int = 0  # B: minibatch-discrimination features beside the last hidden layer (0 = off)
    minibatch_kernel_dims: int = 5  # C: dimension of each minibatch kernel's projection (Salimans et al. 2016 §3.2)

    def validate(self, prefix: str) -> None:
        _check_widths(prefix, self.hidden, self.init_range)
        _check_minibatch(prefix, self.minibatch_kernels, self.minibatch_kernel_dims)
        check_positive(f"{prefix}.pieces", self.pieces)
        check_probability(f"{prefix}.input_keep", self.input_keep)
        check_probability(f"{prefix}.hidden_keep", self.hidden_keep)


@dataclass
class MLPDiscriminatorOptions:
    """model.discriminator keys of `arch: mlp`."""

    arch: str = "mlp"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    hidden: list[int] = field(default_factory=lambda: [256])  # units per hidden layer
    activation: str = "leaky_relu"  # hidden activation (slope 0.2 for leaky_relu)
    input_keep: float = 1.0  # dropout keep-probability on D's input (1 = no dropout)
    hidden_keep: float = 1.0  # ... and on the input of every later D layer
    init_range: float | None = None  # weights ~ U(-r, r), biases 0; null = PyTorch's
    orthogonal_gain: float | None = None  # weights orthogonal × gain, biases 0 (the unrolled GAN's 2-D code: 1.4); null = off
    spectral_norm: bool = False  # divide every weight by its largest singular value (Miyato et al. 2018)
    minibatch_kernels: int = 0  # B: minibatch-discrimination features beside the last hidden layer (0 = off)
    minibatch_kernel_dims: int = 5  # C: dimension of each minibatch kernel's projection (Salimans et al. 2016 §3.2)

    def validate(self, prefix: str) -> None:
        _check_widths(prefix, self.hidden, self.init_range, self.orthogonal_gain)
        _check_minibatch(prefix, self.minibatch_kernels, self.minibatch_kernel_dims)
        check_choice(f"{prefix}.activation", self.activation, list(ACTIVATIONS))
        check_probability(f"{prefix}.input_keep", self.input_keep)
        check_probability(f"{prefix}.hidden_keep", self.hidden_keep)


def check_output_matches(output: str, kind: Kind) -> None:
    """G's output nonlinearity must produce the data's value range (a sigmoid G cannot make [-1, 1] pixels)."""
    produces = OUTPUT_RANGES.get(output)
    wanted = getattr(kind, "pixel_range", None) if kind.value_range is not None else None  # gcn: unbounded
    if produces is not None and wanted is None:
        raise UserError(
            f"model.generator.output={output} produces values in a bounded range but the data are unbounded "
            f"{kind.name}s; set model.generator.output=linear"
        )
    if produces is not None and produces != wanted:
        raise UserError(
            f"model.generator.output={output} produces {produces} pixels but data.pixel_range={wanted}; set "
            f"data.pixel_range={produces} or change the output"
        )


def dropout_layers(keep: float) -> list[nn.Module]:
    """[Dropout(1 - keep)], or [] when keep is 1 (nothing is dropped, so no module at all)."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"dropout keep-probability must be in (0, 1], got {keep}")
    return [] if keep == 1.0 else [Dropout(p=1.0 - keep)]


class MLPGenerator(nn.Module):
    """z [N, z_dim] -> examples [N, *shape]: images [N, C, H, W] or vectors [N, D].

    With norm="virtual_batch", a reference batch z_ref [R, z_dim] is drawn from the prior `noise` (global torch RNG)
    after the layers are built and kept as the buffer `z_ref`, so checkpoints hold it. Each call runs
    cat([z_ref, z]) through the hidden layers (R extra rows per call) and keeps the last N rows, so G(z)[i] depends
    only on z[i], in train and eval mode alike.
    """

    def __init__(
        self,
        z_dim: int,
        hidden: Sequence[int],
        image_shape: tuple[int, ...],
        *,
        activation: str | Sequence[str] = "relu",
        output: str = "sigmoid",
        norm: str = "none",
        reference_batch: int = 64,
        noise: str = "uniform",
    ) -> None:
        """`activation` is one name for every hidden layer or a list with one name per hidden layer."""
        super().__init__()
        activations = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
        if len(activations) != len(hidden):
            raise ValueError(f"{len(activations)} activations for {len(hidden)} hidden layers")
        if output not in OUTPUT_ACTIVATIONS:
            choices = ", ".join(OUTPUT_ACTIVATIONS)
            raise UserError(f"model.generator.output={output!r} is not allowed; choose one of: {choices}")
        self.z_dim = z_dim
        self.image_shape = tuple(image_shape)
        self.output = output
        layers: list[nn.Module] = []
        width = z_dim
        for units, name in zip(hidden, activations, strict=True):
            norm_layers = make_norm(norm, units, reference_batch)
            layers += [nn.Linear(width, units), *norm_layers, make_activation(name, "model.generator.activation")]
            width = units
        self.hidden = nn.Sequential(*layers)
        self.output_layer = nn.Linear(width, math.prod(self.image_shape))
        self.output_activation = OUTPUT_ACTIVATIONS[output]()
        # Drawn last, so the Linear layers get the same weights as without VBN.
        self.z_ref: torch.Tensor | None
        if norm == "virtual_batch" and hidden:
            self.register_buffer("z_ref", sample_noise(reference_batch, z_dim, noise))  # [R, z_dim]
        else:
            self.z_ref = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.z_ref is None:
            h = self.hidden(z)  # [N, width]
        else:
            # The VBN layers split at row R; the output layer only needs the N example rows.
            h = self.hidden(torch.cat([self.z_ref, z]))[len(self.z_ref) :]  # [N, width]
        x = self.output_activation(self.output_layer(h))  # [N, C*H*W]
        return x.view(z.shape[0], *self.image_shape)  # [N, C, H, W]


class _DropoutDiscriminator(nn.Module):
    """D skeleton: `hidden` (flatten, then dropout before each hidden layer) and `head` (minibatch features when
    minibatch_kernels > 0, dropout, logit)."""

    def __init__(
        self,
        image_shape: tuple[int, ...],
        hidden_layers: list[nn.Module],
        hidden_width: int,
        *,
        input_keep: float,
        hidden_keep: float,
        minibatch_kernels: int = 0,
        minibatch_kernel_dims: int = 5,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.feature_width = hidden_width  # F of features(x) [N, F]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, layer in enumerate(hidden_layers):
            layers += [*dropout_layers(input_keep if i == 0 else hidden_keep), layer]
        self.hidden = nn.Sequential(*layers)
        # The logit layer's input is dropped like every other D layer's (docs/paper.md §0); with no hidden layers
        # it is the image itself, so it gets the input keep.
        head_keep = hidden_keep if hidden_layers else input_keep
        # Minibatch features are computed from the hidden features f of this call's batch and joined to f; the
        # logit layer's input, [f, o], is then dropped like any layer input.
        minibatch: list[nn.Module] = []
        if minibatch_kernels > 0:
            minibatch = [MinibatchDiscrimination(hidden_width, minibatch_kernels, minibatch_kernel_dims)]
        logit_width = hidden_width + minibatch_kernels
        self.head = nn.Sequential(*minibatch, *dropout_layers(head_keep), nn.Linear(logit_width, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W] -> the last hidden layer's output [N, F] (before the final dropout and without the
        minibatch features)."""
        return self.hidden(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W] -> logits [N] (pre-sigmoid; higher means "real")."""
        return self.head(self.hidden(x)).squeeze(-1)


class MaxoutDiscriminator(_DropoutDiscriminator):
    """The paper's D: Maxout hidden layers of `hidden[i]` units x `pieces` pieces, dropout, one logit."""

    def __init__(
        self,
        image_shape: tuple[int, ...],
        hidden: Sequence[int],
        *,
        pieces: int = 5,
        input_keep: float = 0.8,
        hidden_keep: float = 0.5,
        **minibatch: int,  # minibatch_kernels, minibatch_kernel_dims: see _DropoutDiscriminator
    ) -> None:
        width = math.prod(image_shape)
        layers: list[nn.Module] = []
        for units in hidden:
            layers.append(Maxout(width, units, pieces))
            width = units
        super().__init__(image_shape, layers, width, input_keep=input_keep, hidden_keep=hidden_keep, **minibatch)


class MLPDiscriminator(_DropoutDiscriminator):
    """D with Linear + activation hidden layers, the same dropout placement and a logit output."""

    def __init__(
        self,
        image_shape: tuple[int, ...],
        hidden: Sequence[int],
        *,
        activation: str = "leaky_relu",
        input_keep: float = 1.0,
        hidden_keep: float = 1.0,
        **minibatch: int,  # minibatch_kernels, minibatch_kernel_dims: see _DropoutDiscriminator
    ) -> None:
        width = math.prod(image_shape)
        layers: list[nn.Module] = []
        for units in hidden:
            act = make_activation(activation, "model.discriminator.activation")
            layers.append(nn.Sequential(nn.Linear(width, units), act))
            width = units
        super().__init__(image_shape, layers, width, input_keep=input_keep, hidden_keep=hidden_keep, **minibatch)
