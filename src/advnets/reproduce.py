"""`advnets reproduce TARGET`: paper-mnist (below), or a study of recipes × seeds (advnets.studies: ring-8, grid-25).

`paper-mnist`: the MNIST row of Table 1 of Goodfellow et al. (2014), re-measured.

Trains the `mnist-paper` preset (the 2014 code's setup) for each seed, scores the Parzen log-likelihood with the
paper's protocol every few epochs, and writes a table beside the paper's Table 1 and two baselines (Theis et al.
2016): real training images as the kernel centres, and 10,000 k-means centroids of the training set.

A long job that survives interruption: every seed is an ordinary run folder under the output folder; a rerun of
the same command resumes unfinished runs from their latest checkpoint and reuses cached baselines. Seeds can train
side by side (`jobs`), each process with its share of the CPU threads, for machines with more cores than the
paper's batch-100 matrices can use in one process (benchmarks/RESULTS.md: on 2 cores it gained nothing). Training,
resuming and running side by side are the studies' machinery (`advnets.studies.run_all`).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import advnets.toy_studies  # noqa: F401  (registers the studies ring-8, grid-25 and toy-1d)
from advnets.config import RunConfig, load_config
from advnets.data import DataSet, load_data
from advnets.errors import UserError
from advnets.evaluate import metric_options, read_evals, reference_data, scored_name
from advnets.io import write_text
from advnets.metrics import METRICS, ParzenOptions
from advnets.metrics.parzen import parzen_score
from advnets.reporting.figures import plot_metric_curve
from advnets.runs.lock import run_lock
from advnets.studies import STUDIES, run_all, run_study

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
            f"eval.every_epochs={eval_every}",
            *extra,
        ],
    )


def parzen_protocol(cfg: RunConfig) -> tuple[ParzenOptions, dict[str, DataSet], str]:
    """The run's Parzen options, its reference splits and the protocol name they give."""
    metric = METRICS.get("parzen")
    options = metric_options(cfg, "parzen")
    references = reference_data(cfg, metric)
    return options, references, metric.protocol(options, references)


def baselines(out: Path, cfg: RunConfig, *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Parzen scores with real training images and k-means centroids as the kernel centres (cached per protocol),
    as many centres as the GAN gets samples and on the same σ grid and data counts, so the protocol is the same
    as the GAN's."""
    options, references, name = parzen_protocol(cfg)
    n_centres = options.samples
    cache = out / f"baselines-{name}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    from sklearn.cluster import MiniBatchKMeans

    train_images = load_data(replace(cfg.data, split="train")).images.flatten(1)  # [50000, 784]
    valid = references["valid"].images[: options.valid]
    test = references["test"].images[: options.test]
    gen = torch.Generator().manual_seed(seed)
    real = train_images[torch.randperm(len(train_images), generator=gen)[:n_centres]]
    kmeans = MiniBatchKMeans(n_clusters=n_centres, batch_size=4096, n_init=1, max_iter=20, random_state=seed)
    centroids = torch.from_numpy(kmeans.fit(train_images.numpy()).cluster_centers_.astype(np.float32))
    results = {}
    for label, centres in (("training images", real), ("k-means centroids", centroids)):
        result = parzen_score(
            centres, valid, test, pixel_range=cfg.data.pixel_range, sigmas=options.grid(), seed=seed
        )
        results[label] = result.as_dict()
    write_text(cache, json.dumps(results, indent=2) + "\n")
    return results


def summarise(out: Path, seeds: list[int], base: dict[str, dict[str, Any]], name: str = "parzen10k") -> str:
    """The results table (markdown), also written to out/RESULTS.md and out/results.json."""
    per_seed: list[dict[str, Any]] = []
    for seed in seeds:
        records = read_evals(out / f"seed-{seed}", name, training_only=True)
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
            f"| advnets mnist-paper, {label} | {statistics.mean(scores):.1f}{spread_text} | {name}; {each} |"
        )
    for label, result in base.items():
        lines.append(
            f"| baseline: {result['n_samples']} {label} | {result['mean']:.1f} ± {result['se']:.1f} | "
            f"{result['name']}, σ={result['sigma']:.4f} |"
        )
    table = "\n".join(lines) + "\n"
    protocol = ""
    if per_seed:
        p = per_seed[0]["final"]
        protocol = (
            f"Protocol `{name}`: Parzen-window log-likelihood of {p['n_samples']:,} samples, σ chosen from "
            f"{len(p['sigmas'])} values on {p['n_valid']:,} validation images, mean ± std/√N over "
            f"{p['n_test']:,} test images, pixels in [0, 1] (docs/paper.md §2). The best-validation row picks each "
            "seed's epoch by its mean *validation* log-likelihood, never by the test score.\n\n"
        )
    (out / "RESULTS.md").write_text("# paper-mnist reproduction\n\n" + protocol + table)
    (out / "results.json").write_text(json.dumps({"seeds": per_seed, "baselines": base}, indent=2) + "\n")
    curves = [
        {**r, "series": f"seed {s}"}
        for s in seeds
        for r in read_evals(out / f"seed-{s}", name, training_only=True)
    ]
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
    seeds: int | None = None,
    epochs: int | None = None,
    eval_every: int | None = None,
    extra: list[str] | None = None,
    quiet: bool = False,
    with_baselines: bool = True,
    jobs: int = 1,
    rows: list[str] | None = None,
) -> str:
    """Run reproduction `target` into `out` (resuming what a previous call left) and return its table: paper-mnist
    (`epochs`, `eval_every`, baselines) or a study of advnets.studies.STUDIES (`rows`; its length is its presets')."""
    if target in STUDIES:
        given = [flag for flag, value in (("--epochs", epochs), ("--eval-every", eval_every)) if value is not None]
        if not with_baselines:
            given.append("--no-baselines")
        if given:
            raise UserError(
                f"{' and '.join(given)} apply to paper-mnist only; {target} rows train their presets' schedule "
                "(change it for every row with an override, e.g. train.epochs=24)"
            )
        return run_study(target, out, seeds=seeds, rows=rows, extra=extra, quiet=quiet, jobs=jobs)
    if target not in TARGETS:
        raise UserError(f"unknown reproduction {target!r}; choose one of: {', '.join([*TARGETS, *STUDIES])}")
    if rows:
        raise UserError(f"--rows applies to the studies ({', '.join(STUDIES)}); {target} has no rows")
    seeds, epochs, eval_every = (3 if seeds is None else seeds), (epochs or 100), (eval_every or 5)
    if seeds <= 0 or epochs <= 0 or eval_every <= 0 or jobs <= 0:
        raise UserError("--seeds, --epochs, --eval-every and --jobs must be positive")
    out.mkdir(parents=True, exist_ok=True)
    # Held by this process for the whole reproduction; each seed's train or resume also locks its run folder.
    with run_lock(out):
        preset = TARGETS[target]
        configs = [seed_config(preset, seed, epochs, eval_every, extra or []) for seed in range(seeds)]
        cfg = configs[0]
        # Training scores G's weight average when the config keeps one (`train.ema_decay=...` among the overrides).
        name = scored_name(parzen_protocol(cfg)[2], ema=cfg.train.ema_decay is not None)
        # Baselines first (minutes, not hours): every partial table written below already has them.
        base = baselines(out, cfg) if with_baselines else {}
        finished: list[int] = []

        def on_done(i: int) -> None:  # partial results survive an interruption
            finished.append(configs[i].seed)
            summarise(out, sorted(finished), base, name)

        run_all([(out, c) for c in configs], jobs, quiet, on_done)
        return summarise(out, list(range(seeds)), base, name)
