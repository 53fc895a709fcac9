"""The sample strip of an image run: its sample grids at successive steps side by side, with the diversity curves
under them, so that mode collapse and mode cycling can be seen and measured in one picture (docs/mnist-zeros.md).

The grids are the run's own step pictures (G on the fixed latent grid, so the same cell shows the same z at every
step; `RunDir.sample_pictures()` lists them); they survive for the whole run, where step checkpoints are pruned. The curves are the
`diversity`, `nn_diversity` and `mode_jump` columns of metrics.jsonl (runs/health.py, runs/collapse.py), each a
ratio to the data's own value, with a dotted line at every step shown above.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from advnets.errors import UserError
from advnets.reporting.figures import DPI, _finish, _is_number, _save_figure, _series

MAX_PICTURES = 13  # grids in one strip (600 steps sampled every 50): a figure about 2500 px wide
PICTURE_IN = 1.6  # width (and height) of one grid in the strip, inches
CURVES_IN = 2.6  # height of the curve panel, inches
# column -> (label, colour, line width): the ratios that fall with collapse, and the jumps that spike with cycling
CURVES = {
    "diversity": ("mean pairwise distance / data's", "tab:green", 1.6),
    "nn_diversity": ("nearest-neighbour distance / data's", "tab:purple", 1.6),
    "mode_jump": ("mode jump: mean sample's move / data spread", "tab:red", 1.0),
}


def pick_evenly(items: list[Any], k: int) -> list[Any]:
    """At most k of `items` at one stride (sample pictures come at one interval, so the picks stay evenly spaced in
    steps), the first included, and the last too (after a shorter gap when the stride does not reach it)."""
    if k < 2:
        raise ValueError(f"k must be >= 2 (the first and the last), got {k}")
    if len(items) <= k:
        return list(items)
    stride = math.ceil((len(items) - 1) / (k - 1))
    picks = items[::stride]
    return picks if (len(items) - 1) % stride == 0 else [*picks, items[-1]]


def plot_strip(
    pictures: list[tuple[int, Image.Image]],
    records: list[dict],
    path: str | Path,
    *,
    title: str | None = None,
) -> None:
    """Sample grids `pictures` [(step, image)] in one row, left to right, over the diversity curves drawn from
    `records` (metrics lines; missing columns are left out) to a PNG at `path`."""
    if not pictures:
        raise UserError(
            f"no sample pictures to draw {path} from; train until the first sample picture is written"
        )
    n = len(pictures)
    fig = Figure(
        figsize=(max(n, 4) * PICTURE_IN, PICTURE_IN + 0.35 + CURVES_IN), dpi=DPI, layout="constrained"
    )
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, n, height_ratios=[PICTURE_IN + 0.35, CURVES_IN])
    for i, (step, picture) in enumerate(pictures):
        ax = fig.add_subplot(grid[0, i])
        array = np.asarray(picture.convert("L" if picture.mode in ("L", "1", "P", "I") else "RGB"))
        ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"step {step}", fontsize="small")
        ax.set_axis_off()
    curves = fig.add_subplot(grid[1, :])
    records = [r for r in records if _is_number(r.get("step"))]
    for key, (label, color, width) in CURVES.items():
        xs, ys = _series(records, "step", key)
        if xs.size:
            curves.plot(
                xs, ys, color=color, linewidth=width, marker="o" if xs.size == 1 else None, label=label
            )
    curves.axhline(1.0, color="black", linestyle="--", linewidth=1.0, label="the data (ratio 1)")
    for step, _ in pictures:
        curves.axvline(step, color="grey", linestyle=":", linewidth=0.8)
    curves.set_xlabel("step")
    curves.set_ylabel("ratio")
    curves.set_ylim(bottom=0.0)
    _finish(curves)
    if title:
        fig.suptitle(title)
    _save_figure(fig, Path(path))


def write_strip(
    sample_pictures: list[tuple[int, Path]],
    records: list[dict],
    path: Path,
    *,
    title: str | None = None,
    max_pictures: int = MAX_PICTURES,
) -> bool:
    """The strip of a run: up to `max_pictures` of its step pictures [(step, PNG path)] sorted by step, evenly spread
    over the run, first and last included, to `path`. Returns False (and writes nothing) when there is none yet."""
    chosen = pick_evenly(sample_pictures, max_pictures)
    if not chosen:
        return False
    pictures = []
    for step, picture_path in chosen:
        with Image.open(picture_path) as picture:
            pictures.append((step, picture.copy()))  # read now: the file is closed when the block ends
    plot_strip(pictures, records, path, title=title)
    return True
