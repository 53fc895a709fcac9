"""Self-describing run folders: `runs/00003-<name>/` holding the resolved config, the commands that made it,
metrics, TensorBoard events, sample grids, figures and checkpoints. An existing run is never overwritten.

`RunDir` owns the folder's layout: it is the only place that spells a file or folder name of a run, and every
other module asks it for a path (`RunDir(path).metrics_path`, `.checkpoints`, `.figure("parzen")`, ...). The names
on disk never change, so folders written by earlier versions (the committed ones under reproductions/) still read:

    advnets-run.json     marker: the advnets version that made the folder, and when
    config.yaml          the resolved configuration (every key)
    command.txt          each command that trained the folder, with time and working directory
    metrics.jsonl        a line every log.every_steps updates; health.jsonl: rollbacks (runs/recovery.py)
    processes.json       under torchrun: each session's number of processes and effective batch size
    eval.jsonl           a line per score, during training and from `advnets eval`
    <metric>.png         a metric per epoch; losses.png, strip.png, and the `advnets figure` pictures
                         density-1d.png, nearest.png, interpolate.png (docs/figures.md)
    samples/             step-NNNNNNN.png on the fixed latent grid, latest.png, `advnets sample` pictures
    tb/                  TensorBoard events
    checkpoints/         step-NNNNNNN.pt, best-<protocol>.pt and `latest`, the pointer (runs/checkpoint.py)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

import yaml

from advnets import __version__
from advnets.config import RunConfig, build_config, to_yaml
from advnets.errors import UserError
from advnets.io import append_text, write_text
from advnets.runs.checkpoint import LATEST, STEP_CHECKPOINTS, latest_checkpoint, step_checkpoint_name

MARKER = "advnets-run.json"
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
EVALS = "eval.jsonl"
COMMANDS = "command.txt"
HEALTH = "health.jsonl"
PROCESSES = "processes.json"
SAMPLES = "samples"
TENSORBOARD = "tb"
CHECKPOINTS = "checkpoints"
# Each log of the run -> where its records of an abandoned stretch go (runs/recovery.py).
ROLLED_BACK = {METRICS: "metrics-rolled-back.jsonl", EVALS: "eval-rolled-back.jsonl"}
SAMPLE_PICTURE = re.compile(r"step-(\d{7,})\.png")


class RunDir:
    """The paths of one run folder (nothing is created or checked until asked). A RunDir is itself a path-like
    object (`Path(run)`, `os.fspath(run)`), made from a str, a Path or another RunDir."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- files at the top ----------------------------------------------------------------------------------
    @property
    def marker_path(self) -> Path:
        return self.path / MARKER

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def command_path(self) -> Path:
        return self.path / COMMANDS

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def processes_path(self) -> Path:
        """processes.json: a torchrun session's processes and effective batch (training.distributed)."""
        return self.path / PROCESSES

    @property
    def eval_path(self) -> Path:
        return self.path / EVALS

    @property
    def health_path(self) -> Path:
        return self.path / HEALTH

    def rolled_back(self) -> list[tuple[Path, Path]]:
        """(log, where its abandoned records go) for every log a rollback trims."""
        return [(self.path / log, self.path / aside) for log, aside in ROLLED_BACK.items()]

    def figure(self, name: str) -> Path:
        """A figure of the run: `figure("losses")` -> RUN/losses.png."""
        return self.path / f"{name}.png"

    @property
    def losses_figure(self) -> Path:
        return self.figure("losses")

    @property
    def strip_figure(self) -> Path:
        return self.figure("strip")

    @property
    def density_figure(self) -> Path:
        """The paper's Figure 1 of a 1-D run (`advnets figure density-1d`)."""
        return self.figure("density-1d")

    @property
    def nearest_figure(self) -> Path:
        """The paper's Figure 2: samples beside their nearest training examples (`advnets figure nearest`)."""
        return self.figure("nearest")

    @property
    def interpolation_figure(self) -> Path:
        """The paper's Figure 3: samples along lines in latent space (`advnets figure interpolate`)."""
        return self.figure("interpolate")

    # -- folders ------------------------------------------------------------------------------------------
    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES

    def sample_picture(self, step: int) -> Path:
        """The picture of G on the fixed latent grid after `step` updates."""
        return self.samples / f"step-{step:07d}.png"

    @property
    def latest_sample(self) -> Path:
        return self.samples / "latest.png"

    def sample_pictures(self) -> list[tuple[int, Path]]:
        """The step pictures, (step, path) sorted by step (latest.png and `advnets sample` pictures left out)."""
        if not self.samples.is_dir():
            return []
        found = [(m, p) for p in self.samples.iterdir() if (m := SAMPLE_PICTURE.fullmatch(p.name))]
        return sorted((int(m.group(1)), p) for m, p in found)

    def drawn_samples(self, step: int, n: int, seed: int, suffix: str = "") -> Path:
        """Where `advnets sample` puts n samples of the checkpoint at `step` (suffix `-ema` for the average's)."""
        return self.samples / f"sample-step{step:07d}-n{n}-seed{seed}{suffix}.png"

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def latest(self) -> Path:
        """The `latest` pointer: a small text file naming the newest complete checkpoint."""
        return self.checkpoints / LATEST

    def has_checkpoint(self) -> bool:
        return self.latest.is_file()

    def latest_checkpoint(self) -> Path:
        """The checkpoint `latest` names (a UserError when there is none)."""
        return latest_checkpoint(self.checkpoints)

    def last_good(self) -> str | None:
        """The file name `latest` holds, if any (for messages; never raises)."""
        try:
            return self.latest.read_text().strip() if self.latest.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / step_checkpoint_name(step)

    def step_checkpoints(self) -> list[Path]:
        """The kept step checkpoints, oldest first."""
        return sorted(self.checkpoints.glob(STEP_CHECKPOINTS))

    def best_checkpoint(self, protocol: str) -> Path:
        """The checkpoint of the epoch with the best validation score of `protocol` (runs/evaluation.py)."""
        return self.checkpoints / f"best-{protocol}.pt"

    # -- what the folder is -------------------------------------------------------------------------------
    def is_run(self) -> bool:
        return self.marker_path.is_file() and self.config_path.is_file()

    def require(self) -> None:
        """A UserError unless this is a run folder made by advnets."""
        if not self.path.is_dir():
            raise UserError(f"run folder {self.path} does not exist; pass a folder made by `advnets train`")
        if not self.is_run():
            raise UserError(
                f"{self.path} is not an advnets run folder (no {MARKER}); pass a folder made by `advnets train`"
            )

    def load_config(self) -> RunConfig:
        """The run's saved config (the folder must be a run)."""
        self.require()
        try:
            saved = yaml.safe_load(self.config_path.read_text())
        except yaml.YAMLError:
            raise UserError(
                f"{self.config_path} is not valid YAML; restore it from the checkpoint or retrain"
            ) from None
        return build_config(base=saved)

    def save_config(self, cfg: RunConfig) -> None:
        write_text(self.config_path, to_yaml(cfg), durable=True)

    def record_command(self) -> None:
        """Append the exact command line (and where it ran) to command.txt."""
        command = shlex.join(["advnets", *sys.argv[1:]])
        line = f"# {time.strftime('%Y-%m-%d %H:%M:%S')} in {Path.cwd()}\n{command}\n"
        append_text(self.command_path, line)


def is_run_dir(path: Path) -> bool:
    return RunDir(path).is_run()


def _next_index(root: Path) -> int:
    used = [int(m.group(1)) for p in root.glob("*") if (m := re.match(r"(\d{5})-", p.name))]
    return max(used, default=-1) + 1


def create_run_dir(cfg: RunConfig, out: Path | None, root: Path = Path("runs")) -> Path:
    """A new, empty run folder: `out` if given (it must not exist or be empty), else root/NNNNN-<name>."""
    if out is not None:
        if is_run_dir(out):
            raise UserError(
                f"{out} already holds a run; continue it with `advnets resume {out}` or pick a new --out"
            )
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UserError(f"--out {out} exists and is not an empty folder; pick a new path")
        path = out
    else:
        root.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg.name).strip("-") or "run"
        path = root / f"{_next_index(root):05d}-{safe}"
    path.mkdir(parents=True, exist_ok=True)
    run = RunDir(path)
    write_text(run.config_path, to_yaml(cfg))
    marker = {"advnets_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text(run.marker_path, json.dumps(marker, indent=2) + "\n")
    run.record_command()
    return path


def record_command(path: Path) -> None:
    """Append the exact command line (and where it ran) to command.txt."""
    RunDir(path).record_command()


def require_run_dir(path: Path) -> None:
    RunDir(path).require()


def load_run_config(path: Path) -> RunConfig:
    return RunDir(path).load_config()
