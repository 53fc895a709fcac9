"""Training throughput of two commits of advnets, measured in one run: did a refactor slow the hot loop?

    python benchmarks/compare_commits.py 8b356be HEAD              # the mnist-paper Trainer, both update rules
    python benchmarks/compare_commits.py 8b356be HEAD --out benchmarks/RESULTS.md

Each commit is checked out into a temporary git worktree; measurements run in fresh processes (one per commit and
round) that alternate between the commits, so both see the same machine load. Each process builds the
mnist-paper Trainer on 10,000 random 28x28 images (no data files needed), warms up, and times `--steps` updates
with no hooks. The table gives the median ms per update over `--rounds` and the ratio to the first commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import cpu_model, emit

REPO = Path(__file__).resolve().parents[1]

# Runs inside each commit's checkout; copes with both Trainer APIs (before and after `Trainer.from_config`).
MEASURE = r"""
import json, sys, time, torch
from advnets.config import load_config
from advnets.training.trainer import Trainer
try:
    from advnets.data import ImageSet
except ImportError:
    from advnets.data.images import ImageSet
steps, update = int(sys.argv[1]), sys.argv[2]
extra = ["train.update=alternating", "train.d_steps=1"] if update == "alternating" else []
cfg = load_config("mnist-paper", ["train.epochs=1000", "log.progress=false", "log.tensorboard=false", *extra])
gen = torch.Generator().manual_seed(0)
data = ImageSet(torch.rand(10000, 1, 28, 28, generator=gen), torch.zeros(10000, dtype=torch.long), "random", "train", "unit")
trainer = Trainer.from_config(cfg, data=data) if hasattr(Trainer, "from_config") else Trainer(cfg, data=data)
for _ in range(5):
    trainer.train_step()
start = time.perf_counter()
for _ in range(steps):
    trainer.train_step()
print(json.dumps({"ms": (time.perf_counter() - start) / steps * 1e3}))
"""


def checkout(rev: str, root: Path) -> Path:
    path = root / rev.replace("/", "_")
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev],
        check=True,
        capture_output=True,
    )
    return path


def measure(src: Path, steps: int, update: str) -> float:
    env = {"PYTHONPATH": str(src / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": ""}
    env = {k: v for k, v in env.items() if v}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(steps), update],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=src,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["ms"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("revs", nargs=2, help="two git revisions; the first is the reference")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = [checkout(rev, Path(tmp)) for rev in args.revs]
        try:
            rows = []
            for update in ("simultaneous", "alternating"):
                times: list[list[float]] = [[], []]
                for _ in range(args.rounds):
                    for i, tree in enumerate(trees):
                        times[i].append(measure(tree, args.steps, update))
                medians = [statistics.median(t) for t in times]
                rows.append((update, medians, [min(t) for t in times]))
        finally:
            for tree in trees:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True
                )
    cpu = cpu_model()
    a, b = args.revs
    lines = [
        f"Machine: {cpu}, {time.strftime('%Y-%m-%d')}. Command: `python benchmarks/compare_commits.py {a} {b} "
        f"--steps {args.steps} --rounds {args.rounds}`. mnist-paper Trainer on random 28x28 data, no hooks; "
        "medians over rounds that alternate between the commits (min in brackets).",
        "",
        f"| update rule | {a} ms / update | {b} ms / update | {b} / {a} |",
        "|---|---|---|---|",
    ]
    for update, (ma, mb), (na, nb) in rows:
        lines.append(f"| {update} | {ma:.1f} ({na:.1f}) | {mb:.1f} ({nb:.1f}) | {mb / ma:.3f} |")
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
