"""Seeds trained as one population into their own run folders (advnets.runs.population): `advnets train --seeds`,
each member an ordinary run (its config, metrics, checkpoints; `advnets resume` continues it alone), a config that
cannot be batched trained seed after seed, and bad --seeds as one clear line."""

import json

import pytest

from advnets.config import build_config
from advnets.errors import UserError
from advnets.runs.checkpoint import load_checkpoint
from advnets.runs.population import batchable, resume_population, seed_list, train_population
from advnets.runs.run_dir import RunDir, load_run_config
from advnets.runs.session import resume, train
from tests.conftest import TINY
from tests.test_cli import cli

BATCHABLE = [*TINY, "model.discriminator.input_keep=1", "model.discriminator.hidden_keep=1", "train.epochs=1"]


def cfg(seed, *extra):
    return build_config(overrides=[*BATCHABLE, f"seed={seed}", f"name=pop-seed{seed}", *extra])


def final_weights(run_dir):
    state = load_checkpoint(RunDir(run_dir).latest_checkpoint())
    return state["G"], state["counters"]["step"]


def test_each_member_is_the_run_it_would_be_alone(tmp_path):
    outcomes = train_population([cfg(0), cfg(1)], [tmp_path / "a", tmp_path / "b"])
    assert [(o.status, o.error) for o in outcomes] == [("completed", None)] * 2
    solo, status = train(cfg(1), tmp_path / "solo")
    assert status == "completed"
    member, steps = final_weights(tmp_path / "b")
    alone, solo_steps = final_weights(solo)
    assert steps == solo_steps > 0
    assert max(float((member[k] - alone[k]).abs().max()) for k in alone) < 1e-5  # SGD: rounding only
    assert load_run_config(tmp_path / "b").seed == 1
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    solo_lines = (solo / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [json.loads(x)["step"] for x in solo_lines]
    # A member continues alone, and members continue together.
    assert resume(tmp_path / "a", ["train.epochs=2"]) == "completed"
    with pytest.raises(UserError, match="at the same step"):
        resume_population([tmp_path / "a", tmp_path / "b"], ["train.epochs=3"])


def test_members_resumed_together_continue_as_one_population(tmp_path):
    train_population([cfg(0), cfg(1)], [tmp_path / "a", tmp_path / "b"])
    _, one_epoch = final_weights(tmp_path / "a")
    outcomes = resume_population([tmp_path / "a", tmp_path / "b"], ["train.epochs=2"])
    assert [o.status for o in outcomes] == ["completed", "completed"]
    assert final_weights(tmp_path / "a")[1] == final_weights(tmp_path / "b")[1] == 2 * one_epoch
    with pytest.raises(UserError, match="already finished"):
        resume_population([tmp_path / "a", tmp_path / "b"], ["train.epochs=2"])


def test_the_cli_trains_seeds_as_a_population_or_one_after_another(tmp_path):
    done = cli("train", *BATCHABLE, "--seeds", "0-1", "--out", tmp_path / "pop")
    assert done.returncode == 0, done.stderr
    assert "2 runs as one batched population" in done.stderr
    assert done.stdout.split() == [str(tmp_path / "pop" / "seed-0"), str(tmp_path / "pop" / "seed-1")]
    assert load_run_config(tmp_path / "pop" / "seed-1").name.endswith("-seed1")
    # tiny's maxout D keeps its dropout: each member's masks are drawn from its own generator.
    dropout = cli("train", *TINY, "train.max_steps=3", "--seeds", "0-1", "--out", tmp_path / "dropout")
    assert dropout.returncode == 0, dropout.stderr
    assert "2 runs as one batched population" in dropout.stderr
    # Nets above 2 M parameters gain nothing from a population on a CPU (mnist-paper: 0.74x one run).
    big = ["model.generator.hidden=[1500,1500]", "train.max_steps=1"]
    apart = cli("train", *BATCHABLE, *big, "--seeds", "3,5", "--out", tmp_path / "apart")
    assert apart.returncode == 0, apart.stderr
    assert "one after another (on a CPU, nets of 2.4 M parameters train no faster" in apart.stderr
    assert sorted(p.name for p in (tmp_path / "apart").iterdir()) == ["seed-3", "seed-5"]


def test_convolutional_nets_train_one_after_another_on_a_cpu():
    # 3 dcgan-fashion members made 0.84x one run's member-updates on this CPU (docs/populations.md); dense nets of
    # the same config still batch.
    dcgan = [
        "model.generator.arch=dcgan",
        "model.generator.width=4",
        "model.generator.output=sigmoid",
        "model.discriminator.arch=dcgan",
        "model.discriminator.width=4",
    ]
    cfgs = [build_config(overrides=[*BATCHABLE, *dcgan, f"seed={seed}"]) for seed in (0, 1)]
    assert "convolutional nets train slower as one population" in (batchable(cfgs) or "")
    assert batchable([build_config(overrides=[*BATCHABLE, f"seed={seed}"]) for seed in (0, 1)]) is None


@pytest.mark.parametrize(
    ("seeds", "why"), [("a-b", "not a list of seeds"), ("-1", "not a list of seeds"), ("3-1", "names no seed")]
)
def test_bad_seeds_are_one_line(seeds, why, tmp_path):
    with pytest.raises(UserError, match=why):
        seed_list(seeds)
    result = cli("train", *BATCHABLE, f"--seeds={seeds}", "--out", tmp_path / "x")
    assert result.returncode == 2 and why in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_seed_lists():
    assert seed_list("0-3,8,2") == [0, 1, 2, 3, 8]
    assert seed_list(" 5 ") == [5]


def test_a_sweep_of_learning_rates_trains_as_one_population_each_run_its_own_rate(tmp_path):
    key = "train.d_optimizer.lr"
    done = cli("train", *BATCHABLE, "--seeds", "0-1", "--sweep", f"{key}=0.1,0.02", "--out", tmp_path / "sw")
    assert done.returncode == 0, done.stderr
    assert "4 runs as one batched population" in done.stderr
    runs = [tmp_path / "sw" / f"{key}={v}" / f"seed-{s}" for v in ("0.1", "0.02") for s in (0, 1)]
    assert done.stdout.split() == [str(r) for r in runs]
    assert [(load_run_config(r).train.d_optimizer.lr, load_run_config(r).seed) for r in runs] == [
        (0.1, 0),
        (0.1, 1),
        (0.02, 0),
        (0.02, 1),
    ]
    # The member at 0.02 is the run alone at 0.02 (SGD: rounding only), not the one at 0.1.
    solo = tmp_path / "solo"
    assert cli("train", *BATCHABLE, "seed=1", f"{key}=0.02", "--out", solo).returncode == 0
    member, _ = final_weights(runs[3])
    alone, _ = final_weights(solo)
    assert max(float((member[k] - alone[k]).abs().max()) for k in alone) < 1e-5
    other, _ = final_weights(runs[1])
    assert max(float((other[k] - alone[k]).abs().max()) for k in alone) > 1e-4
    # A key a population cannot hold per member: one run after another, saying why.
    apart = cli("train", *BATCHABLE, "--sweep", "train.g_optimizer.momentum=0.1,0.2", "--out", tmp_path / "apart")
    assert apart.returncode == 0, apart.stderr
    assert "one after another" in apart.stderr and "train.g_optimizer.momentum" in apart.stderr


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--sweep", "train.d_optimizer.lr="], "is not KEY=V1,V2"),
        (["--sweep", "seed=1,2"], "seeds go in --seeds"),
        (["--sweep", "train.d_optimizer.lr=1,2", "train.d_optimizer.lr=3"], "with --sweep only"),
    ],
)
def test_bad_sweeps_are_one_line(args, why, tmp_path):
    result = cli("train", *BATCHABLE, *args, "--out", tmp_path / "x")
    assert result.returncode == 2 and why in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_seed_override_beside_seeds_is_refused(tmp_path):
    result = cli("train", *BATCHABLE, "seed=4", "--seeds", "0-1", "--out", tmp_path / "x")
    assert result.returncode == 2 and "--seeds only" in result.stderr


def test_a_stopped_population_checkpoints_every_member_and_resumes(tmp_path, monkeypatch):
    from advnets.training.population import Population

    real_step = Population.train_step

    def step_then_stop(self):
        stats = real_step(self)
        if self.step == 2:
            self.request_stop()  # what Ctrl-C or SIGTERM does
        return stats

    monkeypatch.setattr(Population, "train_step", step_then_stop)
    runs = [tmp_path / "a", tmp_path / "b"]
    outcomes = train_population([cfg(0), cfg(1)], runs)
    assert [o.status for o in outcomes] == ["stopped", "stopped"]
    assert [final_weights(run)[1] for run in runs] == [2, 2]
    monkeypatch.setattr(Population, "train_step", real_step)
    assert [o.status for o in resume_population(runs)] == ["completed", "completed"]
    solo, _ = train(cfg(0), tmp_path / "solo")
    assert final_weights(runs[0])[1] == final_weights(solo)[1]
