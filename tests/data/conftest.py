"""Data tests run isolated: no network, no user cache, no $ADVNETS_DATA, nothing decoded by another test."""

import pooch
import pytest

from advnets.data import cifar10, idx


@pytest.fixture(autouse=True)
def isolated_data(tmp_path, monkeypatch):
    def no_network(url, *args, **kwargs):
        raise OSError(f"the network is off in tests ({url})")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    monkeypatch.setattr(pooch, "os_cache", lambda project: tmp_path / "user-cache" / project)
    monkeypatch.delenv("ADVNETS_DATA", raising=False)
    idx._read_checked.cache_clear()
    cifar10._read_checked.cache_clear()
    yield
    idx._read_checked.cache_clear()
    cifar10._read_checked.cache_clear()
