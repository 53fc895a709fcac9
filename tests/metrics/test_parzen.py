"""Parzen-window log-likelihood (docs/paper.md §2): closed forms, a float64 brute force, σ selection and scale."""

import json
import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.special import logsumexp

from advnets.errors import UserError
from advnets.metrics import METRICS, parzen
from advnets.metrics.parzen import (
    PAPER_SIGMAS,
    ParzenResult,
    parzen_log_density,
    parzen_score,
    protocol_name,
    select_sigma,
)

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def brute_force(x: np.ndarray, samples: np.ndarray, sigmas) -> np.ndarray:
    """The formula written out in float64: exact differences, scipy's stable logsumexp. [M, K]"""
    x, samples = np.asarray(x, np.float64), np.asarray(samples, np.float64)
    n, d = samples.shape
    dist = ((x[:, None, :] - samples[None, :, :]) ** 2).sum(-1)  # [M, N]
    return np.stack(
        [
            logsumexp(-dist / (2 * s**2), axis=1) - math.log(n) - d * math.log(s * math.sqrt(2 * math.pi))
            for s in sigmas
        ],
        axis=1,
    )


def test_paper_grid():
    expected = [0.1, 0.1292, 0.1668, 0.2154, 0.2783, 0.3594, 0.4642, 0.5995, 0.7743, 1.0]
    assert_allclose(PAPER_SIGMAS, expected, rtol=0, atol=5e-5)


def test_one_sample_one_dimension():
    # p̂(x) = N(x; s, σ²): log p̂ = −(x − s)²/2σ² − log σ − log √(2π); here (x − s)² = 1, σ = 0.5 and 2.
    got = parzen_log_density(torch.tensor([[1.0]]), torch.tensor([[0.0]]), [0.5, 2.0])
    expected = [[-1 / 0.5 - math.log(0.5) - LOG_SQRT_2PI, -1 / 8 - math.log(2.0) - LOG_SQRT_2PI]]
    assert got.dtype == torch.float64 and got.shape == (1, 2)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_two_samples_two_dimensions():
    # x = (0, 0); samples (1, 0) and (0, 2) at squared distances 1 and 4; σ = 1, d = 2:
    # log p̂ = log((e^−0.5 + e^−2) / 2) − 2·log √(2π).
    got = parzen_log_density(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]]), [1.0])
    expected = math.log((math.exp(-0.5) + math.exp(-2.0)) / 2) - 2 * LOG_SQRT_2PI
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_three_samples_several_points_and_sigmas():
    # Samples 0, 1, 3 on a line; points 0 and 2; σ = 1 and 0.5. Each entry written out term by term.
    samples = torch.tensor([[0.0], [1.0], [3.0]])
    x = torch.tensor([[0.0], [2.0]])

    def closed(sq_dists, s):
        return math.log(sum(math.exp(-q / (2 * s * s)) for q in sq_dists) / 3) - math.log(s) - LOG_SQRT_2PI

    expected = [
        [closed([0, 1, 9], 1.0), closed([0, 1, 9], 0.5)],
        [closed([4, 1, 1], 1.0), closed([4, 1, 1], 0.5)],
    ]
    got = parzen_log_density(x, samples, torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_every_kernel_term_underflows():
    # One sample at 0, x = 4.208, σ = 0.1: −x²/2σ² ≈ −885.4, so exp() is 0 in float64 (smallest ≈ e^−745) and
    # a naive mean of kernels gives log 0 = −inf. The closed form is about −884.
    x, sigma = 4.208, 0.1
    assert math.exp(-(x**2) / (2 * sigma**2)) == 0.0
    expected = -(x**2) / (2 * sigma**2) - math.log(sigma) - LOG_SQRT_2PI
    assert round(expected) == -884
    got = parzen_log_density(torch.tensor([[x]], dtype=torch.float64), torch.zeros(1, 1), [sigma])
    assert got.item() == pytest.approx(expected, rel=1e-12)


def _random_case(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if kind == "near":  # MNIST-like: uniform pixels, 64-d
        return rng.random((23, 64)), rng.random((37, 64))
    if kind == "far":  # every point 6 units from every sample in 50-d: all kernel terms underflow at σ ≤ 0.1
        samples = rng.random((37, 50))
        x = rng.random((23, 50))
        x[:, 0] += 6.0
        return x, samples
    # near-duplicates with large norms: ‖x‖² ≈ 1e4 while ‖x − s‖² ≈ 1e-10, the cancellation case
    x = 5.0 + rng.random((23, 400))
    samples = np.concatenate([x[:10] + 1e-6 * rng.standard_normal((10, 400)), 5.0 + rng.random((27, 400))])
    return x, samples


def _only_path(monkeypatch, path: str) -> None:
    """Forces one of the two ways of computing the terms: every term in float64 ("exact"), or float32
    screening + float64 for the few terms that matter ("screened"; the exact path then raises)."""
    if path == "exact":
        monkeypatch.setattr(parzen, "_can_screen", lambda device, d: False)
    else:

        def no_fallback(*args):
            raise AssertionError("the screened path gave up; this case should not need the exact path")

        monkeypatch.setattr(parzen, "_exact_chunk", no_fallback)


@pytest.mark.parametrize("kind", ["near", "far", "duplicates"])
@pytest.mark.parametrize("chunk_size", [5, 7, 4096])  # 5 and 7 divide neither M = 23 nor N = 37
@pytest.mark.parametrize("path", ["exact", "screened"])
def test_agrees_with_float64_brute_force(kind, chunk_size, path, monkeypatch):
    _only_path(monkeypatch, path)
    rng = np.random.default_rng(0)
    x, samples = _random_case(kind, rng)
    # Screening pays (and is used) only while few samples matter per point, i.e. for small σ.
    sigmas = [0.01, 0.05, 0.1] if path == "screened" else [0.01, 0.05, *PAPER_SIGMAS]
    expected = brute_force(x, samples, sigmas)
    if kind == "far":
        dist = ((x[:, None, :] - samples[None]) ** 2).sum(-1)
        assert not np.exp(-dist / (2 * 0.1**2)).any()  # the case is built so that every term underflows
    got = parzen_log_density(torch.from_numpy(x), torch.from_numpy(samples), sigmas, chunk_size=chunk_size)
    assert np.isfinite(got.numpy()).all()
    assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-6)


def test_screening_keeps_small_terms_that_still_matter(monkeypatch):
    # x = 0, σ = 0.1 (kernel exp(−50·D)), N = 121 samples: one at 0 (term 1), 20 at squared distance a² with
    # 50·a² = ln N + 11 (terms adding up to 20/N·e^-11 ≈ 2.8e-6, which is how much they move log p̂, in nats)
    # and 100 at distance 10 (negligible). The screen must keep the 20 and may drop the 100.
    _only_path(monkeypatch, "screened")
    a = math.sqrt((math.log(121) + 11) / 50)
    samples = np.concatenate([[0.0], np.full(20, a), np.full(100, 10.0)])[:, None]
    x = np.zeros((1, 1))
    expected = brute_force(x, samples, [0.1])
    without_the_20 = math.log(1 / 121) - math.log(0.1) - LOG_SQRT_2PI
    assert expected.item() - without_the_20 == pytest.approx(math.log1p(20 * math.exp(-11) / 121), rel=1e-6)
    got = parzen_log_density(torch.from_numpy(x), torch.from_numpy(samples), [0.1])
    assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-9)


def test_screening_gives_up_on_a_collapsed_generator():
    # 300 near-identical samples: every one matters for every point, more than the per-point budget of
    # candidates, so the float32 screen returns None and the exact path gives the answer.
    rng = np.random.default_rng(9)
    samples = 0.5 + 1e-3 * rng.standard_normal((300, 20))
    x = rng.random((4, 20))
    centres = parzen._prepare(
        torch.from_numpy(samples), np.array([0.1]), 64, torch.device("cpu"), screen=True
    )
    assert parzen._screened_chunk(centres, torch.from_numpy(x) - centres.centre) is None
    got = parzen_log_density(torch.from_numpy(x), torch.from_numpy(samples), [0.1], chunk_size=64)
    assert_allclose(got.numpy(), brute_force(x, samples, [0.1]), rtol=1e-9, atol=1e-6)


def test_screening_only_with_true_float32_matmuls_on_the_cpu():
    assert parzen._can_screen(torch.device("cpu"), 784)
    assert not parzen._can_screen(torch.device("cuda"), 784)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")  # may use bfloat16: the error bound would not hold
        assert not parzen._can_screen(torch.device("cpu"), 784)
    finally:
        torch.set_float32_matmul_precision(before)


def test_small_sigmas_sum_only_the_entries_in_their_window(monkeypatch):
    # 200 clusters far apart, 10 samples each: at σ = 0.01 and 0.02 a point's terms vanish but for its own
    # cluster's (0.5% of a block's entries), so those two σ take the gathered branch; σ = 3 spans everything and
    # takes the dense one. Checked: the branch is taken, it equals every term summed (all σ dense) to rounding,
    # and both equal the float64 brute force to the distances' rounding (‖x‖² ≈ 800, times 1/2σ² = 5,000).
    rng = np.random.default_rng(4)
    centres = 10.0 * rng.standard_normal((200, 8))
    samples = torch.from_numpy(np.repeat(centres, 10, axis=0) + 0.01 * rng.standard_normal((2000, 8)))
    x = torch.from_numpy(centres[:40] + 0.01 * rng.standard_normal((40, 8)))
    sigmas = [0.01, 0.02, 3.0]
    gathered = []
    real_nonzero = torch.nonzero

    def spy(t, *args, **kw):
        if kw.get("as_tuple") and t.dtype == torch.bool:
            gathered.append(int(t.count_nonzero()))
        return real_nonzero(t, *args, **kw)

    monkeypatch.setattr(parzen, "_can_screen", lambda device, d: False)  # the σ grid's path
    monkeypatch.setattr(torch, "nonzero", spy)
    got = parzen_log_density(x, samples, sigmas, chunk_size=2000).numpy()
    assert 0 < gathered[0] < 0.01 * x.shape[0] * samples.shape[0]
    monkeypatch.setattr(parzen, "_SPARSE_FRACTION", -1.0)  # every σ through every entry
    dense = parzen_log_density(x, samples, sigmas, chunk_size=2000).numpy()
    assert len(gathered) == 1
    assert_allclose(got, dense, rtol=1e-14, atol=1e-12)
    assert_allclose(got, brute_force(x.numpy(), samples.numpy(), sigmas), rtol=0, atol=1e-8)


def test_float32_inputs_are_evaluated_in_float64():
    # In float32, ‖x‖² + ‖s‖² − 2x·s for x ≈ s with ‖x‖² ≈ 1e4 loses every digit of a 1e-8 distance.
    rng = np.random.default_rng(1)
    x = (5.0 + rng.random((6, 400))).astype(np.float32)
    samples = np.concatenate([x + np.float32(1e-3), (5.0 + rng.random((9, 400))).astype(np.float32)])
    got = parzen_log_density(torch.from_numpy(x), torch.from_numpy(samples), [0.01, 0.1], chunk_size=4)
    assert_allclose(got.numpy(), brute_force(x, samples, [0.01, 0.1]), rtol=1e-9, atol=1e-6)


def test_nearest_sample_in_a_late_chunk():
    # Samples ordered from far to near so that the running minimum drops in every chunk of 1 and the sums
    # gathered so far must be rescaled each time.
    samples = torch.linspace(3.0, 0.0, 31)[:, None]
    x = torch.zeros(2, 1)
    got = parzen_log_density(x, samples, [0.05, 0.3, 1.0], chunk_size=1)
    assert_allclose(
        got.numpy(), brute_force(x.numpy(), samples.numpy(), [0.05, 0.3, 1.0]), rtol=1e-12, atol=1e-9
    )


def test_select_sigma_on_a_constructed_case():
    # Five clusters 100 apart. Each validation point is a cluster centre; its cluster's samples all lie at
    # distance r from it and other clusters' kernels vanish, so log p̂ = −r²/2σ² − d·log σ + const, which
    # peaks at σ = r/√d. With r = 0.2783·√d that is the grid's 5th value exactly.
    rng = np.random.default_rng(2)
    d, per_cluster = 20, 8
    r = PAPER_SIGMAS[4] * math.sqrt(d)
    centres = 100.0 * np.eye(5, d)
    directions = rng.standard_normal((5, per_cluster, d))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    samples = (centres[:, None, :] + r * directions).reshape(-1, d)
    sigma, means = select_sigma(torch.from_numpy(centres), torch.from_numpy(samples))
    assert sigma == PAPER_SIGMAS[4]
    expected = -(r**2) / (2 * PAPER_SIGMAS**2) - d * np.log(PAPER_SIGMAS) - d * LOG_SQRT_2PI - math.log(5)
    assert_allclose(means, expected, rtol=1e-9, atol=1e-6)


def test_select_sigma_on_a_random_mixture_matches_brute_force():
    # Samples and validation points from the same Gaussian mixture (spread 0.2 in 10-d); the brute force's
    # argmax is an interior grid point, so the choice is a real decision and not an edge of the grid.
    rng = np.random.default_rng(3)
    centres = rng.random((4, 10))
    samples = centres[rng.integers(0, 4, 300)] + 0.2 * rng.standard_normal((300, 10))
    valid = centres[rng.integers(0, 4, 100)] + 0.2 * rng.standard_normal((100, 10))
    means = brute_force(valid, samples, PAPER_SIGMAS).mean(0)
    best = int(np.argmax(means))
    assert 0 < best < len(PAPER_SIGMAS) - 1
    sigma, got = select_sigma(torch.from_numpy(valid), torch.from_numpy(samples), chunk_size=64)
    assert sigma == PAPER_SIGMAS[best]
    assert_allclose(got, means, rtol=1e-9, atol=1e-6)


def test_score_mean_and_standard_error_use_ddof_0():
    # One sample at 0, σ = 0.1, test points 0, 0.1, 0.2, 0.3: log p̂ = −k²/2 − log(0.1·√(2π)), k = 0..3.
    # −k²/2 = 0, −0.5, −2, −4.5 has mean −1.75 and std (ddof=0) 1.75, so se = 1.75/√4 = 0.875
    # (ddof=1 would give 1.0104).
    test = torch.tensor([[0.0], [0.1], [0.2], [0.3]], dtype=torch.float64)
    result = parzen_score(torch.zeros(1, 1), test[:1], test, sigmas=[0.1])
    assert result.mean == pytest.approx(-1.75 - math.log(0.1) - LOG_SQRT_2PI, rel=1e-12)
    assert result.se == pytest.approx(0.875, rel=1e-12)
    values = -0.5 * np.arange(4) ** 2
    assert result.se == pytest.approx(np.std(values) / 2, rel=1e-12)


def test_score_picks_sigma_on_valid_and_reports_the_protocol():
    rng = np.random.default_rng(4)
    samples, valid, test = (torch.from_numpy(rng.random((n, 1, 4, 4))) for n in (500, 40, 60))
    result = parzen_score(samples, valid, test, seed=7)
    sigma, valid_means = select_sigma(valid.reshape(40, -1), samples.reshape(500, -1))
    assert result.sigma == sigma and result.valid_means == valid_means
    test_ll = brute_force(test.reshape(60, -1).numpy(), samples.reshape(500, -1).numpy(), [sigma])[:, 0]
    assert result.mean == pytest.approx(test_ll.mean(), rel=1e-9)
    assert result.se == pytest.approx(test_ll.std() / math.sqrt(60), rel=1e-9)
    assert (result.name, result.n_samples, result.n_valid, result.n_test, result.dim) == (
        "parzen500-valid40-test60",
        500,
        40,
        60,
        16,
    )
    assert result.sigmas == pytest.approx(list(PAPER_SIGMAS), rel=1e-15)
    assert result.pixel_range == "unit" and result.seed == 7
    record = json.loads(json.dumps(result.as_dict()))
    assert record["name"] == "parzen500-valid40-test60" and record["valid_means"] == valid_means and record["seed"] == 7


def test_protocol_name_and_text():
    assert [protocol_name(n) for n in (10000, 1000, 500, 12345)] == [
        "parzen10k",
        "parzen1k",
        "parzen500",
        "parzen12345",
    ]
    # The paper's grid is implied; any other grid is named, so its scores are never mixed with parzen10k.
    assert protocol_name(10000, list(PAPER_SIGMAS)) == "parzen10k"
    assert protocol_name(10000, np.linspace(0.1, 0.4, 31)) == "parzen10k-sigma31[0.1-0.4]"
    assert protocol_name(500, [0.2]) == "parzen500-sigma1[0.2-0.2]"
    # Validation and test counts other than the paper's 1,000 / 10,000 are named too.
    assert protocol_name(10000, PAPER_SIGMAS, 1000, 10000) == "parzen10k"
    assert protocol_name(10000, PAPER_SIGMAS, 200, 197) == "parzen10k-valid200-test197"
    assert protocol_name(500, [0.2], 40, 60) == "parzen500-sigma1[0.2-0.2]-valid40-test60"
    result = ParzenResult(
        name="parzen10k", mean=225.314, se=2.0068, sigma=0.21544, sigmas=list(PAPER_SIGMAS),
        valid_means=[0.0] * 10, n_samples=10000, n_valid=1000, n_test=10000, dim=784, pixel_range="unit",
        seed=None,
    )  # fmt: skip
    assert str(result) == "parzen10k = 225.31 ± 2.01 nats (σ=0.2154 from 10 values on 1000 valid, 10000 test)"


def test_symmetric_range_gives_the_unit_range_score():
    rng = np.random.default_rng(5)
    samples, valid, test = (torch.from_numpy(rng.random((n, 12))) for n in (80, 20, 30))
    unit = parzen_score(samples, valid, test, pixel_range="unit")
    symmetric = parzen_score(2 * samples - 1, 2 * valid - 1, 2 * test - 1, pixel_range="symmetric")
    assert symmetric.pixel_range == "symmetric"
    assert symmetric.sigma == unit.sigma
    assert symmetric.mean == pytest.approx(unit.mean, rel=1e-9)
    assert symmetric.se == pytest.approx(unit.se, rel=1e-9)


def test_raw_symmetric_data_loses_d_log_2():
    # The pitfall of docs/paper.md §4 item 11. Stretching every coordinate by 2 ([0,1] -> [-1,1]) with σ stretched
    # too leaves every kernel term exp(−‖x − s‖²/2σ²) unchanged, but the normaliser d·log(σ√(2π)) grows by
    # d·ln 2: a density over a space 2^d times larger is 2^d times smaller. For MNIST that is 543 nats.
    rng = np.random.default_rng(6)
    d = 784
    samples, x = torch.from_numpy(rng.random((50, d))), torch.from_numpy(rng.random((5, d)))
    unit = parzen_log_density(x, samples, [0.2, 0.5])
    raw = parzen_log_density(2 * x - 1, 2 * samples - 1, [0.4, 1.0])
    torch.testing.assert_close(unit - raw, torch.full_like(unit, d * math.log(2)), rtol=0, atol=1e-8)
    assert d * math.log(2) == pytest.approx(543.4, abs=0.05)


def test_scikit_learn_kernel_density_is_wrong_here_and_we_are_not():
    # scikit-learn's KernelDensity (1.x, tree algorithms, exact tolerances) gives positive log densities near
    # +1000 for some points of 784-d data at σ = 0.1 where the true values are about −5000. This is why the
    # estimator is written out here rather than taken from scikit-learn.
    KernelDensity = pytest.importorskip("sklearn.neighbors").KernelDensity
    rng = np.random.default_rng(0)
    samples, x = rng.random((100, 784)), rng.random((5, 784))
    expected = brute_force(x, samples, [0.1])[:, 0]
    ours = parzen_log_density(torch.from_numpy(x), torch.from_numpy(samples), [0.1])[:, 0].numpy()
    assert_allclose(ours, expected, rtol=1e-9, atol=1e-6)
    theirs = KernelDensity(bandwidth=0.1, kernel="gaussian").fit(samples).score_samples(x)
    assert np.abs(theirs - expected).max() > 100, (
        "scikit-learn now agrees; update this test and the docstring"
    )


def test_registered_as_a_metric_whose_name_states_the_counts_it_used():
    from advnets.data import ImageSet
    from advnets.metrics import MetricInputs, ParzenOptions

    metric = METRICS.get("parzen")
    assert metric.needs == ("valid", "test") and metric.higher_is_better and metric.value_key == "mean"
    rng = np.random.default_rng(2)
    refs = {
        split: ImageSet(torch.from_numpy(rng.random((n, 1, 4, 4))).float(), None, "toy", split, "unit")
        for split, n in (("valid", 30), ("test", 45))
    }
    samples = torch.from_numpy(rng.random((300, 1, 4, 4))).float()
    options = ParzenOptions(samples=300)  # asks for 1,000 valid and 10,000 test; the splits hold 30 and 45
    inputs = MetricInputs(lambda n: samples[:n], refs, refs["test"].kind, torch.device("cpu"), seed=3)
    assert metric.protocol(options, refs) == "parzen300-valid30-test45"
    record = metric.compute(options, inputs)
    direct = parzen_score(samples, refs["valid"].examples, refs["test"].examples, seed=3)
    assert record == direct.as_dict() and record["name"] == "parzen300-valid30-test45"


def test_progress_bar_gives_the_same_result():
    rng = np.random.default_rng(8)
    samples, valid, test = (torch.from_numpy(rng.random((n, 6))) for n in (30, 10, 10))
    quiet = parzen_score(samples, valid, test)
    assert parzen_score(samples, valid, test, progress=True).mean == quiet.mean


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: parzen_log_density(torch.zeros(3, 4), torch.zeros(5, 3), [0.1]),
            "dimension 4 but samples have 3",
        ),
        (lambda: parzen_log_density(torch.zeros(0, 4), torch.zeros(5, 4), [0.1]), "empty"),
        (lambda: parzen_log_density(torch.zeros(3, 4), torch.zeros(0, 4), [0.1]), "empty"),
        (lambda: parzen_log_density(torch.zeros(3, 4), torch.zeros(5, 4), [0.1, 0.0]), "finite and positive"),
        (lambda: parzen_log_density(torch.zeros(3, 4), torch.zeros(5, 4), [-0.2]), "finite and positive"),
        (lambda: parzen_log_density(torch.zeros(3, 4), torch.zeros(5, 4), []), "grid is empty"),
        (lambda: parzen_log_density(torch.zeros(3, 4), torch.full((5, 4), math.nan), [0.1]), "NaN"),
        (lambda: parzen_log_density(torch.zeros(3, 4), torch.zeros(5, 4), [0.1], chunk_size=0), "chunk_size"),
        (
            lambda: parzen_score(torch.zeros(5, 4), torch.zeros(2, 4), torch.zeros(2, 4), pixel_range="byte"),
            "unknown",
        ),
        (
            lambda: parzen_score(torch.zeros(5, 4), torch.zeros(2, 4), torch.zeros(2, 5)),
            "test points have dimension",
        ),
        (
            lambda: parzen_score(torch.zeros(5, 4), torch.zeros(2, 4), torch.full((2, 4), 255.0)),
            "outside the declared",
        ),
        (lambda: parzen_score(torch.zeros(5, 4), torch.zeros(2, 4), torch.zeros(0, 4)), "test is empty"),
    ],
)
def test_bad_inputs_are_user_errors(call, message):
    with pytest.raises(UserError, match=message):
        call()
