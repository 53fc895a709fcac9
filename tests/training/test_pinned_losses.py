"""The numbers that must not move: the first 12 updates of the shipped presets, logged before the design refactor
(issue 10) and compared exactly after it, under both update rules. A change here is a bug unless an issue asks
for it (then the README and RESULTS say so, and this file is re-pinned)."""

import json
from pathlib import Path

import pytest
import torch

from advnets.config import load_config
from advnets.training.trainer import Trainer
from tests.conftest import SHARED_MNIST

PINNED = json.loads((Path(__file__).parent / "pinned_losses.json").read_text())
CASES = {
    "mnist-paper": ("mnist-paper", []),
    "mnist-paper train.update=alternating train.d_steps=2 train.g_batch_size=50": (
        "mnist-paper",
        ["train.update=alternating", "train.d_steps=2", "train.g_batch_size=50"],
    ),
    "digits": ("digits", []),
    "mnist-zeros": ("mnist-zeros", []),
    "wgan": ("wgan", []),  # pinned when the preset was added (issue 11)
}
PINNED_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "critic_gap")


@pytest.mark.parametrize("case", list(CASES))
def test_first_updates_log_the_pinned_losses(case):
    preset, extra = CASES[case]
    if preset.startswith("mnist") and not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("the MNIST files are not beside the repository")
    cfg = load_config(
        preset, [f"data.root={SHARED_MNIST}", "log.progress=false", "log.tensorboard=false", *extra]
    )
    trainer = Trainer.from_config(cfg)
    expected = PINNED[case]
    for step, want in enumerate(expected["steps"], start=1):
        got = {k: float(v) for k, v in trainer.train_step().items()}
        for key in PINNED_KEYS:
            if key in want:
                assert got[key] == want[key], f"{case}: step {step} {key} moved: {got[key]!r} != {want[key]!r}"
    with torch.no_grad():
        assert float(sum(p.double().sum() for p in trainer.G.parameters())) == expected["g_param_sum"]
        assert float(sum(p.double().sum() for p in trainer.D.parameters())) == expected["d_param_sum"]
