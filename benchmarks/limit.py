"""Training throughput against the machine's limit, and against the loops people write, in one run.

    python benchmarks/limit.py                      # every case, a markdown table
    python benchmarks/limit.py --cases mnist-paper --steps 30 --out benchmarks/RESULTS.md

The limit of a case is what its matrix products and convolutions alone cost on this machine: one update of the
advnets Trainer is recorded op by op (a TorchDispatchMode), and the compute-bound ops (mm, addmm, bmm, baddbmm,
convolution and its backward) are replayed on fresh tensors of the same shapes and strides, timed. An update
cannot be faster than that; `of limit` is the limit's time over the loop's. FLOPs per update are counted by
torch.utils.flop_counter over the same update, so `GFLOP/s` is the rate the loop reaches.

Rows per case:
- limit: the replayed products alone;
- advnets Trainer: the hot loop (batches by index, schedules, the update rule), no hooks;
- advnets train: the same loop with the hooks of `advnets train` at the preset's frequencies (a metrics line with
  the health signals every `log.every_steps`, a sample grid every `log.sample_every_steps`; no epoch ends in the
  timed steps, so no checkpoint or evaluation);
- mnist-paper only, peers: the loop most people copy (a DataLoader over a TensorDataset, sigmoid + BCELoss,
  `.item()` and a print every step, a G step then a D step on the detached batch: more work than the paper's
  simultaneous update, and another order) and a plain loop with advnets' maths (the simultaneous update: one fake
  batch, D's and G's gradients from one D pass, SGD with momentum), which gives advnets' numbers.
Timings are medians over repeats that alternate between the rows, so every row sees the same machine load.
Peak RSS is the process's at the end of each case (cases run in turn, in one process: it only grows).
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from report import cpu_model, emit, time_round_robin
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from advnets.allocator import reuse_freed_memory
from advnets.config import load_config
from advnets.data import ImageSet, load_data
from advnets.runs.run_dir import create_run_dir
from advnets.runs.session import default_hooks
from advnets.training.trainer import Trainer

COMPUTE_OPS = {"mm", "addmm", "bmm", "baddbmm", "convolution", "convolution_backward"}
CASES = {
    "mnist-paper": ("mnist-paper", []),
    "mnist-paper-alternating": ("mnist-paper", ["train.update=alternating"]),
    "dcgan-mnist": ("dcgan-mnist", []),
    "ring-8": ("ring-8", []),
}


class Recorder(TorchDispatchMode):
    """Keeps (op, args, kwargs) of every compute-bound aten op, tensors replaced by their shape, stride, dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func.overloadpacket.__name__ in COMPUTE_OPS:
            self.ops.append((func, _describe(args), _describe(kwargs)))
        return func(*args, **kwargs)


def _describe(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), tuple(value.stride()), value.dtype, value.device)
    if isinstance(value, (list, tuple)):
        return type(value)(_describe(v) for v in value)
    if isinstance(value, dict):
        return {k: _describe(v) for k, v in value.items()}
    return value


def _materialise(value: Any) -> Any:
    if isinstance(value, tuple) and value and value[0] == "tensor":
        _, shape, stride, dtype, device = value
        # Filled through a flat buffer of the size the strides span: broadcast views (stride 0) are not writable.
        span = 1 + sum((n - 1) * s for n, s in zip(shape, stride)) if all(shape) else 0
        return torch.empty(span, dtype=dtype, device=device).normal_().as_strided(shape, stride)
    if isinstance(value, (list, tuple)):
        return type(value)(_materialise(v) for v in value)
    if isinstance(value, dict):
        return {k: _materialise(v) for k, v in value.items()}
    return value


def replay(ops: list[tuple[Any, Any, Any]]) -> Callable[[int], None]:
    """n times the recorded ops, on fresh tensors made once."""
    made = [(func, _materialise(args), _materialise(kwargs)) for func, args, kwargs in ops]

    def run(n: int) -> None:
        for _ in range(n):
            for func, args, kwargs in made:
                func(*args, **kwargs)

    return run


def trainer_runner(trainer: Trainer) -> Callable[[int], None]:
    """n iterations of the trainer's loop body, each followed by its hooks' step-end work (the hooks started
    once): the steady state of `Trainer.fit`, without a session's start and end in every timing."""
    for hook in trainer.hooks:
        hook.on_start(trainer)

    def run(n: int) -> None:
        for _ in range(n):
            stats = trainer.train_step()
            for hook in trainer.hooks:
                hook.on_step_end(trainer, stats)

    return run


# ------------------------------------------------------------------------------------------------ mnist-paper peers
class Maxout(nn.Module):
    def __init__(self, n_in: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(n_in, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.units, self.pieces).max(-1).values


def paper_nets() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    G = nn.Sequential(
        nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(), nn.Linear(1200, 784), nn.Sigmoid()
    )
    D = nn.Sequential(
        nn.Dropout(0.2),
        Maxout(784, 240, 5),
        nn.Dropout(0.5),
        Maxout(240, 240, 5),
        nn.Dropout(0.5),
        nn.Linear(240, 1),
    )
    return G, D


def tutorial_loop(images: torch.Tensor, batch: int) -> Callable[[int], None]:
    """The loop most people copy: DataLoader, sigmoid + BCELoss, a G step then a D step, .item() and a print."""
    G, D = paper_nets()
    D = nn.Sequential(D, nn.Sigmoid())
    loader = DataLoader(
        TensorDataset(images.view(len(images), -1)), batch_size=batch, shuffle=True, drop_last=True
    )
    g_opt = torch.optim.SGD(G.parameters(), lr=0.1, momentum=0.5)
    d_opt = torch.optim.SGD(D.parameters(), lr=0.1, momentum=0.5)
    bce, sink = nn.BCELoss(), io.StringIO()
    batches: Iterator[list[torch.Tensor]] = iter(())

    def run(n: int) -> None:
        nonlocal batches
        for _ in range(n):
            real: list[torch.Tensor] | None = next(batches, None)
            if real is None:
                batches = iter(loader)
                real = next(batches)
            (x,) = real
            ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
            fake = G(torch.rand(batch, 100))
            g_opt.zero_grad()
            g_loss = bce(D(fake), ones)
            g_loss.backward()
            g_opt.step()
            d_opt.zero_grad()
            d_loss = bce(D(x), ones) + bce(D(fake.detach()), zeros)
            d_loss.backward()
            d_opt.step()
            print(f"d_loss {d_loss.item():.4f} g_loss {g_loss.item():.4f}", file=sink)
            sink.seek(0)

    return run


def plain_loop(images: torch.Tensor, batch: int) -> Callable[[int], None]:
    """advnets' maths written plainly: one fake batch, D and G gradients from one pass of D over it."""
    G, D = paper_nets()
    x_all = images.view(len(images), -1)
    g_opt = torch.optim.SGD(G.parameters(), lr=0.1, momentum=0.5)
    d_opt = torch.optim.SGD(D.parameters(), lr=0.1, momentum=0.5)
    g_params, d_params = list(G.parameters()), list(D.parameters())
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    gen = torch.Generator().manual_seed(0)

    def run(n: int) -> None:
        for _ in range(n):
            x = x_all[torch.randint(len(x_all), (batch,), generator=gen)]
            fake = G(torch.rand(batch, 100, generator=gen))
            d_fake = D(fake).squeeze(1)
            d_loss = 0.5 * (
                F.binary_cross_entropy_with_logits(D(x).squeeze(1), ones)
                + F.binary_cross_entropy_with_logits(d_fake, zeros)
            )
            g_loss = F.binary_cross_entropy_with_logits(d_fake, ones)
            g_opt.zero_grad(set_to_none=True)
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward(inputs=d_params, retain_graph=True)
            g_loss.backward(inputs=g_params)
            d_opt.step()
            g_opt.step()

    return run


# ------------------------------------------------------------------------------------------------ one case
def measure(case: str, steps: int, repeats: int) -> list[tuple[str, float, float]]:
    """[(row, seconds per update, FLOPs per update)] of one case."""
    preset, overrides = CASES[case]
    cfg = load_config(
        preset, [*overrides, "train.epochs=1000", "log.progress=false", "log.tensorboard=false"]
    )
    data = load_data(cfg.data) if cfg.data.name in ("ring-8",) else None
    if data is None:
        gen = torch.Generator().manual_seed(0)
        shape = (1, 28, 28)
        pixels = torch.rand(12_800, *shape, generator=gen)
        pixel_range = cfg.data.pixel_range
        images = pixels * 2 - 1 if pixel_range == "symmetric" else pixels
        data = ImageSet(images, torch.zeros(len(images), dtype=torch.long), "random", "train", pixel_range)
    bare = Trainer.from_config(cfg, data=data)
    recorder = Recorder()
    with recorder:
        trainer_runner(bare)(1)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = create_run_dir(cfg, Path(tmp) / "run")
        hooked = Trainer.from_config(cfg, data=data, hooks=default_hooks(run_dir, cfg))
        rows: list[tuple[str, Callable[[int], None]]] = [
            ("limit: the update's products and convolutions alone", replay(recorder.ops)),
            ("advnets Trainer (hot loop, no hooks)", trainer_runner(bare)),
            ("advnets train (hooks at the preset's frequencies)", trainer_runner(hooked)),
        ]
        if preset == "mnist-paper" and not overrides:
            images = data.take(torch.arange(len(data)))
            rows += [
                (
                    "peer: the loop most people copy (DataLoader, BCELoss, .item() + print, G then D)",
                    tutorial_loop(images, cfg.train.batch_size),
                ),
                ("peer: a plain loop with advnets' maths", plain_loop(images, cfg.train.batch_size)),
            ]
        counted = []
        for _, fn in rows:  # each loop's own FLOPs per update (the peers' differ from the paper's update)
            with FlopCounterMode(display=False) as counter:
                fn(1)
            counted.append(float(counter.get_total_flops()))
        seconds = time_round_robin([fn for _, fn in rows], steps, repeats)
    return [(label, s, flop) for (label, _), s, flop in zip(rows, seconds, counted)]


def square_gemm_rate(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of one float32 n × n matrix product, the machine's best case (median of repeats)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    reuse_freed_memory()  # as `advnets` does (benchmarks/allocator.py measures what it is worth)
    lines = [
        f"Machine: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d')}. Command: `python benchmarks/limit.py --cases {args.cases} --steps "
        f"{args.steps} --repeats {args.repeats}`. Random images stand in for MNIST (the speed does not depend on "
        f"pixel values). A float32 2048 × 2048 product runs at {square_gemm_rate():.0f} GFLOP/s here.",
        "",
        "| case | loop | ms / update | updates / s | GFLOP / update | GFLOP/s | of limit | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in args.cases.split(","):
        rows = measure(case, args.steps, args.repeats)
        limit = rows[0][1]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for label, seconds, flop in rows:
            lines.append(
                f"| {case} | {label} | {seconds * 1e3:.1f} | {1 / seconds:.1f} | {flop / 1e9:.2f} | "
                f"{flop / seconds / 1e9:.0f} | {limit / seconds:.2f} | {rss:.0f} |"
            )
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
