"""Typed run configuration: nested dataclasses, loaded from YAML with dotted `key.sub=value` overrides.

The fixed sections (train, log, eval, model.z_dim ...) are dataclasses here; their defaults are the paper's update
(docs/paper.md §0). The *open* sections belong to registered entries: `data` (by `data.name`), `model.generator` and
`model.discriminator` (by `arch`), `loss` (by `name`), `train.rule` (by the key beside it, `train.update`), and the
mapped sections `penalties`, `transforms`, `g_objectives` and `eval.metrics` (name -> options). Each entry declares
an options dataclass, and resolving a config replaces the section's dict by that dataclass, so code reads
`cfg.data.split` and the saved config lists every key. Paper-specific choices (uniform init, the marginal output
bias) live in the presets, not in defaults. Unknown keys, wrong types and impossible values are UserErrors that
name the key and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from advnets.checks import NOISE_KINDS, check_choice, check_positive
from advnets.errors import UserError

PRESET_DIR = Path(__file__).parent / "configs"


@dataclass
class ModelConfig:
    z_dim: int = 100  # dimension of G's noise input z
    noise: str = "uniform"  # uniform: U(-sqrt 3, sqrt 3), unit variance (docs/paper.md §1a) | gaussian: N(0, 1) | uniform01: U(0, 1)
    # A model family and its own keys: `arch` picks the family (advnets.models.GENERATORS / DISCRIMINATORS), whose
    # options dataclass lists the other keys and their defaults.
    generator: Any = field(default_factory=lambda: {"arch": "mlp"})
    discriminator: Any = field(default_factory=lambda: {"arch": "maxout"})


@dataclass
class OptimizerConfig:
    name: str = "sgd"  # sgd (classical momentum, docs/paper.md §0) | adam | rmsprop
    lr: float = 0.1  # learning rate of the first update
    lr_decay: float = 1.000004  # update t uses lr / lr_decay^(t-1-lr_decay_start) (1 = constant) ...
    lr_decay_start: int = 0  # ... held at lr for this many updates first (0: decaying from the first) ...
    lr_min: float = 1e-6  # ... floored here
    momentum: float = 0.5  # sgd: momentum in epoch 1 ...
    momentum_final: float = 0.7  # ... rising linearly to this ...
    momentum_saturate_epochs: int = 250  # ... reached at this epoch (pylearn2 MomentumAdjustor)
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # adam
    alpha: float = 0.99  # rmsprop smoothing
    eps: float = 1e-8  # adam, rmsprop


@dataclass
class TrainConfig:
    epochs: int = 1  # passes over the training data
    max_steps: int | None = None  # stop after this many G updates even if epochs remain
    update: str = "simultaneous"  # simultaneous: one shared fake batch (the paper's code) | alternating: Alg. 1 | unrolled: G looks through K unrolled D steps (train.rule.*)
    # The keys of the rule `update` picks (advnets.training.updates.UPDATES), whose options dataclass lists them
    # and their defaults: e.g. unrolled's steps, lr, optimizer; simultaneous and alternating have none.
    rule: Any = field(default_factory=dict)
    d_steps: int = 1  # k: D updates per G update (alternating, unrolled)
    batch_size: int = 100  # real (and fake) examples per D update
    g_batch_size: int | None = None  # fakes per G update (alternating, unrolled); default batch_size
    g_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    d_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    ema_decay: float | None = None  # G_ema <- decay*G_ema + (1-decay)*G after each G update, for samples and scores (null = off; e.g. 0.999)
    ema_start: int = 0  # G updates before the average starts: until then G_ema copies G (so a large decay forgets the init)
    ema_bn_batches: int = 16  # noise batches (of batch_size) re-estimating G_ema's batch-norm statistics before it samples or is saved (BigGAN's standing statistics); 0 = copy G's


@dataclass
class LogConfig:
    every_steps: int = 50  # metrics line (and the one host sync) every N G updates
    sample_every_steps: int = 500  # sample picture from the fixed latent grid every N G updates
    grid_size: int = 64  # samples in each picture (a square number reads best for image grids)
    checkpoint_every_epochs: int = 1  # a checkpoint every N epochs (and always at the end or on Ctrl-C)
    keep_checkpoints: int = 3  # older step checkpoints are removed; `latest` always survives
    tensorboard: bool = True  # TensorBoard events in RUN/tb beside metrics.jsonl
    progress: bool = True  # progress bar; off for CI logs (--quiet)


DIVERGENCE_REMEDIES = ("stop", "lower_lr")


@dataclass
class HealthConfig:
    max_loss: float = 1.0e6  # |d_loss| or |g_loss| above this (or NaN/inf) is divergence: the run stops
    collapse_ratio: float = 0.1  # flag mode_collapse when samples' mean pairwise distance < this x the data's
    overconfident: float = 0.99  # flag d_overconfident when D's accuracy on real and on fake both exceed this
    cycling_jump: float = 0.2  # flag mode_cycling when collapsed and mode_jump (the mean sample's move) exceeds this
    on_divergence: str = "stop"  # stop | lower_lr: roll back to the last healthy state, go on with both lrs x lr_factor
    lr_factor: float = 0.5  # lower_lr: multiplies both learning rates at each rollback
    max_rollbacks: int = 3  # lower_lr: rollbacks before the run stops for good


@dataclass
class EvalConfig:
    every_epochs: int = 0  # score G with every metric in `metrics` every N epochs during training (0 = off)
    # metric name -> its options, e.g. {parzen: {samples: 10000}}; a list of names takes each metric's defaults.
    metrics: Any = field(default_factory=dict)
    seed: int = 1234  # noise seed for evaluation samples (its own RNG: evaluating never changes training)


@dataclass
class SpeedConfig:
    """Switches for fast hardware, all off by default (advnets.training.speed): each trades exactness for speed."""

    autocast: str = "none"  # none | bf16: training's forward passes under torch.autocast in bfloat16 (weights, optimiser state and losses stay float32); CPU and CUDA
    tf32: bool = False  # CUDA float32 matrix products and cuDNN convolutions in TF32 (Ampere GPUs and later); no effect on a CPU
    channels_last: bool = False  # convolutional nets' weights and image batches in NHWC memory order (tensor cores, oneDNN)
    compile: str = "none"  # none | default | reduce-overhead | max-autotune: torch.compile G and D in place (on a GPU the last two, CUDA graphs, are refused)
    compile_backend: str = "inductor"  # torch.compile's backend: inductor (needs a C++ compiler on the CPU) | aot_eager | eager (no speed; checks that the nets trace)


@dataclass
class RunConfig:
    name: str = "run"  # short description, used in the run folder's name
    seed: int = 0  # seeds everything: weights, data order, noise (one seed, one run)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    data: Any = field(default_factory=lambda: {"name": "digits"})  # `name` picks the data set (advnets.data)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: Any = field(default_factory=lambda: {"name": "ns"})  # `name` picks D's and G's losses (advnets.losses)
    penalties: Any = field(default_factory=dict)  # name -> options: terms added to D's loss, constraints after its step
    transforms: Any = field(default_factory=dict)  # name -> options: transforms of every input D sees
    g_objectives: Any = field(default_factory=dict)  # name -> options: terms added to G's loss
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)


def list_presets() -> dict[str, str]:
    """Preset name -> its one-line description (the YAML's first comment line)."""
    presets = {}
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        first = path.read_text().splitlines()[0] if path.stat().st_size else ""
        presets[path.stem] = first.lstrip("# ").strip()
    return presets


def resolve_source(source: str | None) -> Path | None:
    """A preset name or a YAML path -> the YAML file; None means the embedded default (`digits`)."""
    if source is None:
        return PRESET_DIR / "digits.yaml"
    if (PRESET_DIR / f"{source}.yaml").is_file():
        return PRESET_DIR / f"{source}.yaml"
    path = Path(source)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"config file {source} does not exist; give a YAML path or a preset name")
        return path
    names = ", ".join(list_presets())
    raise UserError(f"{source!r} is neither a preset nor a .yaml file; presets: {names}")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML ({str(err).splitlines()[0]}); fix the file") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"{path} must hold a mapping of config keys, not a {type(loaded).__name__}")
    return loaded


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _closest(key: str, candidates: list[str]) -> str | None:
    found = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def _known_siblings(full_key: str) -> list[str]:
    """The dotted keys RunConfig defines beside `full_key` (same parent), for "did you mean"."""
    parts = full_key.split(".")
    cls: Any = RunConfig
    for part in parts[:-1]:
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        inner = _DATACLASS_FIELDS.get(str(types.get(part, "")))
        if inner is None:
            return []
        cls = inner
    prefix = ".".join(parts[:-1])
    return [f"{prefix}.{name}" if prefix else name for name in _field_names(cls)]


def unknown_key_message(full_key: str, candidates: list[str], where: str = "") -> str:
    close = _closest(full_key, candidates)
    hint = f" (did you mean {close}?)" if close else ""
    return (
        f"unknown config key {full_key!r}{where}{hint}; `advnets config PRESET` lists every key with its "
        "default and meaning"
    )


def _omegaconf_message(err: OmegaConfBaseException, prefix: str = "", candidates: list[str] | None = None) -> str:
    key = getattr(err, "full_key", None)
    full_key = f"{prefix}{key}" if key else prefix.rstrip(".")
    msg = str(err).splitlines()[0]
    if "Key '" in msg and "not in" in msg:
        return unknown_key_message(full_key, candidates if candidates is not None else _known_siblings(full_key))
    if full_key:
        return f"bad value for config key {full_key!r}: {msg}"
    return msg


# ------------------------------------------------------------------------------------------- open sections
# Sections whose keys depend on a registered entry. A *selected* section names one entry with its selector key
# (`data.name`, `model.generator.arch`, `loss.name`) and holds that entry's options; a *mapped* section holds any
# number of entries, name -> options (`penalties.r1.weight=10`). The registries live beside the code they build;
# they are imported by name (importlib) when a config is resolved, which keeps this module free of torch and of
# any import of the layers above it (tests/test_layers.py).
SELECTED = {
    "data": ("advnets.data", "DATASETS", "name"),
    "model.generator": ("advnets.models", "GENERATORS", "arch"),
    "model.discriminator": ("advnets.models", "DISCRIMINATORS", "arch"),
    "loss": ("advnets.losses", "LOSSES", "name"),
}
MAPPED = {
    "penalties": ("advnets.penalties", "PENALTIES"),
    "transforms": ("advnets.transforms", "TRANSFORMS"),
    "g_objectives": ("advnets.objectives", "G_OBJECTIVES"),
    "eval.metrics": ("advnets.metrics", "METRICS"),
}
# A selected section whose selector is a key beside it, not in it: `train.update` names the update rule and
# `train.rule` holds that rule's keys (a rule reads the rest of `train` too: d_steps, batch sizes, optimisers).
SELECTED_BESIDE = {
    "train.rule": ("advnets.training.updates", "UPDATES", "train.update"),
}


_SELECTOR_KEYS = {f"{path}.{selector}" for path, (_, _, selector) in SELECTED.items()}
_SELECTOR_BESIDE_KEYS = {selector: path for path, (_, _, selector) in SELECTED_BESIDE.items()}


def _registry(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _with_selector(cls: type, selector: str, name: str) -> type:
    """`cls`, or a subclass that adds the selector field when the entry's options do not declare it."""
    if selector in _field_names(cls):
        return cls
    key = (cls, selector, name)
    if key not in _SELECTOR_CLASSES:
        _SELECTOR_CLASSES[key] = dataclasses.make_dataclass(
            cls.__name__, [(selector, str, dataclasses.field(default=name))], bases=(cls,)
        )
    return _SELECTOR_CLASSES[key]


_SELECTOR_CLASSES: dict[tuple[type, str, str], type] = {}


def resolve_options(
    cls: type, values: Any, prefix: str, owners: Callable[[str], tuple[str, list[str]]] | None = None
) -> Any:
    """values (a dict, an options instance or None) checked against the dataclass `cls` -> a `cls` instance.

    Unknown keys and wrong types are UserErrors naming `prefix.key`; `owners(key)` says which entry the options
    belong to and which others have the key. An options class may define `validate(prefix)` for checks that types
    cannot express."""
    if values is None:
        values = {}
    if dataclasses.is_dataclass(values) and not isinstance(values, type):
        values = dataclasses.asdict(values)
    if not isinstance(values, dict):
        raise UserError(f"config key {prefix.rstrip('.')!r} must be a mapping of keys, not {values!r}")
    fields = _field_names(cls)
    for key in values:
        if key not in fields:
            candidates = [f"{prefix}{f}" for f in fields]
            entry, others = owners(key) if owners else ("", [])
            where = f" for {entry}" if entry else ""
            if others:  # a key of another entry: say whose, rather than guess a near spelling
                where += f"; {', '.join(others)} {'has' if len(others) == 1 else 'have'} it"
                candidates = []
            raise UserError(unknown_key_message(f"{prefix}{key}", candidates, where))
    try:
        options = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), values))
    except OmegaConfBaseException as err:
        raise UserError(_omegaconf_message(err, prefix, [f"{prefix}{f}" for f in fields])) from None
    check = getattr(options, "validate", None)
    if callable(check):
        check(prefix.rstrip("."))
    return options


def _resolve_selected(values: Any, path: str) -> Any:
    module, registry_name, selector = SELECTED[path]
    registry = _registry(module, registry_name)
    if dataclasses.is_dataclass(values) and not isinstance(values, type):
        values = dataclasses.asdict(values)
    values = dict(values or {})
    name = values.get(selector)
    if name is None:
        raise UserError(f"config key {path}.{selector} is missing; choose one of: {', '.join(registry.names())}")
    cls = _with_selector(registry.options(name), selector, name)

    def owners(key: str) -> tuple[str, list[str]]:
        return f"{path}.{selector}={name}", [n for n in registry.names() if key in _field_names(registry.options(n))]

    return resolve_options(cls, values, f"{path}.", owners)


def _resolve_beside(cfg: RunConfig, path: str) -> Any:
    module, registry_name, selector = SELECTED_BESIDE[path]
    registry = _registry(module, registry_name)
    name = _get(cfg, selector)
    cls = registry.options(name)  # an unknown name fails here, listing the known ones

    def owners(key: str) -> tuple[str, list[str]]:
        return f"{selector}={name}", [n for n in registry.names() if key in _field_names(registry.options(n))]

    return resolve_options(cls, _get(cfg, path), f"{path}.", owners)


def _resolve_mapped(values: Any, path: str) -> dict[str, Any]:
    registry = _registry(*MAPPED[path])
    if values is None:
        return {}
    if isinstance(values, (list, tuple)):  # `eval.metrics=[parzen]`: each entry with its defaults
        values = {name: {} for name in values}
    if not isinstance(values, dict):
        raise UserError(
            f"config key {path!r} must map names to options (e.g. {path}.NAME.key=value) or list names; "
            f"got {values!r}"
        )
    return {
        name: resolve_options(registry.options(name), options, f"{path}.{name}.")
        for name, options in values.items()
    }


def _get(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _set(cfg: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        cfg = getattr(cfg, part)
    setattr(cfg, last, value)


def resolve_sections(cfg: RunConfig) -> None:
    """Replace every open section's dict by its entry's options instance (in place)."""
    for path in SELECTED:
        _set(cfg, path, _resolve_selected(_get(cfg, path), path))
    for path in SELECTED_BESIDE:
        _set(cfg, path, _resolve_beside(cfg, path))
    for path in MAPPED:
        _set(cfg, path, _resolve_mapped(_get(cfg, path), path))


# Keys of configs written before the metric registry (run folders and checkpoints made by advnets <= 0.1.0).
_OLD_PARZEN_KEYS = {"parzen_samples": "samples", "parzen_valid": "valid", "parzen_test": "test", "parzen_sigmas": "sigmas"}
# The unrolled rule's keys before update rules declared their own (advnets <= 0.2.0): train.unroll_* -> train.rule.*
_OLD_UNROLL_KEYS = {"unroll_steps": "steps", "unroll_lr": "lr", "unroll_optimizer": "optimizer"}


def _names_to_mapping(raw: dict[str, Any]) -> dict[str, Any]:
    """A mapped section given as a list of names (`metrics: [parzen]`) -> {name: {}}: each with its defaults."""
    raw = dict(raw)
    for path in MAPPED:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(last), list):
            holder = raw
            for part in parents:  # copy the path down to the list, so the caller's dict is left alone
                holder[part] = dict(holder[part])
                holder = holder[part]
            holder[last] = {name: {} for name in node[last]}
    return raw


def upgrade(raw: dict[str, Any], update: str = TrainConfig.update) -> dict[str, Any]:
    """A config dict in an earlier layout -> today's layout, so that old run folders still load and resume.

    `update` is the rule in force beneath this dict (the defaults', or a saved run's under a YAML file), for a
    dict that holds old unrolled keys but no `train.update` of its own."""
    raw = _unroll_keys_into_rule(_names_to_mapping(raw), update)
    old_eval = raw.get("eval")
    if isinstance(old_eval, dict) and ("parzen_every_epochs" in old_eval or _OLD_PARZEN_KEYS.keys() & old_eval):
        new_eval = {k: v for k, v in old_eval.items() if k != "parzen_every_epochs" and k not in _OLD_PARZEN_KEYS}
        parzen = {new: old_eval[old] for old, new in _OLD_PARZEN_KEYS.items() if old in old_eval}
        new_eval["every_epochs"] = old_eval.get("parzen_every_epochs", 0)
        new_eval["metrics"] = {**(old_eval.get("metrics") or {}), "parzen": parzen}
        raw = {**raw, "eval": new_eval, "model": _family_keys_only(raw.get("model"))}
    return raw


def _family_keys_only(model: Any) -> Any:
    """The flat model sections of earlier versions held every key of every family (a maxout D saved an
    `activation`, an mlp D `pieces`), all unused by the other family; keep each family's own keys."""
    if not isinstance(model, dict):
        return model
    model = dict(model)
    for part in ("generator", "discriminator"):
        module, registry_name, selector = SELECTED[f"model.{part}"]
        section = model.get(part)
        registry = _registry(module, registry_name)
        if isinstance(section, dict) and section.get(selector) in registry:
            keep = set(_field_names(registry.options(section[selector]))) | {selector}
            model[part] = {k: v for k, v in section.items() if k in keep}
    return model


def _unroll_keys_into_rule(raw: dict[str, Any], update: str) -> dict[str, Any]:
    """train.unroll_steps, unroll_lr, unroll_optimizer -> train.rule.steps, lr, optimizer when the rule is
    unrolled; under any other rule they meant nothing (every earlier config saved them), so they are dropped."""
    train = raw.get("train")
    if not isinstance(train, dict) or not _OLD_UNROLL_KEYS.keys() & train.keys():
        return raw
    train = {k: v for k, v in train.items() if k not in _OLD_UNROLL_KEYS}
    if train.get("update", update) == "unrolled":
        old = {new: raw["train"][key] for key, new in _OLD_UNROLL_KEYS.items() if key in raw["train"]}
        train["rule"] = {**old, **(train.get("rule") or {})}
    return {**raw, "train": train}


def _is_old_unroll_key(item: str) -> bool:
    key = item.partition("=")[0]
    return key.startswith("train.") and key.removeprefix("train.") in _OLD_UNROLL_KEYS


def upgrade_override(item: str, update: str | None = None) -> list[str]:
    """A dotted override in an earlier layout (`eval.parzen_samples=500`) -> today's keys.

    `update` is the rule the config ends with: `train.unroll_steps=5` becomes `train.rule.steps=5` under the
    unrolled rule (or when `update` is None: not known) and nothing under any other, where it meant nothing."""
    key, _, value = item.partition("=")
    if _is_old_unroll_key(item):
        if update not in (None, "unrolled"):
            return []
        return [f"train.rule.{_OLD_UNROLL_KEYS[key.removeprefix('train.')]}={value}"]
    if key == "eval.parzen_every_epochs":
        return [f"eval.every_epochs={value}", "eval.metrics.parzen={}"] if value.strip() != "0" else [f"eval.every_epochs={value}"]
    if key.startswith("eval.parzen_") and key[len("eval.parzen_") :] in _OLD_PARZEN_KEYS.values():
        return [f"eval.metrics.parzen.{key[len('eval.parzen_'):]}={value}"]
    return [item]


def build_config(
    base: dict[str, Any] | RunConfig | None = None,
    yaml_path: Path | None = None,
    overrides: list[str] | None = None,
) -> RunConfig:
    """Defaults <- base (a dict or RunConfig) <- YAML file <- dotted overrides, then resolved and checked."""
    try:
        merged = OmegaConf.structured(RunConfig)
        if base is not None:
            merged = OmegaConf.merge(merged, asdict(base) if isinstance(base, RunConfig) else upgrade(base))
        if yaml_path is not None:
            merged = OmegaConf.merge(merged, upgrade(_read_yaml(yaml_path), OmegaConf.select(merged, "train.update")))
        items = list(overrides or [])
        for item in items:
            if "=" not in item:
                raise UserError(f"override {item!r} needs the form key.sub=value, e.g. train.epochs=5")
        final_rule = OmegaConf.select(merged, "train.update")
        for item in items:
            if item.partition("=")[0] == "train.update":
                final_rule = OmegaConf.select(OmegaConf.from_dotlist([item]), "train.update")
        # Old unrolled keys go last: they set keys of the final rule, whose own override (which restarts
        # train.rule from the rule's defaults) may come after them.
        items = [i for i in items if not _is_old_unroll_key(i)] + [i for i in items if _is_old_unroll_key(i)]
        for item in items:
            for dotted in upgrade_override(item, final_rule):
                update = OmegaConf.from_dotlist([dotted])
                key = dotted.partition("=")[0]
                value = OmegaConf.select(update, key)
                if key in MAPPED and OmegaConf.is_list(value):
                    # `eval.metrics=[parzen]` names exactly the entries wanted, each with its defaults.
                    OmegaConf.update(merged, key, {str(n): {} for n in value}, merge=False)
                elif key in _SELECTOR_KEYS and OmegaConf.select(merged, key) != value:
                    # Another family (`model.discriminator.arch=mlp`) starts from that family's defaults: the
                    # keys the preset gave the old family may mean nothing to the new one.
                    OmegaConf.update(merged, key.rsplit(".", 1)[0], {key.rsplit(".", 1)[1]: value}, merge=False)
                elif key in _SELECTOR_BESIDE_KEYS and OmegaConf.select(merged, key) != value:
                    # Another rule (`train.update=unrolled`) starts its section from that rule's defaults, likewise.
                    merged = OmegaConf.merge(merged, update)
                    OmegaConf.update(merged, _SELECTOR_BESIDE_KEYS[key], {}, merge=False)
                else:
                    merged = OmegaConf.merge(merged, update)
        cfg = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise UserError(_omegaconf_message(err)) from None
    assert isinstance(cfg, RunConfig)
    resolve_sections(cfg)
    validate(cfg)
    return cfg


def load_config(source: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    """`advnets train [PRESET | CONFIG.yaml] [key.sub=value ...]` as a function."""
    return build_config(yaml_path=resolve_source(source), overrides=overrides)


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return asdict(cfg)


def to_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _check_optimizer(prefix: str, opt: OptimizerConfig) -> None:
    check_choice(f"{prefix}.name", opt.name, ("sgd", "adam", "rmsprop"))
    check_positive(f"{prefix}.lr", opt.lr)
    check_positive(f"{prefix}.lr_min", opt.lr_min, allow_zero=True)
    check_positive(f"{prefix}.lr_decay_start", opt.lr_decay_start, allow_zero=True)
    if opt.lr_decay < 1.0:
        raise UserError(
            f"{prefix}.lr_decay={opt.lr_decay} must be >= 1 (the lr is divided by it every update)"
        )
    for name in ("momentum", "momentum_final"):
        value = getattr(opt, name)
        if not 0.0 <= value < 1.0:
            raise UserError(f"{prefix}.{name}={value} must be in [0, 1)")
    check_positive(f"{prefix}.momentum_saturate_epochs", opt.momentum_saturate_epochs)
    if len(opt.betas) != 2 or not all(0.0 <= b < 1.0 for b in opt.betas):
        raise UserError(f"{prefix}.betas={opt.betas} must be two numbers in [0, 1), e.g. [0.5, 0.999]")
    check_positive(f"{prefix}.eps", opt.eps)


def validate(cfg: RunConfig) -> None:
    """Check the values of the fixed sections that types alone cannot (ranges, choices, consistency); the open
    sections were checked by their entries' options when resolved."""
    check_choice("model.noise", cfg.model.noise, NOISE_KINDS)
    check_positive("model.z_dim", cfg.model.z_dim)

    # The rule's own keys were checked by its options; its check sees the rest of `train` (d_steps, optimisers).
    module, registry_name, selector = SELECTED_BESIDE["train.rule"]
    _registry(module, registry_name).get(_get(cfg, selector)).check(cfg.train)
    check_positive("train.epochs", cfg.train.epochs)
    if cfg.train.max_steps is not None:
        check_positive("train.max_steps", cfg.train.max_steps)
    check_positive("train.d_steps", cfg.train.d_steps)
    check_positive("train.batch_size", cfg.train.batch_size)
    if cfg.train.g_batch_size is not None:
        check_positive("train.g_batch_size", cfg.train.g_batch_size)
    _check_optimizer("train.g_optimizer", cfg.train.g_optimizer)
    _check_optimizer("train.d_optimizer", cfg.train.d_optimizer)
    decay = cfg.train.ema_decay
    if decay is not None and not 0.0 < decay < 1.0:
        raise UserError(
            f"train.ema_decay={decay} must be in (0, 1), e.g. 0.999 (the weight kept by the average each update); "
            "null turns the average off"
        )
    if cfg.train.ema_bn_batches < 0:
        raise UserError(
            f"train.ema_bn_batches={cfg.train.ema_bn_batches} must be 0 or more: the noise batches that re-estimate the "
            f"weight average's batch-norm statistics (0 copies G's)"
        )
    if cfg.train.ema_start < 0:
        raise UserError(
            f"train.ema_start={cfg.train.ema_start} must be 0 or more: the G update at which the average starts"
        )
    for key in (
        "every_steps",
        "sample_every_steps",
        "grid_size",
        "checkpoint_every_epochs",
        "keep_checkpoints",
    ):
        check_positive(f"log.{key}", getattr(cfg.log, key))
    check_positive("health.max_loss", cfg.health.max_loss)
    check_positive("health.collapse_ratio", cfg.health.collapse_ratio, allow_zero=True)
    check_positive("health.overconfident", cfg.health.overconfident)
    check_positive("health.cycling_jump", cfg.health.cycling_jump)
    check_choice("health.on_divergence", cfg.health.on_divergence, DIVERGENCE_REMEDIES)
    if not 0.0 < cfg.health.lr_factor < 1.0:
        raise UserError(f"health.lr_factor={cfg.health.lr_factor} must be in (0, 1), e.g. 0.5")
    check_positive("health.max_rollbacks", cfg.health.max_rollbacks, allow_zero=True)
    check_positive("eval.every_epochs", cfg.eval.every_epochs, allow_zero=True)
    if cfg.eval.every_epochs and not cfg.eval.metrics:
        raise UserError(
            f"eval.every_epochs={cfg.eval.every_epochs} schedules no metric; name some with eval.metrics=[parzen] "
            "(or set eval.every_epochs=0)"
        )
    if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
        raise UserError(f"device={cfg.device!r} is not allowed; use auto, cpu, cuda or cuda:N")
    check_speed(cfg)


AUTOCASTS = ("none", "bf16")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")


def check_speed(cfg: RunConfig) -> None:
    """The speed switches' values, and the combinations torch cannot run."""
    check_choice("speed.autocast", cfg.speed.autocast, list(AUTOCASTS))
    check_choice("speed.compile", cfg.speed.compile, list(COMPILE_MODES))
    check_choice("speed.compile_backend", cfg.speed.compile_backend, list(COMPILE_BACKENDS))
    if cfg.speed.compile == "none":
        return
    # torch.compile's graphs do not support double backward: a penalty on D's input gradient and the unrolled rule
    # differentiate through D's gradient.
    double = [f"penalties.{name}" for name in ("gradient_penalty", "r1") if name in cfg.penalties]
    if cfg.train.update == "unrolled":
        double.append("train.update=unrolled")
    if double:
        raise UserError(
            f"speed.compile={cfg.speed.compile} cannot train with {', '.join(double)}: they differentiate through "
            "D's gradient (double backward), which compiled graphs do not support; set speed.compile=none"
        )


# Field type names (annotations are strings here) -> the nested config classes, for "did you mean" hints.
_DATACLASS_FIELDS: dict[str, type] = {
    cls.__name__: cls
    for cls in (ModelConfig, OptimizerConfig, TrainConfig, LogConfig, HealthConfig, EvalConfig, SpeedConfig)
}
