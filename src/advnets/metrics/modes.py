"""Mode coverage of a Gaussian-mixture toy data set, the protocol of PacGAN (Lin et al. 2018, §5.1; after
VEEGAN, Srivastava et al. 2017): how many of the data's components a generator reaches, and how well.

On `samples` generated samples (PacGAN: 2,500):
- each sample is assigned to its nearest centre (Euclidean; a tie goes to the lower component index);
- it is *high quality* when it lies strictly within `threshold_std` (PacGAN: 3) standard deviations of that
  centre, i.e. distance < threshold_std · std, as PacGAN's released code tests it;
- `modes`: the number of components with at least one high-quality sample (0..K);
- `high_quality`: the share of all samples that are high quality (0..1);
- `reverse_kl`: KL(p ‖ u) = Σ_k p_k log(K p_k) in nats, where p is the histogram of the high-quality samples
  over the K components normalised to sum 1, and u is uniform over the K components. Empty components add 0
  (0 · log 0 = 0). It is 0 when the high-quality samples spread evenly and log K when they all fall in one
  component. With no high-quality sample p cannot be normalised: reverse_kl is NaN (undefined), and
  `high_quality` = 0 and `modes` = 0 say why.
Samples that are not finite (a diverged G) are never high quality. `counts` holds the histogram itself.

The centres and std come from the run's data options (`advnets.data.toy.mixture_of`); a data set that is not a
mixture is refused. The protocol name states the sample count (`modes2500`) and a threshold other than 3 std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from advnets.checks import check_positive
from advnets.data.toy import mixture_of

if TYPE_CHECKING:
    from advnets.metrics import MetricInputs

PAPER_SAMPLES = 2500  # PacGAN scores 2,500 samples
PAPER_THRESHOLD_STD = 3.0  # ... and calls a sample high quality within 3 std of its nearest centre

# The vanilla GAN's modes as published, reference lines in the metric's figure (for the default geometry):
# VEEGAN Table 1 (its own runs) and PacGAN Table 1 (PacGAN's re-run of the same GAN).
PUBLISHED_GAN_MODES = {
    "ring-8": {"VEEGAN's GAN (1)": 1.0, "PacGAN's GAN (6.3)": 6.3},
    "grid-25": {"VEEGAN's GAN (3.3)": 3.3, "PacGAN's GAN (17.3)": 17.3},
}


def mode_coverage(
    samples: torch.Tensor, centres: torch.Tensor, std: float, *, threshold_std: float = PAPER_THRESHOLD_STD
) -> dict[str, Any]:
    """samples [N, D], centres [K, D], the components' std -> {modes, high_quality, reverse_kl, counts}.

    counts[k] is the number of high-quality samples whose nearest centre is k. Computed in float64."""
    if samples.dim() != 2 or centres.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(
            f"mode_coverage needs samples [N, D] and centres [K, D], got {list(samples.shape)} and "
            f"{list(centres.shape)}"
        )
    if len(samples) == 0:
        raise ValueError("mode_coverage needs at least one sample")
    x = samples.detach().to("cpu", torch.float64)
    c = centres.detach().to("cpu", torch.float64)
    dist = torch.cdist(x, c, compute_mode="donot_use_mm_for_euclid_dist")  # [N, K], exact differences
    nearest_dist, nearest = dist.min(dim=1)  # [N], [N]; min returns the first index of a tie
    good = nearest_dist < threshold_std * std  # [N]; NaN compares False, so a NaN sample is never good
    counts = torch.bincount(nearest[good], minlength=len(c))  # [K]
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.nan
    else:
        p = counts[counts > 0].double() / total
        reverse_kl = float((p * (p * len(c)).log()).sum())
    return {
        "modes": int((counts > 0).sum()),
        "high_quality": total / len(x),
        "reverse_kl": reverse_kl,
        "counts": counts.tolist(),
    }


@dataclass
class ModesOptions:
    """eval.metrics.modes keys (PacGAN's mode-coverage protocol)."""

    samples: int = PAPER_SAMPLES  # generated samples scored (PacGAN: 2,500)
    threshold_std: float = PAPER_THRESHOLD_STD  # high quality: within this many stds of the nearest centre

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.samples", self.samples)
        check_positive(f"{prefix}.threshold_std", self.threshold_std)


def modes_protocol(options: ModesOptions, references: dict[str, Any] | None = None) -> str:
    """modes2500 for PacGAN's protocol, modes10k for 10,000 samples, modes2500-hq2std for a 2-std cut."""
    n = options.samples
    name = f"modes{n // 1000}k" if n % 1000 == 0 else f"modes{n}"
    if options.threshold_std != PAPER_THRESHOLD_STD:
        name = f"{name}-hq{options.threshold_std:g}std"
    return name


def compute_modes(options: ModesOptions, inputs: MetricInputs) -> dict[str, Any]:
    """The record of the modes metric for G's samples on the run's mixture (`inputs.data_options`)."""
    centres, std = mixture_of(inputs.data_options)
    samples = inputs.sample(options.samples).flatten(1)  # [n, D]
    result = mode_coverage(samples, centres, std, threshold_std=options.threshold_std)
    return {**result, "components": len(centres), "samples": options.samples}


def describe_modes(record: dict[str, Any]) -> str:
    """A modes record in one line: `modes2500 = 4 of 8 modes, 94.0% high quality, reverse KL 0.79`."""
    kl = record.get("reverse_kl", math.nan)
    kl_text = "reverse KL undefined (no high-quality sample)" if math.isnan(kl) else f"reverse KL {kl:.2f}"
    of = f" of {record['components']}" if "components" in record else ""
    return f"{record['name']} = {record['modes']}{of} modes, {100 * record['high_quality']:.1f}% high quality, {kl_text}"
