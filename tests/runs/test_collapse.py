"""The collapse and cycling signals: hand-computed values, a collapsed and a jumping G on hand-made data, and both
columns in every metrics line of a real run (with its strip.png)."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from torch import nn

from advnets.cli import main
from advnets.data import VectorSet
from advnets.runs.checkpoint import load_checkpoint, step_checkpoint_name
from advnets.runs.collapse import CollapseSignals, mean_shift, nearest_neighbour_distance
from advnets.runs.run_dir import load_run_config
from advnets.training.trainer import Trainer
from tests.conftest import TINY

# Three points 5, 3 and 4 apart: nearest neighbours 3 (of a), 4 (of b), 3 (of c); mean pairwise distance 4.
TRIANGLE = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]])


def test_nearest_neighbour_and_mean_shift_match_hand_values():
    assert nearest_neighbour_distance(TRIANGLE) == pytest.approx((3 + 4 + 3) / 3, abs=1e-12)
    assert nearest_neighbour_distance(torch.zeros(5, 1, 2, 2)) == 0.0  # five copies of one image
    with pytest.raises(ValueError, match="at least 2 rows"):
        nearest_neighbour_distance(TRIANGLE[:1])
    assert mean_shift(
        torch.zeros(2, dtype=torch.float64), torch.tensor([[1.0, 1.0], [3.0, 3.0]])
    ) == pytest.approx(2 * math.sqrt(2), abs=1e-12)


class Shifted(nn.Module):
    """G(z) = z * scale + offset: the identity reproduces the data, scale 0 is a G collapsed onto `offset`."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))
        self.offset = nn.Parameter(torch.zeros(2))

    def forward(self, z):
        return z * self.scale + self.offset


def fake_trainer(G):
    # The latent grid is the data itself, so the identity G makes exactly the data's samples.
    return SimpleNamespace(
        G=G,
        fixed_z=TRIANGLE.clone(),
        fixed_labels=None,  # an unconditional G
        train_set=VectorSet(TRIANGLE, "triangle", "train"),
        cfg=SimpleNamespace(seed=0),
    )


def test_a_g_like_the_data_scores_one_and_a_collapsed_one_zero():
    monitor = CollapseSignals()
    out = monitor.signals(fake_trainer(Shifted(1.0)))  # no start(): no jump to report yet
    assert out == {"nn_diversity": pytest.approx(1.0, abs=1e-12)}
    collapsed = CollapseSignals().signals(fake_trainer(Shifted(0.0)))
    assert collapsed["nn_diversity"] == 0.0
    # Samples half as far apart as the data's: nearest neighbours (1.5 + 2 + 1.5) / 3 over (3 + 4 + 3) / 3.
    halved = CollapseSignals().signals(fake_trainer(Shifted(0.5)))
    assert halved["nn_diversity"] == pytest.approx(0.5, abs=1e-12)


def test_mode_jump_is_the_mean_samples_move_over_the_data_spread():
    G = Shifted(0.0)
    trainer, monitor = fake_trainer(G), CollapseSignals()
    monitor.start(trainer)
    with torch.no_grad():
        G.offset.copy_(torch.tensor([3.0, 4.0]))  # the collapsed G jumps 5 away; the data spread is 4
    assert monitor.signals(trainer)["mode_jump"] == pytest.approx(5 / 4, abs=1e-12)
    assert monitor.signals(trainer)["mode_jump"] == 0.0  # measured from the last line: it has not moved since


def restored(run, step):
    """A Trainer holding the state the run saved at `step`."""
    trainer = Trainer.from_config(load_run_config(run))
    trainer.load_state_dict(load_checkpoint(run / "checkpoints" / step_checkpoint_name(step)))
    return trainer


def test_every_metrics_line_carries_the_signals_of_the_g_at_that_step_and_the_run_gets_its_strip(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY, "train.max_steps=35", "--quiet"]) == 0
    # Resumed at step 35: the step-40 line's mode_jump is measured from the G saved at step 35.
    assert main(["resume", str(run), "train.max_steps=40", "--quiet"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(5, 45, 5))
    assert all(set(r) >= {"nn_diversity", "mode_jump"} for r in records)
    # The logged signals are those of the G saved at that step, on the fixed latent grid, against the data.
    monitor = CollapseSignals()
    monitor.start(restored(run, 35))
    expected = monitor.signals(restored(run, 40))
    assert expected["nn_diversity"] > 0.0 and expected["mode_jump"] > 0.0  # a G that varies and moves
    for key in ("nn_diversity", "mode_jump"):
        assert records[-1][key] == pytest.approx(expected[key], rel=1e-6), key
    with Image.open(run / "strip.png") as strip:  # pictures at steps 0, 20, 40 -> the 4-column minimum width
        assert strip.size == (int(4 * 1.6 * 120), int((1.6 + 0.35 + 2.6) * 120))
