"""Hooks that turn a training run into a run folder: metrics (JSON lines + TensorBoard), a progress bar, sample
grids from the fixed latent grid (drawn by G's weight average when the run keeps one; a conditional run's grid has
one row per class; each picture also goes to TensorBoard as an image), the loss-curve figure and checkpoints. Only
the main process writes files; every path comes from the folder's RunDir."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from advnets.data import DataSet, ImageKind
from advnets.io import append_jsonl, read_jsonl
from advnets.models.sampling import generate_from
from advnets.pixels import PIXEL_RANGES
from advnets.reporting.figures import plot_losses, save_image_grid
from advnets.reporting.strip import write_strip
from advnets.runs.checkpoint import save_checkpoint, step_checkpoint_name
from advnets.runs.collapse import CollapseSignals
from advnets.runs.health import HealthSignals, TrainingDiverged, divergence_message, finite_weights, flags
from advnets.runs.run_dir import RunDir
from advnets.training.trainer import Hook, Trainer


def is_main_process() -> bool:
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


REFERENCE_POINTS = 1000  # data points drawn under vector samples


def reference_points(data: DataSet, seed: int) -> torch.Tensor:
    """The data points drawn under every picture of a vector run's samples [<= REFERENCE_POINTS, D] (CPU): the same
    points for a seed, picked with their own RNG so that training is not disturbed."""
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(data.examples), generator=gen)[:REFERENCE_POINTS].to(data.examples.device)
    return data.take(pick).cpu()


class TensorBoard:
    """RUN/tb: the training scalars (train/<column>), the evaluation scores (eval/<protocol>) and the sample
    pictures (samples, an image per sample step) of a run, through one writer.

    The hooks that write at the start or the end of a session (MetricsHook, SampleHook) each open it when the
    session starts and close it when their own work is done: the writer is made by the first `open` and closed by
    the last `close`, so the final sample picture, drawn after the last metrics line, still reaches it. Other hooks
    (evaluations) add to it in between. A resumed session starts after the step its checkpoint saved, whose point the
    earlier session has already written: it purges only the points *after* that step (left by a session that went
    on past its last checkpoint), so the step's point stays and TensorBoard sees no step going back."""

    def __init__(self, run_dir: Path | RunDir) -> None:
        self.folder = RunDir(run_dir).tensorboard
        self.writer: Any = None  # SummaryWriter, imported lazily: it is slow to import
        self.users = 0  # hooks that opened it and have not closed it yet

    def open(self, step: int) -> None:
        self.users += 1
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.folder), purge_step=step + 1 if step else None)

    def add(self, prefix: str, values: dict[str, float], step: int) -> None:
        if self.writer is not None and is_main_process():
            for key, value in values.items():
                self.writer.add_scalar(f"{prefix}/{key}" if key else prefix, value, step)

    def add_picture(self, tag: str, path: Path, step: int) -> None:
        """The PNG at `path` (a sample picture, exactly as written to the run folder) as an image at `step`."""
        if self.writer is None or not is_main_process():
            return
        with Image.open(path) as picture:
            gray = picture.mode in ("L", "1", "I", "I;16")
            pixels = np.asarray(picture.convert("L" if gray else "RGB"))  # [H, W] or [H, W, 3] uint8
        self.writer.add_image(tag, pixels, step, dataformats="HW" if gray else "HWC")

    def close(self) -> None:
        self.users = max(self.users - 1, 0)
        if self.writer is not None and self.users == 0:
            self.writer.close()
            self.writer = None


class MetricsHook(Hook):
    """Every `log.every_steps` iterations: one host sync, one JSON line, TensorBoard scalars, progress postfix."""

    def __init__(self, run_dir: Path | RunDir, *, progress: bool, board: TensorBoard | None = None) -> None:
        self.run = RunDir(run_dir)
        self.progress = progress
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.board = board if board is not None else TensorBoard(self.run)
        self.board_open = False
        self.bar: tqdm | None = None
        self.health = HealthSignals()
        self.collapse = CollapseSignals()

    def on_start(self, trainer: Trainer) -> None:
        # (A line torn by a crash is handled by append_jsonl: the next record starts on a line of its own.)
        if trainer.cfg.log.tensorboard and is_main_process():
            self.board.open(trainer.step)
            self.board_open = True
        self.collapse.start(trainer)
        self.bar = tqdm(
            total=trainer.planned_steps(),
            initial=trainer.step,
            disable=not self.progress or not is_main_process(),
            desc="train",
            unit="step",
            dynamic_ncols=True,
        )
        self.tick = time.perf_counter()

    def on_step_end(self, trainer: Trainer, stats: dict[str, torch.Tensor]) -> None:
        for key in ("d_loss", "g_loss"):  # squares too, for the spread of the losses within the interval
            if key in stats:
                stats = {**stats, f"{key}_sq": stats[key].square()}
        for key, value in stats.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
        if trainer.step % trainer.cfg.log.every_steps == 0:
            self.flush(trainer)

    def flush(self, trainer: Trainer) -> None:
        if not self.count:
            return
        keys = sorted(self.sums)
        values = torch.stack([self.sums[k].float() for k in keys]).cpu().tolist()  # the one host sync
        now = time.perf_counter()
        means = {k: v / self.count for k, v in zip(keys, values)}
        for key in ("d_loss", "g_loss"):  # E[x²] - E[x]² -> the loss's std within the interval
            if f"{key}_sq" in means:
                means[f"{key}_std"] = math.sqrt(max(means.pop(f"{key}_sq") - means[key] ** 2, 0.0))
        record: dict[str, Any] = {
            "step": trainer.step,
            "epoch": trainer.epoch + trainer.batches.cursor.batch / trainer.batches.batches_per_epoch,
            **means,
            "lr_g": trainer.g_opt.param_groups[0]["lr"],
            "lr_d": trainer.d_opt.param_groups[0]["lr"],
            "momentum_g": trainer.g_opt.param_groups[0].get("momentum", 0.0),
            "momentum_d": trainer.d_opt.param_groups[0].get("momentum", 0.0),
            "examples_per_s": self.count * trainer.real_examples_per_step() / max(now - self.tick, 1e-9),
        }
        record |= self.health.signals(trainer) | self.collapse.signals(trainer)
        record["flags"] = flags(record, trainer.cfg.health)
        self.sums, self.count, self.tick = {}, 0, now
        if is_main_process():
            append_jsonl(self.run.metrics_path, record)
            scalars = {k: v for k, v in record.items() if k not in ("step", "flags")}
            self.board.add("train", scalars, trainer.step)
            if self.bar is not None:
                self.bar.set_postfix(
                    d_loss=f"{record['d_loss']:.3f}",
                    g_loss=f"{record.get('g_loss', math.nan):.3f}",
                    **({"flags": ",".join(record["flags"])} if record["flags"] else {}),
                    refresh=False,
                )
        if "diverged" in record["flags"]:
            losses = ", ".join(f"{k}={record[k]:.3g}" for k in ("d_loss", "g_loss") if k in record)
            why = f"the losses reached {losses}"
            raise TrainingDiverged(divergence_message(why, trainer.step, self.run.last_good()))

    def on_end(self, trainer: Trainer, status: str) -> None:
        if status != "failed":
            self.flush(trainer)
        if self.bar is not None:
            self.bar.close()
        if self.board_open:
            self.board.close()
            self.board_open = False


def grid_columns(fixed_labels: torch.Tensor | None) -> int | None:
    """Images per row of the fixed grid's picture: a conditional run's grid holds one row per class (the class of
    its first row repeated), so its rows are as long as that run of labels; None (a square grid) otherwise."""
    if fixed_labels is None or len(fixed_labels) == 0:
        return None
    differs = (fixed_labels != fixed_labels[0]).nonzero()
    return int(differs[0, 0]) if len(differs) else len(fixed_labels)


class SampleHook(Hook):
    """A picture of G(fixed_z) every `log.sample_every_steps` iterations, at the start and at the end, drawn the way
    the data set's kind shows examples (an image grid, one row per class for a conditional run, or a scatter over
    the data for vectors); with `board` (the session's TensorBoard), each picture also goes there as an image."""

    TAG = "samples"  # the TensorBoard image tag of the fixed-grid pictures

    def __init__(self, run_dir: Path | RunDir, board: TensorBoard | None = None) -> None:
        self.run = RunDir(run_dir)
        self.reference: torch.Tensor | None = None
        self.board = board
        self.board_open = False  # this hook holds the board open; it closes it after its last picture

    def save(self, trainer: Trainer) -> None:
        if not is_main_process():
            return
        kind = trainer.train_set.kind
        if self.reference is None and not isinstance(kind, ImageKind):
            self.reference = reference_points(trainer.train_set, trainer.cfg.seed)
        samples = generate_from(trainer.G_for_samples, trainer.fixed_z, trainer.fixed_labels)  # [grid, *shape]
        picture = self.run.sample_picture(trainer.step)
        columns = grid_columns(trainer.fixed_labels)
        for path in (picture, self.run.latest_sample):
            if columns is not None and isinstance(kind, ImageKind) and kind.pixel_range in PIXEL_RANGES:
                save_image_grid(samples, path, pixel_range=kind.pixel_range, nrow=columns)  # a row per class
            else:
                kind.show(samples, path, reference=self.reference)
        if self.board is not None:
            self.board.add_picture(self.TAG, picture, trainer.step)

    def on_start(self, trainer: Trainer) -> None:
        if self.board is not None and trainer.cfg.log.tensorboard and is_main_process():
            self.board.open(trainer.step)
            self.board_open = True
        if not self.run.sample_picture(trainer.step).exists():
            self.save(trainer)

    def on_step_end(self, trainer: Trainer, stats: dict[str, torch.Tensor]) -> None:
        if trainer.step % trainer.cfg.log.sample_every_steps == 0:
            self.save(trainer)

    def on_end(self, trainer: Trainer, status: str) -> None:
        try:
            if status != "failed" and trainer.step % trainer.cfg.log.sample_every_steps != 0:
                self.save(trainer)
        finally:
            if self.board is not None and self.board_open:
                self.board.close()
                self.board_open = False


class LossPlotHook(Hook):
    """Redraws losses.png from metrics.jsonl at checkpoints and at the end (never more than every 20 s); at the end
    of an image run, also strip.png: its sample grids over the diversity curves (reporting/strip.py)."""

    def __init__(self, run_dir: Path | RunDir, min_interval_s: float = 20.0) -> None:
        self.run = RunDir(run_dir)
        self.min_interval_s = min_interval_s
        self.last = -math.inf

    def draw(self, trainer: Trainer, force: bool = False) -> None:
        now = time.perf_counter()
        if not is_main_process() or (not force and now - self.last < self.min_interval_s):
            return
        records = read_jsonl(self.run.metrics_path) if self.run.metrics_path.exists() else []
        if records:
            plot_losses(
                records,
                self.run.losses_figure,
                title=f"{trainer.cfg.name}: losses",
                panel=trainer.parts.loss.panel,
            )
            self.last = now

    def on_epoch_end(self, trainer: Trainer) -> None:
        self.draw(trainer)

    def on_end(self, trainer: Trainer, status: str) -> None:
        self.draw(trainer, force=True)
        metrics = self.run.metrics_path
        if is_main_process() and isinstance(trainer.train_set.kind, ImageKind) and metrics.exists():
            title = f"{trainer.cfg.name}: samples on the fixed latent grid, and their diversity"
            write_strip(self.run.sample_pictures(), read_jsonl(metrics), self.run.strip_figure, title=title)


class CheckpointHook(Hook):
    """A checkpoint every `log.checkpoint_every_epochs` epochs and at the end, also after Ctrl-C/SIGTERM."""

    def __init__(self, run_dir: Path | RunDir) -> None:
        self.run = RunDir(run_dir)
        self.saved_step = -1

    def save(self, trainer: Trainer) -> None:
        if not is_main_process() or self.saved_step == trainer.step:
            return
        if not finite_weights(trainer.G, trainer.D):  # never replace a good `latest` with NaN weights
            raise TrainingDiverged(
                divergence_message("the weights became NaN/inf", trainer.step, self.run.last_good())
            )
        save_checkpoint(
            self.run.checkpoints,
            step_checkpoint_name(trainer.step),
            trainer.state_dict(),
            trainer.cfg.log.keep_checkpoints,
        )
        self.saved_step = trainer.step

    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.epoch % trainer.cfg.log.checkpoint_every_epochs == 0:
            self.save(trainer)

    def on_end(self, trainer: Trainer, status: str) -> None:
        # Stops happen between iterations, so that state is an exact resume point; a failed run (NaN losses, an
        # error) is not saved, so the last good checkpoint stays `latest`.
        if status != "failed":
            self.save(trainer)

