"""`advnets reproduce` on a tiny stand-in (digits, small nets): the table, the baselines, and that a rerun
continues instead of starting over."""

import json
import shutil

import pytest

from advnets.errors import UserError
from advnets.reproduce import reproduce

TINY_REPRO = [
    "data.name=digits",
    "model.z_dim=8",
    "model.generator.hidden=[16]",
    "model.discriminator.hidden=[12]",
    "model.discriminator.pieces=2",
    "train.batch_size=100",
    "log.tensorboard=false",
    "eval.metrics.parzen.samples=100",
    "eval.metrics.parzen.valid=50",
    "eval.metrics.parzen.test=60",
]

ONE_EPOCH = dict(seeds=1, epochs=1, eval_every=1, extra=TINY_REPRO, quiet=True, with_baselines=False)


def test_reproduce_writes_the_table_and_a_rerun_continues(tmp_path):
    out = tmp_path / "repro"
    common = dict(seeds=2, epochs=2, eval_every=1, extra=TINY_REPRO, quiet=True, rows=["paper"])
    table = reproduce("paper-mnist", out, **common)  # type: ignore[arg-type]
    assert "Adversarial nets (paper, Table 1) | 225 ± 2" in table
    assert "advnets mnist-paper (the paper's training), last evaluated epoch" in table
    assert "std over 2 seeds" in table and "mnist-fast" not in table  # a row without runs has no line yet
    assert "baseline: 100 training images" in table and "baseline: 100 k-means centroids" in table
    results = json.loads((out / "results.json").read_text())
    paper, *others = results["rows"]
    assert (paper["name"], paper["preset"]) == ("paper", "mnist-paper")
    assert [(r["name"], r["seeds"]) for r in others] == [("fast", []), ("fast-ema", []), ("best", [])]
    assert [s["seed"] for s in paper["seeds"]] == [0, 1]
    assert all(
        s["final"]["epoch"] == 2 and s["final"]["name"] == "parzen100-valid50-test60" for s in paper["seeds"]
    )
    assert (out / "parzen.png").is_file() and (out / "RESULTS.md").read_text().endswith(table)
    out = out / "paper"  # every row trains into OUT/<row>/seed-N
    # A later `advnets eval` of the same protocol (it names its checkpoint) is not a training epoch's score.
    manual = {**paper["seeds"][0]["final"], "epoch": 99, "mean": 1e6, "checkpoint": "latest"}
    with open(out / "seed-0" / "eval.jsonl", "a") as f:
        f.write(json.dumps(manual) + "\n")
    evals_before = (out / "seed-0" / "eval.jsonl").read_text()
    # A rerun of the same command finds everything done: nothing is retrained or re-scored.
    assert reproduce("paper-mnist", out.parent, **common) == table  # type: ignore[arg-type]
    assert (out / "seed-0" / "eval.jsonl").read_text() == evals_before
    # A finished seed whose checkpoints were not kept (a committed reproduction) is not trained again.
    shutil.rmtree(out / "seed-1" / "checkpoints")
    assert reproduce("paper-mnist", out.parent, **common) == table  # type: ignore[arg-type]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("seed-")) == ["seed-0", "seed-1"]
    # A rerun asking for fewer seeds trains nothing and keeps every trained seed in the table.
    assert reproduce("paper-mnist", out.parent, **{**common, "seeds": 1}) == table  # type: ignore[arg-type]
    # A longer schedule resumes each seed from its checkpoint and scores only the new epochs.
    reproduce("paper-mnist", out.parent, **{**common, "seeds": 1, "epochs": 3})  # type: ignore[arg-type]
    epochs = [json.loads(line)["epoch"] for line in (out / "seed-0" / "eval.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 99, 3]


def test_seeds_in_parallel_match_seeds_in_turn(tmp_path):
    # Worker processes run the same seeded runs: the scores equal a sequential run's, and every seed keeps
    # the checkpoint of its best validation epoch.
    common = dict(seeds=2, epochs=2, eval_every=1, extra=TINY_REPRO, quiet=True, with_baselines=False)
    common["rows"] = ["paper"]
    reproduce("paper-mnist", tmp_path / "turn", **common)  # type: ignore[arg-type]
    reproduce("paper-mnist", tmp_path / "side", jobs=2, **common)  # type: ignore[arg-type]
    for seed in (0, 1):
        turn = (tmp_path / "turn" / "paper" / f"seed-{seed}" / "eval.jsonl").read_text().splitlines()
        side = (tmp_path / "side" / "paper" / f"seed-{seed}" / "eval.jsonl").read_text().splitlines()
        # Equal up to float rounding: a worker may use another number of threads than this process.
        assert [json.loads(b)["mean"] for b in side] == pytest.approx(
            [json.loads(a)["mean"] for a in turn], rel=1e-4
        )
        best = (
            tmp_path / "side" / "paper" / f"seed-{seed}" / "checkpoints" / "best-parzen100-valid50-test60.pt"
        )
        assert best.is_file()
    assert json.loads((tmp_path / "side" / "results.json").read_text())["rows"][0]["seeds"][1]["seed"] == 1


def test_every_row_has_its_own_line_and_folder(tmp_path):
    # The beyond-the-paper row is never averaged with the faithful one: its own folder, lines and protocol name
    # (`-ema` when its preset scores G's weight average).
    out = tmp_path / "repro"
    table = reproduce("paper-mnist", out, **ONE_EPOCH)  # type: ignore[arg-type]
    fast_name = "parzen100-valid50-test60-ema"  # mnist-fast keeps G's weight average: its scores say so
    assert "| advnets mnist-fast (the paper's nets, trained otherwise), last evaluated epoch | " in table
    assert f"| {fast_name}; seed 0: " in table
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["best", "fast", "fast-ema", "paper"]
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["name"], r["protocol"], len(r["seeds"])) for r in rows] == [
        ("paper", "parzen100-valid50-test60", 1),
        ("fast", fast_name, 1),
        ("fast-ema", fast_name, 1),
        ("best", fast_name, 1),
    ]


def test_runs_of_the_one_row_layout_are_not_trained_again(tmp_path):
    out = tmp_path / "repro"
    reproduce("paper-mnist", out, rows=["paper"], **ONE_EPOCH)  # type: ignore[arg-type]
    (out / "paper" / "seed-0").rename(out / "seed-0")
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(UserError, match=r"seed-0 from an earlier advnets.*mkdir .*/paper && mv .*/seed-\* "):
        reproduce("paper-mnist", out, **ONE_EPOCH)  # type: ignore[arg-type]
    assert sorted(p.name for p in out.iterdir()) == before


def test_unknown_target_and_bad_counts():
    with pytest.raises(UserError, match="unknown reproduction"):
        reproduce("paper-cifar", None)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="positive"):
        reproduce("paper-mnist", None, seeds=0)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="positive"):
        reproduce("paper-mnist", None, jobs=0)  # type: ignore[arg-type]
