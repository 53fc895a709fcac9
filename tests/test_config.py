import pytest

from advnets.config import build_config, list_presets, load_config, to_yaml
from advnets.errors import UserError


def test_defaults_are_the_papers_update_and_the_paper_preset_its_nets():
    cfg = build_config()
    assert (cfg.model.z_dim, cfg.model.noise, cfg.model.generator.hidden) == (100, "uniform", [1200, 1200])
    # Paper-specific initialisation belongs to the paper's presets, not to every model.
    assert cfg.model.generator.init_range is None and not cfg.model.generator.bias_from_marginals
    paper = load_config("mnist-paper")
    assert (paper.model.generator.init_range, paper.model.generator.bias_from_marginals) == (0.05, True)
    assert paper.model.discriminator.init_range == 0.005
    assert (cfg.model.discriminator.hidden, cfg.model.discriminator.pieces) == ([240, 240], 5)
    assert (cfg.model.discriminator.input_keep, cfg.model.discriminator.hidden_keep) == (0.8, 0.5)
    assert (cfg.train.update, cfg.train.batch_size, cfg.loss.name, cfg.loss.d_half) == (
        "simultaneous",
        100,
        "ns",
        True,
    )
    opt = cfg.train.d_optimizer
    assert (opt.name, opt.lr, opt.lr_decay, opt.lr_min, opt.momentum, opt.momentum_final) == (
        "sgd",
        0.1,
        1.000004,
        1e-6,
        0.5,
        0.7,
    )


def test_every_preset_loads_and_no_argument_means_digits():
    presets = list_presets()
    assert {"digits", "mnist-paper", "mnist-zeros"} <= set(presets)
    assert all(presets.values())  # each has a one-line description
    for name in presets:
        assert load_config(name).name == name
    assert load_config(None).data.name == "digits"
    zeros = load_config("mnist-zeros")
    assert (zeros.data.classes, zeros.data.pixel_range, zeros.model.generator.output) == (
        [0],
        "symmetric",
        "tanh",
    )
    assert (zeros.model.z_dim, zeros.model.generator.hidden, zeros.model.discriminator.hidden) == (
        64,
        [128, 512],
        [256],
    )


def test_overrides_and_yaml_files(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  epochs: 7\nmodel:\n  z_dim: 12\n")
    cfg = load_config(str(path), ["train.epochs=9", "model.generator.hidden=[4,5]"])
    assert (cfg.train.epochs, cfg.model.z_dim, cfg.model.generator.hidden) == (9, 12, [4, 5])
    # the saved YAML reloads to the same config
    assert build_config(base=__import__("yaml").safe_load(to_yaml(cfg))) == cfg


@pytest.mark.parametrize(
    "override,message",
    [
        ("train.epochz=1", "unknown config key 'train.epochz'"),
        ("train.epochs=ten", "train.epochs"),
        ("train.batch_size=0", "train.batch_size=0"),
        ("train.d_optimizer.lr=-1", "train.d_optimizer.lr"),
        ("train.update=sometimes", "train.update"),
        ("model.discriminator.input_keep=0", "input_keep"),
        ("train.d_steps=3", "alternating"),  # k D steps need the alternating update
        ("data.pixel_range=bytes", "data.pixel_range"),
        ("device=tpu", "device"),
        ("eval.parzen_sigmas=[0.1,-1]", "eval.metrics.parzen.sigmas"),
        ("eval.metrics.parzen.sigmas=[]", "eval.metrics.parzen.sigmas"),
        ("epochs", "key.sub=value"),
        ("train.batchsize=5", "did you mean train.batch_size"),
        ("eval.metrics=[fid50k]", "unknown metric 'fid50k'"),
        ("eval.every_epochs=2", "schedules no metric"),
        ("eval.metrics.parzen.samplez=9", "did you mean eval.metrics.parzen.samples"),
        ("data.name=mnits", "did you mean 'mnist'"),
        ("penalties.nothing.weight=1", "unknown penalties 'nothing'"),
        ("data.clases=[0]", "did you mean data.classes"),
        ("train.ema_decay=1", r"train.ema_decay=1.0 must be in \(0, 1\)"),
        ("train.ema_decay=0", r"train.ema_decay=0.0 must be in \(0, 1\)"),
        ("train.ema_decay=-0.5", "train.ema_decay"),
        ("train.ema_decay=nan", "train.ema_decay"),
        ("train.ema_decay=fast", "train.ema_decay"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        build_config(overrides=[override])


def test_bad_yaml_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(str(bad))
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(str(listy))


def test_configs_saved_before_the_metric_registry_still_load():
    old = {
        "eval": {
            "parzen_every_epochs": 5,
            "parzen_samples": 10000,
            "parzen_valid": 1000,
            "parzen_test": 10000,
            "parzen_sigmas": None,
            "seed": 1234,
        },
        "loss": {"name": "ns", "d_half": True},
        "model": {"generator": {"arch": "mlp", "hidden": [8], "init_range": 0.05, "bias_from_marginals": True}},
    }
    cfg = build_config(base=old)
    assert cfg.eval.every_epochs == 5 and cfg.eval.metrics["parzen"].samples == 10000
    # ... and so do old dotted overrides
    cfg = build_config(overrides=["eval.parzen_every_epochs=2", "eval.parzen_samples=500"])
    assert cfg.eval.every_epochs == 2 and cfg.eval.metrics["parzen"].samples == 500


def test_open_sections_resolve_to_their_entries_options_and_round_trip():
    cfg = build_config(overrides=["eval.metrics=[parzen]", "model.discriminator.arch=mlp"])
    assert cfg.eval.metrics["parzen"].valid == 1000  # the metric's defaults
    assert cfg.model.discriminator.hidden == [256] and cfg.model.discriminator.input_keep == 1.0
    saved = __import__("yaml").safe_load(to_yaml(cfg))
    assert saved["model"]["discriminator"] == {
        "arch": "mlp",
        "hidden": [256],
        "activation": "leaky_relu",
        "input_keep": 1.0,
        "hidden_keep": 1.0,
        "init_range": None,
        "spectral_norm": False,
        "minibatch_kernels": 0,
        "minibatch_kernel_dims": 5,
    }
    assert build_config(base=saved) == cfg


def test_the_committed_reproductions_run_folders_still_load():
    from pathlib import Path

    from advnets.runs.run_dir import load_run_config

    root = Path(__file__).resolve().parents[1] / "reproductions"
    for run in sorted(root.glob("*/seed-*")):
        cfg = load_run_config(run)
        assert cfg.eval.metrics["parzen"].samples == 10000 and cfg.eval.every_epochs == 5, run
        assert cfg.model.generator.bias_from_marginals and cfg.model.discriminator.init_range == 0.005
