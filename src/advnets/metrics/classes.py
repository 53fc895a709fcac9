"""Class metrics with a data set's classifier (advnets.metrics.features): which classes G makes, and how often.

`classes` (G's samples classified by classifier-<data set>, K classes):
- `shares[k]`: the share of samples classified as k; `classes_covered`: the classes with at least one sample;
- `kl`: KL(p_G ‖ p_data) = Σ_k p_G(k) log(p_G(k) / p_data(k)) in nats, where p_data is the class histogram of the
  run's training split (its labels); 0 when G's classes are in the data's proportions, +inf when G makes a class
  the data do not have (as the classifier sees it). Lower is better;
- for a conditional run (`MetricInputs.sample_labelled` gives the labels G was asked for): `conditional_accuracy`,
  the share of samples classified as the class asked for.

`stacked-modes` (Stacked MNIST, VEEGAN §5.2 / PacGAN §5.2: three MNIST digits as the RGB channels, label
100a + 10b + c): each channel of G's samples is classified by the MNIST classifier, `modes` is the number of the
1,000 labels with at least one sample and `kl` is KL(p ‖ uniform) = Σ_m p_m log(1000 p_m) in nats, with p the
histogram of the samples' labels; 26,000 samples by default as in those papers. It scores data sets named
`stacked-<name>` with classifier-<name> (stacked-mnist with classifier-mnist).

Protocol names state the sample count and the classifier: `classes10k-classifier-mnist`,
`stacked-modes26k-classifier-mnist`; the record's `protocol` holds the classifier's weight hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from advnets.checks import check_positive
from advnets.data.dataset import DataSet, Kind
from advnets.errors import UserError
from advnets.metrics.feature_scores import count_name, generated_outputs
from advnets.metrics.features import check_extractor, default_extractor, load_extractor
from advnets.metrics.sampling import stream

if TYPE_CHECKING:
    from advnets.metrics import MetricInputs

STACKED_PREFIX = "stacked-"
STACKED_SAMPLES = 26000  # VEEGAN and PacGAN score 26,000 samples
STACKED_CHANNELS = 3


@dataclass
class ClassesOptions:
    """eval.metrics.classes keys (G's class histogram by the data set's classifier)."""

    samples: int = 10000  # generated samples classified (classes10k)
    extractor: str | None = None  # the classifier (docs/metrics.md); null: classifier-<data set>
    batch_size: int = 500  # images per classifier call (memory only; not part of the protocol)

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.samples", self.samples)
        check_positive(f"{prefix}.batch_size", self.batch_size)


@dataclass
class StackedModesOptions:
    """eval.metrics.stacked-modes keys (Stacked MNIST mode coverage, VEEGAN / PacGAN)."""

    samples: int = STACKED_SAMPLES  # generated samples (VEEGAN and PacGAN: 26,000)
    extractor: str | None = None  # the per-channel classifier; null: classifier-<name> for data stacked-<name>
    batch_size: int = 500  # images per classifier call (memory only; not part of the protocol)

    def validate(self, prefix: str) -> None:
        check_positive(f"{prefix}.samples", self.samples)
        check_positive(f"{prefix}.batch_size", self.batch_size)


# ------------------------------------------------------------------------------------------------ pure parts
def class_histogram_kl(shares: torch.Tensor, reference: torch.Tensor) -> float:
    """KL(p ‖ q) in nats for histograms p, q [K] summing to 1; empty classes of p add 0, a class of p that q lacks
    makes it +inf."""
    p, q = shares.double(), reference.double()
    present = p > 0
    if bool((q[present] == 0).any()):
        return math.inf
    return float((p[present] * (p[present] / q[present]).log()).sum())


def stacked_labels(channel_classes: torch.Tensor) -> torch.Tensor:
    """[N, 3] digit per channel (a, b, c) -> [N] labels 100a + 10b + c."""
    return channel_classes[:, 0] * 100 + channel_classes[:, 1] * 10 + channel_classes[:, 2]


def stacked_coverage(labels: torch.Tensor, modes: int = 1000) -> dict[str, Any]:
    """labels [N] in 0..modes-1 -> {modes (covered), kl (to uniform, nats)}."""
    counts = torch.bincount(labels, minlength=modes).double()  # [modes]
    p = counts[counts > 0] / counts.sum()
    return {"modes": int((counts > 0).sum()), "kl": float((p * (p * modes).log()).sum())}


# ------------------------------------------------------------------------------------------------ classes
def classes_options(options: ClassesOptions, data_options: Any) -> ClassesOptions:
    if options.extractor is not None:
        return options
    return replace(options, extractor=default_extractor(data_options.name))


def classes_protocol(options: ClassesOptions, references: Any = None) -> str:
    if options.extractor is None:
        raise ValueError("the classifier is chosen by the data set: resolve the options with Metric.for_data first")
    return f"classes{count_name(options.samples)}-{options.extractor}"


def check_classes(options: ClassesOptions, kind: Kind, data_options: Any) -> None:
    options = classes_options(options, data_options)
    assert options.extractor is not None
    check_extractor(options.extractor, kind, data_options.name, metric="classes", needs_classes=True)


def _data_shares(train: DataSet, num_classes: int) -> torch.Tensor:
    if train.labels is None:
        raise UserError(f"the classes metric compares with the data's class histogram, but {train.name} has no labels")
    return torch.bincount(train.labels, minlength=num_classes).double() / len(train)


def compute_classes(options: ClassesOptions, inputs: MetricInputs) -> dict[str, Any]:
    assert options.extractor is not None
    extractor = load_extractor(options.extractor, inputs.data_options, progress=inputs.progress)
    assert extractor.num_classes is not None
    counts = torch.zeros(extractor.num_classes, dtype=torch.float64)
    asked = matched = 0
    for _, logits, labels in generated_outputs(extractor, inputs, options.samples, options.batch_size):
        assert logits is not None
        predicted = logits.argmax(1)  # [b]
        counts += torch.bincount(predicted, minlength=extractor.num_classes).double()
        if labels is not None:
            asked += len(labels)
            matched += int((predicted == labels).sum())
    shares = counts / counts.sum()
    data_shares = _data_shares(inputs.references["train"], extractor.num_classes)
    record: dict[str, Any] = {
        "kl": class_histogram_kl(shares, data_shares),
        "classes_covered": int((counts > 0).sum()),
        "num_classes": extractor.num_classes,
        "shares": shares.tolist(),
        "data_shares": data_shares.tolist(),
        "protocol": {"samples": options.samples, "data_split": "train", **_protocol_of(extractor)},
    }
    if asked:
        record["conditional_accuracy"] = matched / asked
    if extractor.test_accuracy is not None:
        record["extractor_test_accuracy"] = extractor.test_accuracy
    return record


def _protocol_of(extractor: Any) -> dict[str, Any]:
    described = extractor.describe()
    described.pop("extractor_test_accuracy", None)
    return described


# ------------------------------------------------------------------------------------------------ stacked modes
def channel_data(data_name: str) -> str:
    """stacked-mnist -> mnist: the data set each channel's digit comes from."""
    if not data_name.startswith(STACKED_PREFIX):
        raise UserError(
            f"the stacked-modes metric scores Stacked MNIST (data.name=stacked-mnist: three digits as the RGB "
            f"channels); this run's data are {data_name}"
        )
    return data_name[len(STACKED_PREFIX) :]


def stacked_options(options: StackedModesOptions, data_options: Any) -> StackedModesOptions:
    if options.extractor is not None:
        return options
    return replace(options, extractor=f"classifier-{channel_data(data_options.name)}")


def stacked_protocol(options: StackedModesOptions, references: Any = None) -> str:
    if options.extractor is None:
        raise ValueError("the classifier is chosen by the data set: resolve the options with Metric.for_data first")
    return f"stacked-modes{count_name(options.samples)}-{options.extractor}"


def check_stacked(options: StackedModesOptions, kind: Kind, data_options: Any) -> None:
    per_channel = channel_data(data_options.name)
    options = stacked_options(options, data_options)
    assert options.extractor is not None
    check_extractor(
        options.extractor, kind, data_options.name, metric="stacked-modes", needs_classes=True, per_channel_of=per_channel
    )


def compute_stacked(options: StackedModesOptions, inputs: MetricInputs) -> dict[str, Any]:
    assert options.extractor is not None
    extractor = load_extractor(options.extractor, inputs.data_options, progress=inputs.progress)
    pixel_range = getattr(inputs.kind, "pixel_range", "unit")
    labels = []
    for samples, _ in stream(inputs, options.samples):
        if samples.dim() != 4 or samples.shape[1] != STACKED_CHANNELS:
            raise UserError(f"stacked-modes needs images with 3 channels [N, 3, H, W], got {list(samples.shape)}")
        for start in range(0, len(samples), options.batch_size):
            chunk = samples[start : start + options.batch_size]  # [b, 3, H, W]
            per_channel = chunk.reshape(-1, 1, *chunk.shape[2:])  # [3b, 1, H, W]: each channel a grey image
            _, logits = extractor.run(per_channel, pixel_range, inputs.device)
            assert logits is not None
            labels.append(stacked_labels(logits.argmax(1).reshape(-1, STACKED_CHANNELS)))
    coverage = stacked_coverage(torch.cat(labels))
    return {
        **coverage,
        "of": 1000,
        "protocol": {"samples": options.samples, **_protocol_of(extractor)},
        **({"extractor_test_accuracy": extractor.test_accuracy} if extractor.test_accuracy is not None else {}),
    }
