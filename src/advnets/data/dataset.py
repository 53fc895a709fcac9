"""The one in-memory form of a data set: a tensor of examples with a declared *kind*.

The kind says what an example is and how to show one: an image with a shape and a pixel range (shown as a grid),
or a vector (a 1-D histogram or a 2-D scatter). Code that draws or scores samples asks the kind instead of assuming
images, so a toy 2-D mixture trains and reports through the same hooks as MNIST.

Storage. Examples are float32, ready for G and D, or -- for image sets too large for that (an image folder of
200,000 64x64 RGB pictures is 2.4 GB as uint8, 9.8 GB as float32) -- uint8 pixels 0..255 with `pixel_values`,
the float each of the 256 values stands for, so a batch is decoded when it is taken. Read examples through the
set, never `examples` directly: `take(index)` gives float32 examples [len(index), *shape], `chunks(n)` walks the
whole set a piece at a time, `mean()` is the mean example, `float_examples()` decodes everything. For a float32
set `take(index)` is exactly `examples[index]` and `mean()` exactly `examples.mean(0)`, so nothing that was pinned
moves; a uint8 set's decoded values are exactly the float32 ones its loader would have made (`pixel_values` is
that computation applied to 0..255).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from advnets.pixels import BOUNDS, PIXEL_RANGES, check_image_scale, display_unit, scale_pixels

CHUNK = 4096  # examples decoded at a time when a uint8 set is walked whole


@dataclass(frozen=True)
class ImageKind:
    """Examples [C, H, W] with pixels in `pixel_range`, or in an unbounded scale (advnets.pixels.IMAGE_SCALES)."""

    pixel_range: str  # "unit" ([0, 1]) | "symmetric" ([-1, 1]) | "gcn" (unbounded: docs/paper.md §1c)
    name: str = "image"

    def __post_init__(self) -> None:
        check_image_scale(self.pixel_range)

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The bounds of a pixel, or None for an unbounded scale (only a linear G can produce it)."""
        return BOUNDS.get(self.pixel_range)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 3:
            raise ValueError(f"image examples must be [C, H, W], got {list(shape)}")

    def show(self, samples: torch.Tensor, path: Path, *, reference: torch.Tensor | None = None) -> None:
        """A grid of the images samples [N, C, H, W] (`reference` is not drawn for images)."""
        from advnets.reporting.figures import save_image_grid

        if self.pixel_range in PIXEL_RANGES:
            save_image_grid(samples, path, pixel_range=self.pixel_range)
        else:  # an unbounded scale: each image stretched to its own range (advnets.pixels.display_unit)
            save_image_grid(display_unit(samples.detach().float(), self.pixel_range), path, pixel_range="unit")


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
    """One split of a data set: examples [N, *shape] (already scaled for G, or uint8 pixels decoded per batch) and
    optional labels [N]."""

    examples: torch.Tensor  # [N, *shape] float32; or uint8 pixels when pixel_values is given
    labels: torch.Tensor | None  # [N] int64, or None for unlabelled data
    name: str  # the registered data set name, e.g. "mnist"
    split: str  # "train" | "valid" | "test" | ...
    kind: Kind
    pixel_values: torch.Tensor | None = None  # [256] float32: the value of each uint8 pixel; None for float examples
    class_names: tuple[str, ...] | None = None  # label k is class_names[k], where the data set names its classes

    def __post_init__(self) -> None:
        if self.examples.dim() < 2:
            raise ValueError(f"a DataSet needs examples [N, ...], got shape {tuple(self.examples.shape)}")
        if self.labels is not None and self.labels.shape != (self.examples.shape[0],):
            raise ValueError(
                f"labels must be [N] with N = {self.examples.shape[0]}, got {tuple(self.labels.shape)}"
            )
        if (self.examples.dtype == torch.uint8) != (self.pixel_values is not None):
            raise ValueError("uint8 examples need pixel_values (the value of each pixel), and only they take it")
        if self.pixel_values is not None and self.pixel_values.shape != (256,):
            raise ValueError(f"pixel_values must be [256], got {tuple(self.pixel_values.shape)}")
        self.kind.check_shape(self.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one example: (C, H, W) for images, (D,) for vectors."""
        return tuple(self.examples.shape[1:])

    @property
    def encoded(self) -> bool:
        """True when the examples are kept as uint8 pixels and decoded as they are taken."""
        return self.pixel_values is not None

    def take(self, index: torch.Tensor | slice) -> torch.Tensor:
        """The examples at `index` (an index tensor on the examples' device, or a slice) as floats [n, *shape]:
        exactly `examples[index]` for a float set, decoded from the uint8 pixels otherwise."""
        picked = self.examples[index]
        if self.pixel_values is None:
            return picked
        return self.pixel_values[picked.long()]

    def chunks(self, size: int = CHUNK) -> Iterator[torch.Tensor]:
        """The examples in order as float tensors of at most `size` examples each [<= size, *shape]."""
        for start in range(0, len(self), size):
            yield self.take(slice(start, start + size))

    def float_examples(self) -> torch.Tensor:
        """Every example as floats [N, *shape] (for a uint8 set: a new tensor, four times its size)."""
        if self.pixel_values is None:
            return self.examples
        out = torch.empty(self.examples.shape, dtype=self.pixel_values.dtype, device=self.examples.device)
        for start in range(0, len(self), CHUNK):
            out[start : start + CHUNK] = self.take(slice(start, start + CHUNK))
        return out

    def mean(self) -> torch.Tensor:
        """The mean example [*shape]: `examples.mean(0)` for a float set; for a uint8 set summed in float64 a
        chunk at a time, then float32."""
        if self.pixel_values is None:
            return self.examples.mean(0)
        total = torch.zeros(self.shape, dtype=torch.float64, device=self.examples.device)
        for chunk in self.chunks():
            total += chunk.sum(0, dtype=torch.float64)
        return (total / len(self)).to(self.pixel_values.dtype)

    def to(self, device: torch.device | str) -> DataSet:
        """This set with its examples, labels and pixel values on `device` (the same tensors when already there)."""
        return dataclasses.replace(
            self,
            examples=self.examples.to(device),
            labels=self.labels.to(device) if self.labels is not None else None,
            pixel_values=self.pixel_values.to(device) if self.pixel_values is not None else None,
        )

    @property
    def images(self) -> torch.Tensor:
        """The examples of an image data set as floats [N, C, H, W] (a uint8 set decodes all of them: prefer
        `take` or `chunks`)."""
        if not isinstance(self.kind, ImageKind):
            raise TypeError(f"{self.name} holds {self.kind.name}s, not images")
        return self.float_examples()

    @property
    def image_shape(self) -> tuple[int, ...]:
        if not isinstance(self.kind, ImageKind):
            raise TypeError(f"{self.name} holds {self.kind.name}s, not images")
        return self.shape

    @property
    def pixel_range(self) -> str | None:
        return self.kind.pixel_range if isinstance(self.kind, ImageKind) else None

    def __len__(self) -> int:
        return self.examples.shape[0]


def pixel_values(pixel_range: str, max_value: int = 255) -> torch.Tensor:
    """The float32 value of each integer pixel 0..max_value in `pixel_range` [max_value + 1]: v / max_value in
    float32 (as `images.unit_images` computes it), then `scale_pixels`, so a decoded uint8 set equals the float32
    set its loader would have made, value for value."""
    unit = np.arange(max_value + 1, dtype=np.float32)
    unit /= np.float32(max_value)
    return scale_pixels(torch.from_numpy(unit), pixel_range)


def ImageSet(  # noqa: N802 -- reads as the type it builds
    images: torch.Tensor,
    labels: torch.Tensor | None,
    name: str,
    split: str,
    pixel_range: str,
    *,
    class_names: tuple[str, ...] | None = None,
) -> DataSet:
    """An image DataSet: images [N, C, H, W], float32 in `pixel_range`, or uint8 pixels 0..255 kept as they are
    and decoded into `pixel_range` a batch at a time."""
    values = pixel_values(pixel_range) if images.dtype == torch.uint8 else None
    return DataSet(images, labels, name, split, ImageKind(pixel_range), values, class_names)


def VectorSet(examples: torch.Tensor, name: str, split: str, labels: torch.Tensor | None = None) -> DataSet:  # noqa: N802
    """A vector DataSet: examples [N, D]."""
    return DataSet(examples, labels, name, split, VectorKind())
