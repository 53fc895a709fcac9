"""Figures drawn from a run folder's checkpoints (`advnets figure NAME RUN_DIR`); the drawing is reporting/'s.

- `density-1d`, the paper's Figure 1: panels from the run's kept step checkpoints (`log.checkpoint_every_epochs`,
  `log.keep_checkpoints`), evenly spaced from the first kept one to the last. Each panel uses the checkpoint's raw
  G, D's opponent at that step (not the weight average, which D never saw), and 10,000 samples of it drawn with the
  run's eval.seed (reporting/density.py).
- `nearest`, the paper's Figure 2: rows of samples, each row's last one followed by its nearest example of the
  run's training split (squared L2 in pixel space, searched in chunks; reporting/samples.py).
- `interpolate`, the paper's Figure 3: rows of G along straight lines between two latent codes drawn from the prior;
  a conditional G gets one row per class, all rows on the same line.

Figures 2 and 3 use one checkpoint (`latest` by default) and G's weight average when the run keeps one (`ema=False`:
the raw G), as `advnets sample` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advnets.config import RunConfig, build_config
from advnets.data import DataSet, ImageKind, load_data
from advnets.errors import UserError
from advnets.evaluate import checkpoint_kind
from advnets.models import ModelSpec, build_discriminator, build_generator, examples_per_logit
from advnets.models.noise import sample_noise
from advnets.models.players import discriminate, is_conditional
from advnets.models.sampling import eval_mode, generate, generate_from
from advnets.pixels import PIXEL_RANGES
from advnets.reporting.density import (
    FIGURE_SAMPLES,
    GRID_POINTS,
    DensityPanel,
    mixture_density,
    pick_evenly,
    plot_density_strip,
)
from advnets.reporting.samples import (
    CHUNK_EXAMPLES,
    interpolation_grid,
    nearest_examples,
    nearest_grid,
    save_picture,
)
from advnets.runs.checkpoint import load_checkpoint
from advnets.runs.run_dir import RunDir
from advnets.runs.session import load_generator


def density_1d_figure(run_dir: Path, out: Path | None = None, *, checkpoints: int = 5) -> Path:
    """Figure 1 of the paper from the step checkpoints of a 1-D run (RUN/density-1d.png by default) -> its path.

    Not a run folder, a run whose examples are not 1-D, a data set without a known density, or a run without step
    checkpoints are UserErrors."""
    if checkpoints < 1:
        raise UserError(f"--checkpoints {checkpoints} must be a positive number of panels")
    run = RunDir(run_dir)
    cfg = run.load_config()  # refuses a folder that is not a run
    mixture = getattr(cfg.data, "mixture", None)
    centres, std = mixture() if callable(mixture) else (None, 0.0)
    if centres is None or centres.shape[1] != 1:
        raise UserError(
            f"{run_dir} is not a 1-D run (data.name={cfg.data.name}); density-1d draws runs on 1-D data with a "
            "known density, such as gauss-1d (preset toy-1d)"
        )
    found = run.step_checkpoints()
    if not found:
        raise UserError(
            f"{run.checkpoints} holds no step checkpoints to draw; train longer, or keep more with "
            "log.checkpoint_every_epochs and log.keep_checkpoints"
        )
    loaded = []
    for path in pick_evenly(found, checkpoints):
        state = load_checkpoint(path)
        run_cfg = build_config(base=state["config"])
        shape, kind = checkpoint_kind(state, run_cfg)
        spec = ModelSpec(run_cfg.model.z_dim, shape, kind, num_classes=state.get("num_classes"))
        G = build_generator(run_cfg.model.generator, spec, init=False)
        D = build_discriminator(run_cfg.model.discriminator, spec, init=False)
        try:
            G.load_state_dict(state["G"])
            D.load_state_dict(state["D"])
        except RuntimeError as err:
            raise UserError(
                f"{path} does not match its own config ({str(err).splitlines()[0][:160]})"
            ) from None
        loaded.append((state["counters"]["step"], G, D, run_cfg))

    # One x range for every panel, so that they can be compared: the data's 4-std range, widened to hold the middle
    # 99% of every panel's samples.
    lo, hi = float(centres.min()) - 4 * std, float(centres.max()) + 4 * std
    sampled = []
    for step, G, D, run_cfg in loaded:
        samples = generate(
            G, run_cfg.model.z_dim, run_cfg.model.noise, FIGURE_SAMPLES, seed=run_cfg.eval.seed
        )
        samples_np = samples.flatten().double().numpy()
        finite = samples_np[np.isfinite(samples_np)]
        if len(finite):
            lo, hi = min(lo, float(np.quantile(finite, 0.005))), max(hi, float(np.quantile(finite, 0.995)))
        sampled.append((step, samples_np, D))
    xs = np.linspace(lo, hi, GRID_POINTS)
    group = examples_per_logit(loaded[0][2])
    panels = []
    for step, samples_np, D in sampled:
        x_in = (
            torch.as_tensor(xs, dtype=torch.float32).repeat_interleave(group).unsqueeze(1)
        )  # [GRID * group, 1]
        with eval_mode(D):
            d_of_x = torch.sigmoid(discriminate(D, x_in)).double().numpy()  # [GRID]
        panels.append(DensityPanel(step, samples_np, d_of_x))
    d_label = "D(x)" if group == 1 else f"D(set of {group} copies of x)"
    out = out if out is not None else run.density_figure
    p_data = mixture_density(xs, centres[:, 0].numpy(), std)
    plot_density_strip(
        panels, xs, p_data, out, d_label=d_label, title=f"{cfg.name}: p_data, p_g and {d_label}"
    )
    return out


# ------------------------------------------------------------------------------------- Figures 2 and 3 of the paper
def _image_generator(
    run_dir: Path, checkpoint: Path | None, ema: bool, figure: str
) -> tuple[nn.Module, RunConfig, dict, ImageKind]:
    """G of an image run (its weight average unless `ema` is False), or a UserError naming the figure."""
    G, cfg, state, kind, _ = load_generator(run_dir, checkpoint, ema=ema)
    if not isinstance(kind, ImageKind):
        raise UserError(
            f"{run_dir} is a {kind.name} run (data.name={cfg.data.name}); the {figure} figure draws image runs "
            "(e.g. digits, mnist); for a 1-D run try `advnets figure density-1d`"
        )
    if kind.pixel_range not in PIXEL_RANGES:
        raise UserError(
            f"{run_dir} draws images in data.pixel_range={kind.pixel_range}, which has no fixed display scale; the "
            f"{figure} figure draws runs in {' or '.join(PIXEL_RANGES)} pixels"
        )
    return G, cfg, state, kind


def _check_counts(**counts: int) -> None:
    for flag, value in counts.items():
        if value < 1:
            raise UserError(f"--{flag} {value} must be a positive number")


def example_blocks(data: DataSet, size: int = CHUNK_EXAMPLES) -> Iterator[torch.Tensor]:
    """The examples of `data` in order, as float blocks of at most `size` [<= size, *shape] (a set kept as uint8
    pixels, where its DataSet decodes them with `take`, a block at a time)."""
    take = getattr(data, "take", None)
    for start in range(0, len(data), size):
        block = slice(start, start + size)
        yield take(block) if take is not None else data.examples[block]


def samples_and_nearest(
    G: nn.Module,
    cfg: RunConfig,
    train: DataSet,
    *,
    rows: int,
    cols: int,
    seed: int,
    labels: torch.Tensor | None = None,
    chunk_size: int = CHUNK_EXAMPLES,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """rows x cols samples of G [rows, cols, *shape] (noise from `seed`; `labels` [rows * cols] for a conditional G),
    and the index [rows] and pixels [rows, *shape] of the example of `train` nearest to each row's last sample,
    searched `chunk_size` examples at a time."""
    samples = generate(G, cfg.model.z_dim, cfg.model.noise, rows * cols, seed=seed, labels=labels)
    samples = samples.view(rows, cols, *samples.shape[1:])
    index, _, nearest = nearest_examples(samples[:, -1], example_blocks(train, chunk_size))
    return samples, index, nearest


def nearest_figure(
    run_dir: Path,
    out: Path | None = None,
    *,
    rows: int = 4,
    cols: int = 5,
    seed: int = 0,
    checkpoint: Path | None = None,
    ema: bool = True,
) -> Path:
    """Figure 2 of the paper (RUN/nearest.png by default) -> its path: `rows` rows of `cols` samples, each row's last
    sample followed by its nearest example of the run's training split (data.split; MNIST: train[0:50000]), in a
    yellow frame. A conditional G draws its classes at random from those of the training split."""
    _check_counts(rows=rows, cols=cols)
    G, cfg, _, kind = _image_generator(run_dir, checkpoint, ema, "nearest")
    train = load_data(cfg.data)
    labels = None
    if is_conditional(G) and train.labels is not None:
        classes = torch.unique(train.labels)
        pick = torch.randint(len(classes), (rows * cols,), generator=torch.Generator().manual_seed(seed + 1))
        labels = classes[pick]
    samples, _, nearest = samples_and_nearest(G, cfg, train, rows=rows, cols=cols, seed=seed, labels=labels)
    out = out if out is not None else RunDir(run_dir).nearest_figure
    save_picture(nearest_grid(samples, nearest, pixel_range=kind.pixel_range), out)
    return out


def latent_lines(z_from: torch.Tensor, z_to: torch.Tensor, steps: int) -> torch.Tensor:
    """Points along the straight lines from z_from [R, z_dim] to z_to [R, z_dim]: [R, steps, z_dim], the first
    column exactly z_from and the last exactly z_to (steps >= 2)."""
    t = torch.linspace(0.0, 1.0, steps, dtype=z_from.dtype, device=z_from.device).view(1, steps, 1)
    return (1.0 - t) * z_from.unsqueeze(1) + t * z_to.unsqueeze(1)


def interpolation_samples(
    G: nn.Module, z_from: torch.Tensor, z_to: torch.Tensor, steps: int, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """G along each row's line [R, steps, *shape] (CPU); `labels` [R] give a conditional G each row's class."""
    rows = z_from.shape[0]
    z = latent_lines(z_from, z_to, steps).flatten(0, 1)  # [R * steps, z_dim]
    row_labels = labels.repeat_interleave(steps) if labels is not None else None
    device = next(G.parameters()).device
    samples = generate_from(G, z.to(device), row_labels.to(device) if row_labels is not None else None)
    return samples.view(rows, steps, *samples.shape[1:])


def interpolation_codes(
    cfg: RunConfig, G: nn.Module, rows: int | None, seed: int, num_classes: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The endpoints (z_from, z_to) [R, z_dim] drawn from the run's prior with `seed`, and the rows' labels: an
    unconditional G gets `rows` pairs of codes (default 4); a conditional G one row per class of the run (data.classes,
    or 0 .. num_classes - 1), every row between the same two codes."""
    gen = torch.Generator().manual_seed(seed)
    if not is_conditional(G):
        rows = 4 if rows is None else rows
        _check_counts(rows=rows)
        z = sample_noise(2 * rows, cfg.model.z_dim, cfg.model.noise, generator=gen)
        return z[:rows], z[rows:], None
    chosen = getattr(cfg.data, "classes", None)
    classes = sorted(chosen) if chosen else list(range(num_classes or getattr(G, "num_classes", 0) or 0))
    if rows is not None:
        raise UserError(
            f"--rows {rows}: this run's G is conditional, so the figure has one row per class ({len(classes)}); "
            "leave out --rows"
        )
    if not classes:
        raise UserError("this run's checkpoint does not say how many classes its conditional G has")
    z = sample_noise(2, cfg.model.z_dim, cfg.model.noise, generator=gen)
    count = len(classes)
    return z[:1].expand(count, -1), z[1:].expand(count, -1), torch.tensor(classes, dtype=torch.long)


def interpolation_figure(
    run_dir: Path,
    out: Path | None = None,
    *,
    rows: int | None = None,
    steps: int = 10,
    seed: int = 0,
    checkpoint: Path | None = None,
    ema: bool = True,
) -> Path:
    """Figure 3 of the paper (RUN/interpolate.png by default) -> its path: rows of G along straight lines between
    latent codes drawn from the prior with `seed`, `steps` pictures per row, both ends included (`rows` default 4;
    a conditional G: one row per class, all between the same two codes)."""
    if steps < 2:
        raise UserError(f"--steps {steps} must be at least 2 (the two ends of each line)")
    G, cfg, state, kind = _image_generator(run_dir, checkpoint, ema, "interpolate")
    z_from, z_to, labels = interpolation_codes(cfg, G, rows, seed, state.get("num_classes"))
    samples = interpolation_samples(G, z_from, z_to, steps, labels)
    out = out if out is not None else RunDir(run_dir).interpolation_figure
    save_picture(interpolation_grid(samples, pixel_range=kind.pixel_range), out)
    return out
