"""`advnets figure`: the paper's Figure 1 from a tiny real 1-D run, Figures 2 and 3 from a tiny digits run, their
refusals; and the pictures of training (conditional grids, TensorBoard images)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from advnets.cli import main
from advnets.config import load_config
from advnets.data import ImageSet, load_data
from advnets.errors import UserError
from advnets.models.sampling import generate_from
from advnets.reporting.figures import image_grid
from advnets.runs import figures, hooks
from advnets.runs.run_dir import RunDir
from advnets.runs.session import load_generator, train
from advnets.training.trainer import class_rows
from tests.conftest import tiny_config

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
        "toy-1d",
        [
            *TINY_1D,
            "model.discriminator.arch=mlp",
            "model.discriminator.hidden=[6]",
            "model.discriminator.activation=elu",
        ],
    )
    run_dir, _ = train(cfg, tmp_path / "mlp-d")
    assert main(["figure", "density-1d", str(run_dir)]) == 0
    assert (run_dir / "density-1d.png").is_file()


def test_bad_input_is_one_line_and_exit_2(run_1d, tmp_path, capsys):
    ring_cfg = load_config(
        "ring-8",
        [
            "data.n=200",
            "train.epochs=1",
            "model.generator.hidden=[8]",
            "model.discriminator.hidden=[4]",
            "log.tensorboard=false",
            "log.progress=false",
            "eval.every_epochs=0",
        ],
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


# ------------------------------------------------------------------ Figures 2 and 3 of the paper, on a digits run
TILE = 56 + 2  # an 8x8 digit drawn 7x larger, and its padding


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A tiny digits run that keeps G's weight average and writes TensorBoard events."""
    cfg = tiny_config("train.ema_decay=0.9", "log.tensorboard=true", "train.epochs=1")
    run_dir, status = train(cfg, tmp_path_factory.mktemp("runs") / "digits")
    assert status == "completed"
    return run_dir


def test_the_nearest_training_example_is_the_brute_force_one(digits_run):
    G, cfg, _, _, _ = load_generator(digits_run)
    train_set = load_data(cfg.data)  # the run's training split
    # Blocks of 100 of the 1,400 examples: the winner must survive 14 blocks.
    samples, index, nearest = figures.samples_and_nearest(
        G, cfg, train_set, rows=3, cols=4, seed=5, chunk_size=100
    )
    assert samples.shape == (3, 4, 1, 8, 8) and nearest.shape == (3, 1, 8, 8)
    examples = torch.cat(list(figures.example_blocks(train_set)))  # [1400, 1, 8, 8] floats, in order
    assert examples.shape == (len(train_set), 1, 8, 8)
    last = samples[:, -1].double().flatten(1)  # [3, 64]
    brute = (last[:, None, :] - examples.double().flatten(1)[None]).square().sum(-1)  # [3, N], every distance
    assert index.tolist() == brute.argmin(1).tolist()
    assert torch.equal(nearest, examples[brute.argmin(1)])


def test_the_nearest_figure_is_a_png_of_rows_by_cols_plus_one(digits_run, tmp_path, capsys):
    out = tmp_path / "fig2.png"
    args = ["figure", "nearest", str(digits_run), "-o", str(out), "--rows", "3", "--cols", "4", "--seed", "2"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.mode == "RGB"
        assert picture.size == (5 * TILE + 2, 3 * TILE + 2)
        assert picture.getpixel((4 * TILE + 1, 1)) == (255, 215, 0)  # the neighbour's frame is yellow
    assert main(["figure", "nearest", str(digits_run)]) == 0  # the default: RUN/nearest.png, 4 rows of 5 + 1
    with Image.open(RunDir(digits_run).nearest_figure) as picture:
        assert picture.size == (6 * TILE + 2, 4 * TILE + 2)


def test_the_interpolation_ends_are_g_at_the_two_codes(digits_run):
    G, cfg, state, _, _ = load_generator(digits_run)
    z_from, z_to, labels = figures.interpolation_codes(
        cfg, G, 3, seed=1, num_classes=state.get("num_classes")
    )
    assert labels is None and z_from.shape == z_to.shape == (3, cfg.model.z_dim)
    assert not torch.equal(z_from, z_to)
    lines = figures.latent_lines(z_from, z_to, 6)  # [3, 6, z_dim]: the ends exactly, evenly spaced between
    assert torch.equal(lines[:, 0], z_from) and torch.equal(lines[:, -1], z_to)
    torch.testing.assert_close(lines[:, 2], 0.6 * z_from + 0.4 * z_to)
    samples = figures.interpolation_samples(G, z_from, z_to, 6)
    assert samples.shape == (3, 6, 1, 8, 8)
    # G on 18 codes at once vs on 3: the matrix products may round the last float32 bit differently.
    torch.testing.assert_close(samples[:, 0], generate_from(G, z_from), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(samples[:, -1], generate_from(G, z_to), rtol=1e-6, atol=1e-6)


def test_the_interpolation_figure_is_a_png_of_rows_by_steps(digits_run, tmp_path, capsys):
    out = tmp_path / "fig3.png"
    assert (
        main(["figure", "interpolate", str(digits_run), "-o", str(out), "--rows", "2", "--steps", "7"]) == 0
    )
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.size == (7 * TILE + 2, 2 * TILE + 2)
    assert main(["figure", "interpolate", str(digits_run)]) == 0  # RUN/interpolate.png: 4 rows of 10
    with Image.open(RunDir(digits_run).interpolation_figure) as picture:
        assert picture.size == (10 * TILE + 2, 4 * TILE + 2)


def test_figures_use_the_weight_average_unless_no_ema(digits_run, tmp_path, monkeypatch):
    asked = []
    original = figures.load_generator
    monkeypatch.setattr(figures, "load_generator", lambda *a, ema: asked.append(ema) or original(*a, ema=ema))
    for name in ("nearest", "interpolate"):
        assert main(["figure", name, str(digits_run), "-o", str(tmp_path / f"{name}.png")]) == 0
        assert main(["figure", name, str(digits_run), "-o", str(tmp_path / f"{name}.png"), "--no-ema"]) == 0
    assert asked == [True, False, True, False]
    G, *_, used_ema = load_generator(digits_run)
    assert used_ema  # the run keeps an average, so the default figure is drawn by it


class ClassG(nn.Module):
    """A conditional G for 8x8 images: z's mean plus the class, so that each row is told apart."""

    conditional = True
    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.1))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        value = self.scale * z.mean(1) + 0.3 * labels.float()  # [N]
        return value.view(-1, 1, 1, 1).expand(-1, 1, 8, 8)


def test_a_conditional_interpolation_has_one_row_per_class_between_the_same_codes():
    cfg = tiny_config()
    G = ClassG()
    z_from, z_to, labels = figures.interpolation_codes(cfg, G, None, seed=0, num_classes=3)
    assert labels.tolist() == [0, 1, 2]
    assert all(torch.equal(z_from[i], z_from[0]) and torch.equal(z_to[i], z_to[0]) for i in range(3))
    samples = figures.interpolation_samples(G, z_from, z_to, 4, labels)
    assert samples.shape == (3, 4, 1, 8, 8)
    torch.testing.assert_close(samples[:, 0], generate_from(G, z_from, labels), rtol=1e-6, atol=1e-6)
    with pytest.raises(UserError, match="one row per class"):
        figures.interpolation_codes(cfg, G, 2, seed=0, num_classes=3)


def test_bad_figure_input_is_one_line_and_exit_2(digits_run, run_1d, tmp_path, capsys):
    cases = [
        (["nearest", str(run_1d)], "is a vector run (data.name=gauss-1d)"),
        (["interpolate", str(run_1d)], "draws image runs"),
        (["nearest", str(digits_run), "--rows", "0"], "--rows 0 must be a positive number"),
        (["nearest", str(digits_run), "--cols", "-1"], "--cols -1 must be a positive number"),
        (["interpolate", str(digits_run), "--steps", "1"], "--steps 1 must be at least 2"),
        (["interpolate", str(digits_run), "--rows", "0"], "--rows 0 must be a positive number"),
        (["nearest", str(tmp_path)], "is not an advnets run folder"),
        (["nearest", str(digits_run), "--checkpoint", str(tmp_path / "none.pt")], "does not exist"),
    ]
    for args, message in cases:
        assert main(["figure", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (args, err)


# --------------------------------------------------------------- the pictures of training: grids and TensorBoard
def test_sample_pictures_go_to_tensorboard_at_each_sample_step(digits_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(RunDir(digits_run).tensorboard), size_guidance={"images": 0})
    events.Reload()
    assert events.Tags()["images"] == [hooks.SampleHook.TAG]
    images = events.Images(hooks.SampleHook.TAG)
    steps = [step for step, _ in RunDir(digits_run).sample_pictures()]
    assert steps == [0, 20, 40, 43]  # every log.sample_every_steps=20, and the end (1,400 // 32 updates)
    assert [image.step for image in images] == steps
    with Image.open(RunDir(digits_run).sample_picture(43)) as picture:
        assert (images[-1].width, images[-1].height) == picture.size


def test_a_vector_run_scatter_goes_to_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = load_config(
        "ring-8",
        [
            "data.n=200",
            "train.max_steps=3",
            "model.generator.hidden=[8]",
            "model.discriminator.hidden=[4]",
            "log.sample_every_steps=2",
            "log.tensorboard=true",
            "log.progress=false",
            "eval.every_epochs=0",
        ],
    )
    run_dir, _ = train(cfg, tmp_path / "ring")
    events = EventAccumulator(str(RunDir(run_dir).tensorboard), size_guidance={"images": 0})
    events.Reload()
    assert [image.step for image in events.Images(hooks.SampleHook.TAG)] == [0, 2, 3]


def test_a_conditional_grid_has_one_row_per_class(tmp_path):
    labels = torch.tensor([0, 1, 2] * 20)
    train_set = ImageSet(torch.rand(60, 1, 8, 8), labels, "digits", "train", "unit")
    fixed_z, fixed_labels = class_rows(torch.randn(16, 8), labels)  # 3 classes of 16 // 3 = 5
    fake = SimpleNamespace(
        train_set=train_set,
        fixed_z=fixed_z,
        fixed_labels=fixed_labels,
        G_for_samples=ClassG(),
        step=7,
        cfg=tiny_config(),
    )
    assert hooks.grid_columns(fixed_labels) == 5 and hooks.grid_columns(None) is None
    hooks.SampleHook(tmp_path).save(fake)
    with Image.open(RunDir(tmp_path).sample_picture(7)) as picture:
        assert picture.size == (5 * TILE + 2, 3 * TILE + 2)  # rows = classes, not a square of 15
        drawn = np.asarray(picture)
    expected = image_grid(generate_from(ClassG(), fixed_z, fixed_labels), pixel_range="unit", nrow=5)
    assert np.array_equal(drawn, np.asarray(expected))
