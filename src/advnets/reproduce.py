"""`advnets reproduce paper-mnist`: the MNIST row of Table 1 of Goodfellow et al. (2014), re-measured.

Trains the `mnist-paper` preset (the 2014 code's setup) for each seed, scores the Parzen log-likelihood with the
paper's protocol every few epochs, and writes a table beside the paper's Table 1 and two baselines (Theis et al.
2016): real training images as the kernel centres, and 10,000 k-means centroids of the training set.

A long job that survives interruption: every seed is an ordinary run folder under the output folder; a rerun of
the same command resumes unfinished runs from their latest checkpoint and reuses cached baselines.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advnets.config import RunConfig, load_config
from advnets.data import load_images
from advnets.errors import UserError
from advnets.evaluate import parzen_data, read_evals
from advnets.metrics.parzen import PAPER_SIGMAS, parzen_score, protocol_name
from advnets.reporting.figures import plot_metric_curve
from advnets.training.checkpoint import LATEST, latest_checkpoint, load_checkpoint
from advnets.training.run import resume, train
from advnets.training.run_dir import is_run_dir

# Goodfellow et al. (2014), Table 1, MNIST column (Parzen log-likelihood, nats, mean ± SE).
PAPER_TABLE = [
    ("DBN", 138.0, 2.0),
    ("Stacked CAE", 121.0, 1.6),
    ("Deep GSN", 214.0, 1.1),
    ("Adversarial nets", 225.0, 2.0),
]

TARGETS = {"paper-mnist": "mnist-paper"}


def seed_config(preset: str, seed: int, epochs: int, eval_every: int, extra: list[str]) -> RunConfig:
    return load_config(
        preset,
        [
            f"seed={seed}",
            f"name={preset}-seed{seed}",
            f"train.epochs={epochs}",
            f"eval.parzen_every_epochs={eval_every}",
            *extra,
        ],
    )


def run_seed(out: Path, cfg: RunConfig, quiet: bool) -> None:
    run_dir = out / f"seed-{cfg.seed}"
    progress = [] if not quiet else ["log.progress=false"]
    if is_run_dir(run_dir) and not (run_dir / "checkpoints" / LATEST).is_file():
        # Stopped before its first checkpoint: nothing to resume. Keep it aside (never delete) and start over.
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}"))
    if not is_run_dir(run_dir):
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UserError(f"{run_dir} exists but is not a run folder; move it away and rerun")
        if run_dir.exists():
            run_dir.rmdir()
        _, status = train(cfg if not quiet else replace(cfg, log=replace(cfg.log, progress=False)), run_dir)
    else:
        state = load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))
        if state["cursor"]["epoch"] >= cfg.train.epochs:
            return
        status = resume(run_dir, [f"train.epochs={cfg.train.epochs}", *progress])
    if status != "completed":
        raise KeyboardInterrupt


def baselines(out: Path, cfg: RunConfig, *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Parzen scores with real training images and k-means centroids as the kernel centres (cached), as many
    centres as the GAN gets samples (eval.parzen_samples) so the protocol is the same."""
    n_centres = cfg.eval.parzen_samples
    cache = out / f"baselines-{n_centres}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    from sklearn.cluster import MiniBatchKMeans

    train_images = load_images(replace(cfg.data, split="train")).images.flatten(1)  # [50000, 784]
    valid, test = parzen_data(cfg, cfg.eval.parzen_valid, cfg.eval.parzen_test)
    gen = torch.Generator().manual_seed(seed)
    real = train_images[torch.randperm(len(train_images), generator=gen)[:n_centres]]
    kmeans = MiniBatchKMeans(n_clusters=n_centres, batch_size=4096, n_init=1, max_iter=20, random_state=seed)
    centroids = torch.from_numpy(kmeans.fit(train_images.numpy()).cluster_centers_.astype(np.float32))
    results = {}
    for label, centres in (("training images", real), ("k-means centroids", centroids)):
        result = parzen_score(
            centres, valid, test, pixel_range=cfg.data.pixel_range, sigmas=PAPER_SIGMAS, seed=seed
        )
        results[label] = result.as_dict()
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(cache)
    return results


def summarise(out: Path, seeds: list[int], base: dict[str, dict[str, Any]], name: str = "parzen10k") -> str:
    """The results table (markdown), also written to out/RESULTS.md and out/results.json."""
    per_seed: list[dict[str, Any]] = []
    for seed in seeds:
        records = read_evals(out / f"seed-{seed}", name)
        if not records:
            continue
        final = max(records, key=lambda r: r["epoch"])
        best = max(records, key=lambda r: max(r["valid_means"]))
        per_seed.append({"seed": seed, "final": final, "best_valid": best})
    lines = [
        "| model | MNIST Parzen log-likelihood (nats) | protocol / notes |",
        "|---|---|---|",
    ]
    for model, mean, se in PAPER_TABLE:
        lines.append(f"| {model} (paper, Table 1) | {mean:g} ± {se:g} | as published |")
    for key, label in (("final", "last evaluated epoch"), ("best_valid", "epoch with best validation LL")):
        if not per_seed:
            break
        scores = [s[key]["mean"] for s in per_seed]
        spread = statistics.stdev(scores) if len(scores) > 1 else math.nan
        each = "; ".join(
            f"seed {s['seed']}: {s[key]['mean']:.1f} ± {s[key]['se']:.1f} (epoch {s[key]['epoch']}, "
            f"σ={s[key]['sigma']:.4f})"
            for s in per_seed
        )
        spread_text = f" ± {spread:.1f} (std over {len(scores)} seeds)" if len(scores) > 1 else ""
        lines.append(
            f"| advnets mnist-paper, {label} | {statistics.mean(scores):.1f}{spread_text} | "
            f"{name}, paper σ grid; {each} |"
        )
    for label, result in base.items():
        lines.append(
            f"| baseline: {result['n_samples']} {label} | {result['mean']:.1f} ± {result['se']:.1f} | "
            f"{result['name']}, σ={result['sigma']:.4f} |"
        )
    table = "\n".join(lines) + "\n"
    (out / "RESULTS.md").write_text("# paper-mnist reproduction\n\n" + table)
    (out / "results.json").write_text(json.dumps({"seeds": per_seed, "baselines": base}, indent=2) + "\n")
    curves = [{**r, "series": f"seed {s}"} for s in seeds for r in read_evals(out / f"seed-{s}", name)]
    if curves:
        plot_metric_curve(
            curves,
            "mean",
            out / "parzen.png",
            x="epoch",
            err_key="se",
            ylabel=f"{name} log-likelihood (nats)",
            title="MNIST Parzen log-likelihood per epoch",
            reference={"paper GAN (225)": 225.0, **{f"{k} baseline": v["mean"] for k, v in base.items()}},
        )
    return table


def reproduce(
    target: str,
    out: Path,
    *,
    seeds: int = 3,
    epochs: int = 100,
    eval_every: int = 5,
    extra: list[str] | None = None,
    quiet: bool = False,
    with_baselines: bool = True,
) -> str:
    if target not in TARGETS:
        raise UserError(f"unknown reproduction {target!r}; choose one of: {', '.join(TARGETS)}")
    if seeds <= 0 or epochs <= 0 or eval_every <= 0:
        raise UserError("--seeds, --epochs and --eval-every must be positive")
    out.mkdir(parents=True, exist_ok=True)
    preset = TARGETS[target]
    cfg = seed_config(preset, 0, epochs, eval_every, extra or [])
    name = protocol_name(cfg.eval.parzen_samples)
    for seed in range(seeds):
        run_seed(out, seed_config(preset, seed, epochs, eval_every, extra or []), quiet)
        summarise(out, list(range(seed + 1)), {}, name)  # partial results survive an interruption
    base = baselines(out, cfg) if with_baselines else {}
    return summarise(out, list(range(seeds)), base, name)
