"""The paper's sample figures, drawn from tensors: Figure 2 (rows of samples, each row's last sample followed by its
nearest training example, marked by a yellow frame) and Figure 3 (rows of samples along linear paths between two
latent codes). Goodfellow et al. (2014), Figs. 2 and 3; how the 2014 code drew them: docs/paper.md §3.

`nearest_examples` finds the neighbours: squared L2 distance in pixel space (the scale G draws and the data is
trained in, as the 2014 code did), over the training examples in chunks, so that a search over 50,000 MNIST images
never holds more than `chunk_size` distances per query. runs/figures.py reads a run and calls these.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from advnets.io import atomic_write
from advnets.reporting.figures import image_grid

NEIGHBOUR_FRAME_RGB = (255, 215, 0)  # the yellow of the paper's Figure 2
NEIGHBOUR_FRAME_INSET_PX = 2  # how far the frame reaches into the neighbour's tile, beyond the padding
CHUNK_EXAMPLES = 4096  # training examples per block of distances: 4096 x 784 float64 = 26 MB for MNIST


def nearest_examples(
    queries: torch.Tensor,
    examples: torch.Tensor | Iterable[torch.Tensor],
    *,
    chunk_size: int = CHUNK_EXAMPLES,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each query [Q, *shape], its nearest example (squared L2 over all values): (indices [Q] int64, squared
    distances [Q] float64, the examples themselves [Q, *shape] float32), on the CPU.

    `examples` is a tensor [N, *shape], visited `chunk_size` examples at a time, or an iterable of consecutive
    blocks [n_i, *shape] (a data set decoded a block at a time): only a [Q, block] matrix of distances exists at
    once. Blocks use |q|² - 2 q·x + |x|² in float64; each winner's distance is then recomputed from the
    differences, so the distances returned are exact sums of squares. Ties go to the lowest index."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    blocks = examples.split(chunk_size) if isinstance(examples, torch.Tensor) else examples
    q = queries.detach().to("cpu", torch.float64).flatten(1)  # [Q, D]
    q_sq = q.square().sum(1, keepdim=True)  # [Q, 1]
    best = torch.full((q.shape[0],), torch.inf, dtype=torch.float64)
    best_index = torch.zeros(q.shape[0], dtype=torch.long)
    nearest = torch.zeros(q.shape, dtype=torch.float64)  # [Q, D], the winners so far
    start = 0
    for block in blocks:
        if block.shape[1:] != queries.shape[1:]:
            raise ValueError(
                f"examples must have the queries' shape {tuple(queries.shape[1:])}, got {tuple(block.shape[1:])}"
            )
        x = block.detach().to("cpu", torch.float64).flatten(1)  # [n, D]
        distances = (q_sq - 2.0 * q @ x.T + x.square().sum(1)).clamp_min(0.0)  # [Q, n]
        value, index = distances.min(1)
        better = value < best  # strict: an equal distance in a later block keeps the earlier index
        best = torch.where(better, value, best)
        best_index = torch.where(better, index + start, best_index)
        nearest[better] = x[index[better]]
        start += x.shape[0]
    if start == 0:
        raise ValueError("there are no examples to search")
    return best_index, (nearest - q).square().sum(1), nearest.float().view(queries.shape)


def nearest_grid(
    samples: torch.Tensor,
    neighbours: torch.Tensor,
    *,
    pixel_range: str,
    padding: int = 2,
    scale: int | None = None,
) -> Image.Image:
    """Figure 2: samples [R, C, ch, H, W] as R rows of C, each row followed by `neighbours` [R, ch, H, W] (the
    training example nearest to the row's last sample) in a yellow frame. An RGB picture of the size
    `image_grid` gives R x (C + 1) tiles."""
    if samples.dim() != 5 or neighbours.shape != (samples.shape[0], *samples.shape[2:]):
        raise ValueError(
            f"need samples [R, C, ch, H, W] and neighbours [R, ch, H, W], got {tuple(samples.shape)} and "
            f"{tuple(neighbours.shape)}"
        )
    rows, cols = samples.shape[:2]
    cells = torch.cat([samples.detach().cpu(), neighbours.detach().cpu().unsqueeze(1).to(samples.dtype)], 1)
    grid = image_grid(
        cells.flatten(0, 1), pixel_range=pixel_range, nrow=cols + 1, padding=padding, scale=scale
    ).convert("RGB")
    # Tile sizes as image_grid lays them out: every cell is its padding (top, left) then its tile.
    tile_w = (grid.width - padding) // (cols + 1) - padding
    tile_h = (grid.height - padding) // rows - padding
    draw = ImageDraw.Draw(grid)
    frame = padding + NEIGHBOUR_FRAME_INSET_PX
    for row in range(rows):
        left = cols * (tile_w + padding) + padding  # the first pixel of the row's last tile
        top = row * (tile_h + padding) + padding
        box = (left - padding, top - padding, left + tile_w + padding - 1, top + tile_h + padding - 1)
        draw.rectangle(box, outline=NEIGHBOUR_FRAME_RGB, width=frame)
    return grid


def interpolation_grid(
    samples: torch.Tensor, *, pixel_range: str, padding: int = 2, scale: int | None = None
) -> Image.Image:
    """Figure 3: samples [R, K, ch, H, W], row r showing G along the line between its two latent codes in K
    steps, as R rows of K tiles."""
    if samples.dim() != 5:
        raise ValueError(f"need samples [R, K, ch, H, W], got {tuple(samples.shape)}")
    return image_grid(
        samples.flatten(0, 1), pixel_range=pixel_range, nrow=samples.shape[1], padding=padding, scale=scale
    )


def save_picture(picture: Image.Image, path: str | Path) -> None:
    """A picture as a PNG at `path`, written atomically; makes the parent folders."""
    atomic_write(Path(path), lambda f: picture.save(f, format="PNG"))
