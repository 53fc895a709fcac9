"""Conditional G and D: class labels y [N] (int64, 0 .. K - 1) beside z or x (docs/design.md, "Labels and
conditional families"). Each wraps an unconditional body from advnets.models.mlp / dcgan, so the layers, widths
and inits are those families' own.

G (`cond-mlp`, `cond-dcgan`): a learned label embedding e(y) [N, E] is concatenated to z and the body, built for
z_dim + E inputs, maps [z, e(y)]. The dcgan body sees its input as a 1x1 map, so there the embedding is
concatenated channel-wise, as the authors' conditional MNIST DCGAN concatenates its one-hot y to z
(Newmu/dcgan_code, mnist/train_cond_dcgan.py; it also repeats y at every layer, which we do not). The embedding
starts N(0, 1), PyTorch's default, on the scale of z's coordinates, whatever init the body gets.

D (`cond-maxout`, `cond-mlp`, `cond-dcgan`), by `conditioning`:
- `projection` (Miyato & Koyama 2018, "cGANs with Projection Discriminator", Eq. 3):
  logit = ψ(φ(x)) + <V_y, φ(x)>, with φ the body's features (`features(x)`, [N, F]), ψ its logit layer (`head`,
  dropout included for the dropout Ds) and V [K, F] a learned class embedding. V starts U(-1/√F, 1/√F), the scale
  of ψ's own weights under PyTorch's default init, so neither term dominates at the start. Spectral norm, when on,
  covers V too, as the paper does. `features(x, y)` is φ(x).
- `concat`: the one-hot label is concatenated to D's input. For the flat Ds it joins the flattened image after the
  image's input dropout (a dropped label would be label noise, not regularisation) and the body's first layer takes
  C*H*W + K inputs; for dcgan it is K constant maps beside the image's channels (the authors' `conv_cond_concat` at
  D's input), so the first conv takes C + K channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from advnets.checks import check_choice, check_positive
from advnets.errors import UserError
from advnets.models.dcgan import DCGANDiscriminatorOptions, DCGANGeneratorOptions
from advnets.models.mlp import (
    MaxoutDiscriminatorOptions,
    MLPDiscriminatorOptions,
    MLPGeneratorOptions,
    dropout_layers,
)

CONDITIONINGS = ("projection", "concat")


@dataclass
class CondMLPGeneratorOptions(MLPGeneratorOptions):
    """model.generator keys of `arch: cond-mlp`: the mlp family's keys and the label embedding's size."""

    arch: str = "cond-mlp"  # generator family: mlp | dcgan | cifar-paper-dense | cifar-paper-deconv | cond-mlp | cond-dcgan
    embed_dim: int = 10  # E: size of the learned label embedding concatenated to z

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        check_positive(f"{prefix}.embed_dim", self.embed_dim)
        if self.norm == "virtual_batch":
            raise UserError(
                f"{prefix}.norm=virtual_batch is not available for a conditional G: its reference batch holds noise "
                "without labels; use norm=batch or none"
            )


@dataclass
class CondDCGANGeneratorOptions(DCGANGeneratorOptions):
    """model.generator keys of `arch: cond-dcgan`: the dcgan family's keys and the label embedding's size."""

    arch: str = "cond-dcgan"  # generator family: mlp | dcgan | cifar-paper-dense | cifar-paper-deconv | cond-mlp | cond-dcgan
    embed_dim: int = 10  # E: size of the learned label embedding, concatenated to z as E more channels of its 1x1 map

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        check_positive(f"{prefix}.embed_dim", self.embed_dim)


def _check_conditioning(prefix: str, conditioning: str) -> None:
    check_choice(f"{prefix}.conditioning", conditioning, CONDITIONINGS)


@dataclass
class CondMaxoutDiscriminatorOptions(MaxoutDiscriminatorOptions):
    """model.discriminator keys of `arch: cond-maxout`: the maxout family's keys and how labels enter."""

    arch: str = "cond-maxout"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    conditioning: str = "projection"  # projection: logit + <V_y, features> (Miyato & Koyama 2018) | concat: one-hot label joined to the input

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        _check_conditioning(prefix, self.conditioning)


@dataclass
class CondMLPDiscriminatorOptions(MLPDiscriminatorOptions):
    """model.discriminator keys of `arch: cond-mlp`: the mlp family's keys and how labels enter."""

    arch: str = "cond-mlp"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    conditioning: str = "projection"  # projection: logit + <V_y, features> (Miyato & Koyama 2018) | concat: one-hot label joined to the input

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        _check_conditioning(prefix, self.conditioning)


@dataclass
class CondDCGANDiscriminatorOptions(DCGANDiscriminatorOptions):
    """model.discriminator keys of `arch: cond-dcgan`: the dcgan family's keys and how labels enter."""

    arch: str = "cond-dcgan"  # discriminator family: maxout | mlp | set | dcgan | cifar-paper-maxout | cifar-paper-convmaxout | cond-maxout | cond-mlp | cond-dcgan
    conditioning: str = "projection"  # projection: logit + <V_y, features> (Miyato & Koyama 2018) | concat: K one-hot maps beside the image's channels

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        _check_conditioning(prefix, self.conditioning)


class ConditionalGenerator(nn.Module):
    """G(z, y) = body([z, e(y)]): z [N, z_dim], y [N] -> examples [N, *shape]."""

    body: nn.Module  # an unconditional G built for z_dim + embed_dim inputs

    def __init__(self, body: nn.Module, num_classes: int, embed_dim: int) -> None:
        super().__init__()
        self.body = body
        self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([z, self.embed(labels)], dim=1))  # body input [N, z_dim + E]


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = head(φ(x)) + <V_y, φ(x)>, φ = body.features; logits [N]."""

    body: Any  # an unconditional D with `features(x)` [N, F], `head` (features -> [N, 1]) and `feature_width` F

    def __init__(self, body: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.body = body
        width = int(self.body.feature_width)  # F: the width of body.features(x)
        self.embed = nn.Embedding(num_classes, width)  # V
        bound = width**-0.5
        with torch.no_grad():
            self.embed.weight.uniform_(-bound, bound)

    def features(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """φ(x) [N, F] (the labels do not enter φ)."""
        return self.body.features(x)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        phi = self.body.features(x)  # [N, F]
        projection = (self.embed(labels) * phi).sum(dim=1)  # <V_y, φ(x)> [N]
        return self.body.head(phi).squeeze(-1) + projection


class ConcatDiscriminator(nn.Module):
    """D(x, y) = body([x, onehot(y)]): flat (the one-hot joins the flattened, input-dropped image) or spatial (K
    constant maps beside the image's channels); logits [N]."""

    body: Any  # an unconditional D with `features(x)`, built for the joined input

    def __init__(self, body: nn.Module, num_classes: int, *, spatial: bool, input_keep: float = 1.0) -> None:
        super().__init__()
        self.body = body
        self.classes = num_classes
        self.spatial = spatial
        # The flat body is built without input dropout; the image alone is dropped here.
        self.input_dropout = nn.Sequential(*dropout_layers(input_keep))

    def joined(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """[x, onehot(y)]: [N, C + K, H, W] (spatial) or [N, C*H*W + K] (flat)."""
        onehot = F.one_hot(labels, self.classes).to(x.dtype)  # [N, K]
        if self.spatial:
            maps = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])  # [N, K, H, W]
            return torch.cat([x, maps], dim=1)
        return torch.cat([self.input_dropout(x.flatten(1)), onehot], dim=1)

    def features(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body.features(self.joined(x, labels))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(self.joined(x, labels))
