"""A study's wall time read back from its runs' metrics, and the table beside the measured limit."""

import json

from advnets.study_time import LIMITS, run_time, time_table
from tests.conftest import tiny_config


def write_metrics(run_dir, records):
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_runs_time_is_its_intervals_examples_over_their_rates(tmp_path):
    cfg = tiny_config("log.every_steps=100")
    # 100 updates of 50 examples at 1,000/s (5 s), 100 more at 500/s (10 s); then a resume from update 150 logs
    # update 200 again: that interval counts as one logging period, 100 updates at 2,500/s (2 s).
    write_metrics(
        tmp_path / "run",
        [
            {"step": 100, "examples_per_s": 1000.0},
            {"step": 200, "examples_per_s": 500.0},
            {"step": 200, "examples_per_s": 2500.0},
        ],
    )
    assert run_time(tmp_path / "run", cfg, examples_per_step=50) == (200, 17.0)
    assert run_time(tmp_path / "absent", cfg, examples_per_step=50) == (0, 0.0)


def test_the_time_table_sets_each_rows_wall_time_beside_its_limit(tmp_path):
    rows = [
        ("plain", "plain GAN", [(1000, 60.0), (1000, 120.0)]),
        ("ema", "EMA of G", [(500, 30.0)]),
        ("nothing", "not run yet", []),
    ]
    text = time_table(rows, tmp_path)
    assert "| plain GAN | 2 | 2,000 | 3.0 min | not measured | — |" in text
    assert "| all runs | | | 3.5 min | — | — |" in text and "not run yet" not in text
    (tmp_path / LIMITS).write_text(
        json.dumps(
            {
                "plain": {"seconds_per_update": 0.018, "machine": "a CPU"},
                "ema": {"seconds_per_update": 0.012, "machine": "a CPU"},
            }
        )
    )
    text = time_table(rows, tmp_path)
    # plain: 2,000 updates x 18 ms = 36 s of products against 180 s: 0.20 of the limit; ema: 6 s against 30 s.
    assert "| plain GAN | 2 | 2,000 | 3.0 min | 0.6 min | 0.20 |" in text
    assert "| EMA of G | 1 | 500 | 0.5 min | 0.1 min | 0.20 |" in text
    assert "| all runs | | | 3.5 min | 0.7 min | 0.20 |" in text
    assert "on a CPU" in text
    assert time_table([("plain", "plain GAN", [])], tmp_path) == ""
