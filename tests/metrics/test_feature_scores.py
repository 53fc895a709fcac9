"""FID, KID and IS (torchmetrics, through advnets.metrics.feature_scores) against values computed by hand with numpy
and scipy on small Gaussian features; the protocol names; options and checks."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from advnets.data import DATASETS
from advnets.data.dataset import ImageKind, VectorKind
from advnets.errors import UserError
from advnets.metrics import METRICS, FidOptions, IsOptions, KidOptions
from advnets.metrics.feature_scores import frechet_distance, inception_score, kernel_distance, real_floor
from advnets.metrics.features import load_extractor, real_features


def gaussian_features(n: int, d: int, shift: float, scale: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    return (shift + scale * torch.randn(n, d, generator=gen, dtype=torch.float64) @ mixing).float()


def fid_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def mmd2_unbiased_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
    )


def is_by_hand(logits: np.ndarray) -> float:
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    marginal = p.mean(0)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (0.5, 1.3), (2.0, 0.7)])
def test_fid_matches_the_formula_computed_by_hand(shift, scale):
    real = gaussian_features(400, 6, 0.0, 1.0, seed=1)
    fake = gaussian_features(300, 6, shift, scale, seed=2)
    expected = fid_by_hand(real.double().numpy(), fake.double().numpy())
    # Fed in batches, as G's samples are streamed.
    found, spread = frechet_distance(real, [fake[:100], fake[100:250], fake[250:]])
    torch.testing.assert_close(found, expected, rtol=1e-4, atol=1e-6)
    # spread: the ratio of the traces of the two sample covariances, by hand.
    by_hand = np.trace(np.cov(fake.double().numpy(), rowvar=False)) / np.trace(np.cov(real.double().numpy(), rowvar=False))
    torch.testing.assert_close(spread, float(by_hand), rtol=1e-6, atol=0)


def test_fid_of_a_set_with_itself_is_zero():
    real = gaussian_features(200, 4, 0.0, 1.0, seed=3)
    fid, spread = frechet_distance(real, [real])
    torch.testing.assert_close(fid, 0.0, rtol=0, atol=1e-5)
    torch.testing.assert_close(spread, 1.0, rtol=1e-9, atol=0)


def test_spread_of_a_collapsed_set_is_zero():
    real = gaussian_features(200, 4, 0.0, 1.0, seed=3)
    _, spread = frechet_distance(real, [real[:1].repeat(50, 1)])
    assert spread == pytest.approx(0.0, abs=1e-9)


def test_kid_with_one_subset_of_everything_is_the_unbiased_mmd_with_the_cubic_kernel():
    real = gaussian_features(120, 5, 0.0, 1.0, seed=4)
    fake = gaussian_features(120, 5, 0.7, 1.2, seed=5)
    expected = mmd2_unbiased_by_hand(real.double().numpy(), fake.double().numpy())
    mean, std = kernel_distance(real, [fake[:50], fake[50:]], subsets=1, subset_size=120, seed=0)
    torch.testing.assert_close(mean, expected, rtol=1e-4, atol=1e-6)
    assert std == 0.0


def test_kid_over_subsets_is_seeded_and_leaves_the_global_rng_alone():
    real = gaussian_features(100, 4, 0.0, 1.0, seed=6)
    fake = gaussian_features(100, 4, 0.3, 1.0, seed=7)
    state = torch.get_rng_state()
    first = kernel_distance(real, [fake], subsets=5, subset_size=30, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert kernel_distance(real, [fake], subsets=5, subset_size=30, seed=3) == first
    assert kernel_distance(real, [fake], subsets=5, subset_size=30, seed=4) != first
    with pytest.raises(UserError, match="subset_size=200 is more than the 100"):
        kernel_distance(real, [fake], subsets=1, subset_size=200, seed=0)


def test_inception_score_with_one_split_is_exp_of_the_mean_kl_from_the_marginal():
    gen = torch.Generator().manual_seed(8)
    logits = 2.0 * torch.randn(150, 10, generator=gen)
    mean, std = inception_score([logits[:70], logits[70:]], splits=1, seed=0)
    torch.testing.assert_close(mean, is_by_hand(logits.double().numpy()), rtol=1e-5, atol=1e-6)
    assert math.isnan(std)


def test_inception_score_bounds_one_class_and_every_class_evenly():
    confident = torch.full((100, 10), -30.0)
    confident[torch.arange(100), torch.arange(100) % 10] = 30.0  # each sample sure of one class, classes even
    torch.testing.assert_close(inception_score([confident], splits=1, seed=0)[0], 10.0, rtol=1e-4, atol=0.0)
    one_class = torch.zeros(100, 10)
    one_class[:, 3] = 30.0
    torch.testing.assert_close(inception_score([one_class], splits=1, seed=0)[0], 1.0, rtol=1e-5, atol=0.0)


# ------------------------------------------------------------------------------------------------ protocols
def resolved(name, options, data="mnist"):
    class Data:
        pass

    data_options = Data()
    data_options.name = data
    return METRICS.get(name).resolve(options, data_options)


@pytest.mark.parametrize(
    "name,options,data,protocol",
    [
        ("fid", FidOptions(), "mnist", "fid10k-classifier-mnist"),
        ("fid", FidOptions(samples=50000), "fashion-mnist", "fid50k-classifier-fashion-mnist"),
        ("fid", FidOptions(extractor="inception-2015-12-05"), "mnist", "fid10k-inception-2015-12-05"),
        ("fid", FidOptions(), "stacked-mnist", "fid10k-inception-2015-12-05"),  # no classifier of its own
        ("fid", FidOptions(real_split="train"), "mnist", "fid10k-classifier-mnist-train"),
        ("fid", FidOptions(samples=2500, real=5000), "mnist", "fid2500-classifier-mnist-test5k"),
        ("kid", KidOptions(extractor="inception-2015-12-05"), "mnist", "kid10k-inception-2015-12-05"),
        ("kid", KidOptions(subsets=3, subset_size=50), "digits", "kid10k-classifier-digits"),
        ("is", IsOptions(), "mnist", "is10k-classifier-mnist"),
        ("is", IsOptions(samples=50000, splits=1), "mnist", "is50k-classifier-mnist-splits1"),
    ],
)
def test_protocol_names_state_metric_samples_extractor_and_real_images(name, options, data, protocol):
    assert METRICS.get(name).protocol(resolved(name, options, data), {}) == protocol


def test_a_protocol_needs_its_extractor_chosen():
    with pytest.raises(ValueError, match="for_data"):
        METRICS.get("fid").protocol(FidOptions(), {})


def test_checks_refuse_data_the_metric_cannot_score():
    class Data:
        name = "fashion-mnist"

    image = ImageKind("unit")
    METRICS.get("fid").check(FidOptions(), image, Data())  # its own classifier: fine
    with pytest.raises(UserError, match="classifier-mnist classifies mnist images, but this run's data are fashion"):
        METRICS.get("fid").check(FidOptions(extractor="classifier-mnist"), image, Data())
    with pytest.raises(UserError, match="scores images"):
        METRICS.get("kid").check(KidOptions(), VectorKind(), Data())
    with pytest.raises(UserError, match="needs class probabilities"):
        METRICS.get("is").check(IsOptions(extractor="inception-2015-12-05"), image, Data())
    with pytest.raises(UserError, match="unknown feature extractor|did you mean"):
        METRICS.get("fid").check(FidOptions(extractor="vgg"), image, Data())


def test_options_refuse_impossible_values():
    with pytest.raises(UserError, match="subset_size=2000 is more than the 1000 samples"):
        KidOptions(samples=1000, subset_size=2000).validate("eval.metrics.kid")
    with pytest.raises(UserError, match="real_split"):
        FidOptions(real_split="validation").validate("eval.metrics.fid")
    with pytest.raises(UserError, match="splits=20 is more than the 10 samples"):
        IsOptions(samples=10, splits=20).validate("eval.metrics.is")


# ------------------------------------------------------------------------------------------------ the floor
# Some of the digits classifier's ReLU features are always 0: scipy's sqrtm warns of the singular product.
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_the_floor_is_the_fid_of_real_images_of_another_split_in_gs_place(feature_cache):
    data = DATASETS.options("digits")(name="digits")
    options = FidOptions(samples=200, extractor="classifier-digits", real_split="test")
    floor = real_floor("fid", options, data, "train")
    # By hand: the same two feature sets, taken by the cached extractor, through the formula.
    extractor = load_extractor("classifier-digits", data)
    test = real_features(extractor, data, "test", None)
    train = real_features(extractor, data, "train", 200)
    assert floor["fid"] == pytest.approx(fid_by_hand(test.double().numpy(), train.double().numpy()), rel=1e-4)
    assert floor["split"] == "train" and floor["protocol"]["samples"] == 200
    assert floor["protocol"]["real"] == len(test) and floor["protocol"]["extractor"] == "classifier-digits"
    assert 0.5 < floor["spread"] < 2.0  # real digits are about as varied as real digits


def test_a_floor_needs_another_split_and_a_distance(feature_cache):
    data = DATASETS.options("digits")(name="digits")
    options = FidOptions(samples=200, extractor="classifier-digits", real_split="test")
    with pytest.raises(UserError, match="two different splits"):
        real_floor("fid", options, data, "test")
    with pytest.raises(UserError, match="fid and kid"):
        real_floor("is", options, data, "train")
