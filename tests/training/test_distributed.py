"""Data-parallel training (advnets.training.distributed): each rank's slice of a global batch, two gloo processes
whose averaged gradients give the single-process step on the concatenated batch, and `torchrun -m advnets train`
end to end: one run folder written by rank 0, a checkpoint that resumes in one process."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from advnets.training.batches import EpochBatches
from advnets.training.components import build_components
from advnets.training.distributed import average_grads, rank_seed
from advnets.training.parts import Batch
from advnets.training.steps import d_step, g_step
from advnets.training.trainer import Hook, Trainer
from tests.conftest import TINY, tiny_config

# No dropout, so that a batch split over ranks meets the same D as the whole batch in one process.
NO_DROPOUT = (
    "model.discriminator.input_keep=1.0",
    "model.discriminator.hidden_keep=1.0",
    "train.batch_size=4",
)
N = 8  # the global batch: 4 examples per rank


def test_the_ranks_slices_together_are_the_single_process_batch():
    single = EpochBatches(20, 6, seed=3)
    ranks = [EpochBatches(20, 3, seed=3, rank=r, ranks=2) for r in range(2)]
    assert ranks[0].batches_per_epoch == single.batches_per_epoch == 3
    for _ in range(7):  # over an epoch's end: the same reshuffle
        assert torch.equal(torch.cat([ranks[0].next(), ranks[1].next()]), single.next())
    assert ranks[0].cursor == ranks[1].cursor == single.cursor


def test_more_processes_on_a_machine_than_it_has_gpus_are_refused_with_the_fix(monkeypatch):
    from advnets.errors import UserError
    from advnets.training import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: pytest.fail("set_device must not be reached"))
    with pytest.raises(UserError, match=r"process 2 on this machine, which has 1 GPU.*--nproc_per_node=1.*device=cpu"):
        distributed.join(torch.device("cuda"))


def test_a_rank_needs_its_share_of_examples():
    from advnets.errors import UserError

    with pytest.raises(UserError, match="fewer than train.batch_size=6 on each of 4 processes"):
        EpochBatches(20, 6, seed=0, rank=1, ranks=4)


def test_each_ranks_stream_is_its_own_and_a_function_of_the_step():
    seeds = {rank_seed(0, r, s) for r in (1, 2, 3) for s in range(100)} | {rank_seed(1, 1, 0)}
    assert len(seeds) == 301


def fixed_batch(cfg):
    gen = torch.Generator().manual_seed(11)
    real = torch.rand(N, 64, generator=gen)  # 8x8 digits, flattened
    z = torch.rand(N, cfg.model.z_dim, generator=gen)
    return real, z


def one_update(parts, batch):
    d_step(parts, batch, 0)
    g_step(parts, batch, 0)
    return {
        name: p.detach().clone() for name, p in [*parts.D.named_parameters(), *parts.G.named_parameters()]
    }


def rank_worker(rank, store, out):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        cfg = tiny_config(*NO_DROPOUT)
        parts = build_components(cfg).parts
        parts.sync_grads = average_grads
        real, z = fixed_batch(cfg)
        half = slice(rank * N // 2, (rank + 1) * N // 2)
        torch.save(one_update(parts, Batch(real[half], None, z[half], None)), f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_take_the_single_process_step_on_the_whole_batch(tmp_path):
    mp.spawn(rank_worker, args=(str(tmp_path / "store"), str(tmp_path / "params")), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"params.{r}", weights_only=True) for r in range(2)]
    cfg = tiny_config(*NO_DROPOUT)
    parts = build_components(cfg).parts
    before = {
        name: p.detach().clone() for name, p in [*parts.D.named_parameters(), *parts.G.named_parameters()]
    }
    real, z = fixed_batch(cfg)
    single = one_update(parts, Batch(real, None, z, None))  # the mean loss over all 8: the ranks' average
    for name in single:
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # the ranks stay identical
        torch.testing.assert_close(ranks[0][name], single[name], rtol=1e-5, atol=1e-6)
        assert not torch.equal(single[name], before[name]), name  # the step moved every parameter


class StopOnRank1(Hook):
    """Records the statistics each rank logs; rank 1 alone is asked to stop after iteration 3."""

    def __init__(self, rank):
        self.rank, self.d_losses = rank, []

    def on_step_end(self, trainer, stats):
        self.d_losses.append(float(stats["d_loss"]))
        if self.rank == 1 and trainer.step == 3:
            trainer.request_stop()


def trainer_worker(rank, store, out):
    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=2, timeout=timedelta(seconds=60)
    )
    try:
        hook = StopOnRank1(rank)
        trainer = Trainer.from_config(tiny_config("train.max_steps=10"), hooks=[hook])
        status = trainer.fit()
        z = trainer.next_batch().z  # a draw of this rank's stream
        torch.save(
            {"status": status, "step": trainer.step, "d_losses": hook.d_losses, "z": z}, f"{out}.{rank}"
        )
    finally:
        dist.destroy_process_group()


def test_ranks_log_the_same_averaged_statistics_and_stop_together(tmp_path):
    # Without the agreement rank 0 would go on alone and wait forever in its next all-reduce (here: 60 s, then fail).
    mp.spawn(trainer_worker, args=(str(tmp_path / "store"), str(tmp_path / "out")), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"out.{r}", weights_only=True) for r in range(2)]
    assert [(r["status"], r["step"]) for r in ranks] == [("stopped", 3), ("stopped", 3)]
    assert ranks[0]["d_losses"] == ranks[1]["d_losses"] and len(ranks[0]["d_losses"]) == 3
    assert not torch.equal(ranks[0]["z"], ranks[1]["z"])  # each rank its own noise


def test_without_the_average_the_ranks_drift_apart(tmp_path):
    # The check above can fail: with the sync switched off, each rank steps on its own half.
    cfg = tiny_config(*NO_DROPOUT)
    real, z = fixed_batch(cfg)
    halves = [
        one_update(build_components(cfg).parts, Batch(real[s], None, z[s], None))
        for s in (slice(0, 4), slice(4, 8))
    ]
    assert any(not torch.allclose(halves[0][k], halves[1][k]) for k in halves[0])


def torchrun(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "advnets",
    ]
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_torchrun_trains_one_run_folder_that_resumes_in_one_process(tmp_path):
    run = tmp_path / "run"
    result = torchrun(
        "train", *TINY, "train.max_steps=6", "log.every_steps=2", "--out", str(run), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == f"{run}\n"  # rank 0 speaks for both
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4, 6]  # once, not once per rank
    assert json.loads((run / "processes.json").read_text()) == [
        {"processes": 2, "batch_size_per_process": 32, "effective_batch_size": 64}
    ]
    state = torch.load(run / "checkpoints" / "step-0000006.pt", weights_only=True)
    assert state["cursor"] == {"epoch": 0, "batch": 6, "ranks": 2}
    assert not list(run.glob(".lock*"))
    # One process continues where the two stopped: 6 global batches of 64 are 12 of 32.
    from advnets.cli import main

    assert main(["resume", str(run), "train.max_steps=8", "--quiet"]) == 0
    state = torch.load(run / "checkpoints" / "step-0000008.pt", weights_only=True)
    assert state["cursor"] == {"epoch": 0, "batch": 14} and state["counters"]["step"] == 8
