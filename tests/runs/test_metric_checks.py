"""Scheduled metrics are checked before the first update, and a metric that fails at an evaluation never costs the
checkpoint of the work done (advnets.runs.evaluation)."""

import pytest
import torch

from advnets.errors import UserError
from advnets.evaluate import read_evals
from advnets.metrics import METRICS, Metric
from advnets.runs.checkpoint import load_checkpoint
from advnets.runs.run_dir import RunDir
from advnets.runs.session import resume, train
from tests.conftest import tiny_config


def test_a_metric_that_cannot_score_the_data_stops_the_run_before_its_folder(tmp_path):
    out = tmp_path / "run"
    cfg = tiny_config("eval.metrics=[modes]", "eval.every_epochs=1")
    with pytest.raises(UserError, match="data.name=digits is not a mixture"):
        train(cfg, out)
    assert not out.exists()
    with pytest.raises(UserError, match="moments metric scores a 1-D generator"):
        train(tiny_config("eval.metrics=[moments]", "eval.every_epochs=1"), out)
    with pytest.raises(UserError, match="classifier-mnist classifies mnist images, but this run's data are digits"):
        train(tiny_config("eval.metrics.fid.extractor=classifier-mnist", "eval.every_epochs=1"), out)
    assert not out.exists()
    # Not scheduled (eval.every_epochs=0): nothing to check.
    train(tiny_config("eval.metrics=[modes]", "eval.every_epochs=0", "train.epochs=1"), out)


@pytest.fixture
def failing_metric():
    def fail(options, inputs):
        raise UserError("the failing metric failed")

    METRICS.register("failing")(Metric(compute=fail, protocol=lambda options, refs: "failing10"))
    yield
    METRICS.unregister("failing")


def test_a_metric_failing_mid_run_keeps_the_checkpoint_of_the_epoch(tmp_path, failing_metric):
    out = tmp_path / "run"
    cfg = tiny_config(
        "eval.metrics=[failing]", "eval.every_epochs=2", "train.epochs=3", "log.checkpoint_every_epochs=3"
    )
    with pytest.raises(UserError, match=r"the failing metric failed .*failed at epoch 2; that epoch's checkpoint is saved"):
        train(cfg, out)
    state = load_checkpoint(RunDir(out).latest_checkpoint())
    assert state["cursor"]["epoch"] == 2
    # The run goes on from there without the metric.
    assert resume(out, ["eval.every_epochs=0"]) == "completed"
    assert load_checkpoint(RunDir(out).latest_checkpoint())["cursor"]["epoch"] == 3


def test_a_bug_in_a_metric_keeps_the_checkpoint_and_its_traceback(tmp_path):
    def broken(options, inputs):
        raise ZeroDivisionError("a bug")

    METRICS.register("broken")(Metric(compute=broken, protocol=lambda options, refs: "broken10"))
    try:
        with pytest.raises(ZeroDivisionError, match="a bug"):
            train(tiny_config("eval.metrics=[broken]", "eval.every_epochs=1", "train.epochs=2"), tmp_path / "run")
    finally:
        METRICS.unregister("broken")
    state = load_checkpoint(RunDir(tmp_path / "run").latest_checkpoint())
    assert state["cursor"]["epoch"] == 1 and torch.is_tensor(next(iter(state["G"].values())))


class Killed(BaseException):
    """What a hard kill looks like from inside: nothing of the run's own handling (Ctrl-C, errors) runs."""


def test_a_run_killed_while_scoring_keeps_its_epoch_and_scores_it_when_resumed(tmp_path):
    calls = []

    def slow(options, inputs):
        calls.append(1)
        if len(calls) == 2:  # the second scoring: the run's last epoch
            raise Killed
        return {"name": "slow10", "value": float(inputs.sample(10).mean())}

    METRICS.register("slow")(Metric(compute=slow, protocol=lambda options, refs: "slow10"))
    try:
        out = tmp_path / "run"
        cfg = tiny_config("eval.metrics=[slow]", "eval.every_epochs=1", "train.epochs=2")
        with pytest.raises(Killed):
            train(cfg, out)
        # The last epoch was saved before its scoring began: no training is lost.
        state = load_checkpoint(RunDir(out).latest_checkpoint())
        assert state["cursor"] == {"epoch": 2, "batch": 0}
        steps_logged = len(RunDir(out).metrics_path.read_text().splitlines())
        # Resuming the finished run scores what it owes, and trains nothing more.
        assert resume(out) == "completed"
        records = [r for r in read_evals(RunDir(out), "slow10", training_only=True)]
        assert [r["epoch"] for r in records] == [1, 2] and len(calls) == 3
        assert records[1]["step"] == state["counters"]["step"]
        assert len(RunDir(out).metrics_path.read_text().splitlines()) == steps_logged
        # Nothing is owed any more: a finished run, refused, or (for studies) left as it is.
        with pytest.raises(UserError, match="already finished"):
            resume(out)
        assert resume(out, finished_ok=True) == "completed" and len(calls) == 3
    finally:
        METRICS.unregister("slow")
