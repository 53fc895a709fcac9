"""What `advnets train`, `advnets resume`, `advnets sample` and `advnets eval` do, as library functions, and the
generator that `advnets eval` and `advnets sample` use: a run's moving average of G's weights when it keeps one,
unless asked for the raw G."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advnets.config import RunConfig, build_config
from advnets.data import DataSet, VectorKind, load_data
from advnets.data.dataset import Kind
from advnets.errors import UserError
from advnets.evaluate import (
    EMA_SUFFIX,
    append_eval,
    check_metric,
    checkpoint_kind,
    eval_record,
    evaluate,
    metric_figure,
    metric_options,
)
from advnets.io import write_text
from advnets.metrics import METRICS
from advnets.models import ModelSpec, build_generator
from advnets.models.players import is_conditional
from advnets.models.sampling import generate
from advnets.runs.checkpoint import load_checkpoint
from advnets.runs.evaluation import check_scheduled_metrics, evaluation_hooks
from advnets.runs.hooks import (
    CheckpointHook,
    LossPlotHook,
    MetricsHook,
    SampleHook,
    TensorBoard,
    reference_points,
)
from advnets.runs.lock import run_lock
from advnets.runs.recovery import fit_with_recovery
from advnets.runs.run_dir import RunDir, create_run_dir
from advnets.training.components import resolve_device
from advnets.training.distributed import World, broadcast_object, join, launched_as_main
from advnets.training.trainer import Hook, Trainer, check_resumable


def default_hooks(run_dir: Path | RunDir, cfg: RunConfig) -> list[Hook]:
    """The hooks of a training session, evaluations included, sharing one TensorBoard."""
    board = TensorBoard(run_dir)
    checkpoint = CheckpointHook(run_dir)
    # Checkpoint last, so that every other hook's epoch-end work happens before the state is saved; an epoch that
    # is scored is saved before its scoring (the same hook: written once), so a kill while scoring costs no training.
    return [
        MetricsHook(run_dir, progress=cfg.log.progress, board=board),
        SampleHook(run_dir, board),
        *evaluation_hooks(run_dir, cfg, board, checkpoint),
        LossPlotHook(run_dir),
        checkpoint,
    ]


def train(
    cfg: RunConfig,
    out: Path | None = None,
    *,
    data: DataSet | None = None,
    runs_root: Path = Path("runs"),
    on_start: Callable[[Path], object] | None = None,
) -> tuple[Path, str]:
    """Start a new run; returns its folder and how it ended ("completed" or "stopped"). `on_start(folder)` is
    called as soon as the folder exists, before the first update (the CLI prints where the run goes)."""
    world = join(resolve_device(cfg.device))  # under torchrun: this process's rank (training.distributed)
    # Build everything before creating the folder, so bad data, models or metrics leave nothing behind.
    trainer = Trainer.from_config(cfg, data=data)
    check_scheduled_metrics(cfg, trainer.train_set.kind)
    run_dir = create_run_dir(cfg, out, runs_root) if world.main else None
    if world.size > 1:
        run_dir = broadcast_object(run_dir)  # only rank 0 writes; the others need the path (rollbacks read it)
        if world.main:
            record_processes(run_dir, world, cfg)
    assert run_dir is not None
    with _main_only(run_lock(run_dir), world):
        if on_start is not None and world.main:
            on_start(run_dir)
        return run_dir, fit_with_recovery(trainer, run_dir, lambda: default_hooks(run_dir, cfg))


def _main_only(context: AbstractContextManager[object], world: World) -> AbstractContextManager[object]:
    """The run folder's lock is rank 0's: the other ranks of a torchrun job write nothing."""
    return context if world.main else nullcontext()


def record_processes(run_dir: Path, world: World, cfg: RunConfig) -> None:
    """A torchrun session's processes and effective batch, beside the config (whose train.batch_size is per
    process), in RUN/processes.json: one entry per session."""
    path = RunDir(run_dir).processes_path
    sessions = json.loads(path.read_text()) if path.exists() else []
    sessions.append(
        {
            "processes": world.size,
            "batch_size_per_process": cfg.train.batch_size,
            "effective_batch_size": cfg.train.batch_size * world.size,
        }
    )
    write_text(path, json.dumps(sessions, indent=2) + "\n")


def resume(
    run_dir: Path, overrides: list[str] | None = None, *, data: DataSet | None = None, finished_ok: bool = False
) -> str:
    """Continue a run from its latest checkpoint; overrides may lengthen the schedule or change logging. A finished
    run is refused (`finished_ok`: returns "completed"), unless its last scheduled evaluation is owed (it was
    stopped while scoring): then that is scored."""
    RunDir(run_dir).require()  # first, so that a wrong path gets no .lock file
    # Locked before the checkpoint is read: a process that finishes meanwhile would otherwise be continued from
    # its older checkpoint. Under torchrun only rank 0 locks (and writes); the group is joined once the config
    # says on which device.
    with run_lock(run_dir) if launched_as_main() else nullcontext():
        return _resume_locked(RunDir(run_dir), overrides, data, finished_ok)


def _resume_locked(run: RunDir, overrides: list[str] | None, data: DataSet | None, finished_ok: bool = False) -> str:
    saved = run.load_config()
    state = load_checkpoint(run.latest_checkpoint())
    cfg = build_config(base=saved, overrides=overrides)
    check_resumable(state["config"], cfg)
    world = join(resolve_device(cfg.device))
    trainer = Trainer.from_config(cfg, data=data)
    check_scheduled_metrics(cfg, trainer.train_set.kind)
    trainer.load_state_dict(state)
    if trainer.done() and not any(hook.owes(trainer) for hook in evaluation_hooks(run, cfg)):
        if finished_ok:
            return "completed"
        raise UserError(finished_message(run, cfg, trainer.step, trainer.epoch))
    if world.main:
        run.save_config(cfg)
        run.record_command()
        if world.size > 1:
            record_processes(run.path, world, cfg)
    return fit_with_recovery(trainer, run.path, lambda: default_hooks(run, cfg))


def finished_message(run: RunDir, cfg: RunConfig, step: int, epoch: int) -> str:
    """Why a finished run cannot go on, naming the key that ends it: train.max_steps when it is reached (more
    epochs cannot help then), else train.epochs."""
    max_steps, epochs = cfg.train.max_steps, cfg.train.epochs
    if max_steps is not None and step >= max_steps:
        fix = f"raise it, e.g. `advnets resume {run} train.max_steps={2 * max_steps}`, or set train.max_steps=null"
        if epoch < epochs:
            fix += f" to train until train.epochs={epochs}"
        else:
            fix += f" and give more epochs too (train.epochs={epochs} is reached as well)"
        return (
            f"{run} already finished: train.max_steps={max_steps} reached at step {step} (epoch {epoch}), and it "
            f"ends the run whatever train.epochs says; {fix}"
        )
    return (
        f"{run} already finished: train.epochs={epochs} reached ({epoch} epochs, {step} steps); give a longer "
        f"schedule, e.g. `advnets resume {run} train.epochs={2 * epochs}`"
    )


def load_generator(
    run_dir: Path, checkpoint: Path | None = None, device: str = "auto", *, ema: bool = True
) -> tuple[nn.Module, RunConfig, dict[str, Any], Kind, bool]:
    """G from a run's checkpoint (latest by default), in eval mode on `device`, with the kind of data it makes and
    whether it is the weight average: G_ema when the checkpoint holds one and `ema` (`--no-ema` gives the raw G;
    checkpoints of runs without the average, older ones included, always give G)."""
    run = RunDir(run_dir)
    run.require()
    path = checkpoint if checkpoint is not None else run.latest_checkpoint()
    state = load_checkpoint(path)
    cfg = build_config(base=state["config"])
    shape, kind = checkpoint_kind(state, cfg)
    # Built without init: every weight, the output bias included, comes from the checkpoint.
    G = build_generator(cfg.model.generator, ModelSpec(cfg.model.z_dim, shape, kind, num_classes=state.get("num_classes")), init=False)
    use_ema = ema and "G_ema" in state
    try:
        G.load_state_dict(state["G_ema" if use_ema else "G"])
    except RuntimeError as err:
        raise UserError(f"{path} does not match its own config ({str(err).splitlines()[0][:160]})") from None
    G.to(resolve_device(device)).eval()
    return G, cfg, state, kind, use_ema


def sample(
    run_dir: Path,
    n: int,
    out: Path | None = None,
    *,
    checkpoint: Path | None = None,
    seed: int = 0,
    ema: bool = True,
    label: int | None = None,
) -> Path:
    """n samples of a run's G (its weight average when it keeps one and `ema`) drawn as its data set shows
    examples, vectors over the same data points as the run's own pictures (so that missed modes show); by default
    into RUN/samples/, the average's pictures named `...-ema.png`. A conditional G draws classes at random, or
    only class `label` (`advnets sample RUN --class 3`)."""
    if n <= 0:
        raise UserError(f"-n {n} must be a positive number of samples")
    G, cfg, state, kind, use_ema = load_generator(run_dir, checkpoint, ema=ema)
    labels = None
    if label is not None:
        classes = state.get("num_classes")
        if not is_conditional(G) or classes is None:
            raise UserError(f"--class {label}: this run's G is not conditional, so it cannot be asked for a class")
        if not 0 <= label < classes:
            raise UserError(f"--class {label} is not a class of this run; its classes are 0 .. {classes - 1}")
        labels = torch.full((n,), label, dtype=torch.long)
    if out is None:
        suffix = (f"-class{label}" if label is not None else "") + (EMA_SUFFIX if use_ema else "")
        out = RunDir(run_dir).drawn_samples(state["counters"]["step"], n, seed, suffix)
    reference = reference_points(load_data(cfg.data), cfg.seed) if isinstance(kind, VectorKind) else None
    kind.show(generate(G, cfg.model.z_dim, cfg.model.noise, n, seed=seed, labels=labels), out, reference=reference)
    return out


def evaluate_run(
    run_dir: Path,
    metric: str = "parzen",
    *,
    checkpoint: Path | None = None,
    ema: bool = True,
    progress: bool = False,
    device: str = "auto",
    **options: Any,
) -> dict[str, Any]:
    """`advnets eval`: score a run's checkpoint (`latest` by default) with `metric`, append the record to its
    eval.jsonl, redraw the protocol's figure (advnets.evaluate.metric_figure_path) and return the record.

    `options` override the run's eval.metrics.METRIC options (e.g. samples=2000, sigmas=[0.1, 0.2]; another
    protocol gets another name). G is the run's weight average when it keeps one and `ema`, else G itself."""
    METRICS.get(metric)  # an unknown name fails before the checkpoint is loaded
    known = [f.name for f in dataclasses.fields(METRICS.options(metric))]
    for key in options:
        if key not in known:
            raise UserError(f"{key} does not apply to metric {metric!r}; its options are: {', '.join(known)}")
    G, cfg, state, kind, used_ema = load_generator(run_dir, checkpoint, device, ema=ema)
    chosen = metric_options(cfg, metric, options)
    check_metric(cfg, metric, kind, chosen)
    result = evaluate(G, cfg, kind, metric, chosen, progress=progress, ema=used_ema)
    record = eval_record(
        state["counters"]["step"],
        state["cursor"]["epoch"],
        result,
        checkpoint=str(checkpoint) if checkpoint is not None else "latest",
    )
    append_eval(run_dir, record)
    metric_figure(run_dir, cfg, metric, record["name"])
    return record
