"""`advnets reproduce TARGET`: paper-mnist (below), or a study of recipes × seeds (advnets.studies: ring-8, grid-25).

`paper-mnist`: the MNIST row of Table 1 of Goodfellow et al. (2014), re-measured.

Trains each row's preset for each seed, scores the Parzen log-likelihood with the paper's protocol every few
epochs, and writes a table beside the paper's Table 1 and two baselines (Theis et al. 2016): real training images
as the kernel centres, and 10,000 k-means centroids of the training set. The rows: `paper`, the `mnist-paper`
preset (the 2014 code's setup), and `fast`, the `mnist-fast` preset (the paper's nets, trained otherwise).

A long job that survives interruption: every seed is an ordinary run folder under the output folder; a rerun of
the same command resumes unfinished runs from their latest checkpoint and reuses cached baselines. Seeds can train
side by side (`jobs`), each process with its share of the CPU threads, for machines with more cores than the
paper's batch-100 matrices can use in one process (benchmarks/RESULTS.md: on 2 cores it gained nothing). Training,
resuming and running side by side are the studies' machinery (`advnets.studies.run_all`).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import advnets.image_studies  # noqa: F401  (registers cgan-mnist, mnist-zeros, stacked-mnist, fid-mnist, fid-fashion)
import advnets.mnist_studies  # noqa: F401  (registers paper-mnist-search)
import advnets.toy_studies  # noqa: F401  (registers the studies ring-8, grid-25 and toy-1d)
from advnets.config import RunConfig, load_config
from advnets.data import DataSet, load_data
from advnets.errors import UserError
from advnets.evaluate import check_same_protocol, metric_options, read_evals, reference_data, scored_name
from advnets.io import write_text
from advnets.metrics import METRICS, ParzenOptions
from advnets.metrics.parzen import parzen_score
from advnets.reporting.figures import plot_metric_curve
from advnets.runs.lock import run_lock
from advnets.runs.run_dir import is_run_dir
from advnets.studies import (
    RESULTS,
    RESULTS_JSON,
    STUDIES,
    Row,
    run_all,
    run_study,
    seeds_on_disk,
    select_rows,
)

# Goodfellow et al. (2014), Table 1, MNIST column (Parzen log-likelihood, nats, mean ± SE).
PAPER_TABLE = [
    ("DBN", 138.0, 2.0),
    ("Stacked CAE", 121.0, 1.6),
    ("Deep GSN", 214.0, 1.1),
    ("Adversarial nets", 225.0, 2.0),
]

# The rows of the paper-mnist table: the paper's own training, and the advnets recipe that keeps the paper's nets
# and changes only how they are trained (never averaged with the faithful row). Each trains into OUT/<row>/seed-N.
PAPER_MNIST_ROWS = (
    Row("paper", "advnets mnist-paper (the paper's training)", "mnist-paper"),
    Row("fast", "advnets mnist-fast (the paper's nets, trained otherwise)", "mnist-fast"),
    Row("fast-ema", "advnets mnist-fast-ema (mnist-fast sampling a slower, later average of G)", "mnist-fast-ema"),
    Row("best", "advnets mnist-best (mnist-fast-ema with G's average twice as long)", "mnist-best"),
)
TARGETS = {"paper-mnist": PAPER_MNIST_ROWS}
PARZEN_FIGURE = "parzen.png"  # paper-mnist: the Parzen curves of every run, beside the table


def written_files(target: str, out: Path) -> list[Path]:
    """The table, its JSON and (paper-mnist) the Parzen curves of every run, as `reproduce(target, out)` writes them."""
    return [out / RESULTS, out / RESULTS_JSON, *([out / PARZEN_FIGURE] if target in TARGETS else [])]


def seed_config(row: Row, seed: int, epochs: int | None, eval_every: int, extra: list[str]) -> RunConfig:
    """Seed `seed` of `row`: its preset and overrides, `epochs` when given (else the preset's), then `extra`."""
    return load_config(
        row.preset,
        [
            f"seed={seed}",
            f"name={row.preset}-seed{seed}",
            *row.overrides,
            *([f"train.epochs={epochs}"] if epochs is not None else []),
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


def seed_results(run_dir: Path, name: str) -> dict[str, Any] | None:
    """A seed's score at its last evaluated epoch and at the epoch with the best validation log-likelihood (never
    chosen by the test score); None before its first evaluation."""
    records = read_evals(run_dir, name, training_only=True)
    if not records:
        return None
    return {
        "final": max(records, key=lambda r: r["epoch"]),
        "best_valid": max(records, key=lambda r: max(r["valid_means"])),
    }


def _row_lines(row: Row, per_seed: list[dict[str, Any]], name: str) -> list[str]:
    lines = []
    for key, label in (("final", "last evaluated epoch"), ("best_valid", "epoch with best validation LL")):
        scores = [s[key]["mean"] for s in per_seed]
        spread = (
            f" ± {statistics.stdev(scores):.1f} (std over {len(scores)} seeds)" if len(scores) > 1 else ""
        )
        each = "; ".join(
            f"seed {s['seed']}: {s[key]['mean']:.1f} ± {s[key]['se']:.1f} (epoch {s[key]['epoch']}, "
            f"σ={s[key]['sigma']:.4f})"
            for s in per_seed
        )
        lines.append(f"| {row.label}, {label} | {statistics.mean(scores):.1f}{spread} | {name}; {each} |")
    return lines


def scored_names(rows: list[Row], configs: dict[tuple[str, int], RunConfig]) -> dict[str, str]:
    """row name -> the name its training scores are stored under (`-ema` when the row keeps G's weight average)."""
    names = {}
    for row in rows:
        cfg = configs[row.name, 0]
        names[row.name] = scored_name(parzen_protocol(cfg)[2], ema=cfg.train.ema_decay is not None)
    return names


def summarise(out: Path, rows: list[Row], names: dict[str, str], seeds: int, base: dict[str, Any]) -> str:
    """The results table (markdown) of every row's finished evaluations (stored under `names[row]`), also
    written to out/RESULTS.md and out/results.json, with the Parzen curves of every run in out/parzen.png."""
    lines = [
        "| model | MNIST Parzen log-likelihood (nats) | protocol / notes |",
        "|---|---|---|",
    ]
    for model, mean, se in PAPER_TABLE:
        lines.append(f"| {model} (paper, Table 1) | {mean:g} ± {se:g} | as published |")
    rows_json, curves, first = [], [], None
    scored: list[dict[str, Any]] = []  # every record in the table, checked for one protocol
    for row in rows:
        name = names[row.name]
        per_seed = []
        for seed in range(row.seeds_of(seeds)):
            run_dir = out / row.name / f"seed-{seed}"
            found = seed_results(run_dir, name)
            if found:
                per_seed.append({"seed": seed, **found})
                curves += [
                    {**r, "series": f"{row.name}, seed {seed}", "family": row.name}
                    for r in read_evals(run_dir, name, training_only=True)
                ]
        if per_seed:
            lines += _row_lines(row, per_seed, name)
            scored += [s[key] for s in per_seed for key in ("final", "best_valid")]
            first = first or per_seed[0]["final"]
        rows_json.append(
            {
                "name": row.name,
                "label": row.label,
                "preset": row.preset,
                "overrides": list(row.overrides),
                "protocol": name,
                "seeds": per_seed,
            }
        )
    check_same_protocol([*scored, *base.values()], what="the paper-mnist table")
    for label, result in base.items():
        lines.append(
            f"| baseline: {result['n_samples']} {label} | {result['mean']:.1f} ± {result['se']:.1f} | "
            f"{result['name']}, σ={result['sigma']:.4f} |"
        )
    table = "\n".join(lines) + "\n"
    protocol = ""
    if first:
        protocol = (
            f"Protocol: Parzen-window log-likelihood of {first['n_samples']:,} samples, σ chosen from "
            f"{len(first['sigmas'])} values on {first['n_valid']:,} validation images, mean ± std/√N over "
            f"{first['n_test']:,} test images, pixels in [0, 1] (docs/paper.md §2); `-ema` names a score of G's "
            "weight average. The best-validation rows pick each seed's epoch by its mean *validation* "
            "log-likelihood, never by the test score. Each row trains into `<row>/seed-N`: "
            + ", ".join(f"`{r.name}` ({' '.join((r.preset, *r.overrides))})" for r in rows)
            + ".\n\n"
        )
    write_text(out / RESULTS, "# paper-mnist reproduction\n\n" + protocol + table)
    write_text(out / RESULTS_JSON, json.dumps({"rows": rows_json, "baselines": base}, indent=2) + "\n")
    if curves:
        plot_metric_curve(
            curves,
            "mean",
            out / PARZEN_FIGURE,
            x="epoch",
            err_key="se",
            ylabel="Parzen log-likelihood (nats)",
            title="MNIST Parzen log-likelihood per epoch",
            reference={"paper GAN (225)": 225.0, **{f"{k} baseline": v["mean"] for k, v in base.items()}},
        )
    return table


def check_layout(out: Path) -> None:
    """Runs of the one-row layout (OUT/seed-N, before the table had rows) are the `paper` row's: say where they go
    rather than train them again beside themselves."""
    old = sorted(p.name for p in out.glob("seed-*") if is_run_dir(p))
    if old:
        raise UserError(
            f"{out} holds {', '.join(old)} from an earlier advnets, whose paper-mnist had one row; they are the "
            f"`paper` row's runs now: mkdir {out}/paper && mv {out}/seed-* {out}/paper/ and rerun"
        )


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
    (its `rows`, `epochs` (default: each row's preset's), `eval_every`, baselines) or a study of
    advnets.studies.STUDIES (`rows`; its length is its presets')."""
    if target in STUDIES:
        given = [
            flag for flag, value in (("--epochs", epochs), ("--eval-every", eval_every)) if value is not None
        ]
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
    seeds, eval_every = (3 if seeds is None else seeds), (eval_every or 5)
    if seeds <= 0 or (epochs is not None and epochs <= 0) or eval_every <= 0 or jobs <= 0:
        raise UserError("--seeds, --epochs, --eval-every and --jobs must be positive")
    every_row = TARGETS[target]
    chosen = select_rows(target, every_row, rows)
    # The table's seeds: those asked and those already trained (a rerun of one row keeps the others' seeds).
    shown = max(seeds, seeds_on_disk(out, every_row))
    # Every row's config first (the table covers every row): a bad override fails before anything trains.
    configs = {
        (row.name, seed): seed_config(row, seed, epochs, eval_every, extra or [])
        for row in every_row
        for seed in range(shown)
    }
    out.mkdir(parents=True, exist_ok=True)
    check_layout(out)
    # Held by this process for the whole reproduction; each seed's train or resume also locks its run folder.
    with run_lock(out):
        # Baselines first (minutes, not hours): every partial table written below already has them.
        base = baselines(out, configs[every_row[0].name, 0]) if with_baselines else {}
        tasks = [
            (out / row.name, configs[row.name, seed])
            for seed in range(seeds)
            for row in chosen
            if seed < row.seeds_of(seeds)
        ]
        names = scored_names(list(every_row), configs)  # once: each needs the reference data
        summarise(out, list(every_row), names, shown, base)
        # Partial results survive an interruption: the table is rewritten after every finished run.
        run_all(tasks, jobs, quiet, lambda i: summarise(out, list(every_row), names, shown, base))
        return summarise(out, list(every_row), names, shown, base)
