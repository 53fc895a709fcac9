"""G's samples as a stream of batches, for metrics that score tens of thousands of samples (fid50k) without holding
them at once. The stream itself is `advnets.models.sampling.sample_stream` (re-exported here), whose batches
concatenate to exactly `generate_labelled`'s samples; `stream(inputs, n)` reads it from a metric's inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from advnets.models.sampling import sample_stream

__all__ = ["Batch", "sample_stream", "stream"]

if TYPE_CHECKING:
    from advnets.metrics import MetricInputs

Batch = tuple[torch.Tensor, torch.Tensor | None]


def stream(inputs: MetricInputs, n: int) -> Iterator[Batch]:
    """n samples in batches: the inputs' stream when it has one, else one batch from sample_labelled / sample."""
    if inputs.stream is not None:
        yield from inputs.stream(n)
    elif inputs.sample_labelled is not None:
        yield inputs.sample_labelled(n)
    else:
        yield inputs.sample(n), None
