"""health.on_divergence=lower_lr: roll back to the last healthy state, lower the learning rates, go on."""

import json

import pytest
import torch

from advnets.cli import main
from advnets.config import build_config
from advnets.errors import UserError
from advnets.runs.checkpoint import latest_checkpoint, load_checkpoint
from advnets.runs.recovery import roll_back
from advnets.runs.run_dir import load_run_config
from advnets.runs.session import resume, train
from advnets.training.optim import lr_at
from advnets.training.trainer import Trainer
from tests.conftest import TINY

EXPLODE = ["train.d_optimizer.lr=1e6", "train.g_optimizer.lr=1e6", "log.every_steps=5", "--quiet"]


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_diverging_run_rolls_back_to_its_start_and_finishes_with_lower_rates(tmp_path, capsys):
    run = tmp_path / "run"
    args = [*TINY, *EXPLODE, "train.max_steps=30", "health.on_divergence=lower_lr", "health.lr_factor=1e-8"]
    assert main(["train", *args, "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "rolled back to step 0" in err and "x1e-08" in err and "Traceback" not in err
    (event,) = records(run / "health.jsonl")
    assert event["to_step"] == 0 and event["rollback"] == 1 and event["lr_scale"] == 1e-8
    assert event["reason"].startswith("training diverged: the losses reached")
    kept, abandoned = records(run / "metrics.jsonl"), records(run / "metrics-rolled-back.jsonl")
    assert [r["step"] for r in kept] == [5, 10, 15, 20, 25, 30]  # the run that continued, from step 0
    assert abandoned and "diverged" in abandoned[-1]["flags"]
    assert all(r["lr_d"] == pytest.approx(1e6 * 1e-8) and not r["flags"] == ["diverged"] for r in kept)
    state = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    assert state["health"] == {"lr_scale": 1e-8, "rollbacks": 1}
    # A resumed run keeps the lowered rates.
    assert resume(run, ["train.max_steps=40", "log.progress=false"]) == "completed"
    assert records(run / "metrics.jsonl")[-1]["lr_d"] == pytest.approx(1e-2)


def test_rollbacks_stop_after_max_rollbacks_with_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    args = [*TINY, *EXPLODE, "train.max_steps=60", "health.on_divergence=lower_lr", "health.max_rollbacks=1"]
    assert main(["train", *args, "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "rollback 1 of 1" in err[0]
    assert "training diverged" in err[1] and "after 1 rollback(s)" in err[1] and "x0.5" in err[1]
    assert len(records(run / "health.jsonl")) == 1


def test_roll_back_restores_the_latest_checkpoint_and_sets_later_metrics_aside(tmp_path):
    cfg = build_config(overrides=[*TINY, "train.max_steps=20", "log.progress=false"])
    run, _ = train(cfg, tmp_path / "run")
    saved = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    trainer = Trainer.from_config(load_run_config(run))
    trainer.load_state_dict(saved)
    for _ in range(7):
        trainer.train_step()
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 25, "d_loss": 1e9}) + "\n")
    evals = [{"step": 10, "name": "parzen", "mean": 1.0}, {"step": 25, "name": "parzen", "mean": -1e9}]
    (run / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    roll_back(trainer, run, start={}, reason="training diverged: the losses reached d_loss=1e9 by step 27; advice")
    assert trainer.step == 20 and trainer.lr_scale == 0.5 and trainer.rollbacks == 1
    assert all(torch.equal(trainer.G.state_dict()[k], v) for k, v in saved["G"].items())
    assert max(r["step"] for r in records(run / "metrics.jsonl")) == 20
    assert records(run / "metrics-rolled-back.jsonl") == [{"step": 25, "d_loss": 1e9}]
    assert records(run / "eval.jsonl") == evals[:1] and records(run / "eval-rolled-back.jsonl") == evals[1:]
    event = records(run / "health.jsonl")[0]
    assert event["from"] == "step-0000020.pt" and event["step"] == 27 and event["reason"].endswith("step 27")
    trainer.begin_d_update()
    expected = 0.5 * lr_at(cfg.train.d_optimizer, trainer.d_updates)  # the schedule's lr, halved
    assert trainer.d_opt.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "override, message",
    [
        ("health.on_divergence=retry", "health.on_divergence"),
        ("health.lr_factor=1.5", "health.lr_factor=1.5 must be in (0, 1)"),
        ("health.max_rollbacks=-1", "health.max_rollbacks"),
    ],
)
def test_bad_remedy_settings_are_refused(override, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config(overrides=[override])
