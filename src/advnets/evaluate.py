"""Scoring a generator: samples from its prior and the Parzen-window log-likelihood of PAPER.md §2, with the
protocol stored beside every number. Results are appended to the run's `eval.jsonl`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from advnets.config import RunConfig
from advnets.data import load_images
from advnets.metrics.parzen import PAPER_SIGMAS, ParzenResult, parzen_score
from advnets.models.noise import sample_noise

EVALS = "eval.jsonl"


@torch.no_grad()
def generate(G: nn.Module, cfg: RunConfig, n: int, *, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """n samples [n, C, H, W] on the CPU from G's noise prior, reproducible from `seed` (its own RNG)."""
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    gen = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, n, batch_size):
        z = sample_noise(min(batch_size, n - start), cfg.model.z_dim, cfg.model.noise, generator=gen)
        chunks.append(G(z.to(device)).float().cpu())
    G.train(was_training)
    return torch.cat(chunks)


def parzen_data(cfg: RunConfig, n_valid: int, n_test: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n_valid validation and n_test test images of the run's data set (same classes and range)."""
    valid = load_images(replace(cfg.data, split="valid")).images[:n_valid]
    test = load_images(replace(cfg.data, split="test")).images[:n_test]
    return valid, test


def eval_sigmas(cfg: RunConfig) -> np.ndarray:
    """The run's Parzen σ grid: eval.parzen_sigmas, or the paper's logspace(-1, 0, 10) when unset."""
    return np.asarray(cfg.eval.parzen_sigmas) if cfg.eval.parzen_sigmas is not None else PAPER_SIGMAS


def evaluate_parzen(
    G: nn.Module,
    cfg: RunConfig,
    *,
    n_samples: int | None = None,
    valid: torch.Tensor | None = None,
    test: torch.Tensor | None = None,
    progress: bool = False,
) -> ParzenResult:
    """Parzen log-likelihood of G's samples with the run's eval protocol (cfg.eval), pixels rescaled to [0, 1]."""
    e = cfg.eval
    if valid is None or test is None:
        valid, test = parzen_data(cfg, e.parzen_valid, e.parzen_test)
    samples = generate(G, cfg, n_samples or e.parzen_samples, seed=e.seed)
    device = next(G.parameters()).device
    return parzen_score(
        samples,
        valid,
        test,
        pixel_range=cfg.data.pixel_range,
        sigmas=eval_sigmas(cfg),
        seed=e.seed,
        device=device,
        progress=progress,
    )


def append_eval(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / EVALS, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_evals(
    run_dir: Path, name: str | None = None, *, training_only: bool = False
) -> list[dict[str, Any]]:
    """The run's eval.jsonl records, of protocol `name` if given; `training_only` keeps those written during
    training, dropping `advnets eval` ones (which name the checkpoint they scored)."""
    from advnets.reporting.figures import read_metrics

    path = run_dir / EVALS
    records = read_metrics(path) if path.exists() else []
    return [
        r
        for r in records
        if (name is None or r.get("name") == name) and not (training_only and "checkpoint" in r)
    ]
