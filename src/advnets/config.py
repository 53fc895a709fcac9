"""Typed run configuration: nested dataclasses, loaded from YAML with dotted `key.sub=value` overrides.

Defaults are the paper's MNIST setup (Goodfellow et al. 2014 as its code ran it, ../shared/PAPER.md §0-§1a)
except for the data set, which is the embedded 8x8 digits so that `advnets train` needs no download.
Unknown keys, wrong types and impossible values are UserErrors that name the key and the fix.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from advnets.errors import UserError

PRESET_DIR = Path(__file__).parent / "configs"


@dataclass
class DataConfig:
    name: str = "digits"  # digits | mnist | fashion-mnist
    root: str | None = None  # folder with the IDX .gz files; default $ADVNETS_DATA, else a user cache
    split: str = "train"  # train = train[0:50000], valid = train[50000:60000], test = the 10k test set, trainval = train[0:60000]
    classes: list[int] | None = None  # keep only these labels, e.g. [0] for the MNIST-zeros experiment
    pixel_range: str = "unit"  # unit: [0, 1] (sigmoid G), symmetric: [-1, 1] (tanh G)
    download: bool = True  # fetch missing files (checksummed) when not found locally


@dataclass
class GeneratorConfig:
    arch: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [1200, 1200])
    activation: str = "relu"  # relu | leaky_relu | elu | tanh | sigmoid
    output: str = "sigmoid"  # sigmoid | tanh | linear
    init_range: float | None = 0.05  # weights ~ U(-r, r), biases 0 (pylearn2 irange); null = PyTorch default
    bias_from_marginals: bool = True  # output bias = logit(per-pixel training mean), PAPER §0


@dataclass
class DiscriminatorConfig:
    arch: str = "maxout"  # maxout | mlp
    hidden: list[int] = field(default_factory=lambda: [240, 240])  # units per hidden layer
    pieces: int = 5  # maxout pieces per unit (maxout only)
    activation: str = "leaky_relu"  # hidden activation (mlp only)
    input_keep: float = 0.8  # dropout keep-probability on D's input
    hidden_keep: float = 0.5  # ... and on the input of every later D layer, the logit layer included
    init_range: float | None = 0.005


@dataclass
class ModelConfig:
    z_dim: int = 100
    noise: str = "uniform"  # uniform: U(-sqrt 3, sqrt 3), unit variance (PAPER §1a) | gaussian: N(0, 1)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)


@dataclass
class LossConfig:
    name: str = "ns"  # ns: G minimises -log D(G(z)) | minimax: G minimises log(1 - D(G(z)))
    d_half: bool = True  # the paper's code averages D's real and fake terms (a 0.5 factor), PAPER §4.3


@dataclass
class OptimizerConfig:
    name: str = "sgd"  # sgd (classical momentum, PAPER §0) | adam | rmsprop
    lr: float = 0.1
    lr_decay: float = 1.000004  # update t uses lr / lr_decay^(t-1) (1 = constant) ...
    lr_min: float = 1e-6  # ... floored here
    momentum: float = 0.5  # sgd: momentum in epoch 1 ...
    momentum_final: float = 0.7  # ... rising linearly to this ...
    momentum_saturate_epochs: int = 250  # ... reached at this epoch (pylearn2 MomentumAdjustor)
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # adam
    alpha: float = 0.99  # rmsprop smoothing
    eps: float = 1e-8  # adam, rmsprop


@dataclass
class TrainConfig:
    epochs: int = 1
    max_steps: int | None = None  # stop after this many G updates even if epochs remain
    update: str = (
        "simultaneous"  # simultaneous: one shared fake batch (the paper's code) | alternating: Alg. 1
    )
    d_steps: int = 1  # k: D updates per G update (alternating only)
    batch_size: int = 100  # real (and fake) examples per D update
    g_batch_size: int | None = None  # fakes per G update (alternating only); default batch_size
    g_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    d_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class LogConfig:
    every_steps: int = 50  # metrics line (and the one host sync) every N G updates
    sample_every_steps: int = 500  # sample grid from the fixed latent grid every N G updates
    grid_size: int = 64  # images in each sample grid (a square number reads best)
    checkpoint_every_epochs: int = 1
    keep_checkpoints: int = 3  # older step checkpoints are removed; `latest` always survives
    tensorboard: bool = True
    progress: bool = True  # progress bar; off for CI logs (--quiet)


@dataclass
class EvalConfig:
    parzen_every_epochs: int = 0  # Parzen log-likelihood every N epochs during training (0 = off), PAPER §2
    parzen_samples: int = 10000  # generated samples as kernel centres (the paper: 10,000)
    parzen_valid: int = 1000  # validation images that choose sigma (the paper: the first 1,000)
    parzen_test: int = 10000  # test images scored (the paper: all 10,000)
    parzen_sigmas: list[float] | None = None  # sigma grid; null = the paper's logspace(-1, 0, 10)
    seed: int = 1234  # noise seed for evaluation samples (its own RNG: evaluating never changes training)


@dataclass
class RunConfig:
    name: str = "run"  # short description, used in the run folder's name
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


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


def _omegaconf_message(err: OmegaConfBaseException) -> str:
    key = getattr(err, "full_key", None)
    msg = str(err).splitlines()[0]
    if "Key '" in msg and "not in" in msg:
        return f"unknown config key {key!r}; check its spelling (`advnets train --help` shows the layout)"
    if key:
        return f"bad value for config key {key!r}: {msg}"
    return msg


def build_config(
    base: dict[str, Any] | RunConfig | None = None,
    yaml_path: Path | None = None,
    overrides: list[str] | None = None,
) -> RunConfig:
    """Defaults <- base (a dict or RunConfig) <- YAML file <- dotted overrides, then checked."""
    try:
        merged = OmegaConf.structured(RunConfig)
        if base is not None:
            merged = OmegaConf.merge(merged, asdict(base) if isinstance(base, RunConfig) else base)
        if yaml_path is not None:
            merged = OmegaConf.merge(merged, _read_yaml(yaml_path))
        for item in overrides or []:
            if "=" not in item:
                raise UserError(f"override {item!r} needs the form key.sub=value, e.g. train.epochs=5")
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([item]))
        cfg = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise UserError(_omegaconf_message(err)) from None
    assert isinstance(cfg, RunConfig)
    validate(cfg)
    return cfg


def load_config(source: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    """`advnets train [PRESET | CONFIG.yaml] [key.sub=value ...]` as a function."""
    return build_config(yaml_path=resolve_source(source), overrides=overrides)


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return asdict(cfg)


def to_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"{key}={value!r} is not allowed; choose one of: {', '.join(choices)}")


def _positive(key: str, value: float | int, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise UserError(f"{key}={value} is impossible; it must be a finite number {bound}")


def _probability(key: str, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise UserError(f"{key}={value} must be a keep-probability in (0, 1]; 1 turns dropout off")


def _check_optimizer(prefix: str, opt: OptimizerConfig) -> None:
    _choice(f"{prefix}.name", opt.name, ("sgd", "adam", "rmsprop"))
    _positive(f"{prefix}.lr", opt.lr)
    _positive(f"{prefix}.lr_min", opt.lr_min, allow_zero=True)
    if opt.lr_decay < 1.0:
        raise UserError(
            f"{prefix}.lr_decay={opt.lr_decay} must be >= 1 (the lr is divided by it every update)"
        )
    for name in ("momentum", "momentum_final"):
        value = getattr(opt, name)
        if not 0.0 <= value < 1.0:
            raise UserError(f"{prefix}.{name}={value} must be in [0, 1)")
    _positive(f"{prefix}.momentum_saturate_epochs", opt.momentum_saturate_epochs)
    if len(opt.betas) != 2 or not all(0.0 <= b < 1.0 for b in opt.betas):
        raise UserError(f"{prefix}.betas={opt.betas} must be two numbers in [0, 1), e.g. [0.5, 0.999]")
    _positive(f"{prefix}.eps", opt.eps)


def validate(cfg: RunConfig) -> None:
    """Check values that types alone cannot (ranges, choices, consistency)."""
    _choice("data.split", cfg.data.split, ("train", "valid", "test", "trainval"))
    _choice("data.pixel_range", cfg.data.pixel_range, ("unit", "symmetric"))
    _choice("model.noise", cfg.model.noise, ("uniform", "gaussian"))
    _positive("model.z_dim", cfg.model.z_dim)
    g, d = cfg.model.generator, cfg.model.discriminator
    for key, widths in (("model.generator.hidden", g.hidden), ("model.discriminator.hidden", d.hidden)):
        if any(w <= 0 for w in widths):
            raise UserError(f"{key}={widths} must list positive layer widths")
    for key, r in (
        ("model.generator.init_range", g.init_range),
        ("model.discriminator.init_range", d.init_range),
    ):
        if r is not None:
            _positive(key, r)
    _positive("model.discriminator.pieces", d.pieces)
    _probability("model.discriminator.input_keep", d.input_keep)
    _probability("model.discriminator.hidden_keep", d.hidden_keep)
    _choice("train.update", cfg.train.update, ("simultaneous", "alternating"))
    _positive("train.epochs", cfg.train.epochs)
    if cfg.train.max_steps is not None:
        _positive("train.max_steps", cfg.train.max_steps)
    _positive("train.d_steps", cfg.train.d_steps)
    _positive("train.batch_size", cfg.train.batch_size)
    if cfg.train.g_batch_size is not None:
        _positive("train.g_batch_size", cfg.train.g_batch_size)
    if cfg.train.update == "simultaneous" and (cfg.train.d_steps != 1 or cfg.train.g_batch_size is not None):
        raise UserError(
            "train.update=simultaneous shares one fake batch between D and G, so train.d_steps must be 1 and "
            "train.g_batch_size unset; use train.update=alternating for k D steps or a separate G batch"
        )
    _check_optimizer("train.g_optimizer", cfg.train.g_optimizer)
    _check_optimizer("train.d_optimizer", cfg.train.d_optimizer)
    for key in (
        "every_steps",
        "sample_every_steps",
        "grid_size",
        "checkpoint_every_epochs",
        "keep_checkpoints",
    ):
        _positive(f"log.{key}", getattr(cfg.log, key))
    _positive("eval.parzen_every_epochs", cfg.eval.parzen_every_epochs, allow_zero=True)
    for key in ("parzen_samples", "parzen_valid", "parzen_test"):
        _positive(f"eval.{key}", getattr(cfg.eval, key))
    if cfg.eval.parzen_sigmas is not None and (
        not cfg.eval.parzen_sigmas or min(cfg.eval.parzen_sigmas) <= 0
    ):
        raise UserError(
            f"eval.parzen_sigmas={cfg.eval.parzen_sigmas} must be a non-empty list of positive numbers"
        )
    if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
        raise UserError(f"device={cfg.device!r} is not allowed; use auto, cpu, cuda or cuda:N")
