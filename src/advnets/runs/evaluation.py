"""Evaluation during training: the Parzen log-likelihood every `eval.parzen_every_epochs` epochs (PAPER.md §2),
appended to eval.jsonl and drawn per epoch in parzen.png. A course report plotted exactly this curve and saw it
fall when the generator collapsed (PAPER.md §6).

The authors' lab picked stopping points by validation Parzen likelihood (PAPER.md §7), so the checkpoint of the
epoch with the best *validation* score so far is kept as `checkpoints/best-<protocol>.pt` (never chosen on the
test set), for `advnets eval --checkpoint` with another protocol later.
"""

from __future__ import annotations

from pathlib import Path

import torch

from advnets.config import RunConfig
from advnets.evaluate import append_eval, eval_sigmas, evaluate_parzen, parzen_data, read_evals
from advnets.metrics.parzen import protocol_name
from advnets.reporting.figures import plot_metric_curve
from advnets.runs.checkpoint import atomic_write_bytes
from advnets.runs.hooks import is_main_process
from advnets.training.trainer import Hook, Trainer

# The paper's Table 1 reports real-valued MNIST only; other data sets get no reference line.
PAPER_REFERENCE = {"mnist": {"paper GAN (225)": 225.0, "Deep GSN (214)": 214.0}}


class ParzenHook(Hook):
    def __init__(self, run_dir: Path, cfg: RunConfig) -> None:
        self.run_dir = run_dir
        self.every = cfg.eval.parzen_every_epochs
        self.data: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_epoch_end(self, trainer: Trainer) -> None:
        if trainer.epoch % self.every or not is_main_process():
            return
        e = trainer.cfg.eval
        name = protocol_name(e.parzen_samples, eval_sigmas(trainer.cfg))
        # A resumed run does not score the same epoch twice; `advnets eval` records (they name their
        # checkpoint) and other protocols do not count.
        earlier = read_evals(self.run_dir, name, training_only=True)
        if trainer.epoch in {r["epoch"] for r in earlier}:
            return
        if self.data is None:
            self.data = parzen_data(trainer.cfg, e.parzen_valid, e.parzen_test)
        result = evaluate_parzen(trainer.G, trainer.cfg, valid=self.data[0], test=self.data[1])
        record = {"step": trainer.step, "epoch": trainer.epoch, **result.as_dict()}
        if all(max(result.valid_means) > max(r["valid_means"]) for r in earlier):
            best = self.run_dir / "checkpoints" / f"best-{result.name}.pt"
            best.parent.mkdir(exist_ok=True)
            state = trainer.state_dict()
            atomic_write_bytes(best, lambda f: torch.save(state, f))
        append_eval(self.run_dir, record)
        records = [*earlier, record]
        plot_metric_curve(
            records,
            "mean",
            self.run_dir / "parzen.png",
            x="epoch",
            err_key="se",
            ylabel=f"{result.name} log-likelihood (nats)",
            title=f"{trainer.cfg.name}: Parzen log-likelihood",
            reference=PAPER_REFERENCE.get(trainer.cfg.data.name),
        )


def evaluation_hooks(run_dir: Path, cfg: RunConfig) -> list[Hook]:
    return [ParzenHook(run_dir, cfg)] if cfg.eval.parzen_every_epochs else []
