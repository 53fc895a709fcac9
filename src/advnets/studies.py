"""Studies: recipes (rows) × seeds, each an ordinary run folder, and one table of mean ± std over the seeds beside
published reference points. `advnets reproduce ring-8` and `advnets reproduce grid-25` are studies (their rows
are in `advnets.toy_studies`); `advnets reproduce paper-mnist` shares the run machinery below.

A study is data: a list of `Row`s (a name, a label, a preset and dotted overrides), the metric it reads and the
record keys shown as columns, and the published rows. Adding one is a `Study(...)` entry in `STUDIES`.

Every (row, seed) trains into `OUT/<row>/seed-N` with `runs.session.train`, or continues with `resume` from its
latest checkpoint when a rerun finds it unfinished; a finished run, with or without its checkpoints, is left as it
is. Runs go seed by seed (every row's seed 0 first), so that a partial study already has a number in every row.
After each finished run the table is rewritten to `OUT/RESULTS.md` and `OUT/results.json` from the run folders'
`eval.jsonl`: each seed's evaluation at its last epoch, mean ± sample std over the seeds done.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from advnets.allocator import reuse_freed_memory
from advnets.config import RunConfig, load_config, to_dict
from advnets.errors import UserError
from advnets.evaluate import check_same_protocol, metric_options, read_evals, reference_data, scored_name
from advnets.io import write_text
from advnets.metrics import METRICS
from advnets.metrics.feature_scores import real_floor
from advnets.runs.checkpoint import load_checkpoint
from advnets.runs.lock import run_lock
from advnets.runs.population import batchable, resume_population, train_population
from advnets.runs.run_dir import RunDir, is_run_dir, load_run_config
from advnets.runs.session import resume, train
from advnets.study_time import run_time, time_table
from advnets.training.population import population_key
from advnets.training.trainer import RESUMABLE_CHANGES, RESUMABLE_PREFIXES, changed_keys
from advnets.training.updates import UPDATES

# The table a study (and paper-mnist) writes at the top of its folder, as markdown and as JSON.
RESULTS, RESULTS_JSON = "RESULTS.md", "results.json"


# ------------------------------------------------------------------------------------------------ running
def run_seed(out: Path, cfg: RunConfig, quiet: bool) -> None:
    """Train `cfg` into `out/seed-<cfg.seed>`, continue it from its latest checkpoint, or leave it when finished."""
    run_dir = out / f"seed-{cfg.seed}"
    progress = [] if not quiet else ["log.progress=false"]
    if is_run_dir(run_dir):
        check_same_run(run_dir, cfg)
    if is_run_dir(run_dir) and not RunDir(run_dir).has_checkpoint():
        if is_finished(*logged_progress(run_dir), cfg):
            return  # finished, its checkpoints not kept (a committed reproduction): its records stand
        # Stopped before its first checkpoint: nothing to resume. Keep it aside (never delete) and start over.
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}"))
    if not is_run_dir(run_dir):
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UserError(f"{run_dir} exists but is not a run folder; move it away and rerun")
        if run_dir.exists():
            run_dir.rmdir()
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        _, status = train(cfg if not quiet else replace(cfg, log=replace(cfg.log, progress=False)), run_dir)
    else:
        # A finished run may still owe its last evaluation (stopped while scoring): resume scores it, or does nothing.
        status = resume(run_dir, [f"train.epochs={cfg.train.epochs}", *progress], finished_ok=True)
    if status != "completed":
        raise KeyboardInterrupt


def population_groups(tasks: list[tuple[Path, RunConfig]]) -> list[tuple[int, list[int]]]:
    """(start step, task indices) of every group of tasks (row folder, config) that can train as one population:
    runs that start from the same point (all new, or resumable from checkpoints of one step) and whose configs
    differ only where members may (seed, learning rates, weight average: `population_key`), also across rows, when
    two or more such runs exist and a population pays (`batchable`)."""
    groups: dict[tuple[int, str], list[int]] = {}
    for i, (out, cfg) in enumerate(tasks):
        run_dir = out / f"seed-{cfg.seed}"
        if not run_dir.exists():
            step = 0
        elif is_run_dir(run_dir) and RunDir(run_dir).has_checkpoint():
            check_same_run(run_dir, cfg)
            state = load_checkpoint(RunDir(run_dir).latest_checkpoint())
            step = int(state["counters"]["step"])
            if not step or is_finished(state["cursor"]["epoch"], step, cfg):
                continue
        else:
            continue
        groups.setdefault((step, population_key(cfg)), []).append(i)
    return [
        (step, members)
        for (step, _), members in groups.items()
        if len(members) > 1 and batchable([tasks[i][1] for i in members]) is None
    ]


def train_group(group: list[tuple[Path, RunConfig]], step: int, quiet: bool) -> None:
    """Train or resume (from `step`) the tasks of one of `population_groups` as one population."""
    cfgs = [cfg for _, cfg in group]
    run_dirs = [out / f"seed-{cfg.seed}" for out, cfg in group]
    if step == 0:
        shown = [replace(c, log=replace(c.log, progress=not quiet and i == 0)) for i, c in enumerate(cfgs)]
        for run_dir in run_dirs:
            run_dir.parent.mkdir(parents=True, exist_ok=True)
        outcomes = train_population(shown, run_dirs)
    else:
        progress = [f"log.progress={str(not quiet).lower()}"]
        outcomes = resume_population(run_dirs, [f"train.epochs={cfgs[0].train.epochs}", *progress])
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        raise UserError(f"{failed[0].run_dir}: {failed[0].error}")
    if any(o.status != "completed" for o in outcomes):
        raise KeyboardInterrupt


def check_same_run(run_dir: Path, cfg: RunConfig) -> None:
    """A run folder found in place must be the run `cfg` asks for (up to its length, logging and evaluation), so
    that a changed preset or override never leaves an older recipe's numbers in a table."""
    changed = [
        k
        for k in changed_keys(to_dict(load_run_config(run_dir)), to_dict(cfg))
        if k not in RESUMABLE_CHANGES and not k.startswith(RESUMABLE_PREFIXES)
    ]
    if changed:
        raise UserError(
            f"{run_dir} was trained with another {', '.join(changed)} than this command gives; move the folder "
            "away to train it anew, or give the command that made it"
        )


def logged_progress(run_dir: Path) -> tuple[float, int]:
    """(epoch, step) of a run's last metrics line ((0, 0) before its first)."""
    try:
        with open(RunDir(run_dir).metrics_path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = f.read().decode(errors="replace").splitlines()
        last = json.loads(lines[-1]) if lines else {}
        return float(last.get("epoch", 0.0)), int(last.get("step", 0))
    except (OSError, ValueError, IndexError):
        return 0.0, 0


def is_finished(epoch: float, step: int, cfg: RunConfig) -> bool:
    """Has a run at (epoch, step) done what `cfg` asks: its epochs, or its train.max_steps updates?"""
    max_steps = cfg.train.max_steps
    return epoch >= cfg.train.epochs or (max_steps is not None and step >= max_steps)


def _run_worker(unit: list[tuple[Path, RunConfig]], step: int, threads: int) -> None:
    """One run, or one population of runs starting at `step` (`population_groups`), in a worker process
    (`jobs > 1`): its share of threads, no progress bar. Once the study is stopping (Ctrl-C or `kill -INT` of the
    parent, the parent gone, or a run of this worker interrupted), a task queued to it is refused (raised as an
    interruption) rather than started."""
    torch.set_num_threads(threads)
    reuse_freed_memory()  # a spawned worker starts with glibc's defaults, as `advnets` itself does
    try:
        if _INTERRUPTED.is_set() or _ORPHANED.is_set() or _STOP.is_set():
            raise KeyboardInterrupt
        _RUNNING.set()  # only now may the watcher interrupt: a refused task has nothing to checkpoint
        if len(unit) == 1:
            run_seed(*unit[0], quiet=True)
        else:
            train_group(unit, step, quiet=True)
    except KeyboardInterrupt:
        _INTERRUPTED.set()
        raise
    finally:
        _RUNNING.clear()
        if _ORPHANED.is_set():
            # The run has checkpointed (or never started) and nobody reads its result: leave now.
            os._exit(1)


_RUNNING = threading.Event()  # set in a worker while it holds a task
_INTERRUPTED = threading.Event()  # set in a worker once one of its runs was interrupted
_ORPHANED = threading.Event()  # set in a worker whose parent is gone
_STOP: Any = threading.Event()  # the parent's "stop" (a process-shared event in a worker; see watch_parent)


def watch_parent(parent: int, stop: Any = None, poll_s: float = 2.0) -> threading.Thread:
    """Interrupt this process (SIGINT, as Ctrl-C) once `parent` is gone, or once the parent sets `stop` while a run
    is in progress here -> the watching thread. The pool's initializer in every worker.

    Ctrl-C in a terminal reaches the workers too, but `kill PID` or a crash of `advnets reproduce` reaches only
    the parent: without this its workers would train on unwatched, holding their run folders' locks; `kill -INT PID`
    would leave the parent waiting for their runs to end. Interrupted, a run checkpoints and stops as after Ctrl-C,
    and a rerun resumes it."""
    global _STOP
    if stop is not None:
        _STOP = stop

    def watch() -> None:
        while os.getppid() == parent:
            if _STOP.is_set() and _RUNNING.is_set():
                os.kill(os.getpid(), signal.SIGINT)  # once: a second SIGINT would cut the run's checkpoint short
                return
            time.sleep(poll_s)
        _ORPHANED.set()
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def ctrl_c_reached_workers() -> bool:
    """Whether a SIGINT of this process came from the terminal, which sends it to the whole foreground process
    group, workers included (then the parent must not send them another: a second one cuts a checkpoint short)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def run_in_parallel(
    tasks: list[tuple[Path, RunConfig]],
    jobs: int,
    quiet: bool,
    on_done: Callable[[int], object],
    groups: Sequence[tuple[int, list[int]]] = (),
) -> None:
    """`run_seed(out, cfg)` for every task in `jobs` processes, the tasks of each of `groups` (`population_groups`)
    as one population in one process; `on_done(i)` runs here as task i finishes."""
    from tqdm.auto import tqdm

    threads = max(1, (os.cpu_count() or 1) // jobs)
    # A worker inherits nothing from this process (spawn), so CUDA and OpenMP start cleanly in each.
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    with (
        ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=watch_parent, initargs=(os.getpid(), stop)
        ) as pool,
        tqdm(
            total=sum(c.train.epochs for _, c in tasks),
            disable=quiet,
            desc=f"{len(tasks)} runs",
            unit="epoch",
        ) as bar,
    ):
        grouped = {i for _, members in groups for i in members}
        units = [*groups, *[(0, [i]) for i in range(len(tasks)) if i not in grouped]]
        index = {pool.submit(_run_worker, [tasks[i] for i in members], step, threads): members for step, members in units}
        pending = set(index)
        try:
            while pending:
                finished, pending = wait(pending, timeout=10, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()  # re-raises a worker's error or interruption here
                    for i in index[future]:
                        on_done(i)
                bar.n = round(sum(logged_progress(out / f"seed-{c.seed}")[0] for out, c in tasks), 1)
                bar.refresh()
        except KeyboardInterrupt:
            # Ctrl-C: start no queued run (the pool's own exit would wait for every queued task). The running runs
            # checkpoint and stop, interrupted by the terminal's Ctrl-C or, after `kill -INT PID`, by `stop`; a
            # rerun resumes them.
            if not ctrl_c_reached_workers():
                stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def run_all(
    tasks: list[tuple[Path, RunConfig]], jobs: int, quiet: bool, on_done: Callable[[int], object]
) -> None:
    """Every task: the runs that can share a batched population (of one row or several: `population_groups`) as one,
    the others alone; in turn (jobs = 1) or side by side in `jobs` processes. `on_done(i)` after each."""
    groups = population_groups(tasks)
    if jobs == 1:
        for step, members in groups:
            train_group([tasks[i] for i in members], step, quiet)
            for i in members:
                on_done(i)
        grouped = {i for _, members in groups for i in members}
        for i, task in enumerate(tasks):
            if i not in grouped:
                run_seed(*task, quiet)
                on_done(i)
    else:
        units = len(tasks) - sum(len(members) - 1 for _, members in groups)
        run_in_parallel(tasks, min(jobs, units), quiet, on_done, groups)


# ------------------------------------------------------------------------------------------------ studies
@dataclass(frozen=True)
class Row:
    name: str  # run folder and `--rows` name: lower case, digits, '-'
    label: str  # the table's first column
    preset: str  # preset name or YAML file
    overrides: tuple[str, ...] = ()  # dotted overrides on the preset
    seeds: int | None = None  # at most this many seeds (a diagnostic row, where one run shows what it shows)

    def seeds_of(self, asked: int) -> int:
        """The seeds this row trains when the study is asked for `asked`."""
        return asked if self.seeds is None else min(asked, self.seeds)


@dataclass(frozen=True)
class Column:
    key: str  # key of the metric's record
    header: str
    scale: float = 1.0  # e.g. 100 to show a share as a percentage
    digits: int = 1  # decimals shown
    unit: str = ""  # appended to every number, e.g. "%"


@dataclass(frozen=True)
class Published:
    label: str  # who, where: "PacGAN4 (Lin et al. 2018, Table 1)"
    values: dict[str, str]  # column key -> the number as published (text); a missing key prints "—"
    by_epoch: dict[int, str] = field(default_factory=dict)  # epoch -> the first column's number (the by-epoch table)


@dataclass(frozen=True)
class Study:
    title: str  # RESULTS.md heading
    metric: str  # a registered metric, evaluated during training by every row's config
    columns: tuple[Column, ...]  # record keys shown, the first also listed seed by seed
    rows: tuple[Row, ...]
    published: tuple[Published, ...] = ()
    seeds: int = 3  # default --seeds
    notes: str = ""  # the paragraph under the heading: protocol, what the rows are
    floor: str | None = None  # fid/kid: a split whose real images are scored as G's samples would be (the floor row)
    by_epoch: tuple[int, ...] = ()  # epochs of a second table: the first column at each, mean over the seeds scored


STUDIES: dict[str, Study] = {}


def select_rows(target: str, rows: tuple[Row, ...], names: list[str] | None) -> list[Row]:
    """The rows `names` asks for (`--rows`), in the order given; every row when it is empty."""
    if not names:
        return list(rows)
    known = {row.name: row for row in rows}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(
            f"{target} has no row {', '.join(map(repr, unknown))}; choose from: {', '.join(known)} "
            f"(e.g. --rows {','.join(list(known)[:2])})"
        )
    return [known[n] for n in dict.fromkeys(names)]


def row_config(row: Row, seed: int, extra: list[str]) -> RunConfig:
    return load_config(row.preset, [f"seed={seed}", f"name={row.name}-seed{seed}", *row.overrides, *extra])


def check_scored(target: str, study: Study, row: Row, cfg: RunConfig) -> None:
    """The table reads each run's evaluation at its last epoch: the row's config must make one."""
    every = cfg.eval.every_epochs
    if study.metric not in cfg.eval.metrics or not every or cfg.train.epochs % every:
        raise UserError(
            f"{target} row {row.name!r} must score {study.metric!r} at its last epoch, but its config has "
            f"eval.metrics={list(cfg.eval.metrics)}, eval.every_epochs={every}, train.epochs={cfg.train.epochs}; "
            f"keep {study.metric} in eval.metrics and make eval.every_epochs divide train.epochs"
        )


def protocol_of(study: Study, cfg: RunConfig) -> str:
    """The name the row's scores are stored under (with `-ema` when the row keeps a weight average of G)."""
    metric = METRICS.get(study.metric)
    options = metric_options(cfg, study.metric)
    return scored_name(
        metric.protocol(options, reference_data(cfg, metric)), ema=cfg.train.ema_decay is not None
    )


def seeds_on_disk(out: Path, rows: Sequence[Row]) -> int:
    """1 + the highest N of any OUT/<row>/seed-N folder of these rows (0 when there is none): a table keeps every
    seed already trained, so a rerun with fewer --seeds (or of one row) does not drop the others' from it."""
    found = [
        int(number)
        for row in rows
        for run in (out / row.name).glob("seed-*")
        if (number := run.name.removeprefix("seed-")).isdigit() and run.is_dir()
    ]
    return max(found, default=-1) + 1


def run_study(
    target: str,
    out: Path,
    *,
    seeds: int | None = None,
    rows: list[str] | None = None,
    extra: list[str] | None = None,
    quiet: bool = False,
    jobs: int = 1,
) -> str:
    """Train the chosen rows of study `target` for `seeds` seeds each into `out`, resuming what is unfinished;
    returns the table (markdown), also in out/RESULTS.md and out/results.json."""
    study = STUDIES[target]
    seeds = study.seeds if seeds is None else seeds
    if seeds <= 0 or jobs <= 0:
        raise UserError("--seeds and --jobs must be positive")
    chosen = select_rows(target, study.rows, rows)
    extra = extra or []
    # Every row's config first (the table covers every row): a bad override fails before anything trains.
    # The table's seeds: those asked and those already trained (a rerun of one row keeps the others' seeds).
    shown = max(seeds, seeds_on_disk(out, study.rows))
    configs = {(row.name, seed): row_config(row, seed, extra) for row in study.rows for seed in range(shown)}
    for row in study.rows:
        check_scored(target, study, row, configs[row.name, 0])
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(
        [
            "advnets reproduce",
            target,
            f"--seeds {seeds}",
            *([f"--rows {','.join(r.name for r in chosen)}"] if rows else []),
            *extra,
        ]
    )
    tasks = [(out / row.name, configs[row.name, seed]) for seed in range(seeds) for row in chosen if seed < row.seeds_of(seeds)]
    with run_lock(out):  # held for the whole study; each run's train or resume also locks its folder
        summarise_study(target, out, configs, shown, command)  # what earlier commands finished, before training
        run_all(tasks, jobs, quiet, lambda i: summarise_study(target, out, configs, shown, command))
        if study.floor is not None:
            score_floor(study, out, configs[study.rows[0].name, 0])
        return summarise_study(target, out, configs, shown, command)


def floor_name(study: Study, cfg: RunConfig) -> str:
    """The protocol the floor is scored under: the rows' (never `-ema`: no G is scored)."""
    return protocol_of(study, replace(cfg, train=replace(cfg.train, ema_decay=None)))


def floor_path(study: Study, out: Path, cfg: RunConfig) -> Path:
    return out / f"floor-{floor_name(study, cfg)}.json"


def score_floor(study: Study, out: Path, cfg: RunConfig) -> dict[str, Any]:
    """The study's floor row: real images of `study.floor` scored as G's samples would be (once; kept in OUT)."""
    assert study.floor is not None
    path = floor_path(study, out, cfg)
    if path.exists():
        return dict(json.loads(path.read_text()))
    options = metric_options(cfg, study.metric)
    record = {
        "name": floor_name(study, cfg),
        **real_floor(study.metric, options, cfg.data, study.floor, seed=cfg.eval.seed),
    }
    write_text(path, json.dumps(record, indent=2) + "\n")
    return record


def final_records(
    study: Study, row: Row, configs: dict[tuple[str, int], RunConfig], seeds: int, out: Path
) -> dict[int, dict[str, Any]]:
    """seed -> the row's evaluation at the run's last epoch, for the seeds whose runs finished."""
    done = {}
    for seed in range(row.seeds_of(seeds)):
        cfg = configs[row.name, seed]
        records = read_evals(out / row.name / f"seed-{seed}", protocol_of(study, cfg), training_only=True)
        last = [r for r in records if is_final(r, cfg)]
        if last:
            done[seed] = last[-1]
    return done


def epoch_table(study: Study, out: Path, configs: dict[tuple[str, int], RunConfig], seeds: int) -> str:
    """The first column at each of `study.by_epoch`, per row: mean ± std over the seeds scored at that epoch (an
    unfinished run fills the epochs it has reached), with the published rows' numbers where they give them."""
    column = study.columns[0]
    lines = [
        f"## {protocol_of(study, configs[study.rows[0].name, 0])} by epoch\n",
        "Each row's evaluations during training (mean ± std over its seeds scored at that epoch; one seed: its "
        "score); empty where no seed reached the epoch.\n",
        "| recipe | " + " | ".join(str(e) for e in study.by_epoch) + " |",
        "|" + "---|" * (len(study.by_epoch) + 1),
    ]
    for row in study.rows:
        at: dict[int, list[float]] = {}
        for seed in range(row.seeds_of(seeds)):
            cfg = configs[row.name, seed]
            records = read_evals(out / row.name / f"seed-{seed}", protocol_of(study, cfg), training_only=True)
            # An epoch scored twice (a resume from an earlier checkpoint) counts once: its last score.
            for epoch, value in {int(r["epoch"]): float(r[column.key]) for r in records}.items():
                at.setdefault(epoch, []).append(value)
        cells = [_cell(column, *_stats(at[e])) if e in at else "" for e in study.by_epoch]
        lines.append(f"| {row.label} (`{row.name}`) | " + " | ".join(cells) + " |")
    for ref in study.published:
        if ref.by_epoch:
            lines.append(f"| {ref.label} | " + " | ".join(ref.by_epoch.get(e, "") for e in study.by_epoch) + " |")
    return "\n".join(lines) + "\n"


def is_final(record: dict[str, Any], cfg: RunConfig) -> bool:
    """A record of the run's end: its last epoch, or the step train.max_steps stops it at (which can be inside an
    epoch: mnist-zeros' 250 updates)."""
    return record["epoch"] == cfg.train.epochs or record["step"] == cfg.train.max_steps


def _stats(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (NaN for one value); NaN when any value is (e.g. reverse KL with no good sample)."""
    if any(math.isnan(v) for v in values):
        return math.nan, math.nan
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return mean, std


def _cell(column: Column, mean: float, std: float) -> str:
    if math.isnan(mean):
        return "undefined"
    text = f"{mean * column.scale:.{column.digits}f}"
    if not math.isnan(std):
        text += f" ± {std * column.scale:.{column.digits}f}"
    return text + column.unit


def row_run_time(row_out: Path, cfg: RunConfig, seed: int) -> tuple[int, float]:
    """(updates, training seconds) of one finished run of a row (advnets.study_time)."""
    per_step = UPDATES.get(cfg.train.update).d_updates_per_iteration(cfg.train) * cfg.train.batch_size
    return run_time(row_out / f"seed-{seed}", cfg, per_step)


def summarise_study(
    target: str, out: Path, configs: dict[tuple[str, int], RunConfig], seeds: int, command: str
) -> str:
    """The table of every row (its finished seeds) and the published rows -> out/RESULTS.md, out/results.json."""
    study = STUDIES[target]
    columns = study.columns
    header = ["recipe", *(c.header for c in columns), "seeds", "preset and overrides"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows_json = []
    shown: list[dict[str, Any]] = []  # every record in the table, checked for one protocol
    timed = []  # (row, label, [(updates, seconds)] of its finished runs)
    for row in study.rows:
        done = final_records(study, row, configs, seeds, out)
        shown += done.values()
        timed.append((row.name, row.label, [row_run_time(out / row.name, configs[row.name, s], s) for s in done]))
        summary = {c.key: _stats([float(r[c.key]) for r in done.values()]) for c in columns} if done else {}
        first = columns[0]
        each = ", ".join(f"{r[first.key] * first.scale:g}{first.unit}" for r in done.values())
        seeds_text = f"{len(done)} of {row.seeds_of(seeds)}" + (f": {each}" if done else "")
        cells = [_cell(c, *summary[c.key]) if done else "—" for c in columns]
        overrides = " ".join(f"`{o}`" for o in (row.preset, *row.overrides))
        lines.append(f"| {row.label} | " + " | ".join(cells) + f" | {seeds_text} | {overrides} |")
        rows_json.append(
            {
                "name": row.name,
                "label": row.label,
                "preset": row.preset,
                "overrides": list(row.overrides),
                "protocol": protocol_of(study, configs[row.name, 0]),
                "seeds_done": list(done),
                "final": {
                    str(s): {k: r[k] for k in ("step", "epoch", *(c.key for c in columns))}
                    for s, r in done.items()
                },
                "mean": {k: v[0] for k, v in summary.items()},
                "std": {k: v[1] for k, v in summary.items()},
            }
        )
    check_same_protocol(shown, what=f"the {target} table")  # rows scored under other protocols are refused
    floor = None
    if study.floor is not None and floor_path(study, out, configs[study.rows[0].name, 0]).exists():
        floor = score_floor(study, out, configs[study.rows[0].name, 0])
        check_same_protocol([*shown, floor], what=f"the {target} table and its floor")
        cells = [_cell(c, float(floor[c.key]), math.nan) if c.key in floor else "—" for c in columns]
        count = floor["protocol"]["samples"]
        lines.append(f"| real {study.floor} images ({count}) in G's place: the floor | " + " | ".join(cells) + " | real data | |")
    for ref in study.published:
        cells = [ref.values.get(c.key, "—") for c in columns]
        lines.append(f"| {ref.label} | " + " | ".join(cells) + " | published | |")
    table = "\n".join(lines) + "\n"
    text = (
        f"# {study.title}\n\n{study.notes}\n\nEach advnets row: the evaluation at the run's last epoch, mean ± std "
        f"(sample std) over the seeds done; the seeds column lists them. Last written by `{command}`; "
        f"`advnets reproduce {target} --seeds {seeds}` trains whatever is missing (unfinished runs resume, finished "
        f"ones are kept).\n\n{table}"
    )
    if study.by_epoch:
        text += "\n" + epoch_table(study, out, configs, seeds)
    times = time_table(timed, out)
    text += f"\n{times}" if times else ""
    write_text(out / RESULTS, text)
    results = {
        "study": target,
        "metric": study.metric,
        "seeds": seeds,
        "command": command,
        "rows": rows_json,
        "published": [{"label": p.label, **p.values} for p in study.published],
        **({"floor": floor} if floor is not None else {}),
    }
    write_text(out / RESULTS_JSON, json.dumps(results, indent=2) + "\n")
    return table
