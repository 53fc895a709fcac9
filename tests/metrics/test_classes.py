"""The class metrics (advnets.metrics.classes) by hand, and every feature metric end to end through
advnets.evaluate.evaluate on the embedded digits with their classifier: records, protocols, streamed samples."""

import math

import pytest
import torch

from advnets.config import build_config
from advnets.data import load_data
from advnets.data.dataset import ImageKind
from advnets.errors import UserError
from advnets.evaluate import describe_record, evaluate, metric_options
from advnets.metrics import METRICS, MetricInputs, StackedModesOptions
from advnets.metrics.classes import class_histogram_kl, stacked_coverage, stacked_labels
from advnets.models import ModelSpec, build_generator
from tests.conftest import TINY


def test_class_kl_by_hand():
    p = torch.tensor([0.5, 0.25, 0.25, 0.0])
    q = torch.tensor([0.25, 0.25, 0.25, 0.25])
    expected = 0.5 * math.log(2) + 0.25 * math.log(1) + 0.25 * math.log(1)
    torch.testing.assert_close(class_histogram_kl(p, q), expected, rtol=1e-12, atol=0.0)
    assert class_histogram_kl(q, q) == 0.0
    assert class_histogram_kl(q, torch.tensor([0.5, 0.5, 0.0, 0.0])) == math.inf  # G makes a class the data lack


def test_stacked_labels_and_coverage_by_hand():
    digits = torch.tensor([[1, 2, 3], [0, 0, 7], [9, 9, 9], [1, 2, 3]])
    labels = stacked_labels(digits)
    assert labels.tolist() == [123, 7, 999, 123]
    found = stacked_coverage(labels)
    # p = (1/2, 1/4, 1/4) over three of 1,000 modes: KL to uniform = Σ p log(1000 p).
    expected = 0.5 * math.log(500) + 2 * 0.25 * math.log(250)
    assert found["modes"] == 3
    torch.testing.assert_close(found["kl"], expected, rtol=1e-12, atol=0.0)
    every = stacked_coverage(torch.arange(1000).repeat(3))
    assert every["modes"] == 1000 and abs(every["kl"]) < 1e-12


# ------------------------------------------------------------------------------------------------ end to end
@pytest.fixture
def digits_run(feature_cache):
    """A tiny (untrained) G on the digits, its config and kind: real scores of a G the classifier has not seen."""
    cfg = build_config(overrides=[*TINY, "eval.metrics=[fid, kid, is, classes]"])
    kind = ImageKind("unit")
    torch.manual_seed(0)
    G = build_generator(cfg.model.generator, ModelSpec(cfg.model.z_dim, (1, 8, 8), kind))
    return G, cfg, kind


def test_fid_kid_is_and_classes_of_a_digits_generator(digits_run):
    G, cfg, kind = digits_run
    overrides = {
        "fid": {"samples": 300},
        "kid": {"samples": 300, "subsets": 5, "subset_size": 100},
        "is": {"samples": 300, "splits": 3},
        "classes": {"samples": 300},
    }
    records = {name: evaluate(G, cfg, kind, name, metric_options(cfg, name, o)) for name, o in overrides.items()}
    fid, kid, is_, classes = records["fid"], records["kid"], records["is"], records["classes"]
    assert fid["name"] == "fid300-classifier-digits" and fid["generator"] == "raw"
    assert fid["protocol"]["real"] == 197 and fid["protocol"]["real_split"] == "test"
    assert fid["protocol"]["extractor"] == "classifier-digits" and len(fid["protocol"]["extractor_hash"]) == 64
    assert fid["protocol"]["image_size"] == [8, 8] and fid["protocol"]["resize"] == "none"
    assert fid["fid"] > 0 and kid["kid"] > 0 and fid["extractor_test_accuracy"] >= 0.9
    assert kid["name"] == "kid300-classifier-digits" and kid["subsets"] == 5
    assert is_["name"] == "is300-classifier-digits-splits3" and 1 <= is_["is"] <= 10
    assert classes["name"] == "classes300-classifier-digits"
    assert sum(classes["shares"]) == pytest.approx(1.0) and len(classes["data_shares"]) == 10
    assert classes["kl"] >= 0 and "conditional_accuracy" not in classes
    for record in records.values():
        assert record["name"] in describe_record(record)


def test_real_digits_score_near_zero_fid_and_high_is(feature_cache):
    """The test digits themselves as 'samples': FID to themselves is 0, IS near the classifier's 10 classes."""
    cfg = build_config(overrides=[*TINY])
    real = load_data(cfg.data, "test").images  # [197, 1, 8, 8]
    inputs = MetricInputs(
        sample=lambda n: real[:n],
        references={"train": load_data(cfg.data, "train")},
        kind=ImageKind("unit"),
        device=torch.device("cpu"),
        seed=0,
        data_options=cfg.data,
    )
    fid = METRICS.get("fid")
    record = fid.compute(metric_options(cfg, "fid", {"samples": 197}), inputs)
    torch.testing.assert_close(record["fid"], 0.0, rtol=0, atol=1e-3)
    is_ = METRICS.get("is").compute(metric_options(cfg, "is", {"samples": 197, "splits": 1}), inputs)
    assert is_["is"] > 7
    classes = METRICS.get("classes").compute(metric_options(cfg, "classes", {"samples": 197}), inputs)
    assert classes["classes_covered"] == 10 and classes["kl"] < 0.05


def test_a_conditional_run_gets_the_share_classified_as_asked(feature_cache):
    cfg = build_config(overrides=[*TINY])
    test = load_data(cfg.data, "test")
    inputs = MetricInputs(
        sample=lambda n: test.images[:n],
        references={"train": load_data(cfg.data, "train")},
        kind=ImageKind("unit"),
        device=torch.device("cpu"),
        seed=0,
        data_options=cfg.data,
        # As if G had been asked for the true classes of these images, then for the wrong ones.
        sample_labelled=lambda n: (test.images[:n], test.labels[:n]),
    )
    record = METRICS.get("classes").compute(metric_options(cfg, "classes", {"samples": 197}), inputs)
    assert record["conditional_accuracy"] >= 0.9
    wrong = MetricInputs(**{**inputs.__dict__, "sample_labelled": lambda n: (test.images[:n], (test.labels[:n] + 1) % 10)})
    assert METRICS.get("classes").compute(metric_options(cfg, "classes", {"samples": 197}), wrong)[
        "conditional_accuracy"
    ] <= 0.1


def test_stacked_modes_of_stacked_digits(feature_cache):
    """Stacked digits made by hand (three test digits as channels) classified channel by channel."""
    cfg = build_config(overrides=[*TINY])
    test = load_data(cfg.data, "test")
    gen = torch.Generator().manual_seed(0)
    index = torch.randint(len(test), (600, 3), generator=gen)
    stacked = test.images[index][:, :, 0]  # [600, 3, 8, 8]
    true_labels = stacked_labels(test.labels[index])

    class StackedDigits:
        name = "stacked-digits"

    inputs = MetricInputs(
        sample=lambda n: stacked[:n],
        references={},
        kind=ImageKind("unit"),
        device=torch.device("cpu"),
        seed=0,
        data_options=StackedDigits(),
    )
    metric = METRICS.get("stacked-modes")
    options = metric.resolve(StackedModesOptions(samples=600), StackedDigits())
    assert options.extractor == "classifier-digits"
    assert metric.protocol(options, {}) == "stacked-modes600-classifier-digits"
    record = metric.compute(options, inputs)
    truth = stacked_coverage(true_labels)
    assert record["of"] == 1000 and abs(record["modes"] - truth["modes"]) <= 60  # ~94% accuracy per digit
    assert record["protocol"]["extractor"] == "classifier-digits"


def test_stacked_modes_refuses_other_data():
    class Digits:
        name = "digits"

    with pytest.raises(UserError, match="scores Stacked MNIST.*this run's data are digits"):
        METRICS.get("stacked-modes").check(StackedModesOptions(), ImageKind("unit"), Digits())

    class StackedMnist:
        name = "stacked-mnist"

    options = METRICS.get("stacked-modes").resolve(StackedModesOptions(), StackedMnist())
    assert METRICS.get("stacked-modes").protocol(options, {}) == "stacked-modes26k-classifier-mnist"
    with pytest.raises(UserError, match="classifier-digits classifies digits images, but this run's data are stacked"):
        METRICS.get("stacked-modes").check(
            StackedModesOptions(extractor="classifier-digits"), ImageKind("unit"), StackedMnist()
        )
