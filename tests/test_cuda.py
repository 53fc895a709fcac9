"""advnets on a CUDA GPU. Every test here is skipped where PyTorch sees no GPU (CI has none); on a GPU machine run
`python -m pytest tests/test_cuda.py`. benchmarks/RESULTS.md ("On a GPU") has the last run's machine and numbers.

- The same update on both devices: a run on the CPU and its twin on the GPU, handed the same random numbers (every
  draw the CPU run makes is recorded and replayed on the GPU: batches, z, G's labels, dropout masks, the gradient
  penalty's interpolation weights, instance noise), agree to float rounding, with TF32 off. The GPU's own generator
  draws other numbers than the CPU's, so without the replay the two runs could only be compared statistically.
- The speed switches act on the GPU and trade only the precision docs/speed.md says; CUDA graphs are refused.
- A checkpoint written on the GPU resumes on the CPU and one written on the CPU resumes on the GPU.
- Parzen's estimate on the GPU is the CPU's; a population on the GPU equals its members trained alone there.

With $ADVNETS_GPU_REPORT set to a file, the measured gaps are appended to it as JSON lines (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import torch

from advnets import penalties, transforms
from advnets.config import load_config
from advnets.errors import UserError
from advnets.metrics.parzen import parzen_log_density
from advnets.models import layers
from advnets.randomness import current_generator
from advnets.training.parts import Batch
from advnets.training.population import Population
from advnets.training.trainer import Trainer
from tests.conftest import TINY, tiny_config
from tests.training.test_speed import losses_of

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here (CI has none)")

QUIET = ["log.progress=false", "log.tensorboard=false"]
DIGITS_IMAGES = ["data.name=digits", "data.pixel_range=symmetric"]  # DCGAN's tanh range, no data files needed


def report(record: dict[str, Any]) -> None:
    path = os.environ.get("ADVNETS_GPU_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


def weights(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().cpu() for p in [*trainer.G.parameters(), *trainer.D.parameters()]]


def largest_gap(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """The largest difference of any weight, relative to that tensor's largest magnitude."""
    return max(float((x - y).abs().max() / x.abs().max().clamp_min(1e-12)) for x, y in zip(a, b, strict=True))


def on(device: torch.device, batch: Batch) -> Batch:
    fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
    return Batch(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in fields.items()})


class Tape:
    """Every random draw of a step: recorded while the CPU run steps, replayed (moved to the GPU) while its twin
    steps. The recording draws exactly as advnets.randomness does (the same arithmetic, the same generator), so
    the CPU run is the run it would be unrecorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.recording = True
        self.draws: list[torch.Tensor] = []
        original_uniform, original_normal = penalties.uniform, transforms.normal_like

        def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
            if self.recording:
                mask = torch.empty_like(x).bernoulli_(1 - p, generator=current_generator()).div_(1 - p)
                self.draws.append(mask)
            else:
                mask = self.draws.pop(0).to(x.device)
            return x * mask

        def drawn(original: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
            def draw(*args: Any, **kwargs: Any) -> torch.Tensor:
                like = kwargs.get("like", args[-1])
                if self.recording:
                    self.draws.append(original(*args, **kwargs))
                    return self.draws[-1]
                return self.draws.pop(0).to(like.device)

            return draw

        monkeypatch.setattr(layers, "dropout", dropout)
        monkeypatch.setattr(penalties, "uniform", drawn(original_uniform))
        monkeypatch.setattr(transforms, "normal_like", drawn(original_normal))

    def twin(self, cpu: Trainer, gpu: Trainer, monkeypatch: pytest.MonkeyPatch) -> None:
        """cpu.next_batch records what it draws; gpu.next_batch hands the same batches out in the same order."""
        batches: list[Batch] = []
        cpu_next = cpu.next_batch

        def record(*args: Any, **kwargs: Any) -> Batch:
            batches.append(cpu_next(*args, **kwargs))
            return batches[-1]

        monkeypatch.setattr(cpu, "next_batch", record)
        monkeypatch.setattr(gpu, "next_batch", lambda *args, **kwargs: on(gpu.device, batches.pop(0)))


TWINS = {
    # name: (preset or None for the tiny test config, overrides, weight tolerance after the steps)
    "tiny-maxout-dropout": (None, [], 1e-5),
    # SGD at lr 0.1 on 1200-unit layers: measured 1.4e-4 after 3 updates (losses equal to 1e-7)
    "mnist-paper-nets": ("mnist-paper", ["data.name=digits"], 1e-3),
    "dcgan": ("dcgan-mnist", DIGITS_IMAGES, 1e-2),
    "cgan": ("cgan-mnist", ["data.name=digits"], 1e-2),
    "wgan-gp": ("wgan", ["data.name=digits", "penalties.gradient_penalty.weight=10", "train.d_steps=2"], 1e-3),
    "instance-noise": (None, ["transforms.instance_noise.std=0.3", "train.update=alternating"], 1e-5),
    "ring-8": ("ring-8", [], 1e-3),  # Adam: a near-zero gradient's rounding moves a weight by a share of lr
    "ring-8-unrolled": ("ring-8-unrolled", [], 3e-3),  # measured 4.2e-4: Adam through 5 look-ahead steps of D
    "toy-1d": ("toy-1d", [], 1e-5),
}


def config(preset: str | None, overrides: list[str], device: str) -> Any:
    if preset is None:
        return tiny_config(*overrides, f"device={device}")
    return load_config(preset, [*QUIET, *overrides, f"device={device}"])


@pytest.mark.parametrize("name", list(TWINS))
def test_an_update_on_the_gpu_is_the_cpus_update_given_the_same_draws(name, monkeypatch):
    preset, overrides, tolerance = TWINS[name]
    overrides = [*overrides, "speed.tf32=false"]
    cpu = Trainer.from_config(config(preset, overrides, "cpu"))
    gpu = Trainer.from_config(config(preset, overrides, "cuda"))
    assert gpu.device.type == "cuda" and next(gpu.G.parameters()).is_cuda
    # Both are built from the same CPU stream; mnist-paper's G takes its output bias from the data's mean pixel,
    # which the GPU sums in another order (measured: 7e-9 of the largest bias).
    assert largest_gap(weights(cpu), weights(gpu)) < 1e-7
    tape = Tape(monkeypatch)
    tape.twin(cpu, gpu, monkeypatch)
    loss_gaps = []
    for _ in range(3):
        tape.recording = True
        cpu_stats = {k: float(v) for k, v in cpu.train_step().items()}
        tape.recording = False
        gpu_stats = {k: float(v) for k, v in gpu.train_step().items()}
        assert not tape.draws, "the GPU twin drew fewer random numbers than the CPU run"
        assert cpu_stats.keys() == gpu_stats.keys()
        loss_gaps += [abs(cpu_stats[k] - gpu_stats[k]) / max(abs(cpu_stats[k]), 1e-3) for k in cpu_stats]
        assert gpu_stats == pytest.approx(cpu_stats, rel=1e-3, abs=1e-4)
    gap = largest_gap(weights(cpu), weights(gpu))
    report({"test": "twin", "case": name, "weight_gap": gap, "loss_gap": max(loss_gaps)})
    assert gap < tolerance


SWITCHES = {
    # name: (preset, data overrides, switch overrides, relative tolerance of the first losses against all off)
    "autocast-bf16-mlp": ("mnist-paper", ["data.name=digits"], ["speed.autocast=bf16"], 3e-2),
    "autocast-bf16-dcgan": ("dcgan-mnist", DIGITS_IMAGES, ["speed.autocast=bf16"], 3e-2),
    "tf32-dcgan": ("dcgan-mnist", DIGITS_IMAGES, ["speed.tf32=true"], 1e-2),
    "channels-last-dcgan": ("dcgan-mnist", DIGITS_IMAGES, ["speed.channels_last=true"], 1e-3),
    "compile-mlp": ("mnist-paper", ["data.name=digits"], ["speed.compile=default"], 1e-3),
}


@pytest.mark.parametrize("name", list(SWITCHES))
def test_a_speed_switch_on_the_gpu_keeps_the_losses_to_its_precision(name):
    preset, data, switch, tolerance = SWITCHES[name]
    base = ["device=cuda", "speed.tf32=false", *data]
    off = losses_of(Trainer.from_config(load_config(preset, [*QUIET, *base])))
    on_ = losses_of(Trainer.from_config(load_config(preset, [*QUIET, *base, *switch])))
    gap = max(abs(a - b) / max(abs(a), 1e-3) for a, b in zip(off, on_, strict=True))
    report({"test": "switch", "case": name, "loss_gap": gap})
    assert on_ == pytest.approx(off, rel=tolerance, abs=1e-4)


@pytest.mark.parametrize("mode", ["reduce-overhead", "max-autotune"])
def test_cuda_graphs_are_refused_before_the_first_update(mode):
    with pytest.raises(UserError, match="records CUDA graphs on a GPU.*speed.compile=default"):
        Trainer.from_config(load_config("ring-8", [*QUIET, "device=cuda", f"speed.compile={mode}"]))


def cli(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "advnets", *map(str, args)], capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(("first", "then"), [("cuda", "cpu"), ("cpu", "cuda")])
def test_a_checkpoint_resumes_on_the_other_device(first, then, tmp_path):
    run = tmp_path / "run"
    trained = cli("train", *TINY, "train.epochs=1", f"device={first}", "--out", run, "--quiet")
    assert trained.returncode == 0, trained.stderr
    resumed = cli("resume", run, "train.epochs=2", f"device={then}", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 2 * (1400 // 32)
    sampled = cli("sample", run, "-n", 9, "-o", tmp_path / "grid.png")
    assert sampled.returncode == 0, sampled.stderr


def test_parzen_on_the_gpu_equals_the_cpus():
    gen = torch.Generator().manual_seed(0)
    x, samples = torch.rand(300, 64, generator=gen), torch.rand(1000, 64, generator=gen)
    sigmas = [0.1, 0.2, 0.3]
    cpu = parzen_log_density(x, samples, sigmas, chunk_size=128, device="cpu")
    gpu = parzen_log_density(x, samples, sigmas, chunk_size=128, device="cuda")
    gap = float((cpu - gpu).abs().max())
    report({"test": "parzen", "case": "300x1000x64", "gap": gap})
    assert gpu.device.type == "cpu" and gpu.dtype == torch.float64
    assert gap < 1e-6


def test_a_population_on_the_gpu_equals_its_members_alone():
    overrides = ["device=cuda", "speed.tf32=false", "train.update=alternating"]
    seeds = (0, 1, 2)
    alone = [Trainer.from_config(tiny_config(*overrides, f"seed={seed}")) for seed in seeds]
    solo = [[{k: float(v) for k, v in t.train_step().items()} for _ in range(4)] for t in alone]
    together = [Trainer.from_config(tiny_config(*overrides, f"seed={seed}")) for seed in seeds]
    population = Population(together)
    batched = [[{k: float(v) for k, v in s.items()} for s in population.train_step()] for _ in range(4)]
    gap = max(largest_gap(weights(a), weights(b)) for a, b in zip(alone, together, strict=True))
    report({"test": "population", "case": "tiny x3, dropout", "weight_gap": gap})
    assert gap < 1e-5
    for i in range(len(seeds)):
        for step in range(4):
            assert solo[i][step] == pytest.approx(batched[step][i], rel=1e-4, abs=1e-5)
