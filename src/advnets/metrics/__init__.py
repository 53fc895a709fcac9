"""Sample-quality metrics by name: `eval.metrics` schedules them during training, `advnets eval --metric NAME`
runs one on a checkpoint, both through this registry.

An entry is a `Metric`: its options dataclass (the keys under eval.metrics.NAME), the reference splits of the
run's data set it needs, `protocol(options, references)` -> the name a score is stored under, which states the
protocol (sample count, grids, data counts, feature extractor; parzen10k is the paper's), `compute(options,
inputs)` -> the record, whether higher is better, and how to draw it. Scores with different protocol names are
never compared. Optional: `for_data(options, data_options)` fills options that depend on the data set (FID's
extractor is classifier-mnist on MNIST), and `check(options, kind, data_options)` refuses data the metric cannot
score, called when a run is built, before its folder exists and before the first update.

Metrics: parzen (docs/paper.md §2), modes (PacGAN), moments (1-D), fid, kid, is (feature_scores.py, with an
extractor from features.py), classes and stacked-modes (classes.py); docs/metrics.md describes each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from advnets.checks import check_positive
from advnets.data.dataset import DataSet, ImageKind, Kind, VectorKind
from advnets.data.toy import mixture_of
from advnets.errors import UserError
from advnets.metrics.classes import (
    ClassesOptions,
    StackedModesOptions,
    check_classes,
    check_stacked,
    classes_options,
    classes_protocol,
    compute_classes,
    compute_stacked,
    stacked_options,
    stacked_protocol,
)
from advnets.metrics.feature_scores import (
    FidOptions,
    IsOptions,
    KidOptions,
    check_fid,
    check_is,
    check_kid,
    compute_fid,
    compute_is,
    compute_kid,
    fid_protocol,
    is_protocol,
    kid_protocol,
    with_extractor,
)
from advnets.metrics.features import FEATURES, Extractor, load_extractor
from advnets.metrics.modes import (
    PUBLISHED_GAN_MODES,
    ModesOptions,
    compute_modes,
    mode_coverage,
    modes_protocol,
)
from advnets.metrics.moments import MomentsOptions, compute_moments, moments_protocol, sample_moments
from advnets.metrics.parzen import PAPER_SIGMAS, PAPER_TEST, PAPER_VALID, parzen_score, protocol_name
from advnets.registry import Registry


@dataclass(frozen=True)
class MetricInputs:
    """What a metric may use: samples from G, the reference splits it asked for, the data's definition (its
    resolved options), where to compute."""

    sample: Callable[[int], torch.Tensor]  # n -> n samples [n, *shape] on the CPU (G in eval mode, seeded)
    references: dict[str, DataSet]  # split -> the run's data set in that split
    kind: Kind  # what an example is (pixel range for images)
    device: torch.device
    seed: int
    progress: bool = False
    data_options: Any = None  # the run's resolved cfg.data, for metrics that need the data's definition
    # n -> (n samples [n, *shape], the labels [n] G was given, or None for an unconditional G), seeded like `sample`;
    # the references' labels are in their DataSets. For class-aware scores of conditional runs.
    sample_labelled: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]] | None = None
    # n -> the same n samples (and labels) as sample_labelled(n), in batches, so that fid50k never holds 50,000
    # images at once (advnets.metrics.sampling.stream falls back to sample_labelled / sample without it).
    stream: Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor | None]]] | None = None


@dataclass(frozen=True)
class Metric:
    compute: Callable[[Any, MetricInputs], dict[str, Any]]  # -> record with "name" and `value_key`
    protocol: Callable[[Any, dict[str, DataSet]], str]
    needs: tuple[str, ...] = ()  # reference splits, e.g. ("valid", "test")
    higher_is_better: bool = True
    value_key: str = "value"
    err_key: str | None = None
    # A record's score on held-out *validation* data, which picks the best checkpoint (never the test score).
    validation_score: Callable[[dict[str, Any]], float] | None = None
    shown_keys: tuple[str, ...] = ()  # further record keys `advnets eval` prints beside the value
    ylabel: str = "{name}"  # formatted with the protocol name
    references: dict[str, dict[str, float]] = field(default_factory=dict)  # data set -> lines in the figure
    # (options, data options) -> options with what depends on the data set filled in (an extractor by data set)
    for_data: Callable[[Any, Any], Any] | None = None
    # (options, kind, data options) -> None, or a UserError when the metric cannot score this data: run when a run
    # is built (before its folder and its first update) and by `advnets eval` before G is loaded
    check: Callable[[Any, Kind, Any], None] | None = None

    def resolve(self, options: Any, data_options: Any) -> Any:
        """`options` with the data-dependent choices made (for_data), as protocol and compute take them."""
        return self.for_data(options, data_options) if self.for_data is not None else options


METRICS: Registry[Metric] = Registry("metric")


# ------------------------------------------------------------------------------------------------ parzen
@dataclass
class ParzenOptions:
    """eval.metrics.parzen keys (docs/paper.md §2)."""

    samples: int = 10000  # generated samples as kernel centres (the paper: 10,000)
    valid: int = 1000  # validation images that choose sigma (the paper: the first 1,000)
    test: int = 10000  # test images scored (the paper: all 10,000)
    sigmas: list[float] | None = None  # sigma grid; null = the paper's logspace(-1, 0, 10)

    def validate(self, prefix: str) -> None:
        for key in ("samples", "valid", "test"):
            check_positive(f"{prefix}.{key}", getattr(self, key))
        if self.sigmas is not None and (not self.sigmas or min(self.sigmas) <= 0):
            raise UserError(f"{prefix}.sigmas={self.sigmas} must be a non-empty list of positive numbers")

    def grid(self) -> np.ndarray:
        return np.asarray(self.sigmas) if self.sigmas is not None else PAPER_SIGMAS


def _parzen_counts(options: ParzenOptions, references: dict[str, DataSet]) -> tuple[int, int]:
    return min(options.valid, len(references["valid"])), min(options.test, len(references["test"]))


def _parzen_protocol(options: ParzenOptions, references: dict[str, DataSet]) -> str:
    return protocol_name(options.samples, options.grid(), *_parzen_counts(options, references))


def _parzen_check(options: ParzenOptions, kind: Kind, data_options: Any) -> None:
    if not isinstance(kind, ImageKind):
        raise UserError("the parzen metric scores images (docs/paper.md §2); this run's data are not images")


def _parzen_compute(options: ParzenOptions, inputs: MetricInputs) -> dict[str, Any]:
    _parzen_check(options, inputs.kind, inputs.data_options)
    assert isinstance(inputs.kind, ImageKind)
    n_valid, n_test = _parzen_counts(options, inputs.references)
    result = parzen_score(
        inputs.sample(options.samples),
        inputs.references["valid"].take(slice(0, n_valid)),
        inputs.references["test"].take(slice(0, n_test)),
        pixel_range=inputs.kind.pixel_range,
        sigmas=options.grid(),
        seed=inputs.seed,
        device=inputs.device,
        progress=inputs.progress,
    )
    return result.as_dict()


METRICS.register("parzen", options=ParzenOptions)(
    Metric(
        compute=_parzen_compute,
        protocol=_parzen_protocol,
        needs=("valid", "test"),
        value_key="mean",
        err_key="se",
        validation_score=lambda record: max(record["valid_means"]),
        ylabel="{name} log-likelihood (nats)",
        # The paper's Table 1 reports real-valued MNIST only; other data sets get no reference line.
        references={"mnist": {"paper GAN (225)": 225.0, "Deep GSN (214)": 214.0}},
        check=_parzen_check,
    )
)

# ------------------------------------------------------------------------------------------------- modes
def _modes_check(data_options: Any) -> None:
    mixture_of(data_options)  # a UserError for a data set that is not a mixture with known centres


METRICS.register("modes", options=ModesOptions)(
    Metric(
        compute=compute_modes,
        protocol=modes_protocol,
        value_key="modes",
        ylabel="{name}: mixture components covered",
        references=PUBLISHED_GAN_MODES,
        check=lambda options, kind, data_options: _modes_check(data_options),
    )
)

# ----------------------------------------------------------------------------------------------- moments
def _moments_check(options: MomentsOptions, kind: Kind, data_options: Any) -> None:
    if not isinstance(kind, VectorKind):
        raise UserError(
            "the moments metric scores a 1-D generator (examples of one number, e.g. data.name=gauss-1d); this run's "
            "data are images"
        )


METRICS.register("moments", options=MomentsOptions)(
    Metric(
        compute=compute_moments,
        protocol=moments_protocol,
        value_key="mean",
        shown_keys=("variance",),
        ylabel="{name}: mean of G's samples",
        references={"gauss-1d": {"data mean (4)": 4.0}},
        check=_moments_check,
    )
)

# ------------------------------------------------------------------------------------------- fid, kid, is
METRICS.register("fid", options=FidOptions)(
    Metric(
        compute=compute_fid,
        protocol=fid_protocol,
        higher_is_better=False,
        value_key="fid",
        ylabel="{name} (lower is better)",
        for_data=with_extractor,
        check=check_fid,
    )
)
METRICS.register("kid", options=KidOptions)(
    Metric(
        compute=compute_kid,
        protocol=kid_protocol,
        higher_is_better=False,
        value_key="kid",
        err_key="kid_std",
        ylabel="{name} (lower is better)",
        for_data=with_extractor,
        check=check_kid,
    )
)
METRICS.register("is", options=IsOptions)(
    Metric(
        compute=compute_is,
        protocol=is_protocol,
        value_key="is",
        err_key="is_std",
        ylabel="{name} (higher is better)",
        for_data=with_extractor,
        check=check_is,
    )
)

# ------------------------------------------------------------------------------------ classes, stacked modes
METRICS.register("classes", options=ClassesOptions)(
    Metric(
        compute=compute_classes,
        protocol=classes_protocol,
        needs=("train",),
        higher_is_better=False,
        value_key="kl",
        shown_keys=("classes_covered", "conditional_accuracy"),
        ylabel="{name}: KL of G's classes from the data's (nats)",
        for_data=classes_options,
        check=check_classes,
    )
)
METRICS.register("stacked-modes", options=StackedModesOptions)(
    Metric(
        compute=compute_stacked,
        protocol=stacked_protocol,
        value_key="modes",
        shown_keys=("kl",),
        ylabel="{name}: modes covered of 1,000",
        for_data=stacked_options,
        check=check_stacked,
    )
)

__all__ = [
    "FEATURES",
    "METRICS",
    "PAPER_TEST",
    "PAPER_VALID",
    "ClassesOptions",
    "Extractor",
    "FidOptions",
    "IsOptions",
    "KidOptions",
    "Metric",
    "MetricInputs",
    "StackedModesOptions",
    "load_extractor",
    "ModesOptions",
    "MomentsOptions",
    "ParzenOptions",
    "mode_coverage",
    "parzen_score",
    "sample_moments",
]
