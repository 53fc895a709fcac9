"""The training loop: Algorithm 1 of Goodfellow et al. (2014) or the paper code's simultaneous update, with hooks
at step, epoch and end boundaries for logging, sampling, evaluation and checkpointing.

The hot loop indexes minibatches from a tensor already on the device, draws noise on the device and never
synchronises with the host; hooks decide when to look at numbers (every `log.every_steps`). `next_batch` is the
only place that draws what an update consumes (real examples, their labels, z, the labels given to G), and every
random draw of an iteration comes from the run's own generator (advnets.randomness), saved in checkpoints.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from advnets import __version__
from advnets.config import RunConfig, build_config, to_dict
from advnets.data import DataSet
from advnets.errors import UserError
from advnets.models.noise import sample_noise
from advnets.randomness import drawing_from
from advnets.training.batches import Cursor, EpochBatches
from advnets.training.components import Components, build_components, num_classes, resolve_device
from advnets.training.distributed import (
    any_rank,
    average_grads,
    average_stats,
    current_world,
    rank_seed,
    share_rank0,
)
from advnets.training.ema import standing_statistics, update_ema
from advnets.training.optim import apply_schedule
from advnets.training.parts import Batch
from advnets.training.speed import images_channels_last
from advnets.training.steps import Stats

# Keys whose change keeps a resumed run exact in everything that has happened so far.
RESUMABLE_CHANGES = ("train.epochs", "train.max_steps", "device", "name")
RESUMABLE_PREFIXES = ("log.", "eval.", "health.", "speed.")

__all__ = ["Hook", "Trainer", "check_resumable", "resolve_device"]


class Hook:
    """Override any of these; the trainer calls them in the order hooks were given."""

    def on_start(self, trainer: Trainer) -> None: ...
    def on_step_end(self, trainer: Trainer, stats: dict[str, torch.Tensor]) -> None: ...
    def on_epoch_end(self, trainer: Trainer) -> None: ...
    def on_end(self, trainer: Trainer, status: str) -> None:
        """status: "completed", "stopped" (Ctrl-C / SIGTERM, at an iteration boundary) or "failed"."""


class Trainer:
    """Runs ready parts (`Components`) for the configured epochs or steps: the update rule once per iteration,
    hooks at step, epoch and end boundaries. Owns the counters, the data order and the fixed latent grid."""

    def __init__(self, cfg: RunConfig, components: Components, *, hooks: Sequence[Hook] = ()) -> None:
        self.cfg = cfg
        self.components = components
        self.parts = components.parts
        self.update = components.update
        self.device = components.device
        self.train_set = components.data
        self.generator = components.generator  # every draw of training: noise, labels, dropout, penalties
        self.conditional = components.conditional
        self.hooks = list(hooks)
        # Under torchrun: this process's rank; its slice of every global batch (training.distributed).
        self.world = current_world()
        self.batches = EpochBatches(
            len(self.train_set),
            cfg.train.batch_size,
            cfg.seed,
            self.device,
            rank=self.world.rank,
            ranks=self.world.size,
        )
        if self.world.size > 1:
            self.parts.sync_grads = average_grads
            share_rank0([self.parts.G, self.parts.D, self.parts.G_ema])
        self.step = 0  # completed iterations (= G updates)
        self._ema_statistics_step: int | None = None  # the step whose G_ema batch-norm statistics are current
        self.stop_requested = False
        self.g_updates = 0
        self.d_updates = 0
        # The health monitor's lower-lr remedy (runs/recovery.py): both scheduled lrs are multiplied by lr_scale.
        self.lr_scale = 1.0
        self.rollbacks = 0
        # A fixed latent grid from its own generator, so sample pictures are comparable across steps and drawing
        # them does not disturb the training RNG.
        grid_gen = torch.Generator().manual_seed(cfg.seed + 7919)
        self.fixed_z = sample_noise(cfg.log.grid_size, cfg.model.z_dim, cfg.model.noise, generator=grid_gen)
        self.fixed_z = self.fixed_z.to(self.device)
        # A conditional run's grid: one row per class present in the data, the same z in every row.
        self.fixed_labels: torch.Tensor | None = None
        if self.conditional:
            self.fixed_z, self.fixed_labels = class_rows(self.fixed_z, self.train_set.labels)

    @classmethod
    def from_config(cls, cfg: RunConfig, *, data: DataSet | None = None, hooks: Sequence[Hook] = ()) -> Trainer:
        return cls(cfg, build_components(cfg, data), hooks=hooks)

    # The players and optimisers, for hooks and callers.
    @property
    def G(self) -> torch.nn.Module:  # noqa: N802 -- the paper's name
        return self.parts.G

    @property
    def D(self) -> torch.nn.Module:  # noqa: N802
        return self.parts.D

    @property
    def G_for_samples(self) -> torch.nn.Module:  # noqa: N802
        """The G that sample pictures and scores use: G's weight average when the run keeps one (its batch-norm
        statistics its own), else G."""
        if self.parts.G_ema is None:
            return self.parts.G
        self._refresh_ema_statistics()
        return self.parts.G_ema

    def _refresh_ema_statistics(self) -> None:
        """G_ema's batch-norm statistics re-estimated from its current weights, once per step at most
        (training.ema.standing_statistics). Seeded by the run's seed: a function of the weights alone, so resuming,
        sampling or saving twice changes nothing."""
        G_ema, batches = self.parts.G_ema, self.cfg.train.ema_bn_batches
        if G_ema is None or batches == 0 or self._ema_statistics_step == self.step:
            return
        standing_statistics(
            G_ema,
            self.cfg.model.z_dim,
            self.cfg.model.noise,
            batch_size=self.cfg.train.batch_size,
            batches=batches,
            seed=self.cfg.seed + 104729,
            num_classes=num_classes(self.train_set) if self.conditional else None,
        )
        self._ema_statistics_step = self.step

    @property
    def g_opt(self) -> torch.optim.Optimizer:
        return self.parts.g_opt

    @property
    def d_opt(self) -> torch.optim.Optimizer:
        return self.parts.d_opt

    # -- progress -------------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Completed passes over the training data."""
        return self.batches.cursor.epoch

    def real_batches_per_step(self) -> int:
        return self.update.d_updates_per_iteration(self.cfg.train)

    def steps_per_epoch(self) -> float:
        return self.batches.batches_per_epoch / self.real_batches_per_step()

    def planned_steps(self) -> int:
        total = int(np.ceil(self.cfg.train.epochs * self.steps_per_epoch()))
        if self.cfg.train.max_steps is not None:
            total = min(total, self.cfg.train.max_steps)
        return total

    def real_examples_per_step(self) -> int:
        """Real examples D sees per iteration (for examples/s)."""
        return self.real_batches_per_step() * self.cfg.train.batch_size

    def done(self) -> bool:
        if self.cfg.train.max_steps is not None and self.step >= self.cfg.train.max_steps:
            return True
        return self.epoch >= self.cfg.train.epochs

    # -- the Loop an update rule sees ---------------------------------------------------------------------------
    def next_batch(self, n_fake: int | None = None, *, real: bool = True) -> Batch:
        """The next real minibatch (by index: batches.py) with its labels, unless real=False; then n_fake z (default:
        one per real example) and, for a conditional run, the labels given to G, drawn from the training labels'
        distribution. Draws in that order, from the run's generator."""
        examples = labels = None
        if real:
            index = self.batches.next()
            examples = self.train_set.take(index)  # [N, *shape] float (uint8 sets are decoded here)
            if self.cfg.speed.channels_last:
                examples = images_channels_last(examples)
            labels = self.train_set.labels[index] if self.train_set.labels is not None else None  # [N]
        n = n_fake if n_fake is not None else self.cfg.train.batch_size
        z = sample_noise(n, self.cfg.model.z_dim, self.cfg.model.noise, generator=self.generator, device=self.device)
        fake_labels = None
        if self.conditional:
            assert self.train_set.labels is not None, "build_components refuses a conditional family without labels"
            pick = torch.randint(len(self.train_set.labels), (n,), generator=self.generator, device=self.device)
            fake_labels = self.train_set.labels[pick]  # [M]
        return Batch(examples, labels, z, fake_labels)

    def begin_d_update(self) -> None:
        self.d_updates += 1
        apply_schedule(self.d_opt, self.cfg.train.d_optimizer, self.d_updates, self.epoch + 1, self.lr_scale)

    def begin_g_update(self) -> None:
        self.g_updates += 1
        apply_schedule(self.g_opt, self.cfg.train.g_optimizer, self.g_updates, self.epoch + 1, self.lr_scale)

    # -- one iteration ----------------------------------------------------------------------------------------
    def train_step(self) -> Stats:
        if self.world.rank > 0:  # a stream that is a function of the step: nothing to save (training.distributed)
            self.generator.manual_seed(rank_seed(self.cfg.seed, self.world.rank, self.step))
        with drawing_from(self.generator):
            stats = self.update.run(self.parts, self, self.cfg.train)
        if self.world.size > 1:
            share_rank0([self.parts.G, self.parts.D], buffers_only=True)  # batch-norm statistics: rank 0's
            stats = average_stats(stats)
        if self.cfg.train.ema_decay is not None:
            # After the rule, whichever it is: every iteration is exactly one G update.
            assert self.parts.G_ema is not None, "build_components makes G_ema when train.ema_decay is set"
            # Before train.ema_start the average follows G exactly (decay 0): it starts from G at that update.
            started = self.step >= self.cfg.train.ema_start
            update_ema(self.parts.G_ema, self.G, self.cfg.train.ema_decay if started else 0.0)
        self.step += 1
        return stats

    def stop_agreed(self) -> bool:
        """Whether to stop now; under torchrun, true on every rank once any rank was asked to stop."""
        if self.world.size > 1:
            self.stop_requested = any_rank(self.stop_requested, self.device)
        return self.stop_requested

    def request_stop(self, signum: int | None = None, frame: Any = None) -> None:
        """Stop after the current iteration (a second request interrupts at once)."""
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True

    def fit(self) -> str:
        """Train until done or stopped; returns the status passed to every hook's `on_end`.

        Ctrl-C and SIGTERM stop cleanly between iterations, so the final checkpoint is an exact resume point."""
        self.G.train()
        self.D.train()
        self.stop_requested = False
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self.request_stop)
        status = "failed"
        try:
            for hook in self.hooks:
                hook.on_start(self)
            while not self.done() and not self.stop_agreed():
                epoch_before = self.epoch
                stats = self.train_step()
                for hook in self.hooks:
                    hook.on_step_end(self, stats)
                if self.epoch != epoch_before:
                    for hook in self.hooks:
                        hook.on_epoch_end(self)
            status = "stopped" if self.stop_requested and not self.done() else "completed"
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            self._end_hooks(status)
        return status

    def _end_hooks(self, status: str) -> None:
        """Every hook's on_end, even when one fails: the first failure is raised after all have run, and while
        an error is already propagating (status "failed") later failures never mask it."""
        first: BaseException | None = None
        for hook in self.hooks:
            try:
                hook.on_end(self, status)
            except Exception as err:  # noqa: BLE001 -- re-raised below unless another error is in flight
                first = first or err
        if first is not None and status != "failed":
            raise first

    # -- state ------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"run": self.generator.get_state(), "device": str(self.generator.device)}
        return {
            "format": "advnets-checkpoint",
            "advnets_version": __version__,
            "torch_version": str(torch.__version__),
            "config": to_dict(self.cfg),
            "data_shape": list(self.train_set.shape),
            "data_kind": self.train_set.kind.name,
            "num_classes": num_classes(self.train_set),  # sizes a conditional family when a checkpoint is loaded
            "image_shape": list(self.train_set.shape),  # read by advnets <= 0.1.0
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "g_opt": self.g_opt.state_dict(),
            "d_opt": self.d_opt.state_dict(),
            **({"G_ema": self.G_for_samples.state_dict()} if self.parts.G_ema is not None else {}),
            "counters": {"step": self.step, "g_updates": self.g_updates, "d_updates": self.d_updates},
            "cursor": {
                "epoch": self.batches.cursor.epoch,
                "batch": self.batches.cursor.batch,  # global batches: of train.batch_size × ranks examples
                **({"ranks": self.world.size} if self.world.size > 1 else {}),
            },
            "rng": rng,
            "health": {"lr_scale": self.lr_scale, "rollbacks": self.rollbacks},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.g_opt.load_state_dict(state["g_opt"])
            self.d_opt.load_state_dict(state["d_opt"])
            if self.parts.G_ema is not None:
                self.parts.G_ema.load_state_dict(state["G_ema"])
            counters, cursor, rng = state["counters"], state["cursor"], state["rng"]
            self.step, self.g_updates, self.d_updates = (
                counters["step"],
                counters["g_updates"],
                counters["d_updates"],
            )
            self.batches.cursor = Cursor(cursor["epoch"], self._batches_here(cursor))
            health = state.get("health", {})  # absent before the lower-lr remedy
            self.lr_scale, self.rollbacks = float(health.get("lr_scale", 1.0)), int(health.get("rollbacks", 0))
            restore_generator(self.generator, rng)
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise UserError(
                f"the checkpoint does not match this model or is incomplete ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:160]}); resume it with the config it was saved with"
            ) from None


    def _batches_here(self, cursor: dict[str, Any]) -> int:
        """The saved cursor's position in this world's global batches: a checkpoint written by another number of
        processes continues where its examples end, if they fill whole batches here."""
        saved, here = int(cursor.get("ranks", 1)), self.world.size
        examples = int(cursor["batch"]) * saved  # in units of train.batch_size
        if examples % here:
            raise UserError(
                f"this checkpoint was written by {saved} process(es), {cursor['batch']} batches into epoch "
                f"{cursor['epoch']}; {here} process(es) cannot continue there without splitting a batch: resume "
                f"with {saved} processes, or with a number that divides {examples}"
            )
        return examples // here


def class_rows(z: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed grid of a conditional run: for each class present in `labels`, one row of the first
    len(z) // classes latent vectors (at least one), so a column shows one z across classes."""
    assert labels is not None, "a conditional run has labels"
    classes = torch.unique(labels)  # sorted
    per_row = max(1, len(z) // len(classes))
    return z[:per_row].repeat(len(classes), 1), classes.repeat_interleave(per_row)


def restore_generator(generator: torch.Generator, rng: dict[str, Any]) -> None:
    """Set the run's generator from a checkpoint's `rng`. Checkpoints written before runs owned their generators
    saved the global RNG, which held exactly the run's stream (the CPU's, or the run device's CUDA one). A resume
    on another kind of device (device may change on resume) cannot continue the same stream, as CPU and CUDA
    generators differ: it goes on from a seed drawn from the saved state, so it is still reproducible."""
    if "run" in rng:
        saved_device, state = torch.device(rng.get("device", "cpu")), rng["run"]
    elif generator.device.type == "cuda" and "cuda" in rng and len(rng["cuda"]) > (generator.device.index or 0):
        saved_device, state = generator.device, rng["cuda"][generator.device.index or 0]
    else:
        saved_device, state = torch.device("cpu"), rng["torch"]
    if saved_device.type == generator.device.type:
        generator.set_state(state)
        return
    saved = torch.Generator(saved_device).set_state(state) if saved_device.type == "cpu" else None
    seed = int(torch.randint(2**62, (1,), generator=saved)) if saved is not None else int(state.sum())
    generator.manual_seed(seed)


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def check_resumable(saved: dict[str, Any], new: RunConfig) -> None:
    """Refuse a resume whose config changes anything but the schedule's length, logging or device."""
    saved = to_dict(build_config(base=saved))  # in today's layout, with today's defaults for new keys
    bad = [
        k
        for k in changed_keys(saved, to_dict(new))
        if k not in RESUMABLE_CHANGES and not k.startswith(RESUMABLE_PREFIXES)
    ]
    if bad:
        raise UserError(
            f"cannot resume: {', '.join(bad)} changed since the checkpoint, which would not continue the same run; "
            "only train.epochs, train.max_steps, log.*, eval.* and device may change (start a new run instead)"
        )
