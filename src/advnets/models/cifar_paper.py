"""The paper's CIFAR-10 nets, as its 2014 pylearn2 configs built them (docs/paper.md §1c and §1d).

Fully connected (cifar10_fully_connected.yaml, §1c):
- G `cifar-paper-dense`: z(100) -> 8000 ReLU (U±0.05) -> 8000 sigmoid (U±0.05) -> 3072 linear (U±0.5), an
  advnets.models.mlp.MLPGenerator whose output layer gets its own init range.
- D `cifar-paper-maxout`: 3072 -> Maxout 1600x5 -> Maxout 1600x5 -> 1, dropout before every layer (keep 0.8 on the
  image, 0.5 after), all U±0.005: the `maxout` family's D (advnets.models.mlp.MaxoutDiscriminator) with these
  defaults.

Convolutional (cifar10_convolutional.yaml and deconv.py, §1d):
- G `cifar-paper-deconv`: z(100) -> 8000 ReLU -> 8000 sigmoid (U±0.05), the last layer seen as 80 maps of 10x10,
  then one transposed convolution (pylearn2's `Deconv`) to 3 maps, kernel 5, stride 3, no padding:
  3 * (10 - 1) + 5 = 32; linear output with an untied bias (one per channel and pixel, `tied_b: 0`), U±0.05.
  The side of the reshaped map comes from the data: (H - kernel) / stride + 1, which must be a whole number.
  pylearn2 reshapes the 8000 units in ('b', 0, 1, 'c') order (its Conv2DSpace default axes) where we take
  [80, 10, 10]: a fixed relabelling of h1's i.i.d.-initialised units, so the two nets are the same family.
- D `cifar-paper-convmaxout`: three conv maxout layers (pylearn2 MaxoutConvC01B: a stride-1 convolution with
  `units * pieces` detector maps and tied biases, the max over each unit's `pieces` contiguous maps, then max
  pooling), a dense Maxout layer and the logit:
    dh0: pad 4, 8x8, 32 units x 2 pieces: 32 + 8 - 8 + 1 = 33 -> pool 4 stride 2 -> ceil((33 - 4) / 2) + 1 = 16
    h1:  pad 3, 8x8, 32 units x 2 pieces: 16 + 6 - 8 + 1 = 15 -> pool 4 stride 2 -> ceil(11 / 2) + 1 = 7
    h2:  pad 3, 5x5, 192 units x 2 pieces: 7 + 6 - 5 + 1 = 9 -> pool 2 stride 2 -> ceil(7 / 2) + 1 = 5
    h3:  Maxout 500 units x 5 pieces on 192 * 5 * 5 = 4800 inputs;  y: 1 logit.
  cuda-convnet's pooling output ceil((in - pool) / stride) + 1 is PyTorch's `ceil_mode=True`. Dropout (masks per
  element, per position on the conv maps) drops the input of every layer: keep 0.8 on the image, 0.5 after, with
  inverted scaling, the logit layer's input included (docs/paper.md §0). All weights U±0.005, biases 0.

Each family's defaults are the 2014 config, init included (their names say they are the paper's nets); widths are
options, so tests and smoke runs build them small. `init_range: null` leaves PyTorch's init.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from advnets.checks import check_choice, check_positive, check_probability
from advnets.errors import UserError
from advnets.models.layers import ACTIVATIONS, Maxout
from advnets.models.mlp import OUTPUT_ACTIVATIONS, MaxoutDiscriminatorOptions, dropout_layers


def _check_range(key: str, value: float | None) -> None:
    if value is not None:
        check_positive(key, value)


def _check_hidden(prefix: str, hidden: list[int], activations: list[str]) -> None:
    if not hidden or any(w <= 0 for w in hidden):
        raise UserError(f"{prefix}.hidden={hidden} must list one or more positive layer widths")
    if len(activations) != len(hidden):
        raise UserError(
            f"{prefix}.activations={activations} names {len(activations)} activations for {len(hidden)} hidden "
            f"layers ({prefix}.hidden={hidden}); give one per hidden layer"
        )
    for i, name in enumerate(activations):
        check_choice(f"{prefix}.activations[{i}]", name, list(ACTIVATIONS))


@dataclass
class PaperDenseGeneratorOptions:
    """model.generator keys of `arch: cifar-paper-dense` (docs/paper.md §1c)."""

    arch: str = "cifar-paper-dense"  # generator family: mlp | dcgan | cifar-paper-dense | cifar-paper-deconv | cond-mlp | cond-dcgan
    hidden: list[int] = field(default_factory=lambda: [8000, 8000])  # units per hidden layer (the paper: 8000, 8000)
    activations: list[str] = field(default_factory=lambda: ["relu", "sigmoid"])  # one per hidden layer (the paper: ReLU, then sigmoid)
    output: str = "linear"  # linear (the paper: GCN pixels are unbounded) | sigmoid | tanh
    init_range: float | None = 0.05  # hidden weights ~ U(-r, r), biases 0 (the paper: 0.05); null = PyTorch's
    output_init_range: float | None = 0.5  # output weights ~ U(-r, r), bias 0 (the paper: 0.5); null = PyTorch's

    def validate(self, prefix: str) -> None:
        _check_hidden(prefix, self.hidden, self.activations)
        check_choice(f"{prefix}.output", self.output, list(OUTPUT_ACTIVATIONS))
        _check_range(f"{prefix}.init_range", self.init_range)
        _check_range(f"{prefix}.output_init_range", self.output_init_range)


@dataclass
class PaperDeconvGeneratorOptions:
    """model.generator keys of `arch: cifar-paper-deconv` (docs/paper.md §1d)."""

    arch: str = "cifar-paper-deconv"  # generator family: mlp | dcgan | cifar-paper-dense | cifar-paper-deconv | cond-mlp | cond-dcgan
    hidden: list[int] = field(default_factory=lambda: [8000, 8000])  # units per dense layer; the last is reshaped to [channels, side, side] (the paper: 8000, 8000)
    activations: list[str] = field(default_factory=lambda: ["relu", "sigmoid"])  # one per dense layer (the paper: ReLU, then sigmoid)
    channels: int = 80  # maps of the reshaped last dense layer (the paper: 80 of 10x10)
    kernel: int = 5  # the transposed convolution's kernel side (the paper: 5)
    stride: int = 3  # ... and its stride (the paper: 3); side = (H - kernel) / stride + 1
    output: str = "linear"  # linear (the paper) | sigmoid | tanh
    init_range: float | None = 0.05  # every weight ~ U(-r, r), biases 0 (the paper: 0.05); null = PyTorch's

    def validate(self, prefix: str) -> None:
        _check_hidden(prefix, self.hidden, self.activations)
        check_positive(f"{prefix}.channels", self.channels)
        check_positive(f"{prefix}.kernel", self.kernel)
        check_positive(f"{prefix}.stride", self.stride)
        check_choice(f"{prefix}.output", self.output, list(OUTPUT_ACTIVATIONS))
        _check_range(f"{prefix}.init_range", self.init_range)


@dataclass
class PaperMaxoutDiscriminatorOptions(MaxoutDiscriminatorOptions):
    """model.discriminator keys of `arch: cifar-paper-maxout` (docs/paper.md §1c): the maxout family's keys with
    the CIFAR-10 config's values."""

    arch: str = "cifar-paper-maxout"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    hidden: list[int] = field(default_factory=lambda: [1600, 1600])  # maxout units per hidden layer (the paper: 1600, 1600)
    pieces: int = 5  # linear pieces per maxout unit (the paper: 5)
    init_range: float | None = 0.005  # weights ~ U(-r, r), biases 0 (the paper: 0.005); null = PyTorch's


@dataclass
class PaperConvMaxoutDiscriminatorOptions:
    """model.discriminator keys of `arch: cifar-paper-convmaxout` (docs/paper.md §1d)."""

    arch: str = "cifar-paper-convmaxout"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    channels: list[int] = field(default_factory=lambda: [32, 32, 192])  # maxout units (output maps) of each conv layer (the paper: 32, 32, 192)
    pieces: int = 2  # detector maps per conv maxout unit (the paper: 2)
    kernels: list[int] = field(default_factory=lambda: [8, 8, 5])  # kernel side of each conv layer (the paper: 8, 8, 5)
    pads: list[int] = field(default_factory=lambda: [4, 3, 3])  # zero padding of each conv layer (the paper: 4, 3, 3)
    pools: list[int] = field(default_factory=lambda: [4, 4, 2])  # max-pool side after each conv layer, ceil mode (the paper: 4, 4, 2)
    pool_strides: list[int] = field(default_factory=lambda: [2, 2, 2])  # ... and its stride (the paper: 2, 2, 2)
    hidden: int = 500  # units of the dense maxout layer after the convs (the paper: 500)
    hidden_pieces: int = 5  # ... and its pieces per unit (the paper: 5)
    input_keep: float = 0.8  # dropout keep-probability on D's input (the paper: 0.8)
    hidden_keep: float = 0.5  # ... and on the input of every later D layer, the logit layer included (the paper: 0.5)
    init_range: float | None = 0.005  # weights ~ U(-r, r), biases 0 (the paper: 0.005); null = PyTorch's
    spectral_norm: bool = False  # divide every weight by its largest singular value (Miyato et al. 2018)

    def validate(self, prefix: str) -> None:
        lists = {"channels": self.channels, "kernels": self.kernels, "pads": self.pads, "pools": self.pools}
        lists["pool_strides"] = self.pool_strides
        if not self.channels:
            raise UserError(f"{prefix}.channels is empty: list one or more conv maxout layers")
        for key, values in lists.items():
            if len(values) != len(self.channels):
                raise UserError(
                    f"{prefix}.{key}={values} has {len(values)} entries for {len(self.channels)} conv layers "
                    f"({prefix}.channels={self.channels}); give one per layer"
                )
            for i, value in enumerate(values):
                check_positive(f"{prefix}.{key}[{i}]", value, allow_zero=key == "pads")
        for key in ("pieces", "hidden", "hidden_pieces"):
            check_positive(f"{prefix}.{key}", getattr(self, key))
        check_probability(f"{prefix}.input_keep", self.input_keep)
        check_probability(f"{prefix}.hidden_keep", self.hidden_keep)
        _check_range(f"{prefix}.init_range", self.init_range)


class DeconvGenerator(nn.Module):
    """z [N, z_dim] -> dense layers -> [N, channels, side, side] -> ConvTranspose2d -> + untied bias -> [N, C, H, W]."""

    def __init__(
        self,
        z_dim: int,
        image_shape: tuple[int, ...],
        hidden: Sequence[int],
        activations: Sequence[str],
        *,
        channels: int = 80,
        kernel: int = 5,
        stride: int = 3,
        output: str = "linear",
    ) -> None:
        super().__init__()
        if len(image_shape) != 3 or image_shape[1] != image_shape[2]:
            raise UserError(
                f"model.generator.arch=cifar-paper-deconv makes square images [C, H, H]; the data's examples have "
                f"shape {list(image_shape)}"
            )
        side, remainder = divmod(image_shape[1] - kernel, stride)
        side += 1
        if remainder or side < 1:
            raise UserError(
                f"model.generator.kernel={kernel} and stride={stride} cannot make {image_shape[1]}x{image_shape[1]} "
                f"images: (H - kernel) / stride must be a whole number >= 0 (the paper: (32 - 5) / 3 = 9)"
            )
        if hidden[-1] != channels * side * side:
            raise UserError(
                f"model.generator.hidden[-1]={hidden[-1]} must equal channels * side^2 = {channels} * {side}^2 = "
                f"{channels * side * side}, the map the transposed convolution starts from ((H - kernel) / stride "
                f"+ 1 = {side} for H = {image_shape[1]})"
            )
        self.z_dim = z_dim
        self.image_shape = tuple(image_shape)
        self.map_shape = (channels, side, side)
        layers: list[nn.Module] = []
        width = z_dim
        for units, name in zip(hidden, activations, strict=True):
            layers += [nn.Linear(width, units), ACTIVATIONS[name]()]
            width = units
        self.hidden = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(channels, image_shape[0], kernel, stride, bias=False)
        self.bias = nn.Parameter(torch.zeros(image_shape))  # untied: one per channel and pixel [C, H, W]
        self.output_activation = OUTPUT_ACTIVATIONS[output]()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.hidden(z).view(z.shape[0], *self.map_shape)  # [N, channels, side, side]
        return self.output_activation(self.deconv(h) + self.bias)  # [N, C, H, W]


class ConvMaxout(nn.Module):
    """pylearn2's MaxoutConvC01B: Conv2d(in, units * pieces, kernel, padding) with a tied bias per detector map,
    the max over each unit's `pieces` contiguous maps (unit j: maps j*pieces ... j*pieces + pieces - 1), then max
    pooling in ceil mode (cuda-convnet's output size)."""

    def __init__(self, in_channels: int, units: int, pieces: int, kernel: int, pad: int, pool: int, pool_stride: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.conv = nn.Conv2d(in_channels, units * pieces, kernel, padding=pad)
        self.pool = nn.MaxPool2d(pool, pool_stride, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)  # [N, units * pieces, H', W']
        h = h.unflatten(1, (self.units, self.pieces)).amax(2)  # [N, units, H', W']
        return self.pool(h)  # [N, units, ceil((H' - pool) / stride) + 1, ...]

    @staticmethod
    def output_side(side: int, kernel: int, pad: int, pool: int, pool_stride: int) -> int:
        """The side after the convolution (stride 1) and the ceil-mode pooling."""
        conv = side + 2 * pad - kernel + 1
        if conv < pool:
            raise UserError(
                f"a conv maxout layer's map of side {conv} is smaller than its pool {pool}: the images are too "
                "small for model.discriminator.kernels / pads / pools"
            )
        return math.ceil((conv - pool) / pool_stride) + 1


class ConvMaxoutDiscriminator(nn.Module):
    """images [N, C, H, W] -> logits [N]: [Dropout -> ConvMaxout] per conv layer, flatten, Dropout -> Maxout
    (`features`), Dropout -> Linear (`head`)."""

    def __init__(
        self,
        image_shape: tuple[int, ...],
        channels: Sequence[int],
        kernels: Sequence[int],
        pads: Sequence[int],
        pools: Sequence[int],
        pool_strides: Sequence[int],
        *,
        pieces: int = 2,
        hidden: int = 500,
        hidden_pieces: int = 5,
        input_keep: float = 0.8,
        hidden_keep: float = 0.5,
    ) -> None:
        super().__init__()
        if len(image_shape) != 3:
            raise UserError(f"model.discriminator.arch=cifar-paper-convmaxout judges images; got examples {list(image_shape)}")
        self.image_shape = tuple(image_shape)
        in_channels, height, width = image_shape
        layers: list[nn.Module] = []
        for i, (units, kernel, pad, pool, stride) in enumerate(zip(channels, kernels, pads, pools, pool_strides, strict=True)):
            layers += dropout_layers(input_keep if i == 0 else hidden_keep)
            layers.append(ConvMaxout(in_channels, units, pieces, kernel, pad, pool, stride))
            height = ConvMaxout.output_side(height, kernel, pad, pool, stride)
            width = ConvMaxout.output_side(width, kernel, pad, pool, stride)
            in_channels = units
        self.map_shape = (in_channels, height, width)
        layers += [nn.Flatten(), *dropout_layers(hidden_keep), Maxout(in_channels * height * width, hidden, hidden_pieces)]
        self.hidden = nn.Sequential(*layers)
        self.feature_width = hidden  # F of features(x) [N, F]
        self.head = nn.Sequential(*dropout_layers(hidden_keep), nn.Linear(hidden, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W] -> the dense maxout layer's output [N, hidden]."""
        return self.hidden(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W] -> logits [N] (pre-sigmoid; higher means "real")."""
        return self.head(self.features(x)).squeeze(-1)
