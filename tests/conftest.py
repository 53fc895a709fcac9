"""Shared fixtures: tiny configs on the embedded digits so that end-to-end tests take seconds."""

from pathlib import Path

import pytest

from advnets.config import RunConfig, build_config

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

TINY = [
    "data.name=digits",
    "model.z_dim=8",
    "model.generator.hidden=[16]",
    "model.generator.init_range=null",
    "model.discriminator.hidden=[12]",
    "model.discriminator.pieces=2",
    "model.discriminator.init_range=null",
    "train.batch_size=32",
    "train.epochs=2",
    "log.every_steps=5",
    "log.sample_every_steps=20",
    "log.grid_size=16",
    "log.tensorboard=false",
    "log.progress=false",
]


def tiny_config(*overrides: str) -> RunConfig:
    return build_config(overrides=[*TINY, *overrides])


@pytest.fixture
def tiny():
    return tiny_config
