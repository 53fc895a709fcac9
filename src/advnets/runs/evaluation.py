"""Evaluation during training: every metric in `eval.metrics`, every `eval.every_epochs` epochs, through the metric
registry. Each score is appended to eval.jsonl with its protocol name, drawn per epoch in `<metric>.png` and added
to TensorBoard as eval/<protocol>; a run that keeps a moving average of G's weights scores the average, under the
protocol name with `-ema`. A
course report plotted exactly such a curve and saw it fall when the generator collapsed (docs/paper.md §6).

The authors' lab picked stopping points by validation Parzen likelihood (docs/paper.md §7), so for a metric with a
validation score the checkpoint of the epoch with the best *validation* score so far is kept as
`checkpoints/best-<protocol>.pt` (never chosen on the test set), for `advnets eval --checkpoint` later. A run that
`train.max_steps` ends inside an epoch is also scored at its last step.

Every scheduled metric is checked against the run's data when the run is built (`check_scheduled_metrics`, before
its folder exists and before the first update), so that a metric that cannot score this data (modes on images)
costs nothing. A metric that still fails at an evaluation never costs the work done: the epoch's checkpoint is
written before the error goes on, so that the run resumes from there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from advnets.config import RunConfig
from advnets.data import DataSet
from advnets.data.dataset import Kind
from advnets.errors import UserError
from advnets.evaluate import (
    append_eval,
    check_metric,
    eval_record,
    evaluate,
    metric_figure,
    metric_options,
    read_evals,
    record_scalars,
    reference_data,
    scored_name,
)
from advnets.metrics import METRICS
from advnets.runs.checkpoint import atomic_write_bytes
from advnets.runs.hooks import CheckpointHook, TensorBoard, is_main_process
from advnets.runs.run_dir import RunDir
from advnets.training.trainer import Hook, Trainer


class EvaluationHook(Hook):
    """Scores G (its weight average when the run keeps one) with one metric every `eval.every_epochs` epochs."""

    def __init__(
        self,
        run_dir: Path | RunDir,
        cfg: RunConfig,
        metric_name: str,
        board: TensorBoard | None = None,
        checkpoint: CheckpointHook | None = None,
    ) -> None:
        self.run = RunDir(run_dir)
        # The session's checkpoints: the epoch is saved before it is scored, so a run killed while scoring (the
        # Inception network takes minutes on a CPU) loses no training; its resume scores what is owed (on_start).
        self.checkpoint = checkpoint
        self.board = board  # the session's TensorBoard (MetricsHook opens and closes it); None: no scalars
        self.every = cfg.eval.every_epochs
        self.metric_name = metric_name
        self.metric = METRICS.get(metric_name)
        self.options = metric_options(cfg, metric_name)  # with the data-dependent choices made (its extractor)
        self.references: dict[str, DataSet] | None = None  # loaded at the first evaluation, then kept

    def on_start(self, trainer: Trainer) -> None:
        # Resumed at a scheduled epoch that was not scored (stopped or killed while scoring): score it first.
        if trainer.step > 0 and self._due(trainer):
            self._score(trainer, self._scored_this_epoch(trainer))

    def on_epoch_end(self, trainer: Trainer) -> None:
        if self._due(trainer):
            # A resumed run does not score the same epoch twice.
            self._score(trainer, self._scored_this_epoch(trainer))

    def owes(self, trainer: Trainer) -> bool:
        """Whether the trainer stands at a scheduled epoch this metric has not scored (see on_start)."""
        if trainer.step == 0 or not self._due(trainer):
            return False
        name = self._name(trainer)
        return not self._scored_this_epoch(trainer)(read_evals(self.run, name, training_only=True))

    def _due(self, trainer: Trainer) -> bool:
        at_boundary = trainer.batches.cursor.batch == 0
        return is_main_process() and at_boundary and trainer.epoch > 0 and trainer.epoch % self.every == 0

    @staticmethod
    def _scored_this_epoch(trainer: Trainer) -> Callable[[list[dict[str, Any]]], bool]:
        return lambda earlier: trainer.epoch in {r["epoch"] for r in earlier}

    def _name(self, trainer: Trainer) -> str:
        if self.references is None:
            self.references = reference_data(trainer.cfg, self.metric)
        return scored_name(self.metric.protocol(self.options, self.references), ema=trainer.parts.G_ema is not None)

    def on_end(self, trainer: Trainer, status: str) -> None:
        # A run that train.max_steps ends inside an epoch is scored at its last step too: that state is what the run
        # made (mnist-zeros' 250 updates never finish an epoch). Runs that end at an epoch were scored there.
        if status != "completed" or trainer.epoch >= trainer.cfg.train.epochs or not is_main_process():
            return
        self._score(trainer, lambda earlier: trainer.step in {r["step"] for r in earlier})

    def _score(self, trainer: Trainer, scored_already: Callable[[list[dict[str, Any]]], bool]) -> None:
        name = self._name(trainer)
        ema = trainer.parts.G_ema is not None
        # `advnets eval` records (they name their checkpoint) and other protocols do not count.
        earlier = read_evals(self.run, name, training_only=True)
        if scored_already(earlier):
            return
        if self.checkpoint is not None:
            self.checkpoint.save(trainer)
        try:
            result = evaluate(
                trainer.G_for_samples,
                trainer.cfg,
                trainer.train_set.kind,
                self.metric_name,
                self.options,
                references=self.references,
                ema=ema,
            )
        except Exception as err:
            self._save_work(trainer, err)
            raise
        record = eval_record(trainer.step, trainer.epoch, result)
        self._keep_best(trainer, record, earlier)
        append_eval(self.run, record)
        metric_figure(self.run, trainer.cfg, self.metric_name, name)
        if self.board is not None:
            self.board.add(f"eval/{name}", record_scalars(record), trainer.step)

    def _save_work(self, trainer: Trainer, err: Exception) -> None:
        """The epoch's checkpoint, written although the metric failed (the state is a good resume point: the failure
        is the metric's), and, for a user error, the way on added to its message."""
        try:
            CheckpointHook(self.run).save(trainer)
        except Exception:  # noqa: BLE001 -- e.g. NaN weights are never saved; the metric's error is the one to show
            return
        if isinstance(err, UserError):
            err.args = (
                f"{err} (eval.metrics.{self.metric_name} failed at epoch {trainer.epoch}; that epoch's checkpoint is "
                f"saved: fix the metric's options or drop it from eval.metrics, then `advnets resume {self.run.path}`)",
            )

    def _keep_best(self, trainer: Trainer, record: dict[str, Any], earlier: list[dict[str, Any]]) -> None:
        score = self.metric.validation_score
        if score is None:
            return
        sign = 1.0 if self.metric.higher_is_better else -1.0
        if all(sign * score(record) > sign * score(r) for r in earlier):
            best = self.run.best_checkpoint(record["name"])
            best.parent.mkdir(exist_ok=True)
            state = trainer.state_dict()
            atomic_write_bytes(best, lambda f: torch.save(state, f))


def check_scheduled_metrics(cfg: RunConfig, kind: Kind) -> None:
    """A UserError when a metric in eval.metrics cannot score this run's data (Metric.check); run before training."""
    if not cfg.eval.every_epochs:
        return
    for name in cfg.eval.metrics:
        check_metric(cfg, name, kind)


def evaluation_hooks(
    run_dir: Path | RunDir,
    cfg: RunConfig,
    board: TensorBoard | None = None,
    checkpoint: CheckpointHook | None = None,
) -> list[EvaluationHook]:
    """One hook per scheduled metric; with the session's `checkpoint`, each scored epoch is saved first."""
    if not cfg.eval.every_epochs:
        return []
    return [EvaluationHook(run_dir, cfg, name, board, checkpoint) for name in cfg.eval.metrics]
