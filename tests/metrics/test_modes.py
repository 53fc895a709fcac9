"""Mode coverage (PacGAN's protocol, advnets.metrics.modes) against hand-placed samples and hand-computed counts,
shares and KL divergences; the registered metric on real and collapsed samples; its protocol names and refusals."""

import math

import pytest
import torch

from advnets.config import build_config
from advnets.data import ImageDataOptions, load_data
from advnets.data.dataset import ImageKind, VectorKind
from advnets.data.toy import GridOptions, RingOptions
from advnets.errors import UserError
from advnets.metrics import METRICS, MetricInputs, ModesOptions, mode_coverage
from advnets.metrics.modes import modes_protocol

# Three centres 10 apart, std 1: a sample is high quality when it is closer than 3 to its nearest centre.
CENTRES = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])


def close(got, expected):
    torch.testing.assert_close(
        torch.tensor(float(got)), torch.tensor(float(expected)), rtol=1e-12, atol=1e-12
    )


def test_hand_placed_samples():
    samples = torch.tensor(
        [
            [0.5, 0.0],  # centre 0 at 0.5: high quality
            [1.0, 1.0],  # centre 0 at √2: high quality
            [10.0, 2.9],  # centre 1 at 2.9: high quality
            [10.0, 3.0],  # centre 1 at exactly 3 std: not high quality (strictly within, as PacGAN's code)
            [5.0, 5.0],  # √50 from all three: nearest is centre 0 (tie), far from it
            [0.0, 20.0],  # centre 2 at 10: far
            [math.nan, 0.0],  # a diverged sample: never high quality
        ]
    )
    result = mode_coverage(samples, CENTRES, 1.0)
    assert result["counts"] == [2, 1, 0]
    assert result["modes"] == 2
    close(result["high_quality"], 3 / 7)
    # p = (2/3, 1/3, 0) against u = 1/3 each: 2/3 log(2) + 1/3 log(1) + 0 = (2/3) log 2.
    close(result["reverse_kl"], 2 / 3 * math.log(2))


def test_a_wider_threshold_counts_the_sample_on_the_boundary():
    samples = torch.tensor([[10.0, 3.0], [0.0, 3.4], [0.0, 13.6]])
    assert mode_coverage(samples, CENTRES, 1.0)["counts"] == [0, 0, 0]
    result = mode_coverage(samples, CENTRES, 1.0, threshold_std=3.5)
    assert result["counts"] == [1, 1, 0] and result["modes"] == 2
    close(result["high_quality"], 2 / 3)
    close(result["reverse_kl"], math.log(3 / 2))  # p = (1/2, 1/2, 0): 2 · 1/2 log(3/2)


def test_the_threshold_is_in_units_of_the_std():
    samples = torch.tensor([[0.0, 0.25], [10.0, 0.35]])  # 2.5 and 3.5 stds of 0.1 from centres 0 and 1
    result = mode_coverage(samples, CENTRES, 0.1)
    assert result["counts"] == [1, 0, 0]
    close(result["high_quality"], 1 / 2)


def test_one_component_only_is_log_k_from_uniform():
    samples = torch.tensor([[0.1, 0.0], [0.0, -0.2], [0.3, 0.3], [-1.0, 0.0]])
    result = mode_coverage(samples, CENTRES, 1.0)
    assert result["counts"] == [4, 0, 0] and result["modes"] == 1
    close(result["high_quality"], 1.0)
    close(result["reverse_kl"], math.log(3))


def test_an_even_spread_is_zero_kl_and_every_mode():
    samples = CENTRES.repeat(2, 1) + torch.tensor([0.5, -0.5])  # two samples per centre, each √0.5 away
    result = mode_coverage(samples, CENTRES, 1.0)
    assert result["counts"] == [2, 2, 2] and result["modes"] == 3
    close(result["high_quality"], 1.0)
    close(result["reverse_kl"], 0.0)


def test_uneven_counts_over_four_components():
    centres = torch.tensor([[0.0], [1.0], [2.0], [3.0]])  # 1-D, std 0.1: high quality within 0.3
    samples = torch.tensor([[0.0], [0.1], [0.2], [1.05], [2.9], [1.5], [0.45]])
    result = mode_coverage(samples, centres, 0.1)
    # 0.0, 0.1, 0.2 -> 0; 1.05 -> 1; 2.9 -> 3; 1.5 (0.5 from 1 and 2) and 0.45 (0.45 from 0): not high quality.
    assert result["counts"] == [3, 1, 0, 1] and result["modes"] == 3
    close(result["high_quality"], 5 / 7)
    p = [3 / 5, 1 / 5, 1 / 5]
    close(result["reverse_kl"], sum(q * math.log(4 * q) for q in p))


def test_no_high_quality_sample_gives_nan_kl():
    samples = torch.tensor([[5.0, 5.0], [100.0, 100.0], [math.inf, 0.0]])
    result = mode_coverage(samples, CENTRES, 1.0)
    assert result["counts"] == [0, 0, 0] and result["modes"] == 0 and result["high_quality"] == 0.0
    assert math.isnan(result["reverse_kl"])


def test_a_tie_goes_to_the_lower_index():
    result = mode_coverage(torch.tensor([[0.0, 0.0]]), torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), 1.0)
    assert result["counts"] == [1, 0]


@pytest.mark.parametrize(
    "samples,centres",
    [
        (torch.zeros(3, 2), torch.zeros(2, 3)),
        (torch.zeros(3), torch.zeros(2, 1)),
        (torch.zeros(0, 2), CENTRES),
    ],
)
def test_shapes_are_checked(samples, centres):
    with pytest.raises(ValueError, match="mode_coverage needs"):
        mode_coverage(samples, centres, 1.0)


@pytest.mark.parametrize(
    "options,name",
    [
        (ModesOptions(), "modes2500"),
        (ModesOptions(samples=10000), "modes10k"),
        (ModesOptions(samples=1234), "modes1234"),
        (ModesOptions(threshold_std=2.0), "modes2500-hq2std"),
        (ModesOptions(samples=500, threshold_std=3.5), "modes500-hq3.5std"),
    ],
)
def test_protocol_names_state_the_sample_count_and_a_non_paper_threshold(options, name):
    assert modes_protocol(options) == name
    assert METRICS.get("modes").protocol(options, {}) == name


def inputs_for(samples: torch.Tensor, data_options, kind=None) -> MetricInputs:
    return MetricInputs(
        sample=lambda n: samples[:n],
        references={},
        kind=kind or VectorKind(),
        device=torch.device("cpu"),
        seed=0,
        data_options=data_options,
    )


def test_the_registered_metric_scores_real_ring_data_as_every_mode():
    metric = METRICS.get("modes")
    assert (metric.value_key, metric.higher_is_better, metric.needs) == ("modes", True, ())
    real = load_data(RingOptions(n=2500), "test").examples
    record = metric.compute(ModesOptions(), inputs_for(real, RingOptions()))
    assert record["modes"] == 8 and record["components"] == 8 and record["samples"] == 2500
    # In 2-D the distance to the centre is Rayleigh: P(r < 3σ) = 1 - e^(-9/2) = 0.98889 (binomial SE 0.0021).
    assert record["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.007)
    assert 0.0 <= record["reverse_kl"] < 0.01  # about (K - 1) / 2N = 0.0014 for an even draw
    assert sum(record["counts"]) == round(record["high_quality"] * 2500)


def test_a_collapsed_generator_covers_one_grid_mode():
    options = GridOptions()
    collapsed = torch.tensor([2.0, -4.0]) + 0.05 * torch.randn(
        2500, 2, generator=torch.Generator().manual_seed(0)
    )
    record = METRICS.get("modes").compute(ModesOptions(), inputs_for(collapsed, options))
    assert record["modes"] == 1 and record["components"] == 25
    assert record["counts"][3 * 5 + 0] == sum(record["counts"])  # row-major: (2, -4) is component 15
    close(record["reverse_kl"], math.log(25))


def test_the_metric_refuses_data_that_is_not_a_mixture():
    with pytest.raises(UserError, match="data.name=digits is not a mixture") as err:
        METRICS.get("modes").compute(
            ModesOptions(), inputs_for(torch.zeros(10, 1, 8, 8), ImageDataOptions(), ImageKind("unit"))
        )
    assert "\n" not in str(err.value)


def test_eval_metrics_modes_keys_are_checked():
    cfg = build_config(overrides=["eval.metrics.modes.samples=500"])
    assert cfg.eval.metrics["modes"] == ModesOptions(samples=500)
    assert build_config(overrides=["eval.metrics=[modes]"]).eval.metrics["modes"] == ModesOptions()
    with pytest.raises(UserError, match="eval.metrics.modes.threshold_std"):
        build_config(overrides=["eval.metrics.modes.threshold_std=0"])
