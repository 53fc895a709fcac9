"""A feature cache of the test session's own ($ADVNETS_CACHE), so that the classifier of the embedded digits is
trained once per session (a few seconds) and nothing is written to the user's cache."""

import pytest

from advnets.metrics import features


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("advnets-cache")


@pytest.fixture
def feature_cache(session_cache, monkeypatch):
    """$ADVNETS_CACHE -> the session's folder; extractors loaded in this process are forgotten afterwards."""
    monkeypatch.setenv(features.CACHE_ENV, str(session_cache))
    yield session_cache / "features"
    features._LOADED.clear()
