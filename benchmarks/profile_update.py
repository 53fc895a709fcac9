"""Where one update's time goes, op by op (torch.profiler), grouped by what the op is for.

    python benchmarks/profile_update.py                         # mnist-paper, the simultaneous update
    python benchmarks/profile_update.py --preset mnist-paper --overrides train.update=alternating --steps 20

Random images stand in for MNIST (the speed does not depend on pixel values). Self CPU time of every aten op over
`--steps` updates of the advnets Trainer (no hooks), after warm-up, summed into groups: the matrix products (what
benchmarks/limit.py calls the limit), dropout's masks, maxout's max and its backward, the optimiser, and the rest.
"""

from __future__ import annotations

import argparse
import time

import torch
from report import cpu_model
from torch.profiler import ProfilerActivity, profile

from advnets.config import load_config
from advnets.data import ImageSet
from advnets.training.trainer import Trainer

PRODUCTS = "matrix products (mm, addmm: the limit)"


def group_of(event) -> str:  # type: ignore[no-untyped-def]
    """What an aten op is for, from its name and the ops and autograd nodes it runs under."""
    names = []
    parent = event
    while parent is not None:
        names.append(parent.name)
        parent = parent.cpu_parent
    if any(n.startswith("Optimizer.") for n in names):
        return "optimiser steps (momentum and weight updates)"
    if any("AmaxBackward" in n for n in names):
        return "maxout: the max's backward (eq, count, divide, multiply)"
    if any(n in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm") for n in names):
        return PRODUCTS
    if event.name == "aten::bernoulli_":
        return "dropout: masks (bernoulli_ from the run's generator)"
    if event.name == "aten::amax":
        return "maxout: the max over pieces"
    return "everything else (elementwise ops, autograd, copies, batches)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mnist-paper")
    parser.add_argument("--overrides", nargs="*", default=[])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    cfg = load_config(args.preset, [*args.overrides, "train.epochs=1000", "log.progress=false", "log.tensorboard=false"])
    images = torch.rand(12_800, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    data = ImageSet(images, torch.zeros(len(images), dtype=torch.long), "random", "train", cfg.data.pixel_range)
    trainer = Trainer.from_config(cfg, data=data)
    for _ in range(10):
        trainer.train_step()
    start = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_step()
    plain = (time.perf_counter() - start) / args.steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            trainer.train_step()
    totals: dict[str, float] = {}
    for event in prof.events():
        if event.name.startswith("aten::"):
            group = group_of(event)
            totals[group] = totals.get(group, 0.0) + event.self_cpu_time_total / 1e3 / args.steps
    profiled = sum(totals.values())
    print(
        f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}. "
        f"`python benchmarks/profile_update.py --preset {args.preset} --steps {args.steps}"
        f"{' --overrides ' + ' '.join(args.overrides) if args.overrides else ''}`: {plain * 1e3:.1f} ms an update "
        f"unprofiled, {profiled:.1f} ms of op time profiled.\n"
    )
    print("| group | ms / update | share |")
    print("|---|---|---|")
    for group, ms in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"| {group} | {ms:.1f} | {ms / profiled:.0%} |")


if __name__ == "__main__":
    main()
