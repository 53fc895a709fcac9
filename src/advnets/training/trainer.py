"""The training loop: Algorithm 1 of Goodfellow et al. (2014) or the paper code's simultaneous update, with hooks
at step, epoch and end boundaries for logging, sampling, evaluation and checkpointing.

The hot loop indexes minibatches from a tensor already on the device, draws noise on the device and never
synchronises with the host; hooks decide when to look at numbers (every `log.every_steps`).
"""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from advnets import __version__
from advnets.config import RunConfig, to_dict
from advnets.data import load_images
from advnets.data.images import ImageSet
from advnets.errors import UserError
from advnets.losses import LOSSES
from advnets.models import build_discriminator, build_generator
from advnets.models.noise import sample_noise
from advnets.training.batches import Cursor, EpochBatches
from advnets.training.optim import apply_schedule, build_optimizer
from advnets.training.steps import d_step, g_step, simultaneous_step

# Keys whose change keeps a resumed run exact in everything that has happened so far.
RESUMABLE_CHANGES = ("train.epochs", "train.max_steps", "device", "name")
RESUMABLE_PREFIXES = ("log.", "eval.")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} asked for a GPU but PyTorch sees none; use device=cpu or device=auto")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def output_range(output: str) -> str | None:
    return {"sigmoid": "unit", "tanh": "symmetric"}.get(output)


class Hook:
    """Override any of these; the trainer calls them in the order hooks were given."""

    def on_start(self, trainer: Trainer) -> None: ...
    def on_step_end(self, trainer: Trainer, stats: dict[str, torch.Tensor]) -> None: ...
    def on_epoch_end(self, trainer: Trainer) -> None: ...
    def on_end(self, trainer: Trainer, status: str) -> None:
        """status: "completed", "stopped" (Ctrl-C / SIGTERM, at an iteration boundary) or "failed"."""


class Trainer:
    """Owns G, D, their optimisers and the counters; `fit()` trains until the configured epochs or steps."""

    def __init__(self, cfg: RunConfig, *, data: ImageSet | None = None, hooks: Sequence[Hook] = ()) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.hooks = list(hooks)
        seed_everything(cfg.seed)
        train_set = data if data is not None else load_images(cfg.data)  # cfg.data.split
        wanted = output_range(cfg.model.generator.output)
        if wanted is not None and wanted != train_set.pixel_range:
            raise UserError(
                f"model.generator.output={cfg.model.generator.output} produces {wanted} pixels but "
                f"data.pixel_range={train_set.pixel_range}; set data.pixel_range={wanted} or change the output"
            )
        self.train_set = train_set
        self.images = train_set.images.to(self.device)  # [N, C, H, W]
        self.image_shape = train_set.image_shape
        pixel_means = self.images.mean(0).flatten() if cfg.model.generator.bias_from_marginals else None
        self.G = build_generator(cfg.model, self.image_shape, pixel_means).to(self.device)
        self.D = build_discriminator(cfg.model, self.image_shape).to(self.device)
        self.loss = LOSSES.get(cfg.loss.name)
        self.g_opt = build_optimizer(cfg.train.g_optimizer, self.G.parameters())
        self.d_opt = build_optimizer(cfg.train.d_optimizer, self.D.parameters())
        self.batches = EpochBatches(len(train_set), cfg.train.batch_size, cfg.seed, self.device)
        self.step = 0  # completed iterations (= G updates)
        self.stop_requested = False
        self.g_updates = 0
        self.d_updates = 0
        # A fixed latent grid from its own generator, so sample images are comparable across steps and drawing
        # them does not disturb the training RNG.
        grid_gen = torch.Generator().manual_seed(cfg.seed + 7919)
        self.fixed_z = sample_noise(cfg.log.grid_size, cfg.model.z_dim, cfg.model.noise, generator=grid_gen)
        self.fixed_z = self.fixed_z.to(self.device)

    @classmethod
    def from_config(cls, cfg: RunConfig, *, data: ImageSet | None = None) -> Trainer:
        return cls(cfg, data=data)

    # -- progress -------------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Completed passes over the training data."""
        return self.batches.cursor.epoch

    def steps_per_epoch(self) -> float:
        per_iteration = 1 if self.cfg.train.update == "simultaneous" else self.cfg.train.d_steps
        return self.batches.batches_per_epoch / per_iteration

    def planned_steps(self) -> int:
        total = int(np.ceil(self.cfg.train.epochs * self.steps_per_epoch()))
        if self.cfg.train.max_steps is not None:
            total = min(total, self.cfg.train.max_steps)
        return total

    def real_examples_per_step(self) -> int:
        """Real examples D sees per iteration (for examples/s)."""
        k = 1 if self.cfg.train.update == "simultaneous" else self.cfg.train.d_steps
        return k * self.cfg.train.batch_size

    def done(self) -> bool:
        if self.cfg.train.max_steps is not None and self.step >= self.cfg.train.max_steps:
            return True
        return self.epoch >= self.cfg.train.epochs

    # -- one iteration ----------------------------------------------------------------------------------------
    def _noise(self, n: int) -> torch.Tensor:
        return sample_noise(n, self.cfg.model.z_dim, self.cfg.model.noise, device=self.device)

    def _real(self) -> torch.Tensor:
        return self.images[self.batches.next()]

    def train_step(self) -> dict[str, torch.Tensor]:
        cfg = self.cfg.train
        half = self.cfg.loss.d_half
        if cfg.update == "simultaneous":
            epoch = self.epoch + 1
            self.d_updates += 1
            self.g_updates += 1
            apply_schedule(self.d_opt, cfg.d_optimizer, self.d_updates, epoch)
            apply_schedule(self.g_opt, cfg.g_optimizer, self.g_updates, epoch)
            real = self._real()
            stats = simultaneous_step(
                self.G, self.D, self.loss, real, self._noise(len(real)), self.g_opt, self.d_opt, half=half
            )
        else:
            for _ in range(cfg.d_steps):
                self.d_updates += 1
                apply_schedule(self.d_opt, cfg.d_optimizer, self.d_updates, self.epoch + 1)
                real = self._real()
                stats = d_step(self.G, self.D, self.loss, real, self._noise(len(real)), self.d_opt, half=half)
            self.g_updates += 1
            apply_schedule(self.g_opt, cfg.g_optimizer, self.g_updates, self.epoch + 1)
            stats |= g_step(
                self.G, self.D, self.loss, self._noise(cfg.g_batch_size or cfg.batch_size), self.g_opt
            )
        self.step += 1
        return stats

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
            while not self.done() and not self.stop_requested:
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
            for hook in self.hooks:
                hook.on_end(self, status)
        return status

    # -- state ------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "format": "advnets-checkpoint",
            "advnets_version": __version__,
            "torch_version": str(torch.__version__),
            "config": to_dict(self.cfg),
            "image_shape": list(self.image_shape),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "g_opt": self.g_opt.state_dict(),
            "d_opt": self.d_opt.state_dict(),
            "counters": {"step": self.step, "g_updates": self.g_updates, "d_updates": self.d_updates},
            "cursor": {"epoch": self.batches.cursor.epoch, "batch": self.batches.cursor.batch},
            "rng": rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.g_opt.load_state_dict(state["g_opt"])
            self.d_opt.load_state_dict(state["d_opt"])
            counters, cursor, rng = state["counters"], state["cursor"], state["rng"]
            self.step, self.g_updates, self.d_updates = (
                counters["step"],
                counters["g_updates"],
                counters["d_updates"],
            )
            self.batches.cursor = Cursor(cursor["epoch"], cursor["batch"])
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(rng["cuda"])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise UserError(
                f"the checkpoint does not match this model or is incomplete ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:160]}); resume it with the config it was saved with"
            ) from None


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
