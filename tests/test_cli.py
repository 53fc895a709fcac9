"""The real CLI, end to end: a tiny run, resume, sample, and every bad-input case (one line, exit 2, no
traceback, nothing existing modified)."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.conftest import TINY, require_data


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "advnets", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


PARZEN_EVERY_EPOCH = [
    "eval.every_epochs=1",
    "eval.metrics.parzen.samples=100",
    "eval.metrics.parzen.valid=50",
    "eval.metrics.parzen.test=60",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = cli(
        "train", *TINY, "log.tensorboard=true", "train.epochs=2", *PARZEN_EVERY_EPOCH, "--out", out, "--quiet"
    )
    assert result.returncode == 0, result.stderr
    return out


def test_train_writes_a_self_describing_run_folder(run_dir):
    for name in (
        "config.yaml",
        "command.txt",
        "metrics.jsonl",
        "losses.png",
        "advnets-run.json",
        "samples/latest.png",
        "checkpoints/latest",
    ):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    assert "train" in (run_dir / "command.txt").read_text()
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    keys = {
        "step",
        "epoch",
        "d_loss",
        "g_loss",
        "d_real",
        "d_fake",
        "lr_g",
        "lr_d",
        "momentum_g",
        "examples_per_s",
    }
    assert keys <= set(records[0])
    assert records[-1]["step"] == 2 * (1400 // 32)
    assert len(list((run_dir / "samples").glob("step-*.png"))) >= 2  # step 0 and later


def test_parzen_is_scored_during_training_with_its_protocol(run_dir):
    evals = [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in evals[:2]] == [1, 2]
    first = evals[0]
    assert (first["name"], first["n_samples"], first["n_valid"], first["n_test"]) == (
        "parzen100-valid50-test60",
        100,
        50,
        60,
    )
    assert first["sigma"] in first["sigmas"] and len(first["valid_means"]) == 10
    assert (run_dir / "parzen.png").is_file()
    # The checkpoint of the epoch with the best *validation* score is kept beside the rolling ones.
    best_epoch = max(evals[:2], key=lambda r: max(r["valid_means"]))["epoch"]
    best = torch.load(run_dir / "checkpoints" / "best-parzen100-valid50-test60.pt", weights_only=True)
    assert best["cursor"]["epoch"] == best_epoch


def test_eval_prints_and_appends_the_score(run_dir):
    result = cli("eval", run_dir, "--metric", "parzen", "--samples", 200, "--valid", 100, "--test", 150, "-q")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.startswith("parzen200-valid100-test150 = ") and "nats" in result.stdout and "150 test" in result.stdout
    )
    last = json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])
    assert (last["name"], last["n_test"], last["checkpoint"]) == ("parzen200-valid100-test150", 150, "latest")
    bad = cli("eval", run_dir, "--metric", "fad")
    assert bad.returncode == 2 and "unknown metric" in bad.stderr


def test_eval_on_a_finer_sigma_grid_is_named_apart(run_dir):
    best = run_dir / "checkpoints" / "best-parzen100-valid50-test60.pt"
    args = ("--samples", 100, "--valid", 50, "--test", 60, "--checkpoint", best, "-q")
    result = cli("eval", run_dir, *args, "--sigmas", "0.1:0.4:31")
    assert result.returncode == 0, result.stderr
    last = json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])
    assert last["name"] == "parzen100-sigma31[0.1-0.4]-valid50-test60" and len(last["sigmas"]) == 31
    assert last["sigmas"][1] == pytest.approx(0.11) and last["checkpoint"] == str(best)
    listed = cli("eval", run_dir, *args, "--sigmas", "0.2,0.25")
    assert listed.returncode == 0 and "parzen100-sigma2[0.2-0.25]-valid50-test60" in listed.stdout
    for bad in ("0.1:0.4", "a,b", "0.4:0.1:0", "-0.1,0.2"):
        refused = cli("eval", run_dir, *args, "--sigmas", bad)
        assert refused.returncode == 2 and "--sigmas" in refused.stderr and "Traceback" not in refused.stderr


def test_resume_with_more_epochs_and_sample(run_dir, tmp_path):
    result = cli("resume", run_dir, "train.epochs=3")
    assert result.returncode == 0, result.stderr
    # It ends with the score in words: the last evaluation of every protocol scored during training.
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("last evaluation (epoch 3): parzen100-valid50-test60 = ") and "nats" in last
    assert result.stdout.strip() == str(run_dir)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 3 * (1400 // 32)
    assert (run_dir / "command.txt").read_text().count("advnets") >= 2
    grid = tmp_path / "grid.png"
    result = cli("sample", run_dir, "-n", 9, "-o", grid)
    assert result.returncode == 0, result.stderr
    assert Image.open(grid).size[0] > 0
    # Without -o the picture goes into the run folder (never the current folder), and its path is printed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("sample", run_dir.resolve(), "-n", 4, "--seed", 2, cwd=elsewhere)
    written = Path(result.stdout.strip())
    assert result.returncode == 0 and written.parent == run_dir.resolve() / "samples" and written.is_file()
    assert "n4-seed2" in written.name and not list(elsewhere.iterdir())
    # `latest` is the pointer file the README lists among the checkpoints: it is accepted as --checkpoint.
    result = cli("sample", run_dir, "-n", 4, "--checkpoint", run_dir / "checkpoints" / "latest", "-o", grid)
    assert result.returncode == 0, result.stderr


def test_config_lists_every_key_with_its_value_and_meaning():
    result = cli("config", "mnist-paper", "model.discriminator.arch=mlp")
    assert result.returncode == 0, result.stderr
    lines = {k: " ".join(v.split()) for k, v in (line.split(" = ", 1) for line in result.stdout.splitlines())}
    assert lines["model.discriminator.arch"].startswith("mlp")
    assert lines["model.discriminator.activation"].startswith("leaky_relu # hidden activation")
    assert "model.discriminator.pieces" not in lines  # the maxout family's key, not the mlp family's
    assert lines["train.batch_size"].startswith("100 # real (and fake) examples per D update")
    assert lines["eval.metrics.parzen.samples"].startswith("10000 # generated samples")
    assert "penalties" in lines and "available:" in lines["penalties"]
    # A mistyped key is refused with the closest key and where to see them all.
    bad = cli("train", "mnist-paper", "train.batchsize=5")
    assert bad.returncode == 2 and "did you mean train.batch_size?" in bad.stderr
    assert "advnets config" in bad.stderr


def test_presets_lists_each_with_a_line():
    result = cli("presets")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"digits", "mnist-paper", "mnist-zeros"} <= set(names)
    # Whole sentences, never a phrase cut at the end of the YAML's first comment line.
    for line in result.stdout.splitlines():
        name, description = line.split(maxsplit=1)
        assert description.endswith("."), name
        assert description.count("(") == description.count(")") and description.count("`") % 2 == 0, name


def test_train_names_its_folder_when_it_starts_and_says_where_its_score_is(tmp_path):
    out = tmp_path / "short"
    result = cli("train", *TINY, "train.max_steps=3", "--out", out)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"training into {out}"
    assert lines[-1] == f"nothing was scored during training (eval.every_epochs); try `advnets eval {out}`"


BAD = [
    (["train", "train.epochz=3"], "unknown config key 'train.epochz'"),
    (["train", "train.epochs=many"], "train.epochs"),
    (["train", "train.batch_size=0"], "train.batch_size=0"),
    (["train", "train.g_optimizer.lr=-0.1"], "train.g_optimizer.lr"),
    (["train", "nonexistent-preset"], "neither a preset nor"),
    (["train", "missing.yaml"], "does not exist"),
    (["train", "mnist-paper", "data.root=/nonexistent", "data.download=false"], "data"),
    (["train", "data.classes=[42]"], "data.classes"),
    (["resume", "/nonexistent/run"], "does not exist"),
    (["sample", "/tmp", "-n", "4"], "not an advnets run folder"),
    (["reproduce", "paper-cifar"], "unknown reproduction 'paper-cifar'"),
    (["reproduce", "paper-mnist", "--jobs", "0"], "must be positive"),
    (["eval", "/nonexistent/run"], "does not exist"),
    (["eval", "/nonexistent/run", "--metric", "fad"], "unknown metric 'fad'"),
    (["config", "digits", "model.generator.hiden=[3]"], "did you mean model.generator.hidden"),
    (["train", "loss.name=hinge2"], "unknown loss.name 'hinge2'"),
]


@pytest.mark.parametrize("args,expected", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_clear_line_and_exit_2(args, expected, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVNETS_DATA", str(tmp_path / "no-data"))
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("advnets: error:"), result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "runs").exists()  # nothing was created for a refused run


def test_out_never_overwrites_an_existing_run(run_dir):
    before = tree_digest(run_dir)
    result = cli("train", *TINY, "--out", run_dir, "--quiet")
    assert result.returncode == 2 and "already holds a run" in result.stderr
    assert tree_digest(run_dir) == before


def test_resume_refuses_a_changed_model_and_leaves_the_run_alone(run_dir):
    before = tree_digest(run_dir)
    result = cli("resume", run_dir, "model.z_dim=9", "train.epochs=9")
    assert result.returncode == 2 and "model.z_dim" in result.stderr and "Traceback" not in result.stderr
    assert tree_digest(run_dir) == before


def test_corrupt_checkpoint_is_reported_not_overwritten(run_dir, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = cli("sample", run_dir, "--checkpoint", bad, "-o", tmp_path / "x.png")
    assert result.returncode == 2 and "unreadable or truncated" in result.stderr
    assert bad.read_bytes() == b"not a checkpoint"


def test_a_corrupt_data_file_names_the_file_and_is_left_alone(tmp_path):
    mnist = require_data("mnist")
    root = tmp_path / "mnist"
    root.mkdir()
    for path in mnist.glob("*.gz"):
        (root / path.name).write_bytes(path.read_bytes())
    truncated = root / "train-images-idx3-ubyte.gz"
    truncated.write_bytes(truncated.read_bytes()[:100_000])
    before = tree_digest(root)
    result = cli("train", "mnist-paper", f"data.root={root}", "data.download=false", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "train-images-idx3-ubyte.gz" in result.stderr
    assert tree_digest(root) == before and not (tmp_path / "runs").exists()


def test_mnist_zeros_preset_runs_on_real_mnist(tmp_path):
    mnist = require_data("mnist")
    out = tmp_path / "zeros"
    result = cli(
        "train",
        "mnist-zeros",
        f"data.root={mnist}",
        "train.max_steps=30",
        "log.tensorboard=false",
        "--out",
        out,
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 30
    assert (out / "samples" / "latest.png").is_file()
    # The trainer reads data.split: the preset trains on all 5,923 zeros of the 60k official training images.
    assert records[-1]["epoch"] == pytest.approx(30 / (5923 // 16))


def test_a_one_off_protocol_gets_its_own_figure_and_never_replaces_the_training_curve(run_dir):
    before = (run_dir / "parzen.png").read_bytes()
    result = cli("eval", run_dir, "--samples", 150, "--valid", 50, "--test", 60, "-q")
    assert result.returncode == 0, result.stderr
    assert (run_dir / "parzen.png").read_bytes() == before
    assert (run_dir / "parzen150-valid50-test60.png").is_file()
