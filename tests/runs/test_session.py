"""The generator `advnets eval` and `advnets sample` use: a run's moving average of G's weights (G_ema) when it
keeps one, G with --no-ema or when it keeps none; and how their records and files say which one they used."""

import json
import logging
import math

import pytest
import torch

from advnets import cli
from advnets.config import load_config
from advnets.data import load_data
from advnets.errors import UserError
from advnets.evaluate import describe_record
from advnets.reporting import figures
from advnets.runs import hooks, session
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
    monkeypatch.setattr(hooks, "generate_from", lambda G, *args: drawn.append(G) or original(G, *args))
    trainer = Trainer.from_config(tiny_config("train.ema_decay=0.9"))
    hooks.SampleHook(tmp_path).save(trainer)
    assert drawn == [trainer.parts.G_ema]


# ------------------------------------------------------------------------------------ advnets eval, as a call
def test_evaluate_run_writes_the_record_the_cli_writes(plain_run, capsys):
    from advnets.runs import evaluate_run

    options = {"samples": 100, "valid": 50, "test": 60, "sigmas": [0.2, 0.3]}
    record = evaluate_run(plain_run, "parzen", **options)
    assert evals(plain_run)[-1] == record
    assert (record["checkpoint"], record["name"]) == ("latest", "parzen100-sigma2[0.2-0.3]-valid50-test60")
    flags = ["--samples", "100", "--valid", "50", "--test", "60", "--sigmas", "0.2,0.3"]
    assert cli.main(["eval", str(plain_run), *flags, "-q"]) == 0
    assert evals(plain_run)[-1] == record  # the CLI only parses and prints: the same record, line for line
    assert capsys.readouterr().out == describe_record(record) + "\n"
    # An option the metric does not have is refused before anything is loaded or written.
    before = evals(plain_run)
    with pytest.raises(
        UserError, match=r"valid does not apply to metric 'moments'; its options are: samples"
    ):
        evaluate_run(plain_run, "moments", valid=3)
    assert evals(plain_run) == before


def test_every_metric_describes_its_record_in_one_line():
    modes = {
        "metric": "modes",
        "name": "modes2500",
        "modes": 4,
        "components": 8,
        "high_quality": 0.94,
        "reverse_kl": 0.7912,
    }
    assert describe_record(modes) == "modes2500 = 4 of 8 modes, 94.0% high quality, reverse KL 0.79"
    none = {**modes, "modes": 0, "high_quality": 0.0, "reverse_kl": math.nan}
    assert describe_record(none).endswith("0.0% high quality, reverse KL undefined (no high-quality sample)")
    moments = {"metric": "moments", "name": "moments10k-ema", "mean": 4.0213, "variance": 0.00312}
    assert describe_record(moments) == "moments10k-ema: mean 4.021, variance 0.00312"
    with_data = {**moments, "data_mean": 4.0, "data_variance": 1.25}
    assert describe_record(with_data).endswith("(data: mean 4, variance 1.25)")
    parzen = {
        "metric": "parzen",
        "name": "parzen10k",
        "mean": 212.714,
        "se": 1.512,
        "sigma": 0.2,
        "sigmas": [0.2],
        "valid_means": [1.0],
        "n_samples": 10000,
        "n_valid": 1000,
        "n_test": 10000,
        "dim": 784,
        "pixel_range": "unit",
        "seed": 0,
    }
    assert describe_record(parzen).startswith("parzen10k = 212.71 ± 1.51 nats")


# ------------------------------------------------------------------------------------------------ TensorBoard
def tensorboard_scalars(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_holds_the_scores_and_a_resume_continues_its_steps(tmp_path, caplog):
    run = train(tmp_path / "tb", "log.tensorboard=true", "train.epochs=1", "log.every_steps=4")
    first = tensorboard_scalars(run)
    end_of_first = max(first["train/d_loss"])
    assert end_of_first == 1400 // 32  # the session's last point: its end, where the checkpoint is
    assert first[f"eval/{PROTOCOL}"] == [end_of_first] and first[f"eval/{PROTOCOL}/se"] == [end_of_first]
    assert cli.main(["resume", str(run), "train.epochs=2", "--quiet"]) == 0
    with caplog.at_level(logging.WARNING):
        scalars = tensorboard_scalars(run)
    assert "out of order" not in caplog.text
    steps = scalars["train/d_loss"]
    assert end_of_first in steps and steps == sorted(set(steps))  # the resume step's point kept, none twice
    assert steps[-1] == 2 * (1400 // 32)
    assert scalars[f"eval/{PROTOCOL}"] == [end_of_first, 2 * (1400 // 32)]


# ------------------------------------------------------------------------------------- samples of vector runs
def test_sample_draws_a_vector_run_over_its_data(tmp_path, monkeypatch):
    cfg = load_config(
        "ring-8",
        [
            "data.n=400",
            "model.generator.hidden=[8]",
            "model.discriminator.hidden=[8]",
            "train.max_steps=2",
            "eval.every_epochs=0",
            "log.tensorboard=false",
            "log.progress=false",
        ],
    )
    run, _ = session.train(cfg, tmp_path / "ring")
    drawn = []
    monkeypatch.setattr(figures, "save_vector_plot", lambda samples, path, **kw: drawn.append((samples, kw)))
    session.sample(run, 50)
    samples, kw = drawn[0]
    assert samples.shape == (50, 2)
    # The same data points as the run's own pictures, so that a missed mode shows as data without samples on it.
    expected = hooks.reference_points(load_data(cfg.data), cfg.seed)
    assert kw["reference"] is not None and torch.equal(kw["reference"], expected)
    assert len(expected) == 400


def test_resume_names_the_key_that_ended_the_run(plain_run, ema_run, capsys):
    # plain_run stopped at train.max_steps=3, in its first epoch: more epochs cannot continue it.
    assert cli.main(["resume", str(plain_run), "train.epochs=40"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "train.max_steps=3 reached at step 3" in err and "set train.max_steps=null" in err
    assert "train.epochs=N" not in err
    # ema_run ran its 2 epochs: a longer schedule is train.epochs.
    assert cli.main(["resume", str(ema_run)]) == 2
    err = capsys.readouterr().err
    assert "train.epochs=2 reached" in err and f"advnets resume {ema_run} train.epochs=4" in err


# ------------------------------------------------------------------------------ a run that ends inside an epoch
def test_a_run_ended_by_max_steps_inside_an_epoch_is_scored_at_its_last_step(tmp_path):
    run = train(tmp_path / "short", "train.max_steps=5")  # 43 steps an epoch: no epoch ends
    assert [(r["step"], r["epoch"], r["name"]) for r in evals(run)] == [(5, 0, PROTOCOL)]
    # Resumed to a later max_steps, it scores the new end once more; the first record stays.
    assert cli.main(["resume", str(run), "train.max_steps=50", "--quiet"]) == 0
    assert [(r["step"], r["epoch"]) for r in evals(run)] == [(5, 0), (43, 1), (50, 1)]


def test_a_run_ended_by_its_epochs_is_not_scored_twice(ema_run):
    assert [r["epoch"] for r in evals(ema_run) if "checkpoint" not in r] == [1, 2]
