"""Figures and reports of runs: sample grids, loss and metric curves, and the JSON-lines reader behind
them."""

from advnets.reporting.figures import (
    image_grid,
    plot_losses,
    plot_metric_curve,
    read_metrics,
    save_image_grid,
)

__all__ = ["image_grid", "plot_losses", "plot_metric_curve", "read_metrics", "save_image_grid"]
