"""Freed memory kept for reuse (advnets.allocator) against glibc's defaults, the same steps in two processes.

    python benchmarks/allocator.py                       # toy-1d (one run, a population of 64), ring-8, mnist-paper
    python benchmarks/allocator.py --cases toy-1d:64,ring-8 --threads 1 --out benchmarks/RESULTS.md

The setting is process-wide and cannot be undone, so each side runs in a process of its own: a child per case and
setting times `--steps` training steps `--repeats` times (after warm-up steps), and the parent alternates the two
settings case after case so both see the same machine load. Reported: the median ms per step of each and their
ratio. A case is a preset (one run's Trainer.train_step) or PRESET:N (a population of N seeds of it). mnist-paper
needs the MNIST files (ADVNETS_DATA).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from report import cpu_model, emit

DEFAULT_CASES = "toy-1d,toy-1d:64,ring-8,mnist-paper"


def child(case: str, reuse: bool, steps: int, repeats: int, threads: int | None) -> list[float]:
    """Seconds per step of each repeat, in this process, with or without the setting."""
    from advnets.allocator import reuse_freed_memory

    if reuse:
        assert reuse_freed_memory(), "needs Linux with glibc"
    if threads:
        torch.set_num_threads(threads)
    from advnets.config import load_config
    from advnets.data import load_data
    from advnets.training.population import Population
    from advnets.training.trainer import Trainer

    preset, _, size = case.partition(":")
    n = int(size or 1)
    cfgs = [load_config(preset, [f"seed={s}", "log.progress=false", "log.tensorboard=false"]) for s in range(n)]
    data = load_data(cfgs[0].data)
    trainers = [Trainer.from_config(c, data=data) for c in cfgs]
    step = trainers[0].train_step if n == 1 else Population(trainers).train_step
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps)
    return times


def measure(case: str, steps: int, repeats: int, rounds: int, threads: int | None) -> dict[bool, float]:
    """Median seconds per step of each setting over `rounds` alternating pairs of child processes."""
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for reuse in (False, True):
            args = [sys.executable, __file__, "--child", case, "--steps", str(steps), "--repeats", str(repeats)]
            args += ["--reuse"] if reuse else []
            args += ["--threads", str(threads)] if threads else []
            out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
            times[reuse] += json.loads(out.splitlines()[-1])
    return {reuse: sorted(t)[len(t) // 2] for reuse, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated presets, or PRESET:N for populations")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="alternating pairs of processes per case")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    parser.add_argument("--out", help="append the table to this markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.reuse, args.steps, args.repeats, args.threads)))
        return
    threads = args.threads or torch.get_num_threads()
    lines = [
        f"Machine: {cpu_model()}, {threads} threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}. Command: "
        f"`python benchmarks/allocator.py --cases {args.cases} --steps {args.steps} --repeats {args.repeats} "
        f"--rounds {args.rounds}" + (f" --threads {args.threads}`." if args.threads else "`."),
        "",
        "| case | glibc's defaults (ms / step) | freed memory kept (ms / step) | speed-up |",
        "|---|---|---|---|",
    ]
    for case in args.cases.split(","):
        t = measure(case, args.steps, args.repeats, args.rounds, args.threads)
        lines.append(f"| {case} | {t[False] * 1e3:.2f} | {t[True] * 1e3:.2f} | {t[False] / t[True]:.2f}× |")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
