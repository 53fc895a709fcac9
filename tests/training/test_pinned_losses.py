"""The numbers that must not move: the first 12 updates of the shipped presets, logged before the design refactor
(issue 10) and compared exactly after it, under both update rules. A change here is a bug unless an issue asks
for it (then the README and RESULTS say so, and this file is re-pinned)."""

import json
from pathlib import Path

import pytest
import torch

from advnets.config import list_presets, load_config
from advnets.training.trainer import Trainer
from tests.conftest import SHARED_MNIST

PINNED_FILE = Path(__file__).parent / "pinned_losses.json"
PINNED = json.loads(PINNED_FILE.read_text())
# Every shipped preset as it is, and the paper's setup under the other update rule.
CASES = {
    **{name: (name, []) for name in list_presets()},
    "mnist-paper train.update=alternating train.d_steps=2 train.g_batch_size=50": (
        "mnist-paper",
        ["train.update=alternating", "train.d_steps=2", "train.g_batch_size=50"],
    ),
}
STEPS = 12
PINNED_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "critic_gap")


def first_updates(case: str) -> Trainer:
    preset, extra = CASES[case]
    root = [f"data.root={SHARED_MNIST}"] if needs_mnist(case) else []
    return Trainer.from_config(load_config(preset, [*root, "log.progress=false", "log.tensorboard=false", *extra]))


def needs_mnist(case: str) -> bool:
    return load_config(CASES[case][0]).data.name == "mnist"


@pytest.mark.parametrize("case", list(CASES))
def test_first_updates_log_the_pinned_losses(case):
    assert case in PINNED, f"{case} is not pinned: run `python -m tests.training.test_pinned_losses` to pin it"
    if needs_mnist(case) and not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("the MNIST files are not beside the repository")
    trainer = first_updates(case)
    expected = PINNED[case]
    for step, want in enumerate(expected["steps"], start=1):
        got = {k: float(v) for k, v in trainer.train_step().items()}
        for key in PINNED_KEYS:
            if key in want:
                assert got[key] == want[key], f"{case}: step {step} {key} moved: {got[key]!r} != {want[key]!r}"
    with torch.no_grad():
        assert float(sum(p.double().sum() for p in trainer.G.parameters())) == expected["g_param_sum"]
        assert float(sum(p.double().sum() for p in trainer.D.parameters())) == expected["d_param_sum"]


def pin(case: str) -> dict:
    """The record a case is pinned with: the pinned keys of its first STEPS updates and both nets' weight sums."""
    trainer = first_updates(case)
    steps = []
    for _ in range(STEPS):
        stats = {k: float(v) for k, v in trainer.train_step().items()}
        steps.append({k: stats[k] for k in PINNED_KEYS if k in stats})
    with torch.no_grad():
        g_sum = float(sum(p.double().sum() for p in trainer.G.parameters()))
        d_sum = float(sum(p.double().sum() for p in trainer.D.parameters()))
    return {"steps": steps, "g_param_sum": g_sum, "d_param_sum": d_sum}


if __name__ == "__main__":
    # Pins the cases not pinned yet; `--repin CASE` re-pins one that an issue asked to change (say so in the README).
    import sys

    repin = sys.argv[sys.argv.index("--repin") + 1 :] if "--repin" in sys.argv else []
    for case in CASES:
        if case not in PINNED or case in repin:
            PINNED[case] = pin(case)
            print(f"pinned {case}")
    PINNED_FILE.write_text(json.dumps(PINNED, indent=1, sort_keys=True) + "\n")
