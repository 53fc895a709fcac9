"""Training throughput of the paper's MNIST nets (docs/paper.md §1a), against a reference loop in the same run.

    python benchmarks/train_speed.py            # prints a markdown table
    python benchmarks/train_speed.py --steps 50 --out benchmarks/RESULTS.md

Rows:
- advnets Trainer: the whole hot loop (batches by index from an in-memory tensor, schedules, the paper's
  simultaneous update from one shared fake batch, gradients set to None), no hooks.
- advnets joint_step: the simultaneous update alone, on a fixed batch.
- reference: the loop most reimplementations write (e.g. PyTorch-GAN style): a D update with detached fakes,
  then a *second* D pass for G's loss, `zero_grad()` filling zeros, torch.optim.SGD. It does more work
  than the paper's update (two D passes over the fakes), so the ratio shows what the paper's shared pass saves.
Times are medians over repeats that alternate between the loops; the ratio column divides by the reference measured in the same process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from report import cpu_model, emit, time_round_robin

from advnets.config import load_config
from advnets.data import ImageKind, ImageSet
from advnets.losses import build_loss
from advnets.models import ModelSpec, build_discriminator, build_generator
from advnets.models.noise import sample_noise
from advnets.training.optim import ClassicalSGD
from advnets.training.parts import Batch, Parts
from advnets.training.steps import joint_step
from advnets.training.trainer import Trainer

SHAPE = (1, 28, 28)


def fake_mnist(n: int) -> ImageSet:
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(n, *SHAPE, generator=gen)
    return ImageSet(images, torch.zeros(n, dtype=torch.long), "random", "train", "unit")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()

    cfg = load_config("mnist-paper", ["train.epochs=1000", "log.progress=false", "log.tensorboard=false"])
    batch = cfg.train.batch_size
    trainer = Trainer.from_config(cfg, data=fake_mnist(10_000))

    def run_trainer(steps: int) -> None:
        trainer.cfg.train.max_steps = trainer.step + steps
        trainer.fit()

    spec = ModelSpec(cfg.model.z_dim, SHAPE, ImageKind("unit"), torch.full(SHAPE, 0.13))
    torch.manual_seed(0)
    G = build_generator(cfg.model.generator, spec)
    D = build_discriminator(cfg.model.discriminator, spec)
    g_opt, d_opt = ClassicalSGD(G.parameters(), 0.1, 0.5), ClassicalSGD(D.parameters(), 0.1, 0.5)
    parts = Parts(G, D, g_opt, d_opt, build_loss(cfg.loss))
    real = torch.rand(batch, *SHAPE)

    def run_step(steps: int) -> None:
        for _ in range(steps):
            z = sample_noise(batch, cfg.model.z_dim, "uniform")
            joint_step(parts, Batch(real, None, z, None), step=0)

    torch.manual_seed(0)
    G2 = build_generator(cfg.model.generator, spec)
    D2 = build_discriminator(cfg.model.discriminator, spec)
    g_sgd = torch.optim.SGD(G2.parameters(), lr=0.1, momentum=0.5)
    d_sgd = torch.optim.SGD(D2.parameters(), lr=0.1, momentum=0.5)
    ones, zeros = torch.ones(batch), torch.zeros(batch)

    def run_reference(steps: int) -> None:
        for _ in range(steps):
            z = sample_noise(batch, cfg.model.z_dim, "uniform")
            fake = G2(z)
            d_sgd.zero_grad(set_to_none=False)
            d_loss = 0.5 * (
                F.binary_cross_entropy_with_logits(D2(real), ones)
                + F.binary_cross_entropy_with_logits(D2(fake.detach()), zeros)
            )
            d_loss.backward()
            d_sgd.step()
            g_sgd.zero_grad(set_to_none=False)
            g_loss = F.binary_cross_entropy_with_logits(D2(fake), ones)
            g_loss.backward()
            g_sgd.step()

    labels = [
        "reference loop (two D passes, zero_grad, torch SGD)",
        "advnets joint_step (the simultaneous update, fixed batch)",
        "advnets Trainer (whole hot loop, no hooks)",
    ]
    rows = list(
        zip(labels, time_round_robin([run_reference, run_step, run_trainer], args.steps, args.repeats))
    )
    ref = rows[0][1]
    cpu = cpu_model()
    lines = [
        f"Machine: {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}. Command: `python benchmarks/train_speed.py --steps {args.steps} "
        f"--repeats {args.repeats}`. Paper MNIST nets, batch {batch}.",
        "",
        "| loop | ms / update | examples / s | speed vs reference |",
        "|---|---|---|---|",
    ]
    for label, seconds in rows:
        lines.append(f"| {label} | {seconds * 1e3:.1f} | {batch / seconds:,.0f} | {ref / seconds:.2f}× |")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
