"""What every benchmark script shares: the machine line and where its table goes.

Imported by the scripts beside it (`python benchmarks/NAME.py` puts this folder on the import path).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or platform's guess where there is none (macOS, Windows)."""
    try:
        return next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def emit(table: str, out: str | None) -> None:
    """Print the markdown table and, with --out, append it to that file (benchmarks/RESULTS.md keeps them all)."""
    print(table)
    if out:
        with open(out, "a") as f:
            f.write("\n" + table)


def time_round_robin(fns: list[Callable[[int], None]], steps: int, repeats: int) -> list[float]:
    """Median seconds per step of each fn (called as fn(steps)); the repeats alternate between the fns, so all see
    the same machine load."""
    for fn in fns:
        fn(2)  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn(steps)
            out.append((time.perf_counter() - start) / steps)
    return [statistics.median(t) for t in times]
