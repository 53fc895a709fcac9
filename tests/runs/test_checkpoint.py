import os
import pickle

import pytest
import torch

from advnets import cli
from advnets.errors import UserError
from advnets.runs.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from advnets.training.trainer import Trainer
from tests.conftest import TINY, tiny_config


def run(cfg, state=None):
    trainer = Trainer.from_config(cfg)
    if state is not None:
        trainer.load_state_dict(state)
    trainer.fit()
    return trainer


@pytest.mark.parametrize(
    "overrides",
    [
        # the paper's setup: simultaneous SGD with momentum, dropout in D, per-step lr decay
        ("train.g_optimizer.lr_decay=1.01",),
        # Algorithm 1 with k=2 and Adam, stopping mid-epoch and crossing epoch boundaries
        (
            "train.update=alternating",
            "train.d_steps=2",
            "train.g_optimizer.name=adam",
            "train.d_optimizer.name=rmsprop",
            "train.g_optimizer.lr=0.001",
            "train.d_optimizer.lr=0.001",
        ),
        # G's weight average, saved and restored with the rest
        ("train.ema_decay=0.9",),
    ],
)
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, overrides):
    full = run(tiny_config(*overrides, "train.epochs=4", "train.max_steps=70"))
    first = run(tiny_config(*overrides, "train.epochs=4", "train.max_steps=33"))
    path = save_checkpoint(tmp_path, "step-0000033.pt", first.state_dict(), keep=2)
    state = load_checkpoint(path)
    resumed = run(tiny_config(*overrides, "train.epochs=4", "train.max_steps=70"), state)
    assert resumed.step == full.step == 70
    for a, b in zip(
        list(full.G.state_dict().values()) + list(full.D.state_dict().values()),
        list(resumed.G.state_dict().values()) + list(resumed.D.state_dict().values()),
    ):
        assert torch.equal(a, b)
    if resumed.parts.G_ema is not None:
        assert full.parts.G_ema is not None and "G_ema" in state
        for a, b in zip(full.parts.G_ema.state_dict().values(), resumed.parts.G_ema.state_dict().values()):
            assert torch.equal(a, b)
    assert (resumed.g_updates, resumed.d_updates, resumed.epoch) == (
        full.g_updates,
        full.d_updates,
        full.epoch,
    )


def test_latest_names_the_newest_complete_file_and_old_ones_are_pruned(tmp_path):
    for step in range(1, 5):
        save_checkpoint(
            tmp_path, f"step-{step:07d}.pt", {"format": "advnets-checkpoint", "step": step}, keep=2
        )
    assert latest_checkpoint(tmp_path).name == "step-0000004.pt"
    assert sorted(p.name for p in tmp_path.glob("step-*.pt")) == ["step-0000003.pt", "step-0000004.pt"]
    assert not list(tmp_path.glob(".*tmp*"))
    assert load_checkpoint(latest_checkpoint(tmp_path))["step"] == 4


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_pickle_payload_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = Payload()
    payload.marker = marker
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        torch.save({"format": "advnets-checkpoint", "G": payload}, f)
    # also a raw pickle (not a torch zip file)
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(payload))
    for bad in (path, raw):
        with pytest.raises(UserError, match="refusing to load|unreadable"):
            load_checkpoint(bad)
    assert not marker.exists()


def test_truncated_and_foreign_files_give_clear_errors(tmp_path):
    good = save_checkpoint(tmp_path, "step-0000001.pt", {"format": "advnets-checkpoint"}, keep=2)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(UserError, match="unreadable or truncated"):
        load_checkpoint(cut)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(UserError, match="not an advnets checkpoint"):
        load_checkpoint(other)
    with pytest.raises(UserError, match="no checkpoint"):
        latest_checkpoint(tmp_path / "nothing")


def test_the_latest_pointer_loads_the_checkpoint_it_names(tmp_path):
    for step in (1, 2):
        save_checkpoint(
            tmp_path, f"step-{step:07d}.pt", {"format": "advnets-checkpoint", "step": step}, keep=2
        )
    assert load_checkpoint(tmp_path / "latest")["step"] == 2
    (tmp_path / "latest").write_text("step-0000009.pt\n")
    with pytest.raises(UserError, match=r"latest names step-0000009\.pt, which is missing"):
        load_checkpoint(tmp_path / "latest")
    (tmp_path / "latest").write_text("")
    with pytest.raises(UserError, match="does not name a checkpoint file"):
        load_checkpoint(tmp_path / "latest")


def test_sample_accepts_checkpoint_latest(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "--out", str(run), *TINY, "train.max_steps=3", "--quiet"]) == 0
    grid, pointer = tmp_path / "grid.png", run / "checkpoints" / "latest"
    assert cli.main(["sample", str(run), "-o", str(grid), "--checkpoint", str(pointer)]) == 0, (
        capsys.readouterr()
    )
    assert grid.is_file()


def test_a_checkpoint_without_the_average_does_not_resume_a_run_that_keeps_one():
    state = Trainer.from_config(tiny_config("train.max_steps=2")).state_dict()
    assert "G_ema" not in state
    with pytest.raises(UserError, match="G_ema"):
        Trainer.from_config(tiny_config("train.ema_decay=0.9")).load_state_dict(state)
