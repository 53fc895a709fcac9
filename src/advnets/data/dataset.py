"""The one in-memory form of a data set: a tensor of examples with a declared *kind*.

The kind says what an example is and how to show one: an image with a shape and a pixel range (shown as a grid),
or a vector (a 1-D histogram or a 2-D scatter). Code that draws or scores samples asks the kind instead of assuming
images, so a toy 2-D mixture trains and reports through the same hooks as MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from advnets.pixels import BOUNDS, check_pixel_range


@dataclass(frozen=True)
class ImageKind:
    """Examples [C, H, W] with pixels in `pixel_range`."""

    pixel_range: str  # "unit" ([0, 1]) | "symmetric" ([-1, 1])
    name: str = "image"

    def __post_init__(self) -> None:
        check_pixel_range(self.pixel_range)

    @property
    def value_range(self) -> tuple[float, float] | None:
        return BOUNDS[self.pixel_range]

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 3:
            raise ValueError(f"image examples must be [C, H, W], got {list(shape)}")

    def show(self, samples: torch.Tensor, path: Path, *, reference: torch.Tensor | None = None) -> None:
        """A grid of the images samples [N, C, H, W] (`reference` is not drawn for images)."""
        from advnets.reporting.figures import save_image_grid

        save_image_grid(samples, path, pixel_range=self.pixel_range)


@dataclass(frozen=True)
class VectorKind:
    """Examples [D], unbounded real vectors (the toy labs)."""

    name: str = "vector"

    @property
    def value_range(self) -> tuple[float, float] | None:
        return None

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 1:
            raise ValueError(f"vector examples must be [D], got {list(shape)}")

    def show(self, samples: torch.Tensor, path: Path, *, reference: torch.Tensor | None = None) -> None:
        """A histogram (D = 1) or scatter of the first two coordinates (D >= 2) of samples [N, D], drawn over
        `reference` examples of the data when given."""
        from advnets.reporting.figures import save_vector_plot

        save_vector_plot(samples, path, reference=reference)


Kind = ImageKind | VectorKind


@dataclass
class DataSet:
    """One split of a data set: examples [N, *shape] (already scaled for G) and optional labels [N]."""

    examples: torch.Tensor  # [N, *shape] float32
    labels: torch.Tensor | None  # [N] int64, or None for unlabelled data
    name: str  # the registered data set name, e.g. "mnist"
    split: str  # "train" | "valid" | "test" | ...
    kind: Kind

    def __post_init__(self) -> None:
        if self.examples.dim() < 2:
            raise ValueError(f"a DataSet needs examples [N, ...], got shape {tuple(self.examples.shape)}")
        if self.labels is not None and self.labels.shape != (self.examples.shape[0],):
            raise ValueError(
                f"labels must be [N] with N = {self.examples.shape[0]}, got {tuple(self.labels.shape)}"
            )
        self.kind.check_shape(self.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one example: (C, H, W) for images, (D,) for vectors."""
        return tuple(self.examples.shape[1:])

    @property
    def images(self) -> torch.Tensor:
        """The examples of an image data set [N, C, H, W]."""
        if not isinstance(self.kind, ImageKind):
            raise TypeError(f"{self.name} holds {self.kind.name}s, not images")
        return self.examples

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.images.shape[1:]

    @property
    def pixel_range(self) -> str | None:
        return self.kind.pixel_range if isinstance(self.kind, ImageKind) else None

    def __len__(self) -> int:
        return self.examples.shape[0]


def ImageSet(  # noqa: N802 -- reads as the type it builds
    images: torch.Tensor, labels: torch.Tensor | None, name: str, split: str, pixel_range: str
) -> DataSet:
    """An image DataSet: images [N, C, H, W] with pixels in `pixel_range`."""
    return DataSet(images, labels, name, split, ImageKind(pixel_range))


def VectorSet(examples: torch.Tensor, name: str, split: str, labels: torch.Tensor | None = None) -> DataSet:  # noqa: N802
    """A vector DataSet: examples [N, D]."""
    return DataSet(examples, labels, name, split, VectorKind())
