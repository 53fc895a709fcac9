"""`advnets eval --metric NAME` with each metric's own options: the Parzen flags, `--option KEY=VALUE` for any key,
clear errors for an option the metric lacks, and the feature metrics (fid, kid, is, classes) end to end on a tiny
digits run with the digits classifier."""

import json
import subprocess
import sys

import pytest

from advnets.cli import main, parse_metric_options
from advnets.errors import UserError
from advnets.metrics import features
from tests.conftest import TINY


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("advnets-cache")


@pytest.fixture
def run_dir(tmp_path_factory, cache, monkeypatch):
    monkeypatch.setenv(features.CACHE_ENV, str(cache))
    out = tmp_path_factory.getbasetemp() / "eval-run"
    if not out.exists():
        assert main(["train", *TINY, "train.epochs=1", "--out", str(out), "--quiet"]) == 0
    yield out
    features._LOADED.clear()


def last_record(run_dir):
    return json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])


def test_options_are_read_as_yaml_values():
    assert parse_metric_options(["samples=2000", "real=null", "extractor=classifier-mnist", "sigmas=[0.1, 0.2]"]) == {
        "samples": 2000,
        "real": None,
        "extractor": "classifier-mnist",
        "sigmas": [0.1, 0.2],
    }
    for bad, message in (("samples", "not KEY=VALUE"), ("=3", "not KEY=VALUE"), ("a=[1", "not a value")):
        with pytest.raises(UserError, match=message):
            parse_metric_options([bad])
    with pytest.raises(UserError, match="given twice"):
        parse_metric_options(["samples=1", "samples=2"])


def test_fid_with_its_options(run_dir, capsys):
    assert main(["eval", str(run_dir), "--metric", "fid", "--samples", "300", "--option", "real=150", "-q"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fid300-classifier-digits-test150 = ") and "300 samples vs 150 test images" in out
    record = last_record(run_dir)
    assert record["metric"] == "fid" and record["checkpoint"] == "latest"
    assert record["protocol"]["real"] == 150 and record["protocol"]["extractor"] == "classifier-digits"
    assert (run_dir / "fid300-classifier-digits-test150.png").is_file()


def test_without_quiet_a_score_shows_its_generated_images_progress(run_dir, capsys):
    assert main(["eval", str(run_dir), "--metric", "fid", "--samples", "120", "--option", "real=60"]) == 0
    err = capsys.readouterr().err
    assert "classifier-digits: generated images" in err and "120/120" in err


def test_kid_is_and_classes_take_their_own_options(run_dir, capsys):
    args = ["eval", str(run_dir), "-q", "--samples", "200"]
    assert main([*args, "--metric", "kid", "--option", "subsets=3", "--option", "subset_size=50"]) == 0
    assert last_record(run_dir)["name"] == "kid200-classifier-digits" and last_record(run_dir)["subsets"] == 3
    assert main([*args, "--metric", "is", "--option", "splits=2"]) == 0
    assert last_record(run_dir)["name"] == "is200-classifier-digits-splits2"
    assert main([*args, "--metric", "classes"]) == 0
    assert "classes200-classifier-digits: KL from the data's classes" in capsys.readouterr().out


def test_an_option_the_metric_lacks_is_an_error_naming_its_options(run_dir, capsys):
    assert main(["eval", str(run_dir), "--metric", "fid", "--valid", "100", "-q"]) == 2
    err = capsys.readouterr().err
    assert "valid does not apply to metric 'fid'; its options are: samples, extractor, real_split" in err
    assert main(["eval", str(run_dir), "--metric", "kid", "--option", "sigmas=[0.1]", "-q"]) == 2
    assert "sigmas does not apply to metric 'kid'" in capsys.readouterr().err
    assert main(["eval", str(run_dir), "--metric", "fid", "--samples", "10", "--option", "samples=20"]) == 2
    assert "given as --samples and as --option samples" in capsys.readouterr().err
    assert main(["eval", str(run_dir), "--metric", "fid", "--option", "samples=many"]) == 2
    assert "eval.metrics.fid.samples" in capsys.readouterr().err


def test_a_metric_that_cannot_score_the_run_is_refused_before_sampling(run_dir, capsys):
    before = (run_dir / "eval.jsonl").read_text() if (run_dir / "eval.jsonl").exists() else ""
    assert main(["eval", str(run_dir), "--metric", "modes", "-q"]) == 2
    assert "not a mixture" in capsys.readouterr().err
    assert main(["eval", str(run_dir), "--metric", "fid", "--option", "extractor=classifier-mnist", "-q"]) == 2
    assert "classifier-mnist classifies mnist images, but this run's data are digits" in capsys.readouterr().err
    assert main(["eval", str(run_dir), "--metric", "stacked-modes", "-q"]) == 2
    assert "scores Stacked MNIST" in capsys.readouterr().err
    after = (run_dir / "eval.jsonl").read_text() if (run_dir / "eval.jsonl").exists() else ""
    assert after == before


def test_the_parzen_flags_still_work_and_the_real_cli_takes_option(run_dir):
    result = subprocess.run(
        [sys.executable, "-m", "advnets", "eval", str(run_dir), "--samples", "100", "--valid", "50", "--option",
         "test=60", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("parzen100-valid50-test60 = ")
