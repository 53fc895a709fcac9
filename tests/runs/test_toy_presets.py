"""The toy-lab presets end to end: each trains a few steps through `advnets.runs.session.train`, scores mode
coverage every epoch with PacGAN's protocol (modes2500) and draws its samples as a scatter over the data."""

import json

import pytest

from advnets.config import load_config
from advnets.evaluate import evaluate
from advnets.runs.session import load_generator, train

TINY_TOY = [
    "data.n=200",  # two steps of 100 per epoch
    "train.epochs=2",
    "model.generator.hidden=[16,16]",
    "model.discriminator.hidden=[8]",
    "log.every_steps=1",
    "log.sample_every_steps=1",
    "log.tensorboard=false",
    "log.progress=false",
    "eval.every_epochs=1",
]


@pytest.mark.parametrize("preset,components", [("ring-8", 8), ("grid-25", 25)])
def test_a_toy_preset_trains_and_counts_modes_every_epoch(preset, components, tmp_path):
    cfg = load_config(preset, TINY_TOY)
    assert cfg.model.generator.output == "linear" and list(cfg.eval.metrics) == ["modes"]
    run_dir, status = train(cfg, tmp_path / preset)
    assert status == "completed"
    records = [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"], r["name"], r["metric"]) for r in records] == [
        (1, 2, "modes2500", "modes"),
        (2, 4, "modes2500", "modes"),
    ]
    for r in records:
        assert r["components"] == components and r["samples"] == 2500 and len(r["counts"]) == components
        assert r["modes"] == sum(c > 0 for c in r["counts"])
        assert sum(r["counts"]) == round(r["high_quality"] * 2500)
    assert (run_dir / "samples" / "latest.png").is_file()
    assert (run_dir / "modes.png").is_file()
    # `advnets eval` scores a checkpoint the same way: evaluate() hands the metric the run's data options.
    G, run_cfg, _, kind, _ = load_generator(run_dir)
    again = evaluate(G, run_cfg, kind, "modes")
    assert {k: again[k] for k in ("name", "modes", "counts")} == {
        k: records[-1][k] for k in ("name", "modes", "counts")
    }
