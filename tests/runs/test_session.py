"""The generator `advnets eval` and `advnets sample` use: a run's moving average of G's weights (G_ema) when it
keeps one, G with --no-ema or when it keeps none; and how their records and files say which one they used."""

import json

import pytest
import torch

from advnets import cli
from advnets.runs import hooks
from advnets.runs.checkpoint import latest_checkpoint, load_checkpoint
from advnets.runs.session import load_generator
from advnets.training.trainer import Trainer
from tests.conftest import TINY, tiny_config

PARZEN = [
    "eval.every_epochs=1",
    "eval.metrics.parzen.samples=100",
    "eval.metrics.parzen.valid=50",
    "eval.metrics.parzen.test=60",
]
PROTOCOL = "parzen100-valid50-test60"


def train(out, *extra):
    assert cli.main(["train", "--out", str(out), *TINY, "train.epochs=2", *PARZEN, *extra, "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("runs") / "ema", "train.ema_decay=0.9")


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("runs") / "plain", "train.max_steps=3", "eval.every_epochs=0")


def evals(run):
    return [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]


def weights(G):
    return {k: v.cpu() for k, v in G.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_load_generator_gives_the_checkpoints_average_and_g_with_no_ema(ema_run):
    state = load_checkpoint(latest_checkpoint(ema_run / "checkpoints"))
    assert state["G_ema"].keys() == state["G"].keys()
    assert all(not torch.equal(state["G_ema"][k], state["G"][k]) for k in state["G"])  # a test that can fail
    G, _, _, _, ema = load_generator(ema_run, device="cpu")
    assert ema and not G.training
    assert_same(weights(G), state["G_ema"])
    G, _, _, _, ema = load_generator(ema_run, device="cpu", ema=False)
    assert not ema
    assert_same(weights(G), state["G"])


def test_a_checkpoint_without_the_average_gives_g(plain_run):
    state = load_checkpoint(latest_checkpoint(plain_run / "checkpoints"))
    assert "G_ema" not in state
    G, _, _, _, ema = load_generator(plain_run, device="cpu")
    assert not ema
    assert_same(weights(G), state["G"])


def test_training_scores_the_average_under_its_own_name(ema_run):
    during = evals(ema_run)
    assert [(r["epoch"], r["name"], r["generator"]) for r in during] == [
        (1, f"{PROTOCOL}-ema", "ema"),
        (2, f"{PROTOCOL}-ema", "ema"),
    ]
    assert (ema_run / "checkpoints" / f"best-{PROTOCOL}-ema.pt").is_file()
    assert (ema_run / "parzen.png").is_file()


def test_eval_scores_the_average_and_with_no_ema_g_named_apart(ema_run, capsys):
    assert cli.main(["eval", str(ema_run), "-q"]) == 0
    assert capsys.readouterr().out.startswith(f"{PROTOCOL}-ema = ")
    ema = evals(ema_run)[-1]
    assert (ema["name"], ema["generator"], ema["checkpoint"]) == (f"{PROTOCOL}-ema", "ema", "latest")
    # The latest checkpoint is the end of epoch 2, which training scored with the same protocol and seed.
    at_epoch_2 = next(r for r in evals(ema_run) if r["epoch"] == 2 and "checkpoint" not in r)
    assert ema["mean"] == at_epoch_2["mean"]
    assert cli.main(["eval", str(ema_run), "--no-ema", "-q"]) == 0
    assert capsys.readouterr().out.startswith(f"{PROTOCOL} = ")
    raw = evals(ema_run)[-1]
    assert (raw["name"], raw["generator"]) == (PROTOCOL, "raw") and raw["mean"] != ema["mean"]
    assert (ema_run / f"{PROTOCOL}.png").is_file()  # G's scores get a figure of their own


def test_a_run_without_the_average_scores_g_under_the_plain_name(plain_run, capsys):
    assert cli.main(["eval", str(plain_run), "--samples", "100", "--valid", "50", "--test", "60", "-q"]) == 0
    record = evals(plain_run)[-1]
    assert (record["name"], record["generator"]) == (PROTOCOL, "raw")


def test_sample_draws_the_average_unless_no_ema(ema_run, capsys, monkeypatch):
    drawn = []

    def generate(G, *args, **kwargs):
        drawn.append(weights(G))
        return torch.rand(4, 1, 8, 8)

    monkeypatch.setattr("advnets.runs.session.generate", generate)
    state = load_checkpoint(latest_checkpoint(ema_run / "checkpoints"))
    step = state["counters"]["step"]
    assert cli.main(["sample", str(ema_run), "-n", "4"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"sample-step{step:07d}-n4-seed0-ema.png")
    assert cli.main(["sample", str(ema_run), "-n", "4", "--no-ema"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"sample-step{step:07d}-n4-seed0.png")
    assert_same(drawn[0], state["G_ema"])
    assert_same(drawn[1], state["G"])


def test_sample_pictures_during_training_come_from_the_average(tmp_path, monkeypatch):
    drawn = []
    original = hooks.generate_from
    monkeypatch.setattr(hooks, "generate_from", lambda G, z: drawn.append(G) or original(G, z))
    trainer = Trainer.from_config(tiny_config("train.ema_decay=0.9"))
    hooks.SampleHook(tmp_path).save(trainer)
    assert drawn == [trainer.parts.G_ema]
