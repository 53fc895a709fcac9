"""Where a population's step goes: wall time of each part of the update, timed by wrapping the parts.

    python benchmarks/population_parts.py                          # 64 toy-1d runs, 50 steps
    python benchmarks/population_parts.py --case ring-8 --members 16 --steps 10

Wraps the population's G and D forward passes, torch.autograd.backward, the optimisers' step and zero_grad, the
stacked losses and the members' batch draws (Population.next_batch) with timers; what is left of a step is the
update rule's own glue and the per-member bookkeeping after it (gradients bound to members, weight averages,
counters, stats). Times nest nothing: every part is timed where it is called. Freed memory is kept for reuse, as
`advnets` does.
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable
from typing import Any

import torch
from report import cpu_model

from advnets.allocator import reuse_freed_memory
from advnets.config import load_config
from advnets.data import load_data
from advnets.training.population import Population
from advnets.training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="toy-1d", help="a preset")
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    args = parser.parse_args()
    reuse_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfgs = [
        load_config(args.case, [f"seed={s}", "log.progress=false", "log.tensorboard=false"])
        for s in range(args.members)
    ]
    data = load_data(cfgs[0].data)
    population = Population([Trainer.from_config(c, data=data) for c in cfgs])
    spent: collections.defaultdict[str, float] = collections.defaultdict(float)

    def timed(owner: Any, name: str, label: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)

        def wrapper(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[label] += time.perf_counter() - start

        setattr(owner, name, wrapper)

    parts = population.parts
    timed(population, "next_batch", "members' batch and noise draws (next_batch)")
    timed(parts.G, "forward", "G forward passes")
    timed(parts.D, "forward", "D forward passes")
    timed(torch.autograd, "backward", "backward passes")
    timed(parts.loss, "d_terms", "losses")
    timed(parts.loss, "g_terms", "losses")
    for opt in (parts.g_opt, parts.d_opt):
        timed(opt, "step", "optimiser steps")
        timed(opt, "zero_grad", "optimiser zero_grad")
    for _ in range(3):
        population.train_step()
    spent.clear()
    start = time.perf_counter()
    for _ in range(args.steps):
        population.train_step()
    total = (time.perf_counter() - start) / args.steps
    print(
        f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}. "
        f"`python benchmarks/population_parts.py --case {args.case} --members {args.members} --steps {args.steps}`: "
        f"{total * 1e3:.1f} ms a step.\n"
    )
    print("| part | ms / step | share |\n|---|---|---|")
    rest = total - sum(spent.values()) / args.steps
    for label, seconds in [*sorted(spent.items(), key=lambda kv: -kv[1]), ("the rest: rule glue, per-member bookkeeping after the step", rest * args.steps)]:
        print(f"| {label} | {seconds / args.steps * 1e3:.2f} | {seconds / args.steps / total:.0%} |")


if __name__ == "__main__":
    main()
