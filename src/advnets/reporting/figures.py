"""Figures of a run: sample grids (the paper's Fig. 2 shows fair random samples as a grid), training curves
(G and D losses, and the mean D(x) / D(G(z)) that should both approach the equilibrium D = 1/2 of Fig. 1d),
metric curves such as the Parzen log-likelihood of Table 1 per epoch (`read_metrics`, the JSON-lines reader of
advnets.io, reads the records they are drawn from).

Every PNG is written with `advnets.io.atomic_write` (a temporary file in the same folder, then `os.replace`) so
that a crash or a reader polling the run folder never sees a half-written figure; no fsync, since figures are
redrawn from metrics.jsonl. Plots use `matplotlib.figure.Figure` with the Agg canvas directly rather than
pyplot: no global figure registry to leak memory over a long run, no backend state.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from advnets.errors import UserError
from advnets.io import atomic_write, read_jsonl
from advnets.losses import PROBABILITY_PANEL, MonitorPanel
from advnets.pixels import PIXEL_RANGES, to_unit_range

DPI = 120
LOSSES_SIZE_IN = (8.0, 6.5)  # 960 x 780 px: two stacked panels stay readable
LOSSES_SIZE_ONE_PANEL_IN = (8.0, 4.0)  # 960 x 480 px when there are no D(x) / D(G(z)) columns
CURVE_SIZE_IN = (7.0, 4.5)  # 840 x 540 px
CURVE_LATE_SIZE_IN = (12.0, 4.5)  # 1440 x 540 px: the whole curve and its late-training view side by side
LATE_FRACTION = 0.75  # the late view of a metric curve: the last 75% of the x range (epochs)
LATE_MIN_POINTS = 3  # ... drawn only when it holds at least this many x positions
LATE_NARROWER = 0.5  # ... and its y-range is at most half the whole curve's
# Mid-grey separates tiles on both kinds of image we show: white-on-black digits (black padding would merge
# neighbouring backgrounds into one black sheet) and bright faces or CIFAR images (white would do the same).
PAD_VALUE = 128
MIN_TILE_PX = (
    56  # default upscale makes each tile at least this big: 8x8 digits -> 56x56, 28x28 MNIST -> 56x56
)


# ----------------------------------------------------------------------------------------------- image grids
def image_grid(
    images: torch.Tensor,
    *,
    pixel_range: str,
    nrow: int | None = None,
    padding: int = 2,
    scale: int | None = None,
) -> Image.Image:
    """Tile images [N, C, H, W] (C = 1 or 3) into one picture, `nrow` images per row (default ceil(sqrt(N))).

    `pixel_range` is "unit" ([0, 1], sigmoid G) or "symmetric" ([-1, 1], tanh G); values outside are clamped
    and NaN (a diverged G) shows as black. Each tile is upscaled by the integer `scale` with nearest-neighbour
    (default: the smallest scale giving tiles of at least 56 px); then `padding` mid-grey pixels separate
    tiles and frame the grid, and empty cells of a last partial row are grey too. Returns mode "L" for C = 1,
    "RGB" for C = 3.
    """
    if pixel_range not in PIXEL_RANGES:
        raise ValueError(f"pixel_range must be one of {PIXEL_RANGES}, got {pixel_range!r}")
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise ValueError(
            f"images must be [N, C, H, W] with N >= 1 and C in (1, 3), got shape {tuple(images.shape)}"
        )
    n, c, h, w = images.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if scale is None:
        scale = max(1, math.ceil(MIN_TILE_PX / min(h, w)))
    if nrow < 1 or scale < 1 or padding < 0:
        raise ValueError(f"need nrow >= 1, scale >= 1 and padding >= 0, got {nrow}, {scale}, {padding}")

    x = to_unit_range(images.detach().to("cpu", torch.float32), pixel_range)
    x = torch.nan_to_num(x, nan=0.0).clamp(0.0, 1.0)
    pixels = (x * 255.0).round().to(torch.uint8)  # [N, C, H, W]
    pixels = pixels.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)  # [N, C, sH, sW]

    rows = math.ceil(n / nrow)
    tile_h, tile_w = h * scale, w * scale
    # Fill the missing cells of the last row with grey tiles, then lay all cells out on a grey canvas at once.
    cells = torch.full((rows * nrow, c, tile_h + padding, tile_w + padding), PAD_VALUE, dtype=torch.uint8)
    cells[:n, :, padding:, padding:] = pixels
    # [rows*nrow, C, th+p, tw+p] -> [C, rows, th+p, nrow, tw+p] -> [C, rows*(th+p), nrow*(tw+p)]
    grid = cells.view(rows, nrow, c, tile_h + padding, tile_w + padding).permute(2, 0, 3, 1, 4)
    grid = grid.reshape(c, rows * (tile_h + padding), nrow * (tile_w + padding))
    # The right and bottom frame: each cell carries only its top/left padding.
    canvas = torch.full((c, grid.shape[1] + padding, grid.shape[2] + padding), PAD_VALUE, dtype=torch.uint8)
    canvas[:, : grid.shape[1], : grid.shape[2]] = grid
    array = canvas.permute(1, 2, 0).contiguous().numpy()  # [H_grid, W_grid, C]
    # Pillow infers the mode from the uint8 array: 2-D -> "L", [H, W, 3] -> "RGB".
    return Image.fromarray(array[:, :, 0] if c == 1 else array)


def save_image_grid(images: torch.Tensor, path: str | Path, **kw: Any) -> None:
    """`image_grid(images, **kw)` written as a PNG to `path` atomically; makes the parent folders."""
    picture = image_grid(images, **kw)
    atomic_write(Path(path), lambda f: picture.save(f, format="PNG"))


# The JSON-lines reader lives in advnets.io; this name stays for the callers that plot what it reads.
read_metrics = read_jsonl


# ----------------------------------------------------------------------------------------------------- plots
def plot_losses(
    records: list[dict], path: str | Path, *, title: str | None = None, panel: MonitorPanel | None = None
) -> None:
    """Training curves from metrics records to a PNG at `path`.

    Top panel: G and D loss vs step (an "epoch" axis on top when records carry "epoch"). Bottom panel: what the
    loss monitors (`panel`, from the run's loss; default the BCE losses' mean D(x) and D(G(z)) with a dashed line
    at D = 1/2, where both sit at the global optimum p_g = p_data, Sec. 4, Fig. 1d), when records carry those
    columns. Raw curves stay visible; long ones get a smoothed overlay. Records without "step" are ignored; a key
    missing from some records leaves those points out.
    """
    panel = panel or PROBABILITY_PANEL
    records = [r for r in records if _is_number(r.get("step"))]
    if not records:
        raise UserError(
            f"no record with a 'step' to plot for {path}; train for at least one logging interval"
        )
    has_monitor = any(k in r for r in records for k in panel.keys)
    fig = Figure(
        figsize=LOSSES_SIZE_IN if has_monitor else LOSSES_SIZE_ONE_PANEL_IN, dpi=DPI, layout="constrained"
    )
    FigureCanvasAgg(fig)
    if has_monitor:
        loss_ax, d_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    else:
        loss_ax, d_ax = fig.subplots(1, 1), None

    for key, label, color in (("g_loss", "G loss", "tab:orange"), ("d_loss", "D loss", "tab:blue")):
        _plot_raw_and_smoothed(loss_ax, *_series(records, "step", key), label=label, color=color)
    loss_ax.set_ylabel("loss")
    _add_epoch_axis(loss_ax, records)
    _finish(loss_ax)

    if d_ax is not None:
        colors = ("tab:green", "tab:red", "tab:purple", "tab:brown")
        for i, key in enumerate(panel.keys):
            label = panel.labels.get(key, key)
            _plot_raw_and_smoothed(d_ax, *_series(records, "step", key), label=label, color=colors[i % 4])
        if panel.reference is not None:
            d_ax.axhline(
                panel.reference, color="black", linestyle="--", linewidth=1.0, label=panel.reference_label
            )
        if panel.reference == 0.5:  # probabilities
            d_ax.set_ylim(-0.03, 1.03)
        d_ax.set_ylabel(panel.ylabel)
        _finish(d_ax)
    (d_ax if d_ax is not None else loss_ax).set_xlabel("step")
    if title:
        fig.suptitle(title)
    _save_figure(fig, Path(path))


def save_vector_plot(
    samples: torch.Tensor,
    path: str | Path,
    *,
    reference: torch.Tensor | None = None,
    title: str | None = None,
) -> None:
    """Vector samples [N, D] as a PNG: a histogram for D = 1, else a scatter of the first two coordinates, drawn
    over `reference` examples of the data [M, D] (grey) when given."""
    x = samples.detach().to("cpu", torch.float64).flatten(1).numpy()
    ref = reference.detach().to("cpu", torch.float64).flatten(1).numpy() if reference is not None else None
    fig = Figure(figsize=(5.0, 5.0) if x.shape[1] > 1 else CURVE_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 1)
    if x.shape[1] == 1:
        finite = x[np.isfinite(x[:, 0]), 0]
        bins: Any = np.histogram_bin_edges(
            np.concatenate([finite, ref[:, 0]]) if ref is not None else finite, 60
        )
        if ref is not None:
            ax.hist(ref[:, 0], bins=bins, density=True, color="grey", alpha=0.5, label="data")
        ax.hist(finite, bins=bins, density=True, histtype="step", color="tab:green", linewidth=1.5, label="G")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
    else:
        if ref is not None:
            ax.scatter(ref[:, 0], ref[:, 1], s=4, color="grey", alpha=0.4, label="data")
        ax.scatter(x[:, 0], x[:, 1], s=6, color="tab:green", alpha=0.8, label="G")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x[0]")
        ax.set_ylabel("x[1]")
    _finish(ax)
    if title:
        ax.set_title(title)
    _save_figure(fig, Path(path))


def plot_metric_curve(
    records: list[dict],
    key: str,
    path: str | Path,
    *,
    x: str = "epoch",
    ylabel: str | None = None,
    title: str | None = None,
    err_key: str | None = None,
    reference: dict[str, float] | None = None,
    late: float | None = LATE_FRACTION,
) -> None:
    """One metric (records[i][key]) against records[i][x] to a PNG at `path`, e.g. the Parzen log-likelihood
    per epoch with ± standard-error bars (`err_key`) and the paper's Table 1 value as a `reference` line
    ({"paper (225)": 225.0}). Records lacking `key` or `x` are skipped. Records carrying a "series" key (e.g.
    "seed 1") are drawn as one line per series; series that also carry a "family" key (e.g. a table's row) share
    its colour and differ in marker and line style (`series_styles`). A series of one point has its value written
    beside it, and a figure whose records all share one x gets an axis one unit either side of it (not
    matplotlib's ±5%).

    Late training: when the points of the last `late` fraction of the x range (default the last 75% of epochs) span
    at most half the y-range of the whole curve (the first epochs' -170 nats flatten everything after them), a
    second panel on the right shows only those points, with the y-limits `late_view_limits` gives."""
    records = [r for r in records if _is_number(r.get(key)) and _is_number(r.get(x))]
    if not records:
        raise UserError(f"no record has both '{key}' and '{x}' to plot for {path}; run an evaluation first")
    view = late_view_limits(records, key, x=x, err_key=err_key, reference=reference, late=late)
    fig = Figure(figsize=CURVE_SIZE_IN if view is None else CURVE_LATE_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    if view is None:
        ax, late_ax = fig.subplots(1, 1), None
    else:
        ax, late_ax = fig.subplots(1, 2)

    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(str(r.get("series", key)), []).append(r)
    for panel in (ax, late_ax):
        if panel is not None:
            _draw_metric(panel, groups, key, x, err_key, reference, annotate=panel is ax)
            panel.set_xlabel(x)
    ax.set_ylabel(ylabel or key)
    _finish(ax)

    positions = {float(r[x]) for r in records}
    if len(positions) == 1:
        only = positions.pop()
        ax.set_xlim(only - 1, only + 1)
    if late_ax is not None and view is not None:
        (x_lo, x_hi), (y_lo, y_hi), outside = view
        margin = 0.03 * (x_hi - x_lo)
        late_ax.set_xlim(x_lo - margin, x_hi + margin)
        late_ax.set_ylim(y_lo, y_hi)
        late_ax.grid(True, alpha=0.3)
        late_ax.set_title(f"the last {late:.0%} of {x}s ({x} {x_lo:g} to {x_hi:g})", fontsize="medium")
        ax.set_title(f"all {x}s", fontsize="medium")
        if outside:  # reference lines beyond the late view's y-range: say where they are
            late_ax.text(
                0.99,
                0.02,
                "\n".join(outside),
                transform=late_ax.transAxes,
                ha="right",
                va="bottom",
                fontsize="small",
                color="dimgray",
            )
        if title:
            fig.suptitle(title)
    elif title:
        ax.set_title(title)
    _save_figure(fig, Path(path))


def late_view_limits(
    records: list[dict],
    key: str,
    *,
    x: str = "epoch",
    err_key: str | None = None,
    reference: dict[str, float] | None = None,
    late: float | None = LATE_FRACTION,
) -> tuple[tuple[float, float], tuple[float, float], list[str]] | None:
    """The late-training panel of `plot_metric_curve`: ((x_lo, x_hi), (y_lo, y_hi), notes on the reference lines
    it leaves out), or None when the whole curve reads well enough alone.

    The window holds the records whose x lies in the last `late` fraction of the x range. Its y-range covers their
    values ± their error bars, and each reference line within one such span of them (a nearby target such as the
    paper's 225 stays in view; a far one, say a k-means baseline at 328, gets a note instead), padded by 5%. There
    is a late view only when the window holds at least LATE_MIN_POINTS x positions and its y-range is at most
    LATE_NARROWER times the whole curve's (every value ± error and every reference line)."""
    if late is None or not 0.0 < late < 1.0:
        return None
    points = [r for r in records if _is_number(r.get(key)) and _is_number(r.get(x)) and math.isfinite(r[key])]
    if not points:
        return None
    xs = [float(r[x]) for r in points]
    x_start = min(xs) + (1.0 - late) * (max(xs) - min(xs))
    window = [r for r in points if float(r[x]) >= x_start]
    if len({float(r[x]) for r in window}) < LATE_MIN_POINTS:
        return None

    def spread(rs: list[dict]) -> tuple[float, float]:
        errs = [
            float(r[err_key]) if err_key and _is_number(r.get(err_key)) and math.isfinite(r[err_key]) else 0.0
            for r in rs
        ]
        return min(r[key] - e for r, e in zip(rs, errs)), max(r[key] + e for r, e in zip(rs, errs))

    data_lo, data_hi = spread(window)
    span = data_hi - data_lo
    if span <= 0:
        return None
    lo, hi, outside = data_lo, data_hi, []
    for label, value in (reference or {}).items():
        if data_lo - span <= value <= data_hi + span:
            lo, hi = min(lo, value), max(hi, value)
        else:
            outside.append(f"{label}: {value:.4g} ({'above' if value > data_hi else 'below'})")
    whole_lo, whole_hi = spread(points)
    refs = list((reference or {}).values())
    whole_lo, whole_hi = min([whole_lo, *refs]), max([whole_hi, *refs])
    if hi - lo > LATE_NARROWER * (whole_hi - whole_lo):
        return None
    pad = 0.05 * (hi - lo)
    return (min(r[x] for r in window), max(xs)), (lo - pad, hi + pad), outside


def _draw_metric(
    ax: Axes,
    groups: dict[str, list[dict]],
    key: str,
    x: str,
    err_key: str | None,
    reference: dict[str, float] | None,
    *,
    annotate: bool,
) -> None:
    """Each series with its error bars, and the reference lines, on `ax` (a lone point's value written when
    `annotate`)."""
    styles_of = series_styles(groups)
    for label, group in groups.items():
        group = sorted(group, key=lambda r: r[x])
        xs, ys = _series(group, x, key)
        errs = None
        if err_key is not None:
            # A record without an error estimate gets no bar rather than a made-up zero-width one.
            errs = np.array(
                [r[err_key] if _is_number(r.get(err_key)) else np.nan for r in group], dtype=float
            )
        ax.errorbar(xs, ys, yerr=errs, markersize=4, capsize=3, linewidth=1.5, label=label, **styles_of[label])
        if annotate and len(group) == 1:  # a lone marker is easy to misread: write its value
            err = f" ± {errs[0]:.3g}" if errs is not None and np.isfinite(errs[0]) else ""
            ax.annotate(f"{ys[0]:.4g}{err}", (xs[0], ys[0]), xytext=(8, 4), textcoords="offset points")

    styles = ["--", ":", "-.", (0, (5, 1, 1, 1))]
    for i, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(
            value,
            color=f"C{(i + len({style['color'] for style in styles_of.values()})) % 10}",  # after the series' colours
            linestyle=styles[i % len(styles)],
            linewidth=1.2,
            label=label,
        )
    if all(float(x_value).is_integer() for group in groups.values() for x_value in (r[x] for r in group)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


SERIES_MARKERS = ("o", "s", "^", "D", "v", "P")
SERIES_LINES = ("-", "--", ":", "-.")


def series_styles(groups: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """Each series' colour, marker and line style: one colour per family (the records' "family" key, else the
    series itself), so that e.g. every seed of a table's row reads as that row; within a family each member has
    its own marker and line style. Colours follow matplotlib's cycle, C0-C9, in order of first appearance."""
    families: dict[str, int] = {}
    members: dict[str, int] = {}
    styles = {}
    for label, group in groups.items():
        family = str(group[0].get("family", label))
        colour = families.setdefault(family, len(families))
        member = members[family] = members.get(family, -1) + 1
        styles[label] = {
            "color": f"C{colour % 10}",
            "marker": SERIES_MARKERS[member % len(SERIES_MARKERS)],
            "linestyle": SERIES_LINES[member % len(SERIES_LINES)],
        }
    return styles


# --------------------------------------------------------------------------------------------------- helpers
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _series(records: list[dict], x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(r[x], r[y]) for r in records if _is_number(r.get(y))]
    if not pairs:
        return np.empty(0), np.empty(0)
    xs, ys = zip(*pairs, strict=True)
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average; the window shrinks at the ends and NaNs (a diverged step) are left out."""
    valid = np.isfinite(values)
    kernel = np.ones(window)
    sums = np.convolve(np.where(valid, values, 0.0), kernel, mode="same")
    counts = np.convolve(valid.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _plot_raw_and_smoothed(ax: Axes, xs: np.ndarray, ys: np.ndarray, *, label: str, color: str) -> None:
    if xs.size == 0:
        return
    # Smooth only once there are enough points for noise to hide the trend (~50 windows over the run).
    window = (xs.size // 50) | 1  # odd, so the average stays centred
    if window >= 3:
        ax.plot(xs, ys, color=color, alpha=0.3, linewidth=0.8)
        smoothed = _smooth(ys, window)
        ax.plot(xs, smoothed, color=color, linewidth=1.6, label=f"{label} (moving mean of {window})")
    else:
        ax.plot(xs, ys, color=color, linewidth=1.2, marker="o" if xs.size == 1 else None, label=label)


def _add_epoch_axis(ax: Axes, records: list[dict]) -> None:
    # epoch = step / steps_per_epoch (the trainer logs fractional epochs), so a linear map labels a top axis.
    last = max((r for r in records if _is_number(r.get("epoch"))), key=lambda r: r["step"], default=None)
    if last is None or last["step"] <= 0 or last["epoch"] <= 0:
        return
    epochs_per_step = last["epoch"] / last["step"]
    top = ax.secondary_xaxis("top", functions=(lambda s: s * epochs_per_step, lambda e: e / epochs_per_step))
    top.set_xlabel("epoch")


def _finish(ax: Axes) -> None:
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small", framealpha=0.8)


def _save_figure(fig: Figure, path: Path) -> None:
    # Fixed figure size and no bbox_inches="tight", so the PNG is always figsize * DPI pixels.
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    fig.clear()  # drop the artists now rather than whenever the garbage collector gets to the figure
