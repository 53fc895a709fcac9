"""The speed switches (`speed.*`, advnets.training.speed) against the same preset with every switch off, in one run.

    python benchmarks/speed_switches.py                                 # mnist-paper (digits stand-in) and dcgan
    python benchmarks/speed_switches.py --cases mnist-paper --out benchmarks/RESULTS.md
    python benchmarks/speed_switches.py --device cuda                   # the GPU's rows: TF32, channels-last, all on

Each row is the advnets Trainer's hot loop (`train_step`) for one preset with one switch on; `× off` is the
updates/s over the all-off row's, timed round-robin (medians over repeats), so machine load cancels. The switches
are written for GPUs: on a CPU, bf16 autocast pays off only where the CPU has bfloat16 matrix units (AVX512-BF16,
AMX); TF32 touches no CPU kernel; torch.compile (inductor) fuses the elementwise work around the products. Data:
MNIST when its files are found, else the 8x8 digits resized by nothing (the nets' shapes then differ: the table
says which data ran). On a GPU (`--device cuda`) each timed call ends with a synchronisation, so the times are the
GPU's work and not only its queueing; every row there, "all off" included, has TF32 off unless it says otherwise.
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
# On a GPU: the switches written for it, alone and together (docs/speed.md), and the ring lab's small nets, whose
# updates are kernel launches more than arithmetic. CUDA graphs (speed.compile=reduce-overhead) are refused there.
ALL_ON = ["speed.autocast=bf16", "speed.tf32=true"]
CUDA_CASES = {
    "mnist-paper": {
        "all off": [],
        "tf32": ["speed.tf32=true"],
        "autocast bf16": ["speed.autocast=bf16"],
        "compile (inductor)": ["speed.compile=default"],
        "bf16 + tf32": ALL_ON,
    },
    "dcgan-mnist": {
        "all off": [],
        "tf32": ["speed.tf32=true"],
        "autocast bf16": ["speed.autocast=bf16"],
        "channels_last": ["speed.channels_last=true"],
        "compile (inductor)": ["speed.compile=default"],
        "bf16 + tf32 + channels_last": [*ALL_ON, "speed.channels_last=true"],
    },
    "ring-8": {
        "all off": [],
        "compile (inductor)": ["speed.compile=default"],
    },
}
QUIET = ["log.progress=false", "log.tensorboard=false"]


def trainer_for(case: str, overrides: list[str]) -> tuple[Trainer, str]:
    """The preset's Trainer on its data (the digits when MNIST's files are absent), and the data's name."""
    try:
        trainer = Trainer.from_config(load_config(case, [*QUIET, *overrides]))
    except UserError:
        digits = ["data.name=digits"] + (["data.pixel_range=symmetric"] if case.startswith("dcgan") else [])
        trainer = Trainer.from_config(load_config(case, [*QUIET, *digits, *overrides]))
    return trainer, trainer.cfg.data.name


def stepper(trainer: Trainer) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            trainer.train_step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: the GPU's table")
    parser.add_argument("--cases", help=f"comma-separated, of: {', '.join(CASES)} (cpu); {', '.join(CUDA_CASES)} (cuda)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="append the table to this markdown file")
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: PyTorch sees no CUDA GPU here")
    table = CUDA_CASES if cuda else CASES
    cases = args.cases or ",".join(table)
    machine = f"{torch.cuda.get_device_name(args.device)} beside a {cpu_model()}" if cuda else cpu_model()
    device = f"--device {args.device} " if cuda else ""
    lines = [
        f"Machine: {machine}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}. Command: `python benchmarks/speed_switches.py {device}--cases {cases} "
        f"--steps {args.steps} --repeats {args.repeats}`.",
        "",
        "| preset (data) | switch | ms / update | × off |",
        "|---|---|---|---|",
    ]
    for case in cases.split(","):
        if case not in table:
            parser.error(f"unknown case {case!r} for --device {args.device}; choose from {', '.join(table)}")
        rows = []
        on_device = [f"device={args.device}", "speed.tf32=false"] if cuda else []
        for label, overrides in table[case].items():
            trainer, data = trainer_for(case, [*on_device, *overrides])
            trainer.train_step()  # compiles, allocates: not timed
            rows.append((label, stepper(trainer)))
        seconds = time_round_robin([fn for _, fn in rows], args.steps, args.repeats)
        for (label, _), s in zip(rows, seconds, strict=True):
            lines.append(f"| {case} ({data}) | {label} | {s * 1e3:.1f} | {seconds[0] / s:.2f} |")
            print(lines[-1], flush=True)  # as it comes: a long run cut short still leaves its rows
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
