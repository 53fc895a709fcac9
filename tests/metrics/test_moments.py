"""The moments metric (the 1-D lab's score, docs/paper.md §6) against hand-computed values."""

import math

import pytest
import torch

from advnets.config import build_config, load_config
from advnets.data import VectorKind
from advnets.data.toy import Gauss1dOptions
from advnets.errors import UserError
from advnets.metrics import METRICS, MetricInputs, MomentsOptions, sample_moments
from advnets.metrics.moments import data_moments, moments_protocol


def inputs(samples: torch.Tensor, data_options=None) -> MetricInputs:
    return MetricInputs(
        sample=lambda n: samples[:n],
        references={},
        kind=VectorKind(),
        device=torch.device("cpu"),
        seed=0,
        data_options=data_options if data_options is not None else Gauss1dOptions(),
    )


def test_mean_and_unbiased_variance_by_hand():
    # 1, 2, 3, 6: mean 3; squared deviations 4, 1, 0, 9 sum to 14; unbiased variance 14 / 3.
    got = sample_moments(torch.tensor([[1.0], [2.0], [3.0], [6.0]]))
    assert got["mean"] == pytest.approx(3.0, abs=1e-12)
    assert got["variance"] == pytest.approx(14.0 / 3.0, abs=1e-12)
    assert got["std"] == pytest.approx(math.sqrt(14.0 / 3.0), abs=1e-12)


def test_a_record_holds_the_data_moments_and_the_distances_to_them():
    samples = torch.tensor([[3.0], [5.0], [4.0], [4.0]])  # mean 4, variance (1 + 1) / 3
    record = METRICS.get("moments").compute(MomentsOptions(samples=4), inputs(samples))
    assert record["mean"] == pytest.approx(4.0, abs=1e-12)
    assert record["variance"] == pytest.approx(2.0 / 3.0, abs=1e-12)
    assert record["data_mean"] == pytest.approx(4.0, abs=1e-12)
    assert record["data_variance"] == pytest.approx(1.25, abs=1e-12)  # the variance, not the std, is 1.25
    assert record["mean_error"] == pytest.approx(0.0, abs=1e-12)
    assert record["variance_ratio"] == pytest.approx((2.0 / 3.0) / 1.25, abs=1e-12)
    assert record["samples"] == 4


def test_it_scores_the_requested_number_of_samples():
    samples = torch.tensor([[0.0], [2.0], [100.0]])
    record = METRICS.get("moments").compute(MomentsOptions(samples=2), inputs(samples))
    assert record["mean"] == pytest.approx(1.0, abs=1e-12) and record["variance"] == pytest.approx(2.0, abs=1e-12)


def test_the_moments_of_a_mixture_are_exact():
    class TwoPoints:  # components N(1, 0.25) and N(3, 0.25): mean 2, variance 0.25 + 1
        def mixture(self):
            return torch.tensor([[1.0], [3.0]], dtype=torch.float64), 0.5

    assert data_moments(TwoPoints()) == pytest.approx({"data_mean": 2.0, "data_variance": 1.25}, abs=1e-12)
    assert data_moments(object()) is None  # a data set without a known density gets no reference


def test_a_diverged_generator_gives_nan_moments():
    record = METRICS.get("moments").compute(MomentsOptions(samples=3), inputs(torch.tensor([[1.0], [math.nan], [2.0]])))
    assert math.isnan(record["mean"]) and math.isnan(record["variance"])


def test_protocol_names_state_the_sample_count():
    assert moments_protocol(MomentsOptions()) == "moments10k"
    assert moments_protocol(MomentsOptions(samples=2500)) == "moments2500"
    assert METRICS.get("moments").value_key == "mean"


def test_images_and_vectors_of_more_than_one_number_are_refused():
    with pytest.raises(UserError, match="1-D generator"):
        METRICS.get("moments").compute(MomentsOptions(samples=2), inputs(torch.zeros(2, 2)))


def test_config_keys():
    cfg = load_config("toy-1d")
    assert cfg.eval.metrics["moments"].samples == 10000
    with pytest.raises(UserError, match=r"eval\.metrics\.moments\.samples=1 is too few"):
        build_config(base={"eval": {"metrics": {"moments": {"samples": 1}}}})


def test_advnets_eval_prints_the_mean_and_the_variance():
    from advnets.evaluate import describe_record

    record = {"metric": "moments", "name": "moments10k", "mean": 4.0123, "variance": 1.25}
    assert describe_record(record).startswith("moments10k: mean 4.012, variance 1.25")
