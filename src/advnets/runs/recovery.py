"""The health monitor's remedy for divergence: roll back to the last healthy state and go on with lower learning
rates (`health.on_divergence=lower_lr`), instead of stopping (`stop`, the default).

When the losses or weights of a run become NaN/inf or explode (runs/health.py raises `TrainingDiverged`), the run
is restored from its `latest` checkpoint (or, before the first one, from the state it started from, kept in
memory), both scheduled learning rates are multiplied by `health.lr_factor`, and training continues, at most
`health.max_rollbacks` times. Every rollback is a line in RUN/health.jsonl and on stderr. The metrics lines and
evaluations logged after the restored step move to RUN/metrics-rolled-back.jsonl and RUN/eval-rolled-back.jsonl,
so metrics.jsonl, eval.jsonl and their figures describe the run that continued, and nothing logged is lost. The scale is part of every later checkpoint, so a resumed run
keeps it.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from advnets.io import append_jsonl, append_text, read_jsonl, write_text
from advnets.runs.checkpoint import load_checkpoint
from advnets.runs.health import TrainingDiverged
from advnets.runs.run_dir import RunDir
from advnets.training.trainer import Hook, Trainer


def fit_with_recovery(
    trainer: Trainer, run_dir: Path | RunDir, make_hooks: Callable[[], Sequence[Hook]]
) -> str:
    """`trainer.fit()` with fresh hooks, rolled back and continued on divergence as `health.*` asks."""
    health = trainer.cfg.health
    # The state to return to while no checkpoint exists yet (a copy: training updates the tensors in place).
    start = copy.deepcopy(trainer.state_dict()) if health.on_divergence == "lower_lr" else None
    while True:
        trainer.hooks = list(make_hooks())
        try:
            return trainer.fit()
        except TrainingDiverged as err:
            if start is None:
                raise
            if trainer.rollbacks >= health.max_rollbacks:
                raise TrainingDiverged(
                    f"{err} (after {trainer.rollbacks} rollback(s) with health.on_divergence=lower_lr, learning "
                    f"rates at x{trainer.lr_scale:g} of the schedule)"
                ) from None
            roll_back(trainer, run_dir, start, str(err))


def roll_back(trainer: Trainer, run_dir: Path | RunDir, start: dict[str, Any], reason: str) -> None:
    """Restore the last healthy state into `trainer`, lower its learning rates, and log why."""
    reason = reason.split(";")[0]  # what happened; the rest of a divergence message is advice for a stop
    failed_step, scale, rollbacks = (
        trainer.step,
        trainer.lr_scale * trainer.cfg.health.lr_factor,
        trainer.rollbacks + 1,
    )
    run = RunDir(run_dir)
    if run.has_checkpoint():
        path = run.latest_checkpoint()
        state, source = load_checkpoint(path), str(path.name)
    else:
        state, source = start, "the start of this session: no checkpoint yet"
    trainer.load_state_dict(state)
    # The counters come from before the failure, never from the restored state: each rollback lowers the rates
    # further and counts towards health.max_rollbacks.
    trainer.lr_scale, trainer.rollbacks = scale, rollbacks
    for log, aside in run.rolled_back():
        _set_aside(log, aside, after_step=trainer.step)
    event = {
        "event": "rollback",
        "step": failed_step,
        "to_step": trainer.step,
        "from": source,
        "lr_scale": scale,
        "rollback": rollbacks,
        "reason": reason,
    }
    append_jsonl(run.health_path, event)
    print(
        f"advnets: {reason}; rolled back to step {trainer.step} ({source}) and continuing with the "
        f"learning rates x{scale:g} (rollback {rollbacks} of {trainer.cfg.health.max_rollbacks})",
        file=sys.stderr,
    )


def _set_aside(path: Path, aside: Path, after_step: int) -> None:
    """Move the records of log `path` logged after `after_step` (the abandoned stretch) to `aside`."""
    if not path.exists():
        return
    records = read_jsonl(path)
    abandoned = [r for r in records if r.get("step", 0) > after_step]
    if abandoned:
        # Copied before the log is rewritten: a crash in between duplicates lines, never loses them.
        append_text(aside, "".join(json.dumps(r) + "\n" for r in abandoned))
        kept = [r for r in records if r.get("step", 0) <= after_step]
        write_text(path, "".join(json.dumps(r) + "\n" for r in kept), durable=True)
