"""Populations against one run at a time and against the machine's limit, in one run.

    python benchmarks/population.py                            # toy-1d, ring-8, grid-25; a markdown table
    python benchmarks/population.py --cases toy-1d --sizes 8,64 --out benchmarks/RESULTS.md
    python benchmarks/population.py --cases digits,mnist-paper --sizes 2,4 --steps 5   # nets with dropout
    python benchmarks/population.py --cases dcgan-fashion --sizes 3 --steps 3 --threads 1   # convolutions

A population trains N seeds of one config as one batched computation (advnets.training.population). Rows per case:
- one run: the advnets Trainer's hot loop for one seed (what each process of `--jobs` or a loop over seeds runs);
- population N: N seeds stepped together; member-updates/s = N × population steps/s;
- the limit of each: its matrix products alone (benchmarks/limit.py's replay of the recorded mm/addmm/bmm/baddbmm ops).
`× one run` is member-updates/s over the one-run row's; `of limit` the limit's time over the loop's. Timings are
medians over repeats alternating between the rows. Peak RSS is the process's after each case.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import torch
from limit import Recorder, replay
from report import cpu_model, emit, time_round_robin

from advnets.allocator import reuse_freed_memory
from advnets.config import load_config
from advnets.data import load_data
from advnets.training.population import Population
from advnets.training.trainer import Trainer

# digits and mnist-paper: maxout D with dropout; the dcgan presets: convolutions (MNIST or Fashion-MNIST files)
CASES = ("toy-1d", "ring-8", "grid-25", "digits", "mnist-paper", "dcgan-mnist", "dcgan-fashion")
DEFAULT_CASES = CASES[:3]


def stepper(step: Callable[[], object]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            step()

    return run


def limit_of(step: Callable[[], object]) -> Callable[[int], None]:
    recorder = Recorder()
    with recorder:
        step()
    return replay(recorder.ops)


def measure(case: str, sizes: list[int], steps: int, repeats: int, vmap: bool = False) -> list[tuple[str, int, float]]:
    """[(row, members, seconds per step)]; limits follow their loops. `vmap`: each population also with its chains
    of dense layers run through vmap (advnets.training.chains off), interleaved with the rest."""
    cfgs = [load_config(case, [f"seed={s}", "log.progress=false", "log.tensorboard=false"]) for s in range(max(sizes))]
    data = load_data(cfgs[0].data)
    one = Trainer.from_config(cfgs[0], data=data)
    rows: list[tuple[str, int, Callable[[int], None]]] = [
        ("one run", 1, stepper(one.train_step)),
        ("one run: its products alone (limit)", 1, limit_of(one.train_step)),
    ]
    for n in sizes:
        population = Population([Trainer.from_config(c, data=data) for c in cfgs[:n]])
        rows += [
            (f"population of {n}", n, stepper(population.train_step)),
            (f"population of {n}: its products alone (limit)", n, limit_of(population.train_step)),
        ]
        if vmap:
            through_vmap = Population([Trainer.from_config(c, data=data) for c in cfgs[:n]])
            through_vmap.parts.G.chain = through_vmap.parts.D.chain = None  # type: ignore[union-attr]
            rows += [
                (f"population of {n}, chains through vmap", n, stepper(through_vmap.train_step)),
                (f"population of {n}, chains through vmap: its products alone", n, limit_of(through_vmap.train_step)),
            ]
    seconds = time_round_robin([fn for _, _, fn in rows], steps, repeats)
    return [(label, n, s) for (label, n, _), s in zip(rows, seconds, strict=True)]


def rate(per_second: float) -> str:
    """Member-updates per second: whole numbers, with a decimal for the slow convolutional cases."""
    return f"{per_second:.2f}" if per_second < 10 else f"{per_second:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--sizes", default="4,16,64", help="population sizes (comma-separated)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    parser.add_argument("--out", help="append the table to this markdown file")
    parser.add_argument("--vmap", action="store_true", help="also each population with its dense chains through vmap")
    args = parser.parse_args()
    reuse_freed_memory()  # as `advnets` does (benchmarks/allocator.py measures what it is worth)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = [
        f"Machine: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}. Command: `python benchmarks/population.py --cases {args.cases} --sizes "
        f"{args.sizes} --steps {args.steps} --repeats {args.repeats}"
        + (f" --threads {args.threads}" if args.threads else "")
        + (" --vmap`." if args.vmap else "`."),
        "",
        "| case | loop | ms / step | member-updates / s | × one run | of limit | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in args.cases.split(","):
        rows = measure(case, sizes, args.steps, args.repeats, args.vmap)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        one = rows[0][2]
        for i in range(0, len(rows), 2):
            (label, n, s), (_, _, limit) = rows[i], rows[i + 1]
            lines.append(
                f"| {case} | {label} | {s * 1e3:.1f} | {rate(n / s)} | {one / s * n:.2f} | {limit / s:.2f} | {rss:.0f} |"
            )
            lines.append(
                f"| {case} | {label}: products alone (limit) | {limit * 1e3:.1f} | {rate(n / limit)} | "
                f"{one / limit * n:.2f} | 1.00 | |"
            )
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
