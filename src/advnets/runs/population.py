"""Several seeds of one config trained as one batched computation (advnets.training.population), each into its own
run folder: `advnets train PRESET --seeds 0-7` and the studies of `advnets reproduce`.

Every member is an ordinary run: its folder, config (with its seed), metrics, pictures, evaluations and checkpoints
are those it would have alone, and `advnets resume` continues any member on its own. What cannot be batched
(`population_problem`) trains one seed after another instead; `plan` says which and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from advnets.config import RunConfig, build_config
from advnets.data import DataSet, load_data
from advnets.errors import UserError
from advnets.runs.checkpoint import load_checkpoint
from advnets.runs.evaluation import check_scheduled_metrics
from advnets.runs.lock import run_lock
from advnets.runs.run_dir import RunDir, create_run_dir
from advnets.runs.session import default_hooks, finished_message
from advnets.training.distributed import current_world
from advnets.training.population import Population, parts_problem, population_problem
from advnets.training.speed import is_convolutional
from advnets.training.trainer import Trainer, check_resumable


@dataclass(frozen=True)
class Outcome:
    run_dir: Path
    status: str  # completed | stopped | failed
    error: str | None = None  # why a failed member stopped (its divergence message)


# On a CPU a population pays only for small nets: their updates are mostly per-operation overhead, which it pays
# once for all members; larger nets keep the matrix units busy already, and batched products (bmm) run slower than
# one run's (mm). Measured here (benchmarks/RESULTS.md, "Populations"): ring-8's 0.9 M parameters 1.4x one run,
# mnist-paper's 3.7 M 0.74x. Convolutional nets of any size lose too: 3 dcgan-fashion members made 0.79x the
# member-updates of one run (one thread each). On a GPU every allowed population is used.
CPU_POPULATION_MAX_PARAMETERS = 2_000_000


def batchable(cfgs: Sequence[RunConfig], data: DataSet | None = None) -> str | None:
    """None when these configs train as one population and it pays, else why not (config and built nets both
    checked)."""
    problem = population_problem(cfgs)
    if problem is None:
        trainer = Trainer.from_config(cfgs[0], data=data)
        problem = parts_problem(trainer.parts)
        size = sum(p.numel() for net in (trainer.G, trainer.D) for p in net.parameters())
        on_cpu = trainer.device.type == "cpu"
        if problem is None and on_cpu and size > CPU_POPULATION_MAX_PARAMETERS:
            problem = (
                f"on a CPU, nets of {size / 1e6:.1f} M parameters train no faster as one population than one after "
                f"another (above {CPU_POPULATION_MAX_PARAMETERS / 1e6:.0f} M; docs/populations.md)"
            )
        if problem is None and on_cpu and any(is_convolutional(net) for net in (trainer.G, trainer.D)):
            problem = (
                "on a CPU, convolutional nets train slower as one population than one after another (the members' "
                "convolutions batch into grouped ones; docs/populations.md)"
            )
    if problem is None and current_world().size > 1:
        problem = "populations do not run under torchrun"
    return problem


def train_population(
    cfgs: Sequence[RunConfig],
    outs: Sequence[Path | None],
    *,
    data: DataSet | None = None,
    runs_root: Path = Path("runs"),
    on_start: Callable[[Path], object] | None = None,
) -> list[Outcome]:
    """New runs of `cfgs` (one config, several seeds) as one population, into `outs` (None: numbered folders
    under runs_root). Everything is built and checked before any folder is made."""
    data = data if data is not None else load_data(cfgs[0].data)
    trainers = [Trainer.from_config(cfg, data=data) for cfg in cfgs]
    for t in trainers:
        check_scheduled_metrics(t.cfg, t.train_set.kind)
    population = _population(trainers)
    run_dirs = [create_run_dir(cfg, out, runs_root) for cfg, out in zip(cfgs, outs, strict=True)]
    return _fit(population, trainers, [RunDir(d) for d in run_dirs], on_start)


def resume_population(
    run_dirs: Sequence[Path], overrides: Sequence[str] = (), *, data: DataSet | None = None
) -> list[Outcome]:
    """Continue runs from their latest checkpoints as one population; they must be at the same step (members of
    one population, stopped together, are)."""
    runs = [RunDir(d) for d in run_dirs]
    for run in runs:
        run.require()
    with ExitStack() as locks:
        for run in runs:
            locks.enter_context(run_lock(run.path))
        trainers = []
        for run in runs:
            state = load_checkpoint(run.latest_checkpoint())
            cfg = build_config(base=run.load_config(), overrides=list(overrides))
            check_resumable(state["config"], cfg)
            data = data if data is not None else load_data(cfg.data)
            trainer = Trainer.from_config(cfg, data=data)
            check_scheduled_metrics(cfg, trainer.train_set.kind)
            trainer.load_state_dict(state)
            if trainer.done():
                raise UserError(finished_message(run, cfg, trainer.step, trainer.epoch))
            trainers.append(trainer)
        population = _population(trainers)
        for run, trainer in zip(runs, trainers, strict=True):
            run.save_config(trainer.cfg)
            run.record_command()
        return _fit(population, trainers, runs, None, locked=True)


def _population(trainers: Sequence[Trainer]) -> Population:
    try:
        return Population(trainers)
    except ValueError as err:
        raise UserError(f"{err}; train the seeds one at a time instead") from None


def _fit(
    population: Population,
    trainers: Sequence[Trainer],
    runs: Sequence[RunDir],
    on_start: Callable[[Path], object] | None,
    *,
    locked: bool = False,
) -> list[Outcome]:
    with ExitStack() as locks:
        if not locked:
            for run in runs:
                locks.enter_context(run_lock(run.path))
        for trainer, run in zip(trainers, runs, strict=True):
            if on_start is not None:
                on_start(run.path)
            trainer.hooks = default_hooks(run, trainer.cfg)
        statuses = population.fit()
    outcomes = []
    for trainer, run, status in zip(trainers, runs, statuses, strict=True):
        error = population.error_of(trainer)
        outcomes.append(Outcome(run.path, status, None if error is None else str(error)))
    return outcomes


def sweep_values(text: str) -> tuple[str, list[str]]:
    """`--sweep` KEY=V1,V2,...: the dotted key and its values, each once, in order."""
    key, sep, rest = text.partition("=")
    values = list(dict.fromkeys(v.strip() for v in rest.split(","))) if sep else []
    if not key.strip() or not values or any(not v for v in values) or "seed" == key.strip():
        raise UserError(
            f"--sweep {text!r} is not KEY=V1,V2,...; write e.g. --sweep train.d_optimizer.lr=1e-3,1e-4 (seeds go in "
            "--seeds)"
        )
    return key.strip(), values


def seed_list(text: str) -> list[int]:
    """`--seeds` values: "0-7", "0,1,5" or a mix ("0-3,8"), each seed once, in order."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            span = range(int(low), int(high) + 1) if high else [int(low)]
            seeds += [s for s in span if s not in seeds]
    except ValueError:
        raise UserError(f"--seeds {text!r} is not a list of seeds; write e.g. 0-7 or 0,1,5") from None
    if not seeds or any(s < 0 for s in seeds):
        raise UserError(f"--seeds {text!r} names no seed or a negative one; write e.g. 0-7 or 0,1,5")
    return seeds
