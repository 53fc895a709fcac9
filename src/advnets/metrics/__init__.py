"""Sample-quality metrics chosen by name; each takes samples and reference data and returns a named result.

`parzen` is the Parzen-window log-likelihood of Goodfellow et al. (2014) Table 1 (PAPER.md §2).
"""

from collections.abc import Callable
from typing import Any

from advnets.metrics.parzen import parzen_score
from advnets.registry import Registry

METRICS: Registry[Callable[..., Any]] = Registry("metric")
METRICS.register("parzen")(parzen_score)

__all__ = ["METRICS", "parzen_score"]
