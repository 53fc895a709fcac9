"""The paper's Figure 1 from a real run: a strip of panels at several points of a 1-D run's training, each showing
the data density p_data (black, dotted), the generator's density p_g (a green histogram of its samples) and the
discriminator's output D(x) over x (blue, dashed, on the right axis), as Goodfellow et al. (2014), Fig. 1 draws
them (`advnets figure density-1d RUN_DIR`). This module only draws; runs/figures.py reads the run's checkpoints
into panels.

D(x) for a set discriminator (model.discriminator.arch=set), which judges sets and not points, is D applied to the
set of set_size copies of x: how real a G collapsed onto x would look to it. Its curve answers a different question
from a per-sample D(x) (it is near 0 wherever a point mass is easy to reject, i.e. everywhere once D has learnt the
data's spread) and is labelled so.

p_data is exact for data sets that are mixtures of Gaussians with known components (gauss-1d: N(4, 1.25)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from advnets.reporting.figures import DPI, _save_figure

FIGURE_SAMPLES = 10000  # samples of G per panel
GRID_POINTS = 400  # x values at which p_data and D(x) are drawn
PANEL_SIZE_IN = (3.2, 3.0)  # one panel; the strip is as wide as its panels
MAX_DENSITY_OVER_DATA = 4.0  # the density axis stops at this multiple of p_data's peak (a collapsed G is clipped)


@dataclass(frozen=True)
class DensityPanel:
    """One point of training: G's samples and D's output on the figure's x grid."""

    step: int
    samples: np.ndarray  # [n] G's samples
    d_of_x: np.ndarray | None  # [GRID_POINTS] D's probability "real" at each grid x, or None to leave D out


def mixture_density(xs: np.ndarray, centres: np.ndarray, std: float) -> np.ndarray:
    """The density at xs [M] of the equal-weight mixture of N(c_k, std²) over centres [K] -> [M]."""
    z = (xs[:, None] - centres[None, :]) / std  # [M, K]
    return np.exp(-0.5 * z**2).mean(axis=1) / (std * math.sqrt(2 * math.pi))


def plot_density_strip(
    panels: list[DensityPanel],
    xs: np.ndarray,
    p_data: np.ndarray,
    path: Path,
    *,
    d_label: str = "D(x)",
    title: str | None = None,
) -> None:
    """Panels side by side: p_data(xs) (dotted), a histogram of each panel's samples (p_g) and its D(xs) (dashed,
    right axis, 0..1), all over the same x range; a panel whose p_g peak is cut off by the density axis says so."""
    if not panels:
        raise ValueError("plot_density_strip needs at least one panel")
    fig = Figure(figsize=(PANEL_SIZE_IN[0] * len(panels), PANEL_SIZE_IN[1] + 0.6), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    top = MAX_DENSITY_OVER_DATA * float(p_data.max())
    bins = np.linspace(xs[0], xs[-1], 81)
    for i, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        finite = panel.samples[np.isfinite(panel.samples)]
        heights, _, _ = ax.hist(
            finite, bins=bins, density=True, color="tab:green", alpha=0.45, label="p_g (G's samples)"
        )
        ax.plot(xs, p_data, color="black", linestyle=":", linewidth=2.0, label="p_data")
        ax.set_ylim(0.0, top)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_xlabel("x")
        note = ""
        if len(heights) and float(np.max(heights)) > top:
            note = f"\n(p_g peak {float(np.max(heights)):.3g}, clipped)"
        mean = float(finite.mean()) if len(finite) else math.nan
        variance = float(finite.var(ddof=1)) if len(finite) > 1 else math.nan
        ax.set_title(f"step {panel.step}: mean {mean:.2f}, var {variance:.3g}{note}", fontsize=9)
        if i == 0:
            ax.set_ylabel("density")
        if panel.d_of_x is not None:
            d_ax = ax.twinx()
            d_ax.plot(xs, panel.d_of_x, color="tab:blue", linestyle="--", linewidth=1.5, label=d_label)
            d_ax.set_ylim(0.0, 1.0)
            if i == len(panels) - 1:
                d_ax.set_ylabel(d_label)
            else:
                d_ax.set_yticklabels([])
            if i == 0:
                lines = ax.get_legend_handles_labels()
                d_lines = d_ax.get_legend_handles_labels()
                ax.legend(lines[0] + d_lines[0], lines[1] + d_lines[1], fontsize=7, loc="upper left")
        elif i == 0:
            ax.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    _save_figure(fig, path)


def pick_evenly(items: list[Path], count: int) -> list[Path]:
    """`count` items evenly spaced from the first to the last (all of them when there are no more than count)."""
    if count >= len(items):
        return list(items)
    if count == 1:
        return [items[-1]]
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]
