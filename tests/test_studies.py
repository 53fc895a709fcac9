"""Studies (advnets.studies): rows × seeds as run folders, the table of final evaluations, resume, row selection,
and the errors; on a tiny study of the ring-8 preset (tiny nets, 2 updates an epoch)."""

import json
import math
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from advnets.cli import main
from advnets.config import load_config, to_dict
from advnets.errors import UserError
from advnets.evaluate import metric_options
from advnets.reproduce import TARGETS as PAPER_TARGETS
from advnets.reproduce import reproduce, seed_config
from advnets.runs.checkpoint import latest_checkpoint, load_checkpoint
from advnets.studies import (
    STUDIES,
    Column,
    Published,
    Row,
    Study,
    check_same_run,
    check_scored,
    protocol_of,
    row_config,
    summarise_study,
)
from tests.conftest import require_data

TINY = [
    "data.n=200",
    "train.epochs=2",
    "model.generator.hidden=[8]",
    "model.discriminator.hidden=[8]",
    "model.discriminator.pieces=2",
    "log.tensorboard=false",
    "log.sample_every_steps=2",
    "log.grid_size=16",
    "eval.metrics.modes.samples=100",
]

TINY_STUDY = Study(
    title="tiny",
    metric="modes",
    columns=(
        Column("modes", "modes"),
        Column("high_quality", "high quality", scale=100.0, unit="%"),
        Column("reverse_kl", "reverse KL", digits=2),
    ),
    rows=(
        Row("plain", "plain GAN", "ring-8", tuple(TINY)),
        Row("ema", "EMA of G", "ring-8", (*TINY, "train.ema_decay=0.9")),
    ),
    published=(Published("someone's GAN (a paper)", {"modes": "6.3 ± 0.5"}),),
    seeds=2,
)


@pytest.fixture
def tiny_study():
    STUDIES["tiny"] = TINY_STUDY
    yield "tiny"
    del STUDIES["tiny"]


def record(epoch, modes, high_quality, reverse_kl, name="modes100", **extra):
    return {
        "step": 2 * epoch,
        "epoch": epoch,
        "metric": "modes",
        "name": name,
        "modes": modes,
        "high_quality": high_quality,
        "reverse_kl": reverse_kl,
        **extra,
    }


def write_evals(run_dir, records):
    run_dir.mkdir(parents=True)
    (run_dir / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_the_table_holds_each_rows_final_evaluations_mean_and_std(tmp_path, tiny_study):
    configs = {(row.name, s): row_config(row, s, []) for row in TINY_STUDY.rows for s in range(3)}
    # plain: three finished seeds; the earlier epoch, an `advnets eval` record (it names its checkpoint) and
    # another protocol's record do not count.
    write_evals(
        tmp_path / "plain" / "seed-0",
        [
            record(1, 2, 0.1, 1.0),
            record(2, 6, 0.90, 0.5),
            record(2, 1, 0.0, 9.0, checkpoint="latest"),
            record(2, 1, 0.0, 9.0, name="modes2500"),
        ],
    )
    write_evals(tmp_path / "plain" / "seed-1", [record(1, 3, 0.5, 0.2), record(2, 8, 0.95, 0.3)])
    write_evals(tmp_path / "plain" / "seed-2", [record(2, 7, 0.85, 0.4)])
    # ema: seed 0 finished (its scores are the weight average's, `modes100-ema`), seed 1 stopped at epoch 1.
    write_evals(
        tmp_path / "ema" / "seed-0", [record(2, 5, 0.5, 0.25, name="modes100-ema"), record(2, 8, 1.0, 0.0)]
    )
    write_evals(tmp_path / "ema" / "seed-1", [record(1, 8, 1.0, 0.0, name="modes100-ema")])
    table = summarise_study("tiny", tmp_path, configs, 3, "advnets reproduce tiny --seeds 3")
    lines = table.splitlines()
    assert lines[0] == "| recipe | modes | high quality | reverse KL | seeds | preset and overrides |"
    # By hand: modes 6, 8, 7 -> mean 7, sample std 1; high quality 90, 95, 85 % -> 90 ± 5; KL .5 .3 .4 -> .40 ± .10
    assert lines[2].startswith(
        "| plain GAN | 7.0 ± 1.0 | 90.0 ± 5.0% | 0.40 ± 0.10 | 3 of 3: 6, 8, 7 | `ring-8` "
    )
    assert lines[3].startswith("| EMA of G | 5.0 | 50.0% | 0.25 | 1 of 3: 5 | `ring-8` ")
    assert lines[3].endswith("`train.ema_decay=0.9` |")
    assert lines[4] == "| someone's GAN (a paper) | 6.3 ± 0.5 | — | — | published | |"
    results = json.loads((tmp_path / "results.json").read_text())
    plain, ema = results["rows"]
    assert plain["seeds_done"] == [0, 1, 2] and plain["mean"]["modes"] == 7.0
    assert plain["std"]["high_quality"] == pytest.approx(0.05)
    assert ema["protocol"] == "modes100-ema" and ema["seeds_done"] == [0] and math.isnan(ema["std"]["modes"])
    assert ema["final"]["0"]["modes"] == 5
    text = (tmp_path / "RESULTS.md").read_text()
    assert (
        text.startswith("# tiny\n")
        and "Last written by `advnets reproduce tiny --seeds 3`" in text
        and text.endswith(table)
    )


def test_the_by_epoch_table_holds_each_rows_scores_at_each_epoch(tmp_path):
    study = replace(
        TINY_STUDY,
        by_epoch=(1, 2, 3),
        published=(Published("someone's GAN (a paper)", {"modes": "6.3"}, {1: "4.0", 3: "6.5"}),),
    )
    STUDIES["tiny-epochs"] = study
    try:
        configs = {(row.name, s): row_config(row, s, []) for row in study.rows for s in range(3)}
        write_evals(
            tmp_path / "plain" / "seed-0",
            [record(1, 2, 0.1, 1.0), record(2, 6, 0.9, 0.5), record(2, 1, 0.0, 9.0, checkpoint="latest")],
        )
        write_evals(tmp_path / "plain" / "seed-1", [record(1, 3, 0.5, 0.2), record(2, 8, 0.95, 0.3)])
        # seed 2 scored epoch 2 twice (resumed from an earlier checkpoint): its last score counts, once.
        write_evals(tmp_path / "plain" / "seed-2", [record(2, 1, 0.1, 0.4), record(2, 7, 0.85, 0.4)])
        write_evals(tmp_path / "ema" / "seed-1", [record(1, 8, 1.0, 0.0, name="modes100-ema")])
        summarise_study("tiny-epochs", tmp_path, configs, 3, "advnets reproduce tiny-epochs")
    finally:
        del STUDIES["tiny-epochs"]
    text = (tmp_path / "RESULTS.md").read_text()
    part = text[text.index("## modes100 by epoch") :].splitlines()
    table = [line for line in part if line.startswith("|")]
    # By hand: plain epoch 1: 2, 3 -> 2.5 ± 0.7; epoch 2: 6, 8, 7 -> 7.0 ± 1.0; ema: seed 1's 8 at epoch 1 only.
    assert table == [
        "| recipe | 1 | 2 | 3 |",
        "|---|---|---|---|",
        "| plain GAN (`plain`) | 2.5 ± 0.7 | 7.0 ± 1.0 |  |",
        "| EMA of G (`ema`) | 8.0 |  |  |",
        "| someone's GAN (a paper) | 4.0 |  | 6.5 |",
    ]


def test_the_mnist_search_probes_keep_the_papers_nets_and_score_at_epoch_50():
    # Issue 21: every probe changes the training of mnist-fast, never its nets, data, noise or loss's form; the
    # table reads parzen10k-ema at epoch 50 of seed 0.
    study = STUDIES["paper-mnist-search"]
    fast = row_config(Row("fast", "", "mnist-fast"), 0, [])
    assert study.seeds == 1 and len({r.name for r in study.rows}) == len(study.rows)
    for row in study.rows:
        cfg = row_config(row, 0, [])
        assert cfg.model == fast.model and cfg.data == fast.data and cfg.loss == fast.loss
        assert cfg.train.epochs == 50 and cfg.eval.every_epochs == 5 and "parzen" in cfg.eval.metrics
        check_scored("paper-mnist-search", study, row, cfg)


def test_the_late_probes_change_only_what_is_sampled_and_mnist_best_is_the_winner():
    # paper-mnist-late's rows differ from mnist-fast-ema only in G's weight average (which never feeds back into
    # training) and the evaluation schedule; mnist-best is its winning row as a preset, so paper-mnist's `best`
    # runs are that row's runs (check_same_run in the committed-runs test holds them to it).
    from advnets.training.trainer import changed_keys

    def trained(old, new):  # the keys that change what is trained or sampled
        return [k for k in changed_keys(to_dict(old), to_dict(new)) if not k.startswith("eval.") and k != "name"]

    study = STUDIES["paper-mnist-late"]
    base = row_config(Row("fast-ema", "", "mnist-fast-ema"), 0, [])
    for row in study.rows:
        assert trained(base, row_config(row, 0, [])) == ["train.ema_decay"]
    assert trained(row_config(study.rows[0], 0, []), load_config("mnist-best", ["seed=0"])) == []


def test_a_seed_with_no_high_quality_sample_leaves_reverse_kl_undefined(tmp_path, tiny_study):
    configs = {(row.name, s): row_config(row, s, []) for row in TINY_STUDY.rows for s in range(2)}
    write_evals(tmp_path / "plain" / "seed-0", [record(2, 0, 0.0, math.nan)])
    write_evals(tmp_path / "plain" / "seed-1", [record(2, 2, 0.5, 0.5)])
    table = summarise_study("tiny", tmp_path, configs, 2, "cmd")
    assert "| plain GAN | 1.0 ± 1.4 | 25.0 ± 35.4% | undefined | 2 of 2: 0, 2 |" in table


def test_a_study_trains_rows_by_seed_resumes_and_selects_rows(tmp_path, tiny_study):
    out = tmp_path / "study"
    table = reproduce("tiny", out, rows=["plain"], quiet=True)
    assert sorted(p.name for p in out.iterdir()) == ["RESULTS.md", "plain", "results.json"]
    assert sorted(p.name for p in (out / "plain").iterdir()) == ["seed-0", "seed-1"]
    assert "| EMA of G | — | — | — | 0 of 2 |" in table
    # The table's numbers are the runs' own last-epoch records.
    finals = [
        json.loads((out / "plain" / f"seed-{s}" / "eval.jsonl").read_text().splitlines()[-1]) for s in (0, 1)
    ]
    assert all(f["epoch"] == 2 and f["name"] == "modes100" for f in finals)
    results = json.loads((out / "results.json").read_text())
    assert [results["rows"][0]["final"][str(s)]["modes"] for s in (0, 1)] == [f["modes"] for f in finals]
    assert f"2 of 2: {finals[0]['modes']}, {finals[1]['modes']} |" in table
    # All rows: plain is finished and left alone (its records unchanged), ema trains.
    before = (out / "plain" / "seed-0" / "eval.jsonl").read_text()
    table = reproduce("tiny", out, quiet=True)
    assert (out / "plain" / "seed-0" / "eval.jsonl").read_text() == before
    ema_final = json.loads((out / "ema" / "seed-1" / "eval.jsonl").read_text().splitlines()[-1])
    assert ema_final["name"] == "modes100-ema" and ema_final["epoch"] == 2
    assert "| EMA of G |" in table and "| EMA of G | — |" not in table
    # A committed study keeps no checkpoints: a rerun trains nothing and gives the same table.
    for row in ("plain", "ema"):
        for seed in (0, 1):
            for path in sorted((out / row / f"seed-{seed}" / "checkpoints").iterdir()):
                path.unlink()
    assert reproduce("tiny", out, quiet=True) == table
    assert (out / "plain" / "seed-0" / "eval.jsonl").read_text() == before
    # Fewer seeds or one row asked for: nothing trains, and the table still holds every trained seed.
    assert reproduce("tiny", out, seeds=1, rows=["plain"], quiet=True) == table
    assert "`advnets reproduce tiny --seeds 2` trains whatever is missing" in (out / "RESULTS.md").read_text()
    # A finished run of another recipe (the row's preset or overrides changed since) is not counted as this one.
    with pytest.raises(UserError, match=r"plain/seed-0 was trained with another train.d_optimizer.lr than"):
        reproduce("tiny", out, rows=["plain"], extra=["train.d_optimizer.lr=0.01"], quiet=True)


def test_an_interrupted_run_continues_from_its_checkpoint(tmp_path, tiny_study):
    out = tmp_path / "study"
    reproduce("tiny", out, rows=["plain"], seeds=1, quiet=True)
    records = (out / "plain" / "seed-0" / "eval.jsonl").read_text().splitlines()
    # Same study, a longer schedule for every row: the run resumes at epoch 2 and scores only epochs 3 and 4.
    table = reproduce("tiny", out, rows=["plain"], seeds=1, extra=["train.epochs=4"], quiet=True)
    after = [
        json.loads(line)["epoch"]
        for line in (out / "plain" / "seed-0" / "eval.jsonl").read_text().splitlines()
    ]
    assert after == [1, 2, 3, 4] and len(records) == 2
    assert "1 of 1" in table


def test_a_rows_seeds_train_and_resume_as_one_population(tmp_path, tiny_study, monkeypatch):
    from advnets import studies

    calls = []

    def spy(name, real):
        def wrapped(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(studies, "train_population", spy("train", studies.train_population))
    monkeypatch.setattr(studies, "resume_population", spy("resume", studies.resume_population))
    out = tmp_path / "study"
    reproduce("tiny", out, rows=["plain"], quiet=True)
    assert calls == ["train"]
    reproduce("tiny", out, rows=["plain"], extra=["train.epochs=4"], quiet=True)
    assert calls == ["train", "resume"]
    for seed in (0, 1):
        lines = (out / "plain" / f"seed-{seed}" / "eval.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


def test_rows_that_differ_only_per_member_train_as_one_population(tmp_path, tiny_study, monkeypatch):
    # plain and ema differ only in G's weight average, which members may have of their own: both rows' seeds are
    # one population of 4, and each member is its row's recipe (its config and its protocol).
    from advnets import studies

    sizes = []
    real = studies.train_population

    def spy(cfgs, outs, **kwargs):
        sizes.append(sorted(str(o.relative_to(tmp_path)) for o in outs))
        return real(cfgs, outs, **kwargs)

    monkeypatch.setattr(studies, "train_population", spy)
    table = reproduce("tiny", tmp_path, quiet=True)
    assert sizes == [["ema/seed-0", "ema/seed-1", "plain/seed-0", "plain/seed-1"]]
    for row in TINY_STUDY.rows:
        for seed in (0, 1):
            check_same_run(tmp_path / row.name / f"seed-{seed}", row_config(row, seed, []))
    names = {json.loads(line)["name"] for line in (tmp_path / "ema" / "seed-1" / "eval.jsonl").read_text().splitlines()}
    assert names == {"modes100-ema"}
    assert "| plain GAN |" in table and "2 of 2" in table and "| EMA of G | — |" not in table


def test_with_jobs_each_population_is_one_task_of_a_worker(tmp_path, tiny_study):
    from advnets.studies import population_groups

    tasks = [(tmp_path / row.name, row_config(row, seed, [])) for seed in (0, 1) for row in TINY_STUDY.rows]
    assert population_groups(tasks) == [(0, [0, 1, 2, 3])]  # plain and ema, both seeds: one population
    # Trained with two worker processes (the population one task of one of them); finished runs are in no group.
    table = reproduce("tiny", tmp_path, seeds=2, jobs=2, quiet=True)
    assert "2 of 2" in table and "| EMA of G | — |" not in table
    assert population_groups(tasks) == []
    for row in TINY_STUDY.rows:
        for seed in (0, 1):
            lines = (tmp_path / row.name / f"seed-{seed}" / "eval.jsonl").read_text().splitlines()
            assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


@pytest.mark.parametrize(
    "row, epochs, mean, seed0",
    [
        ("fast", "EPOCHS", "FAST_MEAN", "FAST_SEED0"),  # paper-mnist-search's reference
        ("fast-ema", "LATE_EPOCHS", "FAST_EMA_MEAN", "FAST_EMA_SEED0"),  # paper-mnist-late's reference
    ],
)
def test_the_mnist_studies_reference_numbers_are_the_committed_scores(row, epochs, mean, seed0):
    # mnist_studies copies a paper-mnist row's scores by epoch into its published rows: they must be what that
    # row's committed runs say (mean of the 3 seeds; seed 0), to the digit shown.
    import statistics

    from advnets import mnist_studies

    at = getattr(mnist_studies, epochs)
    scores: dict[int, dict[int, float]] = {}
    for seed in range(3):
        path = REPRODUCTIONS / "paper-mnist" / row / f"seed-{seed}" / "eval.jsonl"
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r["name"] == "parzen10k-ema" and "checkpoint" not in r and r["epoch"] in at:
                scores.setdefault(r["epoch"], {})[seed] = r["mean"]
    assert tuple(f"{statistics.fmean(scores[e].values()):.1f}" for e in at) == getattr(mnist_studies, mean)
    assert tuple(f"{scores[e][0]:.1f}" for e in at) == getattr(mnist_studies, seed0)


def test_bad_study_arguments_are_one_clear_error(tmp_path, tiny_study):
    with pytest.raises(UserError, match=r"tiny has no row 'nope'; choose from: plain, ema"):
        reproduce("tiny", tmp_path, rows=["plain", "nope"])
    with pytest.raises(
        UserError,
        match=r"unknown reproduction 'ring-9'; choose one of: paper-mnist, cgan-mnist, .*, ring-8, grid-25",
    ):
        reproduce("ring-9", tmp_path)
    with pytest.raises(UserError, match="--epochs apply to paper-mnist only"):
        reproduce("tiny", tmp_path, epochs=3)
    with pytest.raises(UserError, match=r"paper-mnist has no row 'vanilla'; choose from: paper, fast"):
        reproduce("paper-mnist", tmp_path, rows=["vanilla"])
    assert not any(tmp_path.iterdir())  # refused before anything is written
    with pytest.raises(UserError, match="must be positive"):
        reproduce("tiny", tmp_path, seeds=0)
    with pytest.raises(UserError, match="eval.every_epochs divide train.epochs"):
        reproduce("tiny", tmp_path, extra=["eval.every_epochs=3"])
    assert not any(tmp_path.iterdir())  # nothing was trained or written


def test_the_cli_prints_a_bad_row_as_one_line(capsys):
    assert main(["reproduce", "ring-8", "--rows", "vanilla,nope"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("advnets: error: ring-8 has no row 'nope'; choose from: vanilla, best,")
        and err.count("\n") == 1
    )


@pytest.mark.parametrize("target", ["ring-8", "grid-25"])
def test_every_toy_row_resolves_and_scores_its_last_epoch(target):
    study = STUDIES[target]
    assert [r.name for r in study.rows][:2] == ["vanilla", "best"] and len(
        {r.name for r in study.rows}
    ) == len(study.rows)
    for row in study.rows:
        cfg = row_config(row, 0, [])
        assert (
            cfg.data.name == target
            and cfg.train.epochs % cfg.eval.every_epochs == 0
            and "modes" in cfg.eval.metrics
        )


IMAGE_STUDIES = ["cgan-mnist", "mnist-zeros", "stacked-mnist", "fid-mnist", "fid-fashion"]


@pytest.mark.parametrize("target", IMAGE_STUDIES)
def test_every_image_row_resolves_and_scores_its_metric_at_its_end(target):
    study = STUDIES[target]
    assert len({r.name for r in study.rows}) == len(study.rows)
    # The classes metric's protocol reads the training labels (its class shares are compared with theirs).
    extra = [f"data.root={require_data('mnist')}"] if target == "cgan-mnist" else []
    for row in study.rows:
        cfg = row_config(row, 0, extra)
        check_scored(target, study, row, cfg)  # raises unless the metric is scored at the last epoch
        assert (
            protocol_of(study, cfg).removesuffix("-ema")
            == {
                "cgan-mnist": "classes10k-classifier-mnist",
                "mnist-zeros": "fid2k-classifier-mnist",
                "stacked-mnist": "stacked-modes26k-classifier-mnist",
                "fid-mnist": "fid10k-inception-2015-12-05",
                "fid-fashion": "fid10k-inception-2015-12-05",
            }[target]
        )


REPRODUCTIONS = Path(__file__).resolve().parents[1] / "reproductions"
# Studies registered before their runs could be afforded here (docs/metrics.md says what each costs): they must have
# no committed folder, and a study that gets one must be complete (the test below).
NOT_YET_RUN = {"stacked-mnist", "fid-mnist"}
# Every `advnets reproduce` target with committed runs: the studies and paper-mnist.
COMMITTED_TARGETS = sorted([*(set(STUDIES) - NOT_YET_RUN), *PAPER_TARGETS])


def test_only_the_studies_named_not_yet_run_lack_committed_runs():
    assert {t for t in STUDIES if t != "tiny" and not (REPRODUCTIONS / t).exists()} == NOT_YET_RUN


@pytest.mark.parametrize("target", COMMITTED_TARGETS)
def test_the_committed_runs_are_every_row_and_seed_and_the_recipes_they_are_filed_under(target):
    # reproductions/<target>/<row>/seed-N: every row's seeds are committed (the tables are built from them), and
    # each saved config is its row's (check_same_run), so the committed tables hold the recipes they name.
    if target in STUDIES:
        study = STUDIES[target]
        rows, seeds = {row.name: row for row in study.rows}, study.seeds
        config_of = partial(row_config, extra=[])
    else:  # paper-mnist: the CLI's defaults (3 seeds, each preset's epochs, scored every 5 epochs)
        rows, seeds = {row.name: row for row in PAPER_TARGETS[target]}, 3
        config_of = partial(seed_config, epochs=None, eval_every=5, extra=[])
    found = {
        (run.parent.name, int(run.name.removeprefix("seed-"))): run
        for run in sorted((REPRODUCTIONS / target).glob("*/seed-*"))
        # a run set aside by a restart (seed-N.incomplete-<time>) is never committed
        if run.name.removeprefix("seed-").isdigit()
    }
    expected = {(name, seed) for name, row in rows.items() for seed in range(row.seeds_of(seeds))}
    assert set(found) == expected, (
        f"reproductions/{target}: missing runs {sorted(expected - set(found))}, "
        f"runs of no row or seed {sorted(set(found) - expected)}"
    )
    for (name, seed), run in found.items():
        check_same_run(run, config_of(rows[name], seed))


ORPHAN_SCRIPT = """
import os, subprocess, sys, time
if sys.argv[1] == "parent":  # start the worker, then exit without a word, as after `kill PID`
    subprocess.Popen([sys.executable, "-c", sys.argv[2], "worker", sys.argv[2], sys.argv[3], str(os.getpid())])
    time.sleep(0.5)
    os._exit(0)
from advnets.studies import watch_parent
try:
    watch_parent(int(sys.argv[4]), poll_s=0.05)  # the parent's pid: it may be gone once torch is imported
    time.sleep(60)
except KeyboardInterrupt:  # what a run turns into a checkpoint and a clean stop
    open(sys.argv[3], "w").write("interrupted")
"""


def test_a_worker_whose_parent_is_gone_stops_as_after_ctrl_c(tmp_path):
    import subprocess
    import sys
    import time

    flag = tmp_path / "flag"
    subprocess.run(
        [sys.executable, "-c", ORPHAN_SCRIPT, "parent", ORPHAN_SCRIPT, str(flag)], check=True, timeout=30
    )
    deadline = time.monotonic() + 30
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert flag.read_text() == "interrupted"


def test_a_worker_with_its_parent_keeps_going():
    import os
    import time

    from advnets.studies import watch_parent

    thread = watch_parent(os.getppid(), poll_s=0.01)
    time.sleep(0.2)  # a SIGINT here would fail the test with KeyboardInterrupt
    assert thread.is_alive()


def test_a_worker_starts_no_run_after_an_interrupted_one(monkeypatch, tmp_path):
    import threading

    from advnets import studies

    monkeypatch.setattr(studies, "_INTERRUPTED", threading.Event())
    started = []

    def interrupted_run(out, cfg, quiet):
        started.append(cfg.seed)
        raise KeyboardInterrupt  # what run_seed raises once a run has checkpointed after Ctrl-C

    monkeypatch.setattr(studies, "run_seed", interrupted_run)
    cfg = row_config(TINY_STUDY.rows[0], 0, [])
    for seed in (0, 1):
        with pytest.raises(KeyboardInterrupt):
            studies._run_worker([(tmp_path, replace(cfg, seed=seed))], 0, threads=1)
    assert started == [0]  # the task queued after the interruption was refused, not started


def test_ctrl_c_during_a_parallel_study_starts_no_queued_run(tmp_path):
    from advnets.studies import run_in_parallel

    out = tmp_path / "study"
    tasks = [(out, row_config(TINY_STUDY.rows[0], seed, [])) for seed in range(10)]

    def ctrl_c(i):  # the parent's KeyboardInterrupt, as a Ctrl-C arriving once the first run is done
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_in_parallel(tasks, jobs=2, quiet=True, on_done=ctrl_c)
    # Only the runs already handed to the pool ran: 2 running, 3 in its call queue, and 1 or 2 more that its feeder
    # queued as the first runs finished before the cancel. The rest never started (without the cancel: all 10).
    # (Here the workers were not interrupted themselves; after a real Ctrl-C they refuse queued runs too.)
    ran = {int(p.name.split("-")[1]) for p in out.iterdir()}
    assert ran & {0, 1} and not ran & {7, 8, 9}


def test_kill_int_of_the_parent_stops_the_runs_in_progress(tmp_path, monkeypatch):
    # `kill -INT PID` reaches only the parent (no terminal sent the workers a Ctrl-C): the parent tells the workers,
    # whose runs checkpoint and stop well before their end, and no queued run starts.
    from advnets import studies
    from advnets.runs.checkpoint import latest_checkpoint, load_checkpoint

    monkeypatch.setattr(studies, "ctrl_c_reached_workers", lambda: False)
    out = tmp_path / "study"
    short = [(out, row_config(TINY_STUDY.rows[0], 0, []))]
    long = [(out, row_config(TINY_STUDY.rows[0], seed, ["train.epochs=400"])) for seed in (1, 2, 3, 4, 5)]

    def kill_int(i):  # the parent's KeyboardInterrupt, once the short run is done and a long one is training
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        studies.run_in_parallel(short + long, jobs=2, quiet=True, on_done=kill_int)
    state = load_checkpoint(latest_checkpoint(out / "seed-1" / "checkpoints"))
    assert 0 < state["cursor"]["epoch"] < 400  # stopped early, with a checkpoint to resume from
    # Runs queued behind the stop were refused; at most seed 2 (started beside seed 1) and 3 got as far as a folder.
    assert not (out / "seed-4").exists() and not (out / "seed-5").exists()


# ------------------------------------------------------------------------------------------------ the floor row
DIGITS_FID = (
    "train.max_steps=3",  # ends inside the first epoch: scored at its last step (is_final)
    "eval.every_epochs=1",
    "eval.metrics=[fid]",
    "eval.metrics.fid.samples=150",
    "eval.metrics.fid.extractor=classifier-digits",
    "log.tensorboard=false",
)
FLOOR_STUDY = Study(
    title="floor",
    metric="fid",
    columns=(Column("fid", "FID"), Column("spread", "spread", digits=2)),
    rows=(Row("digits", "digits GAN", "digits", DIGITS_FID),),
    seeds=1,
    floor="train",
)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_a_study_with_a_floor_shows_real_images_scored_in_gs_place(tmp_path, feature_cache):
    from advnets.metrics.feature_scores import real_floor

    STUDIES["floor"] = FLOOR_STUDY
    try:
        out = tmp_path / "study"
        table = reproduce("floor", out, quiet=True)
    finally:
        del STUDIES["floor"]
    final = json.loads((out / "digits" / "seed-0" / "eval.jsonl").read_text().splitlines()[-1])
    assert (final["step"], final["epoch"], final["name"]) == (3, 0, "fid150-classifier-digits")
    assert f"| digits GAN | {final['fid']:.1f} | {final['spread']:.2f} | 1 of 1: {final['fid']:g} |" in table
    floor = json.loads((out / "floor-fid150-classifier-digits.json").read_text())
    cfg = row_config(FLOOR_STUDY.rows[0], 0, [])
    expected = real_floor("fid", metric_options(cfg, "fid"), cfg.data, "train", seed=cfg.eval.seed)
    assert (
        floor["fid"] == pytest.approx(expected["fid"], rel=1e-9)
        and floor["name"] == "fid150-classifier-digits"
    )
    assert (
        f"| real train images (150) in G's place: the floor | {floor['fid']:.1f} | {floor['spread']:.2f} |"
        in table
    )
    assert floor["fid"] < final["fid"]  # 3 updates of G are far from the data
    assert json.loads((out / "results.json").read_text())["floor"]["fid"] == floor["fid"]
    # A rerun finds the run finished by train.max_steps (inside its epoch), with or without its checkpoints.
    STUDIES["floor"] = FLOOR_STUDY
    try:
        assert reproduce("floor", out, quiet=True) == table
        for path in (out / "digits" / "seed-0" / "checkpoints").iterdir():
            path.unlink()
        assert reproduce("floor", out, quiet=True) == table
    finally:
        del STUDIES["floor"]
    assert len((out / "digits" / "seed-0" / "eval.jsonl").read_text().splitlines()) == 1


def test_kill_int_stops_a_study_started_with_sigint_ignored(tmp_path):
    # `advnets reproduce ... &` from a script starts with SIGINT ignored (sh's rule for background commands); the
    # parent takes it back, so `kill -INT` still stops the study, its runs checkpointing.
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "study"
    command = [
        sys.executable,
        "-m",
        "advnets",
        "reproduce",
        "ring-8",
        "--rows",
        "vanilla",
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--out",
        str(out),
        "--quiet",
        # Overrides reach every row's config, and some ring-8 rows have an mlp D (no maxout pieces).
        *(o for o in TINY if not o.startswith("model.discriminator.pieces")),
        "train.epochs=4000",
        "eval.every_epochs=4000",
    ]
    parent = subprocess.Popen(
        command,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("vanilla/seed-*/checkpoints")) and time.monotonic() < deadline:
            time.sleep(0.5)
        parent.send_signal(signal.SIGINT)
        _, err = parent.communicate(timeout=120)
    finally:
        parent.kill()
    assert parent.returncode == 130 and "advnets: interrupted" in err
    stopped = [load_checkpoint(latest_checkpoint(p)) for p in out.glob("vanilla/seed-*/checkpoints")]
    assert stopped and all(s["cursor"]["epoch"] < 4000 for s in stopped)
