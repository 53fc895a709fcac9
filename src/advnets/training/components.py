"""`build_components(cfg)`: the one factory that turns a resolved config into the parts a Trainer composes.

Order matters for reproducibility: the data are loaded, then G and D are built and initialised (G first) from the
CPU generator seeded with cfg.seed, inside `torch.random.fork_rng` so that the process-global RNG is left as it
was; the run's own generator (`Components.generator`) then continues that stream for every draw of training
(advnets.randomness). So a fixed seed gives the same weights and the same first updates as before runs owned their
generators (tests/training/test_pinned_losses.py), and two runs can be built and stepped in one process.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advnets.config import RunConfig
from advnets.data import DataSet, load_data
from advnets.errors import UserError
from advnets.losses import build_loss
from advnets.models import ModelSpec, build_discriminator, build_generator
from advnets.models.players import is_conditional
from advnets.models.set_discriminator import check_batch_sizes
from advnets.objectives import build_g_objectives
from advnets.penalties import build_penalties
from advnets.training.ema import make_ema
from advnets.training.optim import build_optimizer
from advnets.training.parts import Parts
from advnets.training.speed import apply_speed, autocast_context, refuse_cuda_graphs
from advnets.training.updates import UPDATES, UpdateRule
from advnets.transforms import build_transforms


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} asked for a GPU but PyTorch sees none; use device=cpu or device=auto")
    return torch.device(name)


def model_spec(cfg: RunConfig, data: DataSet, data_mean: torch.Tensor | None = None) -> ModelSpec:
    return ModelSpec(cfg.model.z_dim, data.shape, data.kind, data_mean, cfg.model.noise, num_classes(data))


def num_classes(data: DataSet) -> int | None:
    """Labels run 0 .. num_classes - 1 (the largest label + 1); None for unlabelled data."""
    if data.labels is None or len(data.labels) == 0:
        return None
    return int(data.labels.max()) + 1


def run_generator(seed: int, device: torch.device) -> torch.Generator:
    """A run's generator on `device`, seeded from `seed` (advnets.randomness). Models are built from the CPU stream
    seeded the same way, and on the CPU the run's generator continues that stream (see build_components)."""
    return torch.Generator(device).manual_seed(seed)


@dataclass
class Components:
    """Everything a training run is made of, built and on its device."""

    data: DataSet  # the training split, examples (and labels) on `device`
    parts: Parts
    update: UpdateRule
    device: torch.device
    generator: torch.Generator  # every random draw of training (advnets.randomness), on `device`
    conditional: bool = False  # G or D takes labels: the loop draws labels for G's batches


def build_components(cfg: RunConfig, data: DataSet | None = None) -> Components:
    """Data, G, D, optimisers, loss, penalties, transforms, G objectives and G's weight average (when
    train.ema_decay is set) for `cfg` (seeded by cfg.seed)."""
    device = resolve_device(cfg.device)
    train_set = data if data is not None else load_data(cfg.data)  # cfg.data.split
    train_set = train_set.to(device)  # examples [N, *shape] (float32, or uint8 decoded per batch) and labels
    spec = model_spec(cfg, train_set, train_set.mean())
    generator = run_generator(cfg.seed, device)
    with torch.random.fork_rng(devices=[]):
        # Built from the seeded CPU stream without touching the caller's RNG; the run's generator goes on from
        # where building left that stream (on another device it starts from the seed on that device).
        torch.default_generator.manual_seed(cfg.seed)
        G = build_generator(cfg.model.generator, spec).to(device)
        D = build_discriminator(cfg.model.discriminator, spec).to(device)
        if device.type == "cpu":
            generator.set_state(torch.default_generator.get_state())
    check_batch_sizes(D, {"train.batch_size": cfg.train.batch_size, "train.g_batch_size": cfg.train.g_batch_size})
    # A copy of the initialised G: it draws no random numbers, so the weights above stay the seed's. Copied before
    # the speed switches: the average only samples, uncompiled.
    G_ema = make_ema(G) if cfg.train.ema_decay is not None else None
    refuse_cuda_graphs(cfg.speed, device)
    apply_speed(cfg.speed, G, D)
    parts = Parts(
        G=G,
        D=D,
        g_opt=build_optimizer(cfg.train.g_optimizer, G.parameters()),
        d_opt=build_optimizer(cfg.train.d_optimizer, D.parameters()),
        loss=build_loss(cfg.loss),
        penalties=build_penalties(cfg.penalties),
        transforms=build_transforms(cfg.transforms),
        g_objectives=build_g_objectives(cfg.g_objectives),
        G_ema=G_ema,
        autocast=autocast_context(cfg.speed, device),
    )
    conditional = is_conditional(G) or is_conditional(D)
    return Components(train_set, parts, UPDATES.get(cfg.train.update), device, generator, conditional)
