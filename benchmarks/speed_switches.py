"""The speed switches (`speed.*`, advnets.training.speed) against the same preset with every switch off, in one run.

    python benchmarks/speed_switches.py                                 # mnist-paper (digits stand-in) and dcgan
    python benchmarks/speed_switches.py --cases mnist-paper --out benchmarks/RESULTS.md

Each row is the advnets Trainer's hot loop (`train_step`) for one preset with one switch on; `× off` is the
updates/s over the all-off row's, timed round-robin (medians over repeats), so machine load cancels. The switches
are written for GPUs: on a CPU, bf16 autocast pays off only where the CPU has bfloat16 matrix units (AVX512-BF16,
AMX); TF32 touches no CPU kernel; torch.compile (inductor) fuses the elementwise work around the products. Data:
MNIST when its files are found, else the 8x8 digits resized by nothing (the nets' shapes then differ: the table
says which data ran).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from report import cpu_model, emit, time_round_robin

from advnets.config import load_config
from advnets.errors import UserError
from advnets.training.trainer import Trainer

CASES = {
    # preset -> (switch rows: label -> overrides); every row also gets the preset's data
    "mnist-paper": {
        "all off": [],
        "autocast bf16": ["speed.autocast=bf16"],
        "compile (inductor)": ["speed.compile=default"],
    },
    "dcgan-mnist": {
        "all off": [],
        "autocast bf16": ["speed.autocast=bf16"],
        "channels_last": ["speed.channels_last=true"],
        "compile (inductor)": ["speed.compile=default"],
    },
}
QUIET = ["log.progress=false", "log.tensorboard=false"]


def trainer_for(case: str, overrides: list[str]) -> tuple[Trainer, str]:
    """The preset's Trainer on MNIST, or on the digits when MNIST's files are absent; and the data's name."""
    try:
        return Trainer.from_config(load_config(case, [*QUIET, *overrides])), "mnist"
    except UserError:
        digits = ["data.name=digits"] + (["data.pixel_range=symmetric"] if case.startswith("dcgan") else [])
        return Trainer.from_config(load_config(case, [*QUIET, *digits, *overrides])), "digits"


def stepper(trainer: Trainer) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            trainer.train_step()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="append the table to this markdown file")
    args = parser.parse_args()
    lines = [
        f"Machine: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}. Command: `python benchmarks/speed_switches.py --cases {args.cases} "
        f"--steps {args.steps} --repeats {args.repeats}`.",
        "",
        "| preset (data) | switch | ms / update | × off |",
        "|---|---|---|---|",
    ]
    for case in args.cases.split(","):
        rows = []
        for label, overrides in CASES[case].items():
            trainer, data = trainer_for(case, overrides)
            trainer.train_step()  # compiles, allocates: not timed
            rows.append((label, stepper(trainer)))
        seconds = time_round_robin([fn for _, fn in rows], args.steps, args.repeats)
        for (label, _), s in zip(rows, seconds, strict=True):
            lines.append(f"| {case} ({data}) | {label} | {s * 1e3:.1f} | {seconds[0] / s:.2f} |")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
