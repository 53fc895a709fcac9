"""Shared fixtures: tiny configs on the embedded digits so that end-to-end tests take seconds, and the real IDX
data sets (MNIST, Fashion-MNIST) found where the CLI finds them.

A test that needs a real data set calls `require_data(name)`: it returns the folder holding the files, found as
`advnets train` finds them with no data.root (`idx.search_folders`: $ADVNETS_DATA, then its <name>/ subfolder,
the OS package folder, the download cache), and last ../shared/data/<name> beside the repository (where CI keeps
MNIST). When none holds the files the test is skipped with a reason naming $ADVNETS_DATA, or fails when
$ADVNETS_REQUIRE_DATA names it (CI sets `mnist`, the data set it keeps beside the clone, so that a misplaced copy cannot turn the real-data tests into skips).
"""

import os
from pathlib import Path

import pytest

from advnets.config import RunConfig, build_config
from advnets.data import idx
from advnets.metrics import features

BESIDE_REPOSITORY = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_MNIST = BESIDE_REPOSITORY / "mnist"  # the last fallback only; tests ask `require_data("mnist")`
IDX_SOURCES = {source.name: source for source in (idx.MNIST, idx.FASHION_MNIST)}
# $ADVNETS_DATA as the session started: some tests point it elsewhere or delete it on purpose (tests/data/), and
# the data a test asks for is the user's, whatever the test running at that moment did to the environment.
SESSION_ADVNETS_DATA = os.environ.get("ADVNETS_DATA")

# On the CPU even where a GPU is present (device=auto would take it): the tests compare with numbers made on CPUs;
# tests/test_cuda.py checks the GPU against them.
TINY = [
    "device=cpu",
    "data.name=digits",
    "model.z_dim=8",
    "model.generator.hidden=[16]",
    "model.generator.init_range=null",
    "model.discriminator.hidden=[12]",
    "model.discriminator.pieces=2",
    "model.discriminator.init_range=null",
    "train.batch_size=32",
    "train.epochs=2",
    "log.every_steps=5",
    "log.sample_every_steps=20",
    "log.grid_size=16",
    "log.tensorboard=false",
    "log.progress=false",
]


def tiny_config(*overrides: str) -> RunConfig:
    return build_config(overrides=[*TINY, *overrides])


@pytest.fixture
def tiny():
    return tiny_config


def data_folders(name: str) -> list[Path]:
    """Where `data_root(name)` looks, in order: the CLI's folders, then ../shared/data/<name> beside the
    clone."""
    return [*idx.search_folders(IDX_SOURCES[name], SESSION_ADVNETS_DATA), BESIDE_REPOSITORY / name]


def data_root(name: str = "mnist") -> Path | None:
    """The first folder holding every IDX file of data set `name` (.gz or unpacked), or None."""
    files = [file for pair in IDX_SOURCES[name].parts.values() for file in pair]
    for folder in data_folders(name):
        if all(idx.find_file(file, [folder]) for file in files):
            return folder
    return None


def require_data(name: str = "mnist") -> Path:
    """`data_root(name)`; absent, the calling test is skipped, or fails when $ADVNETS_REQUIRE_DATA names the data
    set (a comma-separated list, e.g. `mnist`; `1` requires every data set)."""
    root = data_root(name)
    if root is not None:
        return root
    looked_in = ", ".join(str(folder) for folder in data_folders(name))
    reason = (
        f"needs the {name} IDX files: set $ADVNETS_DATA to the folder holding them (or to its parent, with "
        f"them in {name}/); looked in {looked_in}"
    )
    required = os.environ.get("ADVNETS_REQUIRE_DATA", "")
    if required == "1" or name in required.split(","):
        pytest.fail(f"{reason} (ADVNETS_REQUIRE_DATA={required}: a missing data set is a failure)", pytrace=False)
    pytest.skip(reason)


# A feature cache of the test session's own ($ADVNETS_CACHE), so that the classifier of the embedded digits is
# trained once per session (a few seconds) and nothing is written to the user's cache.
@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("advnets-cache")


@pytest.fixture
def feature_cache(session_cache, monkeypatch):
    """$ADVNETS_CACHE -> the session's folder; extractors loaded in this process are forgotten afterwards."""
    monkeypatch.setenv(features.CACHE_ENV, str(session_cache))
    yield session_cache / "features"
    features._LOADED.clear()
