from pathlib import Path

import pytest
import yaml

from advnets.config import (
    build_config,
    list_presets,
    load_config,
    to_dict,
    to_yaml,
    upgrade,
    upgrade_override,
)
from advnets.errors import UserError
from advnets.registry import NoOptions
from advnets.training.unrolled import UnrolledOptions

REPRODUCTIONS = Path(__file__).resolve().parents[1] / "reproductions"


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
        ("train.g_optimizer.lr_decay_start=-5", r"train.g_optimizer.lr_decay_start=-5 is impossible; it must be a finite number >= 0"),
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
        ("train.rule.steps=5", "unknown config key 'train.rule.steps' for train.update=simultaneous; unrolled has it"),
        ("train.update=unrolled train.rule.step=5", "did you mean train.rule.steps"),
        ("train.update=unrolled train.rule.steps=many", "bad value for config key 'train.rule.steps'"),
        ("train.update=unrolled train.rule=3", "config key 'train.rule' must be a mapping"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        build_config(overrides=override.split(" "))


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
        "orthogonal_gain": None,
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


def test_the_update_rule_declares_its_keys_in_train_rule():
    cfg = build_config(
        overrides=["train.update=unrolled", "train.rule.steps=3", "train.rule.lr=0.001", "train.rule.optimizer=adam",
                   "train.d_optimizer.name=adam"]
    )
    assert cfg.train.rule == UnrolledOptions(steps=3, lr=0.001, optimizer="adam")
    assert build_config(overrides=["train.update=unrolled"]).train.rule == UnrolledOptions()  # the rule's defaults
    # simultaneous and alternating have no keys: an empty section, saved as {}
    assert build_config().train.rule == NoOptions()
    assert yaml.safe_load(to_yaml(build_config()))["train"]["rule"] == {}
    saved = yaml.safe_load(to_yaml(cfg))
    assert saved["train"]["rule"] == {"steps": 3, "lr": 0.001, "optimizer": "adam"}
    assert build_config(base=saved) == cfg


def test_another_rule_starts_train_rule_from_its_defaults():
    unrolled = to_dict(build_config(overrides=["train.update=unrolled", "train.rule.steps=3"]))
    # keys the old rule had mean nothing to the new one
    assert build_config(base=unrolled, overrides=["train.update=alternating"]).train.rule == NoOptions()
    assert build_config(base=unrolled, overrides=["train.update=unrolled"]).train.rule.steps == 3  # the same rule
    cfg = build_config(base=unrolled, overrides=["train.update=alternating", "train.update=unrolled"])
    assert cfg.train.rule == UnrolledOptions()


def old_unrolled_train(update: str) -> dict:
    """The train section as advnets <= 0.2.0 saved it: the unrolled keys under every rule."""
    return {"update": update, "d_steps": 1, "unroll_steps": 3, "unroll_lr": 0.01, "unroll_optimizer": "sgd"}


def test_configs_saved_with_the_old_unroll_keys_still_load():
    assert build_config(base={"train": old_unrolled_train("unrolled")}).train.rule == UnrolledOptions(3, 0.01, "sgd")
    for rule in ("simultaneous", "alternating"):  # where they meant nothing, they are dropped
        expected = build_config(overrides=[f"train.update={rule}"])
        assert build_config(base={"train": old_unrolled_train(rule)}) == expected
    # runs saved before unroll_optimizer: the default
    old = {"train": {"update": "unrolled", "unroll_steps": 5, "unroll_lr": None}}
    assert build_config(base=old).train.rule == UnrolledOptions(5, None, "sgd")
    assert upgrade({"train": old_unrolled_train("alternating")})["train"] == {"update": "alternating", "d_steps": 1}


def test_an_old_yaml_file_takes_the_rule_from_beneath_when_it_names_none(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("train:\n  unroll_steps: 2\n")
    saved = to_dict(build_config(overrides=["train.update=unrolled"]))
    assert build_config(base=saved, yaml_path=path).train.rule.steps == 2
    assert build_config(yaml_path=path).train.rule == NoOptions()  # beneath it, the default: simultaneous


def test_old_unroll_overrides_still_work():
    expected = build_config(overrides=["train.update=unrolled", "train.rule.steps=2", "train.rule.lr=0.5"])
    old = ["train.update=unrolled", "train.unroll_steps=2", "train.unroll_lr=0.5"]
    assert build_config(overrides=old) == expected
    assert build_config(overrides=old[1:] + old[:1]) == expected  # before the rule is chosen, too
    base = to_dict(build_config(overrides=["train.update=unrolled", "train.rule.steps=2"]))
    assert build_config(base=base, overrides=["train.unroll_lr=0.5"]) == expected  # the rule of a saved run
    # under another rule they meant nothing: dropped
    assert build_config(overrides=["train.unroll_steps=2", "train.unroll_optimizer=adam"]) == build_config()
    assert upgrade_override("train.unroll_steps=2", "alternating") == []
    assert upgrade_override("train.unroll_optimizer=adam", "unrolled") == ["train.rule.optimizer=adam"]
    assert upgrade_override("train.unroll_lr=null") == ["train.rule.lr=null"]  # rule not known: kept


def test_every_committed_run_folder_loads_with_its_rules_keys():
    from advnets.runs.run_dir import load_run_config

    configs = sorted(REPRODUCTIONS.glob("**/seed-*/config.yaml"))
    assert len(configs) > 50
    for path in configs:
        saved = yaml.safe_load(path.read_text())
        cfg = load_run_config(path.parent)
        if saved["train"]["update"] == "unrolled":
            # Folders written before rule options say `train.unroll_steps`; later ones `train.rule.steps`.
            steps = saved["train"]["rule"]["steps"] if "rule" in saved["train"] else saved["train"]["unroll_steps"]
            assert cfg.train.rule.steps == steps, path
        else:
            assert cfg.train.rule == NoOptions(), path
