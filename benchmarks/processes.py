"""One process against several under torchrun, on this machine: the same preset and effective batch.

    python benchmarks/processes.py                       # mnist-paper, 1 process vs 2
    python benchmarks/processes.py --preset dcgan-mnist --steps 60 --out benchmarks/RESULTS.md

Each configuration is an ordinary `advnets train` (random stand-in data are not possible through the CLI, so the
preset's own data set is used: MNIST needs $ADVNETS_DATA). N processes get `train.batch_size` / N each, so every
row trains with the same effective batch, and OMP_NUM_THREADS = cores / N, so every row uses the whole machine.
The rate is examples/s from the runs' own metrics lines (rank 0's clock), the first line left out as warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import cpu_model, emit

from advnets.config import load_config


def rate(preset: str, processes: int, steps: int, tmp: Path) -> float:
    cfg = load_config(preset, [])
    per_process = cfg.train.batch_size // processes
    threads = max(1, (os.cpu_count() or 1) // processes)
    out = tmp / f"{preset}-{processes}"
    args = [
        "train",
        preset,
        f"train.batch_size={per_process}",
        f"train.max_steps={steps}",
        "log.every_steps=10",
        "log.sample_every_steps=100000",
        "log.tensorboard=false",
        "eval.every_epochs=0",
        "--out",
        str(out),
        "--quiet",
    ]
    launcher = [sys.executable, "-m", "advnets"]
    if processes > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "advnets",
        ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([*launcher, *args], check=True, env=env, capture_output=True)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(line["examples_per_s"] for line in lines[1:]) * processes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="mnist-paper")
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    counts = [int(c) for c in args.processes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        rates = {n: rate(args.preset, n, args.steps, Path(tmp)) for n in counts}
    base = rates[counts[0]]
    lines = [
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}. Command: `python "
        f"benchmarks/processes.py --preset {args.preset} --processes {args.processes} --steps {args.steps}`.",
        "",
        "| processes | threads each | batch each | examples / s (all processes) | vs first row |",
        "|---|---|---|---|---|",
    ]
    batch = load_config(args.preset, []).train.batch_size
    for n in counts:
        threads = max(1, (os.cpu_count() or 1) // n)
        lines.append(f"| {n} | {threads} | {batch // n} | {rates[n]:,.0f} | {rates[n] / base:.2f}× |")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
