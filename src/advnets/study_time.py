"""How long a study's runs took, beside how long their matrix products alone would take on the same machine.

A run's wall time is read back from its metrics lines: each line's `examples_per_s` covers the interval since the
previous line (evaluations, pictures and checkpoints inside it included), so the interval lasted
steps × real examples per step / examples_per_s. Their sum is the run's training time; process start-up and the
time between a stop and its resume are not in it.

The limit is measured, not assumed: `python benchmarks/study_limits.py STUDY` records one update of each row's
config op by op, replays its matrix products and convolutions alone on this machine (benchmarks/limit.py) and
writes seconds per update to `OUT/limits.json`; a row's limit time is its runs' updates × that. Where the file
or a row is missing the column says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from advnets.config import RunConfig
from advnets.io import read_jsonl

LIMITS = "limits.json"  # row name -> {"seconds_per_update": ..., "machine": ..., "date": ...}


def run_time(run_dir: Path, cfg: RunConfig, examples_per_step: int) -> tuple[int, float]:
    """(last logged update, training seconds) of the run in `run_dir`, from its metrics lines."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return 0, 0.0
    seconds, previous, last = 0.0, 0, 0
    for record in read_jsonl(path):
        step, rate = int(record.get("step", 0)), float(record.get("examples_per_s", 0.0))
        # After a resume from an earlier checkpoint the steps go back: that interval is one logging period.
        steps = step - previous if step > previous else min(step, cfg.log.every_steps)
        if rate > 0:
            seconds += steps * examples_per_step / rate
        previous, last = step, max(last, step)
    return last, seconds


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 360 else f"{seconds / 60:.1f} min"


def time_table(rows: list[tuple[str, str, list[tuple[int, float]]]], out: Path) -> str:
    """The markdown section for rows of (name, label, [(updates, seconds) per run])."""
    limits: dict[str, Any] = json.loads((out / LIMITS).read_text()) if (out / LIMITS).exists() else {}
    lines = [
        "| recipe | runs | updates | wall time | products alone (limit) | of limit |",
        "|---|---|---|---|---|---|",
    ]
    total = limit_total = 0.0
    limited_all = True
    for name, label, runs in rows:
        if not runs:
            continue
        updates = sum(u for u, _ in runs)
        seconds = sum(s for _, s in runs)
        total += seconds
        per_update = limits.get(name, {}).get("seconds_per_update")
        if per_update is None:
            limited_all = False
            limit_cells = "not measured | —"
        else:
            limit = updates * float(per_update)
            limit_total += limit
            limit_cells = f"{_hours(limit)} | {limit / seconds:.2f}" if seconds else f"{_hours(limit)} | —"
        lines.append(f"| {label} | {len(runs)} | {updates:,} | {_hours(seconds)} | {limit_cells} |")
    if total == 0:
        return ""
    whole = f"{_hours(limit_total)} | {limit_total / total:.2f}" if limited_all else "— | —"
    lines.append(f"| all runs | | | {_hours(total)} | {whole} |")
    machine = next((v.get("machine") for v in limits.values() if isinstance(v, dict)), None)
    source = (
        f"the limit measured by `python benchmarks/study_limits.py` on {machine} ({LIMITS})"
        if limits
        else f"no limit measured yet (`python benchmarks/study_limits.py` writes {LIMITS})"
    )
    return (
        "## Time\n\nTraining wall time of the runs in the table (each run's metrics intervals summed: evaluations and "
        "pictures included, start-up and pauses not; they vary with what else the machine ran), beside the time "
        f"their matrix products and convolutions alone take on this machine: {source}.\n\n"
        + "\n".join(lines)
        + "\n"
    )
