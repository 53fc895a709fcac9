"""Scoring a generator with any registered metric (advnets.metrics), with the protocol stored beside every number.

`evaluate(G, cfg, name)` loads the reference splits the metric needs (cached by the caller across evaluations),
samples from G in eval mode with the run's noise prior and eval.seed, and returns the metric's record. Records are
appended to the run's `eval.jsonl` (`eval_record` assembles a line, for training and `advnets eval` alike, whose
library call is `advnets.runs.evaluate_run`); `metric_figure` draws one protocol's records per epoch;
`describe_record` says a record in one line (`modes2500 = 4 of 8 modes, 94.0% high quality, reverse KL 0.79`).
`check_metric` refuses, before any work, a metric that cannot score the run's data; `check_same_protocol` refuses
to put scores of different protocols side by side (the tables of studies and reproductions call it).

G's samples reach a metric three ways, all the same seeded stream (eval.seed): `sample(n)`, `sample_labelled(n)`
with the labels a conditional G was given, and `stream(n)` in batches (advnets.metrics.sampling), so that a metric
of 50,000 samples never holds them at once.

A record says which generator it scored (`"generator": "ema"` for the moving average of G's weights, `"raw"` for G
itself), and a score of the average is stored under the protocol name with `-ema` appended (`parzen10k-ema`), so
that it is never compared with, or plotted as, a score of G; G's own scores keep the names they always had.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from advnets.config import RunConfig, resolve_options
from advnets.data import DataSet, load_data
from advnets.data.dataset import Kind
from advnets.errors import UserError
from advnets.io import append_jsonl, read_jsonl
from advnets.metrics import METRICS, Metric, MetricInputs
from advnets.metrics.modes import describe_modes
from advnets.metrics.moments import describe_moments
from advnets.metrics.parzen import describe_parzen
from advnets.metrics.sampling import sample_stream
from advnets.models.sampling import generate, generate_labelled
from advnets.runs.run_dir import RunDir

EMA_SUFFIX = "-ema"


def scored_name(protocol: str, *, ema: bool) -> str:
    """The name a score is stored under: the metric's protocol name, plus `-ema` for G's weight average."""
    return f"{protocol}{EMA_SUFFIX}" if ema else protocol


def metric_options(cfg: RunConfig, name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The options of metric `name`: the run's eval.metrics.NAME (or the metric's defaults) <- overrides, with the
    choices that depend on the data set made (Metric.for_data: FID's extractor is classifier-mnist on MNIST)."""
    current = cfg.eval.metrics.get(name)
    base = {} if current is None else {k: getattr(current, k) for k in current.__dataclass_fields__}
    options = resolve_options(METRICS.options(name), {**base, **(overrides or {})}, f"eval.metrics.{name}.")
    return METRICS.get(name).resolve(options, cfg.data)


def check_metric(cfg: RunConfig, name: str, kind: Kind, options: Any = None) -> None:
    """A UserError, before any work, when metric `name` cannot score this run's data (Metric.check)."""
    metric = METRICS.get(name)
    if metric.check is not None:
        metric.check(options if options is not None else metric_options(cfg, name), kind, cfg.data)


def reference_data(cfg: RunConfig, metric: Metric) -> dict[str, DataSet]:
    """The splits of the run's data set that `metric` needs (same classes and scaling as training)."""
    return {split: load_data(replace(cfg.data, split=split)) for split in metric.needs}


def evaluate(
    G: nn.Module,
    cfg: RunConfig,
    kind: Kind,
    name: str,
    options: Any = None,
    *,
    references: dict[str, DataSet] | None = None,
    progress: bool = False,
    ema: bool = False,
) -> dict[str, Any]:
    """Metric `name` of G with `options` (default: the run's) -> its record (with "metric", the protocol "name" and
    "generator"). `ema` says that G is the run's weight average: the record is named and marked as such."""
    metric = METRICS.get(name)
    options = metric.resolve(options, cfg.data) if options is not None else metric_options(cfg, name)
    references = references if references is not None else reference_data(cfg, metric)
    inputs = MetricInputs(
        sample=lambda n: generate(G, cfg.model.z_dim, cfg.model.noise, n, seed=cfg.eval.seed),
        references=references,
        kind=kind,
        device=next(G.parameters()).device,
        seed=cfg.eval.seed,
        progress=progress,
        data_options=cfg.data,
        sample_labelled=lambda n: generate_labelled(G, cfg.model.z_dim, cfg.model.noise, n, seed=cfg.eval.seed),
        stream=lambda n: sample_stream(G, cfg.model.z_dim, cfg.model.noise, n, seed=cfg.eval.seed),
    )
    record = {"metric": name, "name": metric.protocol(options, references), **metric.compute(options, inputs)}
    return {**record, "name": scored_name(record["name"], ema=ema), "generator": "ema" if ema else "raw"}


def eval_record(
    step: int, epoch: int, result: dict[str, Any], *, checkpoint: str | None = None
) -> dict[str, Any]:
    """One eval.jsonl line: where in training G was (`step`, `epoch`), the checkpoint it came from (only for a
    checkpoint scored after training, by `advnets eval`: "latest" or the path given) and the metric's record."""
    where: dict[str, Any] = {"step": step, "epoch": epoch}
    if checkpoint is not None:
        where["checkpoint"] = checkpoint
    return {**where, **result}


def append_eval(run_dir: Path | RunDir, record: dict[str, Any]) -> None:
    append_jsonl(RunDir(run_dir).eval_path, record)


def read_evals(
    run_dir: Path | RunDir, name: str | None = None, *, training_only: bool = False
) -> list[dict[str, Any]]:
    """The run's eval.jsonl records, of protocol `name` if given; `training_only` keeps those written during
    training, dropping `advnets eval` ones (which name the checkpoint they scored)."""
    path = RunDir(run_dir).eval_path
    records = read_jsonl(path) if path.exists() else []
    return [
        r
        for r in records
        if (name is None or r.get("name") == name) and not (training_only and "checkpoint" in r)
    ]


def last_evals(run_dir: Path | RunDir) -> list[dict[str, Any]]:
    """The last evaluation of every protocol scored during training, in the order the protocols first appear."""
    last: dict[str, dict[str, Any]] = {}
    for record in read_evals(run_dir, training_only=True):
        earlier = last.get(record["name"])
        if earlier is None or record["epoch"] >= earlier["epoch"]:
            last[record["name"]] = record
    return list(last.values())


def metric_figure_path(run_dir: Path | RunDir, metric_name: str, protocol: str) -> Path:
    """Where `protocol`'s figure goes: RUN/<metric>.png for the protocol evaluated during training,
    RUN/<protocol>.png for another (so a one-off evaluation never replaces the training curve)."""
    during_training = bool(read_evals(run_dir, protocol, training_only=True))
    return RunDir(run_dir).figure(metric_name if during_training else safe_file_name(protocol))


def metric_figure(run_dir: Path | RunDir, cfg: RunConfig, metric_name: str, protocol: str) -> Path:
    """Every record of `protocol` per epoch, training-time evaluations as one line and `advnets eval` scores of
    named checkpoints as another, to `metric_figure_path`."""
    from advnets.reporting.figures import plot_metric_curve

    metric = METRICS.get(metric_name)
    records = [
        {**r, "series": "advnets eval" if "checkpoint" in r else "during training"}
        for r in read_evals(run_dir, protocol)
    ]
    path = metric_figure_path(run_dir, metric_name, protocol)
    plot_metric_curve(
        records,
        metric.value_key,
        path,
        x="epoch",
        err_key=metric.err_key,
        ylabel=metric.ylabel.format(name=protocol),
        title=f"{cfg.name}: {metric_name}",
        reference=metric.references.get(cfg.data.name),
    )
    return path


def safe_file_name(name: str) -> str:
    """A protocol name as a file name: `parzen10k-sigma16[0.15-0.3]` -> `parzen10k-sigma16_0.15-0.3_`."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def checkpoint_kind(state: dict[str, Any], cfg: RunConfig) -> tuple[tuple[int, ...], Kind]:
    """The data shape and kind a checkpoint's G produces (checkpoints before 0.2 stored only image_shape)."""
    from advnets.data import ImageKind, VectorKind

    shape = tuple(state.get("data_shape", state.get("image_shape", ())))
    kind = state.get("data_kind", "image")
    return shape, (ImageKind(cfg.data.pixel_range) if kind == "image" else VectorKind())


# ---------------------------------------------------------------------------------------- records in words
def _describe_feature_score(key: str, err: str | None = None) -> Callable[[dict[str, Any]], str]:
    def describe(record: dict[str, Any]) -> str:
        protocol = record.get("protocol", {})
        spread = f" ± {record[err]:.4g}" if err and err in record and not math.isnan(record[err]) else ""
        real = f" vs {protocol['real']} {protocol['real_split']} images" if "real" in protocol else ""
        return f"{record['name']} = {record[key]:.4g}{spread} ({protocol.get('samples', '?')} samples{real})"

    return describe


def _describe_classes(record: dict[str, Any]) -> str:
    text = (
        f"{record['name']}: KL from the data's classes {record['kl']:.4g} nats, "
        f"{record['classes_covered']} of {record['num_classes']} classes made"
    )
    if "conditional_accuracy" in record:
        text += f", {100 * record['conditional_accuracy']:.1f}% classified as the class asked for"
    return text


def _describe_stacked(record: dict[str, Any]) -> str:
    return f"{record['name']} = {record['modes']} of {record['of']} modes, KL to uniform {record['kl']:.4g} nats"


# metric name -> a record in one line. A metric without an entry (one registered from outside) gets
# `name = value ± err, key value` from its Metric fields.
DESCRIPTIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "parzen": describe_parzen,
    "modes": describe_modes,
    "moments": describe_moments,
    "fid": _describe_feature_score("fid"),
    "kid": _describe_feature_score("kid", "kid_std"),
    "is": _describe_feature_score("is", "is_std"),
    "classes": _describe_classes,
    "stacked-modes": _describe_stacked,
}
# metric name -> record keys TensorBoard shows beside the value (eval/<protocol>/<key>); default: shown_keys.
TENSORBOARD_KEYS: dict[str, tuple[str, ...]] = {
    "parzen": ("se",),
    "modes": ("high_quality", "reverse_kl"),
    "moments": ("variance",),
    "kid": ("kid_std",),
    "is": ("is_std",),
    "classes": ("classes_covered", "conditional_accuracy"),
    "stacked-modes": ("kl",),
}


def describe_record(record: dict[str, Any]) -> str:
    """An eval.jsonl record in one line, e.g. `modes2500 = 4 of 8 modes, 94.0% high quality, reverse KL 0.79`."""
    describe = DESCRIPTIONS.get(record.get("metric", ""))
    if describe is not None:
        return describe(record)
    metric = METRICS.get(record["metric"])
    value = record[metric.value_key]
    err = f" ± {record[metric.err_key]:.4g}" if metric.err_key and metric.err_key in record else ""
    shown = "".join(f", {key} {record[key]:.4g}" for key in metric.shown_keys if key in record)
    return f"{record['name']} = {value:.4g}{err}{shown}"


# ------------------------------------------------------------------------------------------- protocols compared
def record_protocol(record: dict[str, Any]) -> dict[str, Any]:
    """What a record's score was measured under: its protocol name (less `-ema`, which says which G was scored,
    not how) and, where the metric stores them, the protocol's details (counts, split, extractor and its hash)."""
    name = str(record.get("name", ""))
    return {"name": name.removesuffix(EMA_SUFFIX), **record.get("protocol", {})}


def check_same_protocol(records: list[dict[str, Any]], *, what: str = "this table") -> None:
    """A UserError when `records` (scores to be shown side by side) were measured under different protocols,
    saying what differs; scores of G and of its weight average (`-ema`) under one protocol may stand together."""
    if not records:
        return
    first = record_protocol(records[0])
    for record in records[1:]:
        other = record_protocol(record)
        if other != first:
            keys = [k for k in dict.fromkeys([*first, *other]) if first.get(k) != other.get(k)]
            differs = "; ".join(f"{k}: {first.get(k, 'unset')} vs {other.get(k, 'unset')}" for k in keys)
            raise UserError(
                f"{what} would put scores of different protocols side by side ({first['name']} and "
                f"{other['name']}): {differs}; score them under one protocol (the same eval.metrics options and "
                "extractor) to compare them"
            )


def record_scalars(record: dict[str, Any]) -> dict[str, float]:
    """A record's numbers for TensorBoard: "" -> the metric's value, then a few more keys by name."""
    metric = METRICS.get(record["metric"])
    keys = TENSORBOARD_KEYS.get(record["metric"], metric.shown_keys)
    scalars = {"": record[metric.value_key], **{k: record[k] for k in keys if k in record}}
    return {k: float(v) for k, v in scalars.items() if isinstance(v, (int, float)) and not math.isnan(v)}


__all__ = [
    "append_eval",
    "check_metric",
    "check_same_protocol",
    "describe_record",
    "eval_record",
    "evaluate",
    "last_evals",
    "metric_figure",
    "metric_figure_path",
    "metric_options",
    "read_evals",
    "record_protocol",
    "reference_data",
    "scored_name",
]
