"""`build_components(cfg)`: the one factory that turns a resolved config into the parts a Trainer composes.

Order matters for reproducibility: everything is seeded first, then the data are loaded, then G and D are built and
initialised from the global torch RNG (G first), so a fixed seed gives the same weights before and after a
refactor (tests/training/test_pinned_losses.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from advnets.config import RunConfig
from advnets.data import DataSet, load_data
from advnets.errors import UserError
from advnets.losses import build_loss
from advnets.models import ModelSpec, build_discriminator, build_generator
from advnets.models.set_discriminator import check_batch_sizes
from advnets.objectives import build_g_objectives
from advnets.penalties import build_penalties
from advnets.training.ema import make_ema
from advnets.training.optim import build_optimizer
from advnets.training.parts import Parts
from advnets.training.updates import UPDATES, UpdateRule
from advnets.transforms import build_transforms


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


def model_spec(cfg: RunConfig, data: DataSet, data_mean: torch.Tensor | None = None) -> ModelSpec:
    return ModelSpec(cfg.model.z_dim, data.shape, data.kind, data_mean, cfg.model.noise)


@dataclass
class Components:
    """Everything a training run is made of, built and on its device."""

    data: DataSet  # the training split, examples on `device`
    parts: Parts
    update: UpdateRule
    device: torch.device


def build_components(cfg: RunConfig, data: DataSet | None = None) -> Components:
    """Data, G, D, optimisers, loss, penalties, transforms, G objectives and G's weight average (when
    train.ema_decay is set) for `cfg` (seeded by cfg.seed)."""
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    train_set = data if data is not None else load_data(cfg.data)  # cfg.data.split
    examples = train_set.examples.to(device)  # [N, *shape]
    train_set = DataSet(examples, train_set.labels, train_set.name, train_set.split, train_set.kind)
    spec = model_spec(cfg, train_set, examples.mean(0))
    G = build_generator(cfg.model.generator, spec).to(device)
    D = build_discriminator(cfg.model.discriminator, spec).to(device)
    check_batch_sizes(D, {"train.batch_size": cfg.train.batch_size, "train.g_batch_size": cfg.train.g_batch_size})
    parts = Parts(
        G=G,
        D=D,
        g_opt=build_optimizer(cfg.train.g_optimizer, G.parameters()),
        d_opt=build_optimizer(cfg.train.d_optimizer, D.parameters()),
        loss=build_loss(cfg.loss),
        penalties=build_penalties(cfg.penalties),
        transforms=build_transforms(cfg.transforms),
        g_objectives=build_g_objectives(cfg.g_objectives),
        # A copy of the initialised G: it draws no random numbers, so the weights above stay the seed's.
        G_ema=make_ema(G) if cfg.train.ema_decay is not None else None,
    )
    return Components(train_set, parts, UPDATES.get(cfg.train.update), device)
