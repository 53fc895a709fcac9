"""The 1-D Gaussian lab's presets (docs/paper.md §6): the source's setup, its variants, and a few steps end to end."""

import json

import pytest

from advnets.config import load_config
from advnets.runs.session import train

MOMENTUM = [
    f"train.{opt}.{key}=0.9" for opt in ("g_optimizer", "d_optimizer") for key in ("momentum", "momentum_final")
]
ADAM = ["train.g_optimizer.name=adam", "train.d_optimizer.name=adam"]


def test_toy_1d_is_the_source_setup_with_plain_sgd():
    cfg = load_config("toy-1d")
    assert (cfg.data.name, cfg.data.mean, cfg.data.variance) == ("gauss-1d", 4.0, 1.25)
    assert (cfg.model.z_dim, cfg.model.noise) == (1, "uniform01")
    G = cfg.model.generator
    assert (G.hidden, G.hidden_activations(), G.output) == ([100, 100], ["elu", "sigmoid"], "linear")
    D = cfg.model.discriminator
    assert (D.arch, D.set_size, D.hidden, D.activation, D.sort) == ("set", 100, [50, 50], "elu", False)
    assert (cfg.loss.name, cfg.train.update, cfg.train.d_steps, cfg.train.batch_size) == ("ns", "alternating", 1, 100)
    for opt in (cfg.train.g_optimizer, cfg.train.d_optimizer):
        assert (opt.name, opt.lr, opt.lr_decay, opt.momentum, opt.momentum_final) == ("sgd", 2e-4, 1.0, 0.0, 0.0)
    assert cfg.train.epochs * cfg.data.n // cfg.train.batch_size == 30000  # iterations
    assert list(cfg.eval.metrics) == ["moments"]
    # Enough checkpoints kept for the density figure: every one that is written.
    assert cfg.train.epochs // cfg.log.checkpoint_every_epochs <= cfg.log.keep_checkpoints


def test_the_documented_variants_load():
    momentum = load_config("toy-1d", MOMENTUM)
    assert momentum.train.d_optimizer.momentum == momentum.train.g_optimizer.momentum_final == 0.9
    adam = load_config("toy-1d", ADAM)
    assert adam.train.g_optimizer.name == adam.train.d_optimizer.name == "adam"
    assert adam.train.g_optimizer.betas == [0.9, 0.999]


@pytest.mark.parametrize("preset", ["toy-1d", "toy-1d-best"])
def test_a_few_steps_end_to_end_score_the_moments(preset, tmp_path):
    tiny = [
        "data.n=200",
        "train.epochs=2",
        "log.every_steps=1",
        "log.tensorboard=false",
        "log.progress=false",
        "eval.every_epochs=1",
        "eval.metrics.moments.samples=1000",
    ]
    run_dir, status = train(load_config(preset, tiny), tmp_path / preset)
    assert status == "completed"
    records = [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"], r["metric"]) for r in records] == [(1, 2, "moments"), (2, 4, "moments")]
    assert all(r["data_mean"] == 4.0 and r["data_variance"] == pytest.approx(1.25) for r in records)
    assert (run_dir / "moments.png").is_file() and (run_dir / "samples" / "latest.png").is_file()
