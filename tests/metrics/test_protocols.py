"""Scores with different protocols are never put side by side: advnets.evaluate.check_same_protocol."""

import pytest

from advnets.errors import UserError
from advnets.evaluate import check_same_protocol, record_protocol

FID = {
    "name": "fid10k-classifier-mnist",
    "fid": 3.2,
    "protocol": {"samples": 10000, "extractor": "classifier-mnist", "extractor_hash": "aa", "real_split": "test", "real": 10000},
}


def with_protocol(record, **changes):
    return {**record, "protocol": {**record["protocol"], **changes}}


def test_one_protocol_passes_and_a_weight_average_score_may_stand_beside_g():
    check_same_protocol([])
    check_same_protocol([FID, {**FID, "fid": 4.0}, {**FID, "name": "fid10k-classifier-mnist-ema"}])
    check_same_protocol([{"name": "parzen10k", "mean": 220.0}, {"name": "parzen10k-ema", "mean": 225.0}])
    assert record_protocol({**FID, "name": "fid10k-classifier-mnist-ema"})["name"] == "fid10k-classifier-mnist"


def test_another_extractor_hash_is_refused_naming_it():
    other = with_protocol(FID, extractor_hash="bb")
    with pytest.raises(UserError, match=r"the table would put scores of different protocols side by side.*extractor_hash: aa vs bb"):
        check_same_protocol([FID, other], what="the table")


def test_another_name_or_real_count_is_refused():
    with pytest.raises(UserError, match=r"name: parzen10k vs parzen10k-valid200-test197"):
        check_same_protocol([{"name": "parzen10k"}, {"name": "parzen10k-valid200-test197"}])
    with pytest.raises(UserError, match=r"real: 10000 vs 197"):
        check_same_protocol([FID, with_protocol(FID, real=197)])
