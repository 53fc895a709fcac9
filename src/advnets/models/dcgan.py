"""DCGAN's generator and discriminator (Radford et al. 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", Section 3 and Figure 1), at the data's resolution.

The rules of Section 3: no pooling (strided convolutions in D, fractionally strided ones in G), batch norm in both
players but not at G's output or D's input, ReLU in G with a tanh output, LeakyReLU (slope 0.2) in D. The layer
shapes follow the widely used Torch/PyTorch code of the paper (soumith/dcgan.torch `main.lua`, the PyTorch DCGAN
example): 4x4 kernels, stride 2, padding 1, so each step doubles (G) or halves (D) the side exactly.

Resolution from the data. A square side H is written H = start * 2^n by halving while the side is even and its half
is at least 4: 64 = 4 * 2^4, 32 = 4 * 2^3, 16 = 4 * 2^2, 8 = 4 * 2^1, 28 = 7 * 2^2 (7 is odd). G's first layer is a
transposed convolution with a start x start kernel that turns z (seen as a 1x1 map) into a start x start map (the
"project and reshape" of Figure 1; for 28x28 MNIST it lands on 7x7, as the authors' MNIST code does with its
ngf*2 x 7 x 7 layer, Newmu/dcgan_code mnist/train_cond_dcgan.py), then n stride-2 steps reach H: for 28, 7 -> 14
-> 28. D mirrors it: n stride-2 convolutions bring H down to start, and one linear layer on the flattened
start x start map (the same map as dcgan.torch's final start x start convolution) gives the logit.

Widths: `width` is DCGAN's ngf / ndf: G's last hidden layer (and D's first) has `width` channels, and each
coarser layer twice as many, so at 64x64 with width 128 G starts from 1024 x 4 x 4 as in Figure 1.

G: z [N, z_dim] -> [N, z_dim, 1, 1] -> ConvT(start) -> BN -> ReLU -> [ConvT(4, 2, 1) -> BN -> ReLU] * (n - 1)
   -> ConvT(4, 2, 1) -> tanh ([-1, 1] pixels, the paper) or sigmoid ([0, 1] pixels) -> [N, C, H, W].
D: x [N, C, H, W] -> Conv(4, 2, 1) -> LeakyReLU -> [Conv(4, 2, 1) -> BN -> LeakyReLU] * (n - 1) -> flatten
   (`features`) -> Linear -> logit [N] (no sigmoid: the losses apply it stably).
Convolutions followed by batch norm have no bias (batch norm's shift replaces it). `norm: none` on D drops its
batch norm (then every conv has a bias): a gradient penalty judges each example's gradient, which batch norm makes
depend on the rest of the batch (Gulrajani et al. 2017, Section 4).

Init: PyTorch's by default; `init_std: 0.02` is the paper's N(0, 0.02) (advnets.models.init.normal_init_).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from advnets.checks import check_choice, check_positive
from advnets.errors import UserError

DCGAN_OUTPUTS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
D_NORMS = ("batch", "none")
LEAK = 0.2  # LeakyReLU slope in D (Section 3)
MIN_START = 4  # the coarsest side G starts from (DCGAN's 4x4)


def _check_init_std(prefix: str, init_std: float | None) -> None:
    if init_std is not None:
        check_positive(f"{prefix}.init_std", init_std)


@dataclass
class DCGANGeneratorOptions:
    """model.generator keys of `arch: dcgan`."""

    arch: str = "dcgan"  # generator family: mlp | dcgan | cifar-paper-dense | cifar-paper-deconv | cond-mlp | cond-dcgan
    width: int = 64  # ngf: channels of G's last hidden layer, doubled at each coarser one (64: the PyTorch example; Figure 1 at 64x64: 128)
    output: str = "tanh"  # tanh ([-1, 1] pixels, the paper) | sigmoid ([0, 1] pixels)
    init_std: float | None = None  # conv weights ~ N(0, std), batch-norm scales ~ N(1, std), biases 0 (the paper: 0.02); null = PyTorch's

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.width", self.width)
        check_choice(f"{prefix}.output", self.output, list(DCGAN_OUTPUTS))
        _check_init_std(prefix, self.init_std)


@dataclass
class DCGANDiscriminatorOptions:
    """model.discriminator keys of `arch: dcgan`."""

    arch: str = "dcgan"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    width: int = 64  # ndf: channels of D's first conv layer, doubled at each later one
    norm: str = "batch"  # after every conv but the first: batch (DCGAN) | none (for gradient penalties, which batch norm would mix across examples)
    init_std: float | None = None  # conv weights ~ N(0, std), batch-norm scales ~ N(1, std), biases 0 (the paper: 0.02); null = PyTorch's
    spectral_norm: bool = False  # divide every weight by its largest singular value (Miyato et al. 2018)

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.width", self.width)
        check_choice(f"{prefix}.norm", self.norm, D_NORMS)
        _check_init_std(prefix, self.init_std)


def dcgan_grid(shape: tuple[int, ...]) -> tuple[int, int]:
    """(start, n) with H = start * 2^n for images [C, H, H]: halve while the side is even and the half >= 4."""
    if len(shape) != 3 or shape[1] != shape[2]:
        raise UserError(
            f"the dcgan family needs square images [C, H, H]; the data's examples have shape {list(shape)}: "
            "choose an mlp family for vector data or non-square images"
        )
    start, steps = shape[1], 0
    while start % 2 == 0 and start // 2 >= MIN_START:
        start //= 2
        steps += 1
    if steps == 0:
        raise UserError(
            f"the dcgan family needs images of side start * 2^n with start >= {MIN_START} and n >= 1 (8, 16, 28, 32, "
            f"64, ...); the data's side is {shape[1]}: choose an mlp family"
        )
    return start, steps


class DCGANGenerator(nn.Module):
    """z [N, z_dim] -> images [N, C, H, W] (see the module docstring for the layers)."""

    def __init__(self, z_dim: int, image_shape: tuple[int, ...], *, width: int = 64, output: str = "tanh") -> None:
        super().__init__()
        if output not in DCGAN_OUTPUTS:
            raise UserError(f"model.generator.output={output!r} is not allowed; choose one of: {', '.join(DCGAN_OUTPUTS)}")
        start, steps = dcgan_grid(image_shape)
        self.z_dim = z_dim
        self.image_shape = tuple(image_shape)
        self.output = output
        channels = width * 2 ** (steps - 1)  # at start x start
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, channels, start, 1, 0, bias=False),  # 1x1 -> start x start
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        ]
        for _ in range(steps - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels // 2), nn.ReLU()]
            channels //= 2
        self.hidden = nn.Sequential(*layers)
        self.output_layer = nn.ConvTranspose2d(channels, image_shape[0], 4, 2, 1)  # the last doubling, to [C, H, W]
        self.output_activation = DCGAN_OUTPUTS[output]()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.hidden(z.view(z.shape[0], -1, 1, 1))  # [N, width, H/2, W/2]
        return self.output_activation(self.output_layer(h))  # [N, C, H, W]


class DCGANDiscriminator(nn.Module):
    """images [N, C, H, W] -> logits [N]; `features(x)` is the flattened last conv map [N, F] and `head` the logit
    layer on it (so a projection D can reuse both, advnets.models.conditional)."""

    def __init__(self, image_shape: tuple[int, ...], *, width: int = 64, norm: str = "batch") -> None:
        super().__init__()
        if norm not in D_NORMS:
            raise UserError(f"model.discriminator.norm={norm!r} is not allowed; choose one of: {', '.join(D_NORMS)}")
        start, steps = dcgan_grid(image_shape)
        self.image_shape = tuple(image_shape)
        # The first layer has no batch norm (Section 3: not at D's input), so it keeps its bias.
        layers: list[nn.Module] = [nn.Conv2d(image_shape[0], width, 4, 2, 1), nn.LeakyReLU(LEAK)]
        channels = width
        for _ in range(steps - 1):
            batch = norm == "batch"
            layers.append(nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=not batch))
            layers += [nn.BatchNorm2d(channels * 2)] if batch else []
            layers.append(nn.LeakyReLU(LEAK))
            channels *= 2
        self.hidden = nn.Sequential(*layers, nn.Flatten())
        self.feature_width = channels * start * start
        self.head = nn.Linear(self.feature_width, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W] -> the last conv map, flattened [N, channels * start * start]."""
        return self.hidden(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W] -> logits [N] (pre-sigmoid; higher means "real")."""
        return self.head(self.features(x)).squeeze(-1)
