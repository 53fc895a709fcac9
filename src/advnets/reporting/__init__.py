"""Figures and reports of runs: sample grids, loss and metric curves, the paper's sample figures (nearest training
examples, latent interpolations), and the JSON-lines reader behind them."""

from advnets.reporting.figures import (
    image_grid,
    late_view_limits,
    plot_losses,
    plot_metric_curve,
    read_metrics,
    save_image_grid,
)
from advnets.reporting.samples import interpolation_grid, nearest_examples, nearest_grid

__all__ = [
    "image_grid",
    "interpolation_grid",
    "late_view_limits",
    "nearest_examples",
    "nearest_grid",
    "plot_losses",
    "plot_metric_curve",
    "read_metrics",
    "save_image_grid",
]
