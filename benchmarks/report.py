"""What every benchmark script shares: the machine line and where its table goes.

Imported by the scripts beside it (`python benchmarks/NAME.py` puts this folder on the import path).
"""

from __future__ import annotations

import platform
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
