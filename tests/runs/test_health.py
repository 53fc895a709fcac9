"""The health monitor: signals, flags, and a stop on divergence that keeps the last good checkpoint."""

import json
import math

import torch
from torch import nn

from advnets.cli import main
from advnets.config import HealthConfig
from advnets.runs.checkpoint import latest_checkpoint, load_checkpoint
from advnets.runs.health import flags, grad_norm, mean_pairwise_distance
from tests.conftest import TINY


def test_signals_match_hand_values():
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])) == (5 + 8 + 5) / 3
    layer = nn.Linear(2, 1)
    assert grad_norm(layer) is None
    layer.weight.grad, layer.bias.grad = torch.tensor([[3.0, 0.0]]), torch.tensor([4.0])
    assert math.isclose(grad_norm(layer), 5.0)


def test_flags():
    cfg = HealthConfig()
    assert flags({"d_loss": 0.7, "g_loss": 0.7, "diversity": 0.9, "d_acc_real": 0.6, "d_acc_fake": 0.6}, cfg) == []
    assert flags({"d_loss": math.nan}, cfg) == ["diverged"]
    assert flags({"d_loss": 7e20, "g_loss": 1.0}, cfg) == ["diverged"]
    assert flags({"d_loss": 0.1, "diversity": 0.01}, cfg) == ["mode_collapse"]
    # Cycling: collapsed (diversity < 0.1) and the mean sample moved more than 0.2 of the data's spread.
    assert flags({"d_loss": 0.1, "diversity": 0.01, "mode_jump": 0.3}, cfg) == ["mode_collapse", "mode_cycling"]
    assert flags({"d_loss": 0.1, "diversity": 0.01, "mode_jump": 0.1}, cfg) == ["mode_collapse"]
    assert flags({"d_loss": 0.1, "diversity": 0.5, "mode_jump": 0.9}, cfg) == []  # a varied G that learns fast
    assert flags({"d_loss": 0.01, "d_acc_real": 1.0, "d_acc_fake": 0.995}, cfg) == ["d_overconfident"]


def test_a_run_that_diverges_at_once_stops_with_one_line_before_any_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    # The run of the issue: learning rates of 1e6 blow the losses up (past 1e13) by the first metrics line.
    code = main(
        [
            "train",
            *TINY,
            "train.d_optimizer.lr=1e6",
            "train.g_optimizer.lr=1e6",
            "train.epochs=6",
            "log.every_steps=5",
            "log.checkpoint_every_epochs=1",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "training diverged" in err[0] and "Traceback" not in err[0]
    assert "stopped before any checkpoint was written" in err[0]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5] and "diverged" in records[-1]["flags"]
    assert all(k in records[0] for k in ("d_acc_real", "d_grad_norm", "g_grad_norm", "diversity", "d_loss_std"))
    assert not (run / "checkpoints" / "latest").exists()  # nothing written from the exploded weights


def test_a_diverging_run_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    # One healthy epoch, whose end always writes a checkpoint ...
    assert main(["train", *TINY, "train.epochs=1", "--out", str(run), "--quiet"]) == 0
    good = latest_checkpoint(run / "checkpoints")
    good_step = load_checkpoint(good)["counters"]["step"]
    good_bytes = good.read_bytes()
    # ... then resumed with a loss bound (health.* may change on resume) that the first metrics line exceeds:
    # a divergence at a known step, after a checkpoint, whatever the machine's last bits.
    code = main(["resume", str(run), "train.epochs=6", "health.max_loss=1e-3", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "training diverged" in err[0] and "Traceback" not in err[0]
    assert f"the last good checkpoint, {good.name}, stays `latest`" in err[0]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "diverged" in records[-1]["flags"] and records[-1]["step"] > good_step
    # The checkpoint written before the divergence is still `latest`, untouched, loadable and finite.
    assert latest_checkpoint(run / "checkpoints") == good and good.read_bytes() == good_bytes
    state = load_checkpoint(good)
    assert state["counters"]["step"] == good_step
    assert all(torch.isfinite(t).all() for t in state["G"].values())
