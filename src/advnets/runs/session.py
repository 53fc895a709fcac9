"""What `advnets train`, `advnets resume` and `advnets sample` do, as library functions, and the generator that
`advnets eval` and `advnets sample` use: a run's moving average of G's weights when it keeps one, unless asked for
the raw G."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from advnets.config import RunConfig, build_config, to_yaml
from advnets.data import DataSet
from advnets.data.dataset import Kind
from advnets.errors import UserError
from advnets.evaluate import EMA_SUFFIX, checkpoint_kind
from advnets.io import write_text
from advnets.models import ModelSpec, build_generator
from advnets.models.sampling import generate
from advnets.runs.checkpoint import latest_checkpoint, load_checkpoint
from advnets.runs.evaluation import evaluation_hooks
from advnets.runs.hooks import CheckpointHook, LossPlotHook, MetricsHook, SampleHook
from advnets.runs.lock import run_lock
from advnets.runs.recovery import fit_with_recovery
from advnets.runs.run_dir import CONFIG, create_run_dir, load_run_config, record_command, require_run_dir
from advnets.training.components import resolve_device
from advnets.training.trainer import Hook, Trainer, check_resumable


def default_hooks(run_dir: Path, cfg: RunConfig, extra: list[Hook] | None = None) -> list[Hook]:
    # Checkpoint last, so that every other hook's epoch-end work happens before the state is saved.
    return [
        MetricsHook(run_dir, progress=cfg.log.progress),
        SampleHook(run_dir),
        *(extra or []),
        LossPlotHook(run_dir),
        CheckpointHook(run_dir),
    ]


def train(
    cfg: RunConfig, out: Path | None = None, *, data: DataSet | None = None, runs_root: Path = Path("runs")
) -> tuple[Path, str]:
    """Start a new run; returns its folder and how it ended ("completed" or "stopped")."""
    # Build everything before creating the folder, so bad data or models leave nothing behind.
    trainer = Trainer.from_config(cfg, data=data)
    run_dir = create_run_dir(cfg, out, runs_root)
    with run_lock(run_dir):
        return run_dir, fit_with_recovery(
            trainer, run_dir, lambda: default_hooks(run_dir, cfg, evaluation_hooks(run_dir, cfg))
        )


def resume(run_dir: Path, overrides: list[str] | None = None, *, data: DataSet | None = None) -> str:
    """Continue a run from its latest checkpoint; overrides may lengthen the schedule or change logging."""
    require_run_dir(run_dir)  # first, so that a wrong path gets no .lock file
    # Locked before the checkpoint is read: a process that finishes meanwhile would otherwise be continued from
    # its older checkpoint.
    with run_lock(run_dir):
        return _resume_locked(run_dir, overrides, data)


def _resume_locked(run_dir: Path, overrides: list[str] | None, data: DataSet | None) -> str:
    saved = load_run_config(run_dir)
    state = load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))
    cfg = build_config(base=saved, overrides=overrides)
    check_resumable(state["config"], cfg)
    trainer = Trainer.from_config(cfg, data=data)
    trainer.load_state_dict(state)
    if trainer.done():
        raise UserError(
            f"{run_dir} already finished ({trainer.epoch} epochs, {trainer.step} steps); give a longer schedule, "
            "e.g. `advnets resume RUN_DIR train.epochs=N`"
        )
    write_text(run_dir / CONFIG, to_yaml(cfg), durable=True)
    record_command(run_dir)
    return fit_with_recovery(
        trainer, run_dir, lambda: default_hooks(run_dir, cfg, evaluation_hooks(run_dir, cfg))
    )


def load_generator(
    run_dir: Path, checkpoint: Path | None = None, device: str = "auto", *, ema: bool = True
) -> tuple[nn.Module, RunConfig, dict[str, Any], Kind, bool]:
    """G from a run's checkpoint (latest by default), in eval mode on `device`, with the kind of data it makes and
    whether it is the weight average: G_ema when the checkpoint holds one and `ema` (`--no-ema` gives the raw G;
    checkpoints of runs without the average, older ones included, always give G)."""
    require_run_dir(run_dir)
    path = checkpoint if checkpoint is not None else latest_checkpoint(run_dir / "checkpoints")
    state = load_checkpoint(path)
    cfg = build_config(base=state["config"])
    shape, kind = checkpoint_kind(state, cfg)
    # Built without init: every weight, the output bias included, comes from the checkpoint.
    G = build_generator(cfg.model.generator, ModelSpec(cfg.model.z_dim, shape, kind), init=False)
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
) -> Path:
    """n samples of a run's G (its weight average when it keeps one and `ema`) drawn as its data set shows
    examples; by default into RUN/samples/, the average's pictures named `...-ema.png`."""
    if n <= 0:
        raise UserError(f"-n {n} must be a positive number of samples")
    G, cfg, state, kind, use_ema = load_generator(run_dir, checkpoint, ema=ema)
    if out is None:
        suffix = EMA_SUFFIX if use_ema else ""
        out = run_dir / "samples" / f"sample-step{state['counters']['step']:07d}-n{n}-seed{seed}{suffix}.png"
    kind.show(generate(G, cfg.model.z_dim, cfg.model.noise, n, seed=seed), out)
    return out
