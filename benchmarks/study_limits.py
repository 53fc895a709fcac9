"""The arithmetic limit of every row of a study: what one update's matrix products and convolutions alone cost here.

    python benchmarks/study_limits.py ring-8                 # writes reproductions/ring-8/limits.json
    python benchmarks/study_limits.py grid-25 --out DIR      # another study folder

For each row, one update of its config (seed 0, after one warm-up update) is recorded op by op and its
compute-bound ops (mm, addmm, bmm, baddbmm, convolutions) are replayed alone on fresh tensors of the same shapes
(benchmarks/limit.py), timed round-robin over the rows (medians of the rounds). The study's table (`advnets reproduce STUDY`, RESULTS.md,
"Time") multiplies each row's runs' updates by these seconds: the time the runs would take if nothing but their
products cost anything, beside the time they took. FLOPs per update (torch.utils.flop_counter) are recorded beside.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from limit import Recorder, replay
from report import cpu_model, time_round_robin
from torch.utils.flop_counter import FlopCounterMode

from advnets.studies import STUDIES, row_config
from advnets.study_time import LIMITS
from advnets.training.trainer import Trainer

QUIET = ["log.progress=false", "log.tensorboard=false"]


def replayed_update(trainer: Trainer) -> tuple[Callable[[int], None], float | None]:
    """A function replaying one update's products n times on fresh tensors, and the FLOPs of one update (None
    where torch's counter cannot follow the update: its module hooks refuse autograd.grad, which R1 and the
    gradient penalty call)."""
    trainer.train_step()  # warm-up: optimiser state, allocator
    recorder = Recorder()
    with recorder:
        trainer.train_step()
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            trainer.train_step()
        flops: float | None = float(counter.get_total_flops())
    except RuntimeError:
        flops = None
    return replay(recorder.ops), flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help=f"one of: {', '.join(STUDIES)}")
    parser.add_argument("--out", help="the study's folder (default reproductions/STUDY)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import advnets.image_studies  # noqa: F401  -- registers the studies
    import advnets.mnist_studies  # noqa: F401
    import advnets.toy_studies  # noqa: F401

    study = STUDIES[args.study]
    out = Path(args.out or f"reproductions/{args.study}")
    machine = f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    limits = {}
    replays = [replayed_update(Trainer.from_config(row_config(row, 0, QUIET))) for row in study.rows]
    # Round-robin over the rows, medians over the rounds: timed one row after another, the same products measured
    # 21 or 28 ms by their place in the order (the machine's state drifts); interleaved, every row sees it alike.
    times = time_round_robin([run for run, _ in replays], steps=5, repeats=args.repeats)
    for row, (_, flops), seconds in zip(study.rows, replays, times, strict=True):
        limits[row.name] = {
            "seconds_per_update": seconds,
            "flops_per_update": flops,
            "machine": machine,
            "date": time.strftime("%Y-%m-%d"),
            "command": f"python benchmarks/study_limits.py {args.study}",
        }
        counted = f"{flops / 1e9:.3f} GFLOP/update" if flops is not None else "FLOPs not counted"
        print(f"{row.name}: {seconds * 1e3:.2f} ms/update of products, {counted}")
    (out / LIMITS).write_text(json.dumps(limits, indent=2) + "\n")
    print(f"wrote {out / LIMITS}")


if __name__ == "__main__":
    main()
