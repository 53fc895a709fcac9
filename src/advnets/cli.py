"""`advnets` command line: parses arguments and calls library functions, nothing more.

Every user error is printed as one line (no traceback) and exits with code 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from advnets.allocator import reuse_freed_memory
from advnets.errors import UserError

EPILOG = """examples:
  advnets train                                  embedded 8x8 digits, about a minute on 2 CPU cores
  advnets train mnist-paper train.epochs=1       the 2014 MNIST setup for one epoch
  advnets train my.yaml model.z_dim=64 --out runs/mine
  advnets resume runs/00000-digits train.epochs=400
  advnets sample runs/00000-digits -n 64 -o grid.png
  advnets figure density-1d runs/00001-toy-1d     the paper's Figure 1 from a 1-D run's checkpoints
  advnets figure nearest runs/00000-digits        Figure 2: samples beside their nearest training examples
  advnets figure interpolate runs/00000-digits    Figure 3: samples along lines in latent space
"""


def _split_source(args: list[str]) -> tuple[str | None, list[str]]:
    """`[PRESET | CONFIG.yaml] [key=value ...]` -> (source, overrides)."""
    if args and "=" not in args[0]:
        return args[0], args[1:]
    return None, args


def _info(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def cmd_train(ns: argparse.Namespace) -> int:
    from advnets.config import load_config
    from advnets.runs.session import train

    source, overrides = _split_source(ns.args)
    ns.quiet = ns.quiet or not _rank_zero()
    if ns.quiet:
        overrides = [*overrides, "log.progress=false"]
    if ns.seeds is not None or ns.sweep is not None:
        return _train_seeds(ns, source, overrides)
    cfg = load_config(source, overrides)

    def announce(folder: Path) -> None:
        _info(ns.quiet, f"training into {folder}")

    run_dir, status = train(cfg, ns.out, runs_root=ns.runs_root, on_start=announce)
    return _finish(run_dir, status, ns.quiet)


def _train_seeds(ns: argparse.Namespace, source: str | None, overrides: list[str]) -> int:
    """`advnets train ... --seeds 0-7 [--sweep KEY=V1,V2]`: one run folder per seed (and value), trained as one
    population where the configs allow (advnets.runs.population), else one run after another."""
    from advnets.config import load_config
    from advnets.data import load_data
    from advnets.runs.population import batchable, seed_list, sweep_values, train_population
    from advnets.runs.session import train

    if any(item.split("=", 1)[0].strip() == "seed" for item in overrides):
        raise UserError("give the seeds with --seeds only, not also as seed=...")
    seeds = seed_list(ns.seeds if ns.seeds is not None else "0")
    key, values = sweep_values(ns.sweep) if ns.sweep is not None else (None, [None])
    if key is not None and any(item.split("=", 1)[0].strip() == key for item in overrides):
        raise UserError(f"give {key} with --sweep only, not also as {key}=...")
    base = load_config(source, overrides)
    members = [(value, s) for value in values for s in seeds]

    def own(value: str | None, s: int) -> list[str]:
        swept = [] if value is None else [f"{key}={value}"]
        name = f"{base.name}-seed{s}" if value is None else f"{base.name}-{key}={value}-seed{s}"
        return [*swept, f"seed={s}", f"name={name}"]

    cfgs = [
        # One progress bar for the population: the members move in step.
        load_config(source, [*overrides, *own(value, s), *(["log.progress=false"] if i else [])])
        for i, (value, s) in enumerate(members)
    ]
    folder = {value: ns.out if value is None else ns.out / f"{key}={value}" for value in values} if ns.out else {}
    outs = [folder[value] / f"seed-{s}" if ns.out is not None else None for value, s in members]

    def announce(folder: Path) -> None:
        _info(ns.quiet, f"training into {folder}")

    data = load_data(base.data)
    problem = batchable(cfgs, data) if len(cfgs) > 1 else "one seed"
    if problem is None:
        _info(ns.quiet, f"{len(cfgs)} runs as one batched population")
        outcomes = [(o.run_dir, o.status, o.error) for o in train_population(
            cfgs, outs, data=data, runs_root=ns.runs_root, on_start=announce
        )]
    else:
        _info(ns.quiet, f"training the runs one after another ({problem})")
        outcomes = []
        for cfg, out in zip(cfgs, outs, strict=True):
            run_dir, status = train(cfg, out, data=data, runs_root=ns.runs_root, on_start=announce)
            outcomes.append((run_dir, status, None))
            if status == "stopped":
                break
    for run_dir, status, error in outcomes:
        if error is not None:
            print(f"{run_dir}: error: {error}", file=sys.stderr)
        else:
            _info(ns.quiet, f"{run_dir}: {status}")
    for run_dir, _, _ in outcomes:
        print(run_dir)
    statuses = {status for _, status, _ in outcomes}
    return 2 if "failed" in statuses else 130 if "stopped" in statuses else 0


def _rank_zero() -> bool:
    """False in the processes of a torchrun job other than rank 0, which print nothing (rank 0 speaks for all)."""
    return os.environ.get("RANK", "0") == "0"


def _finish(run_dir: Path, status: str, quiet: bool) -> int:
    from advnets.evaluate import describe_record, last_evals
    from advnets.runs.run_dir import RunDir

    run = RunDir(run_dir)
    if not _rank_zero():
        return 130 if status == "stopped" else 0
    if status == "stopped":
        print(
            f"stopped; the last checkpoint is in {run.checkpoints}; continue with `advnets resume {run_dir}`",
            file=sys.stderr,
        )
        return 130
    files = [run.latest_sample, run.losses_figure, run.metrics_path, run.checkpoints]
    _info(quiet, f"done: {run_dir} ({', '.join(str(p.relative_to(run.path)) for p in files)}/)")
    scores = last_evals(run)
    for record in scores:
        _info(quiet, f"last evaluation (epoch {record['epoch']}): {describe_record(record)}")
    if not scores:
        _info(quiet, f"nothing was scored during training (eval.every_epochs); try `advnets eval {run_dir}`")
    print(run_dir)
    return 0


def cmd_resume(ns: argparse.Namespace) -> int:
    from advnets.runs.session import resume

    ns.quiet = ns.quiet or not _rank_zero()
    overrides = [*ns.overrides, "log.progress=false"] if ns.quiet else ns.overrides
    return _finish(ns.run_dir, resume(ns.run_dir, overrides), ns.quiet)


def cmd_sample(ns: argparse.Namespace) -> int:
    from advnets.runs.session import sample

    out = sample(
        ns.run_dir, ns.n, ns.output, checkpoint=ns.checkpoint, seed=ns.seed, ema=not ns.no_ema, label=ns.label
    )
    print(out)
    return 0


# `advnets eval` flags, each the metric option of its name; one the chosen metric has no option for is an error.
# Every other option of any metric is `--option KEY=VALUE` (the keys of eval.metrics.METRIC, `advnets config`).
EVAL_FLAGS = ("samples", "valid", "test", "sigmas")


def parse_metric_options(pairs: list[str]) -> dict[str, object]:
    """`--option KEY=VALUE` pairs -> {key: value}, each value read as YAML (2000, null, [0.1, 0.2], a name), as
    dotted config overrides are; the metric's options class checks keys and types."""
    import yaml

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--option {pair!r} is not KEY=VALUE; e.g. --option extractor=classifier-mnist")
        if key in options:
            raise UserError(f"--option {key} is given twice")
        try:
            options[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise UserError(f"--option {pair!r}: {text!r} is not a value (a number, null, a name or a [list])") from None
    return options


def cmd_eval(ns: argparse.Namespace) -> int:
    from advnets.evaluate import describe_record, metric_figure_path
    from advnets.runs.run_dir import RunDir
    from advnets.runs.session import evaluate_run

    given = {flag: getattr(ns, flag) for flag in EVAL_FLAGS if getattr(ns, flag) is not None}
    if "sigmas" in given:
        given["sigmas"] = parse_sigmas(given["sigmas"])
    if any(isinstance(v, int) and v <= 0 for v in given.values()):
        raise UserError("--samples, --valid and --test must be positive counts")
    for key, value in parse_metric_options(ns.option or []).items():
        if key in given:
            raise UserError(f"{key} is given as --{key} and as --option {key}=...; give it once")
        given[key] = value
    record = evaluate_run(
        ns.run_dir, ns.metric, checkpoint=ns.checkpoint, ema=not ns.no_ema, progress=not ns.quiet, **given
    )
    print(describe_record(record))
    figure = metric_figure_path(ns.run_dir, ns.metric, record["name"])
    _info(ns.quiet, f"written: {RunDir(ns.run_dir).eval_path} (record), {figure} (figure)")
    return 0


def parse_sigmas(text: str) -> list[float]:
    """`0.1,0.2,0.3` (a list) or `0.1:0.4:31` (31 evenly spaced values from 0.1 to 0.4) -> positive floats."""
    fix = "give a list like 0.15,0.2,0.25 or start:stop:count like 0.1:0.4:31, all positive"
    try:
        parts = text.split(":")
        if len(parts) == 3:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1:
                raise ValueError
            values = [start + (stop - start) * i / max(count - 1, 1) for i in range(count)]
        elif len(parts) == 1:
            values = [float(v) for v in text.split(",")]
        else:
            raise ValueError
    except ValueError:
        raise UserError(f"--sigmas {text!r} is not a grid; {fix}") from None
    if not all(v > 0 for v in values):
        raise UserError(f"--sigmas {text!r} has a value that is not positive; {fix}")
    return values


def cmd_reproduce(ns: argparse.Namespace) -> int:
    from advnets.reproduce import reproduce, written_files

    # Started with `&` from a script, a study inherits SIGINT ignored (sh does that for background commands), and
    # `kill -INT` of it would do nothing; a study stops cleanly on it (its runs checkpoint), so it takes SIGINT back.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    out = ns.out or Path("reproductions") / ns.target
    rows = [r for r in ns.rows.split(",") if r] if ns.rows is not None else None
    table = reproduce(
        ns.target,
        out,
        seeds=ns.seeds,
        epochs=ns.epochs,
        eval_every=ns.eval_every,
        extra=ns.overrides,
        quiet=ns.quiet,
        with_baselines=not ns.no_baselines,
        jobs=ns.jobs,
        rows=rows,
    )
    print(table)
    _info(ns.quiet, f"written: {', '.join(map(str, written_files(ns.target, out)))}")
    return 0


def cmd_figure(ns: argparse.Namespace) -> int:
    from advnets.runs import figures

    if ns.figure == "density-1d":
        out = figures.density_1d_figure(ns.run_dir, ns.output, checkpoints=ns.checkpoints)
    elif ns.figure == "nearest":
        out = figures.nearest_figure(
            ns.run_dir,
            ns.output,
            rows=ns.rows,
            cols=ns.cols,
            seed=ns.seed,
            checkpoint=ns.checkpoint,
            ema=not ns.no_ema,
        )
    else:
        out = figures.interpolation_figure(
            ns.run_dir,
            ns.output,
            rows=ns.rows,
            steps=ns.steps,
            seed=ns.seed,
            checkpoint=ns.checkpoint,
            ema=not ns.no_ema,
        )
    print(out)
    return 0


def cmd_config(ns: argparse.Namespace) -> int:
    from advnets.config import load_config
    from advnets.config_reference import reference_text

    source, overrides = _split_source(ns.args)
    print(reference_text(load_config(source, overrides)), end="")
    return 0


def cmd_presets(ns: argparse.Namespace) -> int:
    from advnets.config import list_presets

    presets = list_presets()
    width = max(map(len, presets), default=0)
    for name, description in presets.items():
        print(f"{name:<{width}}  {description}")
    return 0


NO_EMA_HELP = "use the raw G, not the moving average of its weights (train.ema_decay) that a run keeps"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advnets",
        description="Train, evaluate and diagnose Generative Adversarial Nets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"advnets {__import__('advnets').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "train",
        help="train a GAN from a preset or YAML config (default: embedded digits)",
        description="Train a GAN. SOURCE is a preset name (see `advnets presets`) or a YAML file; "
        "key.sub=value overrides follow.",
    )
    p.add_argument("args", nargs="*", metavar="[SOURCE] [key.sub=value ...]")
    p.add_argument(
        "--out", type=Path, help="run folder to create (must not exist); default runs/NNNNN-<name>"
    )
    p.add_argument("--runs-root", type=Path, default=Path("runs"), help="where numbered run folders go")
    p.add_argument(
        "--seeds",
        metavar="SEEDS",
        help="train these seeds (e.g. 0-7 or 0,1,5), one run folder each (--out: OUT/seed-N), as one batched "
        "population where the config allows, else one after another",
    )
    p.add_argument(
        "--sweep",
        metavar="KEY=V1,V2",
        help="one run per value of KEY (and per seed), e.g. train.d_optimizer.lr=1e-3,1e-4 (--out: "
        "OUT/KEY=V/seed-N); learning rates and G's weight average train as one population",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or chatter (CI logs)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("resume", help="continue a run from its latest checkpoint (e.g. with more epochs)")
    p.add_argument("run_dir", type=Path)
    p.add_argument("overrides", nargs="*", metavar="key.sub=value")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("sample", help="write a grid of samples from a run's generator")
    p.add_argument("run_dir", type=Path)
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument(
        "-o", "--output", type=Path, help="PNG to write (default: RUN_DIR/samples/sample-step…-n…-seed….png)"
    )
    p.add_argument("--checkpoint", type=Path, help="a checkpoint file (default: the run's latest)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--no-ema", action="store_true", help=NO_EMA_HELP)
    p.add_argument("--class", dest="label", type=int, help="a conditional run: samples of this class only")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "eval",
        help="score a run's generator with a registered metric (default parzen)",
        description="Score a run's checkpoint with a metric (docs/metrics.md) and append the record to its "
        "eval.jsonl. A metric's options are the keys of eval.metrics.METRIC (`advnets config` lists them): "
        "--samples, --valid, --test and --sigmas, or any key as --option KEY=VALUE, e.g. `advnets eval RUN "
        "--metric fid --samples 2000 --option extractor=inception-2015-12-05`. An option the metric does not "
        "have is an error; another protocol is stored under another name.",
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument(
        "--metric",
        default="parzen",
        help="parzen (docs/paper.md §2), modes, moments, fid, kid, is, classes, stacked-modes (docs/metrics.md); "
        "default parzen",
    )
    p.add_argument(
        "--samples", type=int, help="generated samples (default: the run's eval.metrics.METRIC.samples)"
    )
    p.add_argument("--valid", type=int, help="validation images that choose sigma (default 1000)")
    p.add_argument("--test", type=int, help="test images scored (default 10000)")
    p.add_argument("--checkpoint", type=Path, help="a checkpoint file (default: the run's latest)")
    p.add_argument(
        "--sigmas",
        help="σ grid: a list 0.15,0.2 or start:stop:count (default: the paper's logspace(-1, 0, 10)); "
        "another grid gets another metric name",
    )
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="any option of the metric (repeatable), e.g. extractor=classifier-mnist, real_split=train, subsets=10",
    )
    p.add_argument("--no-ema", action="store_true", help=NO_EMA_HELP + "; its score keeps the plain metric name")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "reproduce",
        help="a long, resumable reproduction (paper-mnist, paper-mnist-search, ring-8, grid-25, toy-1d, cgan-mnist, "
        "mnist-zeros, stacked-mnist, fid-mnist, fid-fashion)",
    )
    p.add_argument(
        "target",
        help="paper-mnist: Table 1, MNIST row (225 ± 2 nats); paper-mnist-search: one change at a time to "
        "mnist-fast, 50 epochs each; ring-8, grid-25: PacGAN's 2-D mode coverage, "
        "the vanilla GAN and each remedy as rows; toy-1d: the 1-D Gaussian's mean and variance by optimiser; "
        "cgan-mnist: asked-for class accuracy; mnist-zeros: the zeros tutorial in classifier features; stacked-mnist: "
        "modes of 1,000; fid-mnist, fid-fashion: Inception FID on Lucic et al.'s protocol",
    )
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="applied to every run's config")
    p.add_argument("--seeds", type=int, help="training seeds per row (default: the study's; 3 for most, 1 for paper-mnist-search)")
    p.add_argument(
        "--rows", help="train only these rows, e.g. vanilla,best or (paper-mnist) paper,fast (default: all)"
    )
    p.add_argument("--epochs", type=int, help="paper-mnist: epochs per seed (default: each row's preset's)")
    p.add_argument("--eval-every", type=int, help="paper-mnist: Parzen evaluation every N epochs (default 5)")
    p.add_argument("--out", type=Path, help="output folder (default reproductions/TARGET)")
    p.add_argument(
        "--no-baselines", action="store_true", help="paper-mnist: skip the real-image and k-means baselines"
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="runs trained side by side, sharing the CPU cores (default 1)"
    )
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser(
        "figure",
        help="draw one of the paper's figures from a run: density-1d (Fig. 1), nearest (Fig. 2), interpolate (Fig. 3)",
        description="Draw one of the paper's figures from a run folder (docs/figures.md).",
    )
    figure = p.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    f = figure.add_parser(
        "density-1d", help="Figure 1 of a 1-D run: p_data, p_g and D(x) at several kept checkpoints"
    )
    f.add_argument("run_dir", type=Path)
    f.add_argument("-o", "--output", type=Path, help="PNG to write (default: RUN_DIR/density-1d.png)")
    f.add_argument(
        "--checkpoints", type=int, default=5, help="panels, from evenly spaced kept checkpoints (default 5)"
    )
    f = figure.add_parser(
        "nearest",
        help="Figure 2 of an image run: rows of samples, each row's last followed by its nearest training example",
    )
    f.add_argument("run_dir", type=Path)
    f.add_argument("-o", "--output", type=Path, help="PNG to write (default: RUN_DIR/nearest.png)")
    f.add_argument("--rows", type=int, default=4, help="rows of samples (default 4, as the paper)")
    f.add_argument("--cols", type=int, default=5, help="samples per row before the neighbour (default 5)")
    f = figure.add_parser(
        "interpolate", help="Figure 3 of an image run: G along straight lines between latent codes"
    )
    f.add_argument("run_dir", type=Path)
    f.add_argument("-o", "--output", type=Path, help="PNG to write (default: RUN_DIR/interpolate.png)")
    f.add_argument(
        "--rows",
        type=int,
        help="lines, each between its own two codes (default 4; a conditional run: one per class)",
    )
    f.add_argument(
        "--steps", type=int, default=10, help="pictures along each line, both ends included (default 10)"
    )
    for f in (figure.choices["nearest"], figure.choices["interpolate"]):
        f.add_argument("--seed", type=int, default=0, help="seed of the latent codes (default 0)")
        f.add_argument("--checkpoint", type=Path, help="a checkpoint file (default: the run's latest)")
        f.add_argument("--no-ema", action="store_true", help=NO_EMA_HELP)
    p.set_defaults(func=cmd_figure)

    p = sub.add_parser(
        "config",
        help="every config key of a preset or YAML (with overrides): its value and meaning",
        description="Print every key of the resolved config with its value and one-line meaning. The open "
        "sections (data, model.generator, model.discriminator, loss, penalties, transforms, g_objectives, "
        "eval.metrics) show the keys of the entries the config selects; e.g. `advnets config mnist-paper "
        "model.discriminator.arch=mlp` shows the mlp family's keys.",
    )
    p.add_argument("args", nargs="*", metavar="[SOURCE] [key.sub=value ...]")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("presets", help="list the presets")
    p.set_defaults(func=cmd_presets)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may come after options (`train --quiet a.b=1`): argparse leaves those over, so collect them.
    ns, rest = parser.parse_known_args(argv)
    target = "args" if hasattr(ns, "args") else "overrides"
    if rest and (not hasattr(ns, target) or any(a.startswith("-") or "=" not in a for a in rest)):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if rest:
        setattr(ns, target, [*getattr(ns, target), *rest])
    reuse_freed_memory()  # the same numbers, faster (advnets.training.speed)
    try:
        return ns.func(ns)
    except UserError as err:
        print(f"advnets: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("advnets: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
