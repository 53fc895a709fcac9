"""FID, KID and the Inception Score of G's images in the feature space of a named extractor
(advnets.metrics.features), computed by torchmetrics.

- FID (Heusel et al. 2017, eq. 6): ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^½) between Gaussians fitted to the
  features of real and generated images; lower is better.
- KID (Bińkowski et al. 2018, §3): the unbiased MMD² with the cubic kernel k(x, y) = (x·y/d + 1)³, averaged over
  `subsets` random subsets of `subset_size` real and generated features (torchmetrics' estimator); lower is better.
- IS (Salimans et al. 2016, §4): exp(E_x KL(p(y|x) ‖ p(y))) with p(y) the mean of p(y|x) over the samples of a
  split, averaged over `splits` splits; needs class probabilities (a classifier extractor); higher is better.

The extractor runs here, batch by batch, on the real images (cached, advnets.metrics.features.real_features) and on
G's samples as they are streamed (advnets.metrics.sampling), and torchmetrics gets the features through an identity
"feature network": torchmetrics calls a custom feature module on whatever `update` receives, with no conversion,
so this is exactly its computation on our features. Its random subsets (KID) and permutation (IS) draw from the
global RNG, seeded with eval.seed inside `fork_rng`, so a score is reproducible and training's RNG is left alone.

The protocol name states metric, sample count and extractor (`fid10k-classifier-mnist`,
`kid10k-inception-2015-12-05`), and the real images when they are not all of the test split (`-train`,
`-test5000`), IS's split count when not 10; the record's `protocol` holds every count, the split, the extractor's
weight hash, its image size and resizing. Scores with different protocols are never compared
(advnets.evaluate.check_same_protocol).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from tqdm.auto import tqdm

from advnets.checks import check_positive
from advnets.data.dataset import Kind
from advnets.data.images import SPLITS
from advnets.errors import UserError
from advnets.metrics.features import (
    Extractor,
    check_extractor,
    default_extractor,
    load_extractor,
    real_features,
)
from advnets.metrics.sampling import stream

if TYPE_CHECKING:
    from advnets.metrics import MetricInputs

DEFAULT_REAL_SPLIT = "test"


@dataclass
class FidOptions:
    """eval.metrics.fid keys (Fréchet distance of extractor features, Heusel et al. 2017)."""

    samples: int = 10000  # generated images (fid10k; StyleGAN's fid50k is 50000)
    extractor: str | None = None  # feature network (docs/metrics.md); null: classifier-<data set> if registered, else inception-2015-12-05
    real_split: str = DEFAULT_REAL_SPLIT  # split of the run's data set that gives the real images
    real: int | None = None  # real images: the first N of real_split; null: all of it
    batch_size: int = 500  # images per extractor call (memory only; not part of the protocol)

    def validate(self, prefix: str) -> None:
        _validate_common(self, prefix)


@dataclass
class KidOptions:
    """eval.metrics.kid keys (unbiased MMD² with the cubic kernel, Bińkowski et al. 2018)."""

    samples: int = 10000  # generated images (kid10k)
    extractor: str | None = None  # feature network (docs/metrics.md); null: classifier-<data set> if registered, else inception-2015-12-05
    real_split: str = DEFAULT_REAL_SPLIT  # split of the run's data set that gives the real images
    real: int | None = None  # real images: the first N of real_split; null: all of it
    subsets: int = 100  # random subsets the MMD is averaged over (its mean does not depend on it)
    subset_size: int = 1000  # real and generated features per subset (at most the smaller count)
    batch_size: int = 500  # images per extractor call (memory only; not part of the protocol)

    def validate(self, prefix: str) -> None:
        _validate_common(self, prefix)
        check_positive(f"{prefix}.subsets", self.subsets)
        check_positive(f"{prefix}.subset_size", self.subset_size)
        if self.subset_size < 2:
            raise UserError(f"{prefix}.subset_size={self.subset_size}: the unbiased MMD needs at least 2 per subset")
        if self.subset_size > self.samples:
            raise UserError(
                f"{prefix}.subset_size={self.subset_size} is more than the {self.samples} samples; make it at most "
                f"{prefix}.samples"
            )


@dataclass
class IsOptions:
    """eval.metrics.is keys (Inception Score, Salimans et al. 2016; with a classifier's class probabilities)."""

    samples: int = 10000  # generated images (is10k; Salimans et al.: 50000)
    extractor: str | None = None  # a classifier (docs/metrics.md); null: classifier-<data set>
    splits: int = 10  # the samples are split in this many groups, each scored, mean ± std reported
    batch_size: int = 500  # images per extractor call (memory only; not part of the protocol)

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.samples", self.samples)
        check_positive(f"{prefix}.splits", self.splits)
        check_positive(f"{prefix}.batch_size", self.batch_size)
        if self.splits > self.samples:
            raise UserError(f"{prefix}.splits={self.splits} is more than the {self.samples} samples")


def _validate_common(options: Any, prefix: str) -> None:
    check_positive(f"{prefix}.samples", options.samples)
    check_positive(f"{prefix}.batch_size", options.batch_size)
    if options.real_split not in SPLITS:
        raise UserError(f"{prefix}.real_split={options.real_split!r} is not a split; choose one of: {', '.join(SPLITS)}")
    if options.real is not None:
        check_positive(f"{prefix}.real", options.real)
    if options.samples < 2:
        raise UserError(f"{prefix}.samples={options.samples}: a covariance needs at least 2 samples")


# ------------------------------------------------------------------------------------------------ protocol
def count_name(n: int) -> str:
    """10000 -> 10k, 2500 -> 2500."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def real_name(options: Any) -> str:
    """`` for all of the test split, else -train, -test5000, -train50k."""
    if options.real is not None:
        return f"-{options.real_split}{count_name(options.real)}"
    return "" if options.real_split == DEFAULT_REAL_SPLIT else f"-{options.real_split}"


def _extractor_of(options: Any) -> str:
    if options.extractor is None:
        raise ValueError("the extractor is chosen by the data set: resolve the options with Metric.for_data first")
    return str(options.extractor)


def fid_protocol(options: FidOptions, references: Any = None) -> str:
    return f"fid{count_name(options.samples)}-{_extractor_of(options)}{real_name(options)}"


def kid_protocol(options: KidOptions, references: Any = None) -> str:
    return f"kid{count_name(options.samples)}-{_extractor_of(options)}{real_name(options)}"


def is_protocol(options: IsOptions, references: Any = None) -> str:
    splits = "" if options.splits == 10 else f"-splits{options.splits}"
    return f"is{count_name(options.samples)}-{_extractor_of(options)}{splits}"


def with_extractor(options: Any, data_options: Any) -> Any:
    """The options with the data set's default extractor filled in (Metric.for_data)."""
    if options.extractor is not None:
        return options
    return replace(options, extractor=default_extractor(data_options.name))


def _check(metric: str, needs_classes: bool = False) -> Any:
    def check(options: Any, kind: Kind, data_options: Any) -> None:
        options = with_extractor(options, data_options)
        check_extractor(options.extractor, kind, data_options.name, metric=metric, needs_classes=needs_classes)

    return check


check_fid, check_kid, check_is = _check("fid"), _check("kid"), _check("is", needs_classes=True)


# ------------------------------------------------------------------------------------------------ computing
class GivenFeatures(nn.Module):
    """torchmetrics' "feature network" for features computed beforehand: [N, d] -> the same [N, d]."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # read by torchmetrics instead of calling us on a dummy image

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@contextmanager
def _buffer_warning_silenced() -> Iterator[None]:
    # KID and IS keep every feature, and torchmetrics warns about it when built; [n, d] floats are what we expect.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer")
        yield


def generated_outputs(
    extractor: Extractor, inputs: MetricInputs, n: int, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]:
    """(features [b, d], logits [b, K] or None, the labels G was given [b] or None) for n samples, batch by batch."""
    pixel_range = getattr(inputs.kind, "pixel_range", "unit")
    with tqdm(total=n, desc=f"{extractor.name}: generated images", unit="image", disable=not inputs.progress) as bar:
        for samples, labels in stream(inputs, n):
            for start in range(0, len(samples), batch_size):
                features, logits = extractor.run(samples[start : start + batch_size], pixel_range, inputs.device)
                bar.update(len(features))
                yield features, logits, (labels[start : start + batch_size] if labels is not None else None)


def _real(options: Any, extractor: Extractor, inputs: MetricInputs) -> torch.Tensor:
    return real_features(
        extractor,
        inputs.data_options,
        options.real_split,
        options.real,
        batch_size=options.batch_size,
        device=inputs.device,
        progress=inputs.progress,
    )


def _protocol_record(options: Any, extractor: Extractor, n_real: int | None) -> dict[str, Any]:
    record: dict[str, Any] = {"samples": options.samples, **extractor.describe()}
    record.pop("extractor_test_accuracy", None)  # a property of the extractor, recorded beside the protocol
    if n_real is not None:
        record |= {"real_split": options.real_split, "real": n_real}
    return record


def _extractor_record(extractor: Extractor) -> dict[str, Any]:
    if extractor.test_accuracy is None:
        return {}
    return {"extractor_test_accuracy": extractor.test_accuracy, "extractor_test_count": extractor.test_count}


def frechet_distance(real: torch.Tensor, fake: Iterable[torch.Tensor]) -> tuple[float, float]:
    """(FID, spread) between features real [n, d] and the batches of generated features [b, d] (torchmetrics,
    float64). spread = Tr(Σ_g) / Tr(Σ_r): the generated features' total variance as a share of the real ones'
    (1: as varied as the data; a collapsed G tends to 0), read from the same sums torchmetrics keeps."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=GivenFeatures(real.shape[1]))
    fid.update(real, real=True)
    for batch in fake:
        fid.update(batch, real=False)
    return float(fid.compute()), _trace_cov(fid, "fake") / _trace_cov(fid, "real")


def _trace_cov(fid: Any, which: str) -> float:
    """Tr of the sample covariance of FrechetInceptionDistance's `real` or `fake` features, from its running sums."""
    n = getattr(fid, f"{which}_features_num_samples").double()
    total = getattr(fid, f"{which}_features_sum").double()
    squares = getattr(fid, f"{which}_features_cov_sum").double().diagonal().sum()
    return float((squares - (total @ total) / n) / (n - 1))


def kernel_distance(
    real: torch.Tensor, fake: Iterable[torch.Tensor], *, subsets: int, subset_size: int, seed: int
) -> tuple[float, float]:
    """KID (mean, std over subsets) between features real [n, d] and batches of generated features (torchmetrics);
    the subsets are drawn from the global RNG seeded with `seed` inside fork_rng."""
    from torchmetrics.image.kid import KernelInceptionDistance

    with _buffer_warning_silenced():
        kid = KernelInceptionDistance(feature=GivenFeatures(real.shape[1]), subsets=subsets, subset_size=subset_size)
    kid.update(real, real=True)
    n_fake = 0
    for batch in fake:
        kid.update(batch, real=False)
        n_fake += len(batch)
    if subset_size > min(len(real), n_fake):
        raise UserError(
            f"kid.subset_size={subset_size} is more than the {min(len(real), n_fake)} real or generated images; make "
            f"it at most {min(len(real), n_fake)}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


def inception_score(logits: Iterable[torch.Tensor], *, splits: int, seed: int) -> tuple[float, float]:
    """IS (mean, std over splits) of batches of class logits [b, K] (torchmetrics); std is NaN for one split."""
    from torchmetrics.image.inception import InceptionScore

    batches = list(logits)
    with _buffer_warning_silenced():
        score = InceptionScore(feature=GivenFeatures(batches[0].shape[1]), splits=splits)
    for batch in batches:
        score.update(batch)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)
        warnings.simplefilter("ignore")  # the std of a single split is NaN, and torchmetrics warns about it
        mean, std = score.compute()
    return float(mean), (float(std) if splits > 1 else math.nan)


def compute_fid(options: FidOptions, inputs: MetricInputs) -> dict[str, Any]:
    extractor = load_extractor(_extractor_of(options), inputs.data_options, progress=inputs.progress)
    real = _real(options, extractor, inputs)
    fake = (features for features, _, _ in generated_outputs(extractor, inputs, options.samples, options.batch_size))
    fid, spread = frechet_distance(real, fake)
    return {
        "fid": fid,
        "spread": spread,
        "protocol": _protocol_record(options, extractor, len(real)),
        **_extractor_record(extractor),
    }


def compute_kid(options: KidOptions, inputs: MetricInputs) -> dict[str, Any]:
    extractor = load_extractor(_extractor_of(options), inputs.data_options, progress=inputs.progress)
    real = _real(options, extractor, inputs)
    fake = (features for features, _, _ in generated_outputs(extractor, inputs, options.samples, options.batch_size))
    mean, std = kernel_distance(real, fake, subsets=options.subsets, subset_size=options.subset_size, seed=inputs.seed)
    return {
        "kid": mean,
        "kid_std": std,
        "subsets": options.subsets,
        "subset_size": options.subset_size,
        "protocol": _protocol_record(options, extractor, len(real)),
        **_extractor_record(extractor),
    }


def compute_is(options: IsOptions, inputs: MetricInputs) -> dict[str, Any]:
    extractor = load_extractor(_extractor_of(options), inputs.data_options, progress=inputs.progress)
    if extractor.num_classes is None:
        raise UserError(f"the is metric needs class probabilities, which {extractor.name} does not give")
    batches = generated_outputs(extractor, inputs, options.samples, options.batch_size)
    mean, std = inception_score((logits for _, logits, _ in batches if logits is not None), splits=options.splits, seed=inputs.seed)
    return {
        "is": mean,
        "is_std": std,
        "splits": options.splits,
        "protocol": _protocol_record(options, extractor, None),
        **_extractor_record(extractor),
    }


# ------------------------------------------------------------------------------------------------ the floor
def real_floor(metric: str, options: Any, data_options: Any, split: str, *, seed: int = 0) -> dict[str, Any]:
    """FID or KID of real images standing in for G's: the first `options.samples` images of `split` against the
    metric's real images, in the same features and counts. What a G that drew perfect new examples would score, so
    a table can show how far a score is from the data's own spread (a bias FID has at any finite count)."""
    if metric not in ("fid", "kid"):
        raise UserError(f"a real-data floor is defined for fid and kid, not {metric!r}")
    if split == options.real_split:
        raise UserError(f"the floor compares two different splits; {split!r} is the metric's real split already")
    extractor = load_extractor(_extractor_of(options), data_options)
    real = real_features(extractor, data_options, options.real_split, options.real, batch_size=options.batch_size)
    stand_in = real_features(extractor, data_options, split, options.samples, batch_size=options.batch_size)
    record: dict[str, Any] = {"split": split, "protocol": _protocol_record(options, extractor, len(real))}
    if metric == "fid":
        record["fid"], record["spread"] = frechet_distance(real, [stand_in])
    else:
        record["kid"], record["kid_std"] = kernel_distance(
            real, [stand_in], subsets=options.subsets, subset_size=options.subset_size, seed=seed
        )
    return record
