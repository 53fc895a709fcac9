"""The first two moments of a 1-D generator: the score of the 1-D Gaussian lab (docs/paper.md §6), which reports
the mean and variance of G's samples (data N(4, 1.25); plain SGD 4.21 / 0.03 is mode collapse, Adam 4.26 / 1.09).

On `samples` generated samples x_1..x_n (default 10,000):
- `mean`: (1/n) Σ x_i;
- `variance`: the unbiased sample variance (1/(n-1)) Σ (x_i - mean)²; `std` its square root.
When the run's data set is a mixture with known components (`data_options.mixture()`, advnets.data.toy), the
record also holds the data's exact moments for reference: for K equal-weight components N(c_k, σ²),
`data_mean` = (1/K) Σ c_k and `data_variance` = σ² + (1/K) Σ (c_k - data_mean)², and the distances to them,
`mean_error` = mean - data_mean and `variance_ratio` = variance / data_variance (1 is a perfect match; a collapsed G
has a ratio near 0). Computed in float64; samples that are not finite (a diverged G) make every moment NaN.

The protocol name states the sample count: `moments10k`, `moments2500`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from advnets.checks import check_positive
from advnets.errors import UserError

if TYPE_CHECKING:
    from advnets.metrics import MetricInputs

DEFAULT_SAMPLES = 10000


@dataclass
class MomentsOptions:
    """eval.metrics.moments keys (the mean and variance of a 1-D G's samples)."""

    samples: int = DEFAULT_SAMPLES  # generated samples whose mean and variance are reported

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.samples", self.samples)
        if self.samples < 2:
            raise UserError(f"{prefix}.samples={self.samples} is too few: a variance needs at least 2 samples")


def moments_protocol(options: MomentsOptions, references: dict[str, Any] | None = None) -> str:
    """moments10k for 10,000 samples, moments2500 for 2,500."""
    n = options.samples
    return f"moments{n // 1000}k" if n % 1000 == 0 else f"moments{n}"


def sample_moments(samples: torch.Tensor) -> dict[str, float]:
    """samples [N, 1] or [N] (N >= 2) -> {mean, variance (unbiased), std}, in float64."""
    x = samples.detach().to("cpu", torch.float64)
    if x.dim() == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 1 or len(x) < 2:
        raise ValueError(f"sample_moments needs at least 2 one-dimensional samples [N, 1], got {list(samples.shape)}")
    variance = float(x.var(unbiased=True))
    return {"mean": float(x.mean()), "variance": variance, "std": variance**0.5}


def data_moments(options: Any) -> dict[str, float] | None:
    """The exact mean and variance of the run's 1-D data when it is a mixture with known components, else None."""
    mixture = getattr(options, "mixture", None)
    if not callable(mixture):
        return None
    centres, std = mixture()  # [K, 1], σ
    if centres.shape[1] != 1:
        return None
    mean = centres[:, 0].mean()
    return {"data_mean": float(mean), "data_variance": std**2 + float((centres[:, 0] - mean).square().mean())}


def compute_moments(options: MomentsOptions, inputs: MetricInputs) -> dict[str, Any]:
    """The record of the moments metric for G's samples (a 1-D generator only)."""
    samples = inputs.sample(options.samples).flatten(1)  # [n, D]
    if samples.shape[1] != 1:
        raise UserError(
            f"the moments metric scores a 1-D generator (examples of one number, e.g. data.name=gauss-1d); this "
            f"run's examples have {samples.shape[1]} values"
        )
    record: dict[str, Any] = {**sample_moments(samples), "samples": options.samples}
    reference = data_moments(inputs.data_options)
    if reference is not None:
        record |= reference
        record["mean_error"] = record["mean"] - reference["data_mean"]
        record["variance_ratio"] = record["variance"] / reference["data_variance"]
    return record


def describe_moments(record: dict[str, Any]) -> str:
    """A moments record in one line: `moments10k: mean 4.02, variance 0.003 (data: mean 4, variance 1.25)`."""
    text = f"{record['name']}: mean {record['mean']:.4g}, variance {record['variance']:.4g}"
    if "data_mean" in record and "data_variance" in record:
        text += f" (data: mean {record['data_mean']:.4g}, variance {record['data_variance']:.4g})"
    return text
