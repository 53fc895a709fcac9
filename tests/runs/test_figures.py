"""`advnets figure density-1d`: the paper's Figure 1 from a tiny real 1-D run, and its refusals."""

import pytest
from PIL import Image

from advnets.cli import main
from advnets.config import load_config
from advnets.runs.session import train

TINY_1D = [
    "data.n=200",  # two iterations of 100 per epoch
    "train.epochs=4",
    "model.generator.hidden=[8,8]",
    "model.discriminator.hidden=[6]",
    "log.every_steps=1",
    "log.sample_every_steps=4",
    "log.checkpoint_every_epochs=1",
    "log.keep_checkpoints=10",
    "log.tensorboard=false",
    "log.progress=false",
    "eval.every_epochs=2",
    "eval.metrics.moments.samples=500",
]


@pytest.fixture(scope="module")
def run_1d(tmp_path_factory):
    run_dir, status = train(load_config("toy-1d", TINY_1D), tmp_path_factory.mktemp("runs") / "toy")
    assert status == "completed"
    return run_dir


def test_the_figure_of_a_set_d_run(run_1d, tmp_path, capsys):
    out = tmp_path / "fig1.png"
    assert main(["figure", "density-1d", str(run_1d), "-o", str(out), "--checkpoints", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as picture:
        width, height = picture.size
    assert width > 2.5 * height  # three panels side by side


def test_the_default_output_and_a_per_sample_d(tmp_path, capsys):
    cfg = load_config(
        "toy-1d", [*TINY_1D, "model.discriminator.arch=mlp", "model.discriminator.hidden=[6]", "model.discriminator.activation=elu"]
    )
    run_dir, _ = train(cfg, tmp_path / "mlp-d")
    assert main(["figure", "density-1d", str(run_dir)]) == 0
    assert (run_dir / "density-1d.png").is_file()


def test_bad_input_is_one_line_and_exit_2(run_1d, tmp_path, capsys):
    ring_cfg = load_config(
        "ring-8",
        ["data.n=200", "train.epochs=1", "model.generator.hidden=[8]", "model.discriminator.hidden=[4]",
         "log.tensorboard=false", "log.progress=false", "eval.every_epochs=0"],
    )
    ring_dir, _ = train(ring_cfg, tmp_path / "ring")
    (tmp_path / "plain").mkdir()
    cases = [
        ([str(tmp_path / "plain")], "is not an advnets run folder"),
        ([str(ring_dir)], "is not a 1-D run (data.name=ring-8)"),
        ([str(run_1d), "--checkpoints", "0"], "--checkpoints 0 must be a positive number"),
    ]
    for args, message in cases:
        assert main(["figure", "density-1d", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_a_run_without_step_checkpoints_is_refused(tmp_path, capsys):
    run_dir, _ = train(load_config("toy-1d", [*TINY_1D, "train.epochs=1"]), tmp_path / "short")
    for path in (run_dir / "checkpoints").glob("step-*.pt"):
        path.unlink()
    assert main(["figure", "density-1d", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "holds no step checkpoints" in err and len(err.strip().splitlines()) == 1
