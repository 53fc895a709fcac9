"""Parzen-window log-likelihood of generated samples, the metric of Goodfellow et al. (2014) Table 1.

Follows the authors' `parzen_ll.py` (docs/paper.md §2): the N generated samples s_j are the centres of an isotropic
Gaussian kernel density, and a point x of dimension d scores

    log p̂(x) = logmeanexp_j(−‖x − s_j‖² / 2σ²) − d·log(σ·√(2π)).

σ is the grid value (default the paper's `logspace(-1, 0, 10)`) with the highest mean log p̂ on validation
images; the reported figure is the mean over test images ± std/√N_test (numpy std, ddof=0).

The score depends on the pixel scale (docs/paper.md §4 item 11): a density in a space stretched by a factor k is
k^-d times smaller, so [-1, 1] pixels would lose d·ln 2 ≈ 543 nats on MNIST. `parzen_score` therefore takes
images in a named pixel range and always evaluates in [0, 1].

Implementation: squared distances come from matrix products (‖x‖² + ‖s‖² − 2x·s) in float64, in blocks of
points × samples that bound memory, and one pass over each block serves every σ. The log-sum-exp is streamed
across sample blocks with a running minimum distance per point: the largest kernel term of a point is the same
sample for every σ, so one running minimum rescales all the per-σ sums. The result stays exact when every
kernel term underflows (far-away points). On the CPU, when σ is small enough that only a few samples matter
per point (MNIST at the chosen σ), a float32 matrix product with a rigorous rounding-error bound first finds
those samples and only their terms are computed, in float64 from x − s; the dropped terms are provably
< 1e-13 of the sum. This is 1.8× faster; otherwise the float64 path above runs. On the float64 path a small σ
likewise sums only the entries inside its window (_add_terms). Together the protocol runs at about 0.8 of its
matrix products' time (benchmarks/RESULTS.md).

scikit-learn's KernelDensity is not used: on 784-d data at σ = 0.1 (version 1.9) it returns values thousands
of nats off, some positive (tests/metrics/test_parzen.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from advnets import pixels
from advnets.errors import UserError
from advnets.pixels import PIXEL_RANGES

PAPER_SIGMAS: np.ndarray = np.logspace(-1, 0, 10)
# Rows of points and of samples per block. A block of distances is chunk_size² float64 values (32 MiB at
# 2048); with one same-sized scratch buffer for the kernel terms the peak stays near 100 MB. On 2 CPU cores
# 2048 was the fastest of 1024/2048/4096/10000 for the full MNIST protocol (benchmarks/parzen.py).
DEFAULT_CHUNK_SIZE = 2048
# Real images may sit a rounding error outside their range; anything further means a wrong pixel_range.
_RANGE_TOLERANCE = 1e-3

SigmaGrid = Sequence[float] | np.ndarray | torch.Tensor


def _sigma_array(sigmas: SigmaGrid) -> np.ndarray:
    if isinstance(sigmas, torch.Tensor):
        sigmas = sigmas.detach().cpu().numpy()
    values = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise UserError("the Parzen sigma grid is empty; pass at least one bandwidth (e.g. the paper's grid)")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise UserError(f"Parzen sigmas must be finite and positive, got {values.tolist()}; fix the grid")
    return values


def _check_points(name: str, t: torch.Tensor, fix: str) -> None:
    if t.ndim != 2:
        raise UserError(f"{name} must be a 2-D tensor [N, d], got shape {tuple(t.shape)}; {fix}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise UserError(f"{name} is empty (shape {tuple(t.shape)}); pass at least one point of dimension ≥ 1")
    if not t.is_floating_point():
        raise UserError(f"{name} has dtype {t.dtype}; convert it to floating point (e.g. images / 255.0)")
    # One reduction rather than a boolean copy of the tensor: a finite sum means every value is finite, and only
    # a sum that is not (a NaN or inf, or finite values whose sum overflows) needs the element-wise look.
    if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        raise UserError(f"{name} contains NaN or infinite values; check the generator (diverged?) or data")


def _check_pair(x_name: str, x: torch.Tensor, samples: torch.Tensor) -> None:
    fix = "flatten images to [N, C*H*W] first (parzen_score does this for you)"
    _check_points("samples", samples, fix)
    _check_points(x_name, x, fix)
    if x.shape[1] != samples.shape[1]:
        raise UserError(
            f"{x_name} points have dimension {x.shape[1]} but samples have {samples.shape[1]}; evaluate "
            "samples and data of the same shape (same data set and image size)"
        )


@dataclass
class _Centres:
    """The samples prepared once for all chunks of points, with the per-σ constants."""

    centre: torch.Tensor  # [d], subtracted from points and samples
    s: torch.Tensor  # [N, d] float64, centred
    s_sq: torch.Tensor  # [N], ‖s‖²
    sigmas: np.ndarray  # [K], the σ grid
    factors: list[float]  # −1/(2σ²) per σ
    neg_inv_two_var: torch.Tensor  # [K], the same as a tensor
    log_norm: torch.Tensor  # [K], log N + d·log(σ√(2π)): the mean's 1/N and the Gaussian's normaliser
    chunk_size: int
    s32: torch.Tensor | None = None  # [N, d] float32 copy, for screening
    s_sq32: torch.Tensor | None = None  # [N]


def _prepare(
    samples: torch.Tensor, sigmas: np.ndarray, chunk_size: int, device: torch.device, screen: bool
) -> _Centres:
    # Distances are invariant to a shared shift; centring on the samples' mean keeps the norms small so the
    # rounding error of ‖x‖² + ‖s‖² − 2x·s (proportional to the norms) stays far below the distances we need.
    s = samples.to(device=device, dtype=torch.float64)
    centre = s.mean(0)
    s = s - centre  # [N, d]
    s_sq = s.square().sum(1)  # [N]
    c = _Centres(
        centre=centre,
        s=s,
        s_sq=s_sq,
        sigmas=sigmas,
        factors=[],
        neg_inv_two_var=s_sq.new_empty(0),
        log_norm=s_sq.new_empty(0),
        chunk_size=chunk_size,
    )
    if screen:
        c.s32, c.s_sq32 = s.float(), s_sq.float()
    return _with_sigmas(c, sigmas)


def _with_sigmas(c: _Centres, sigmas: np.ndarray) -> _Centres:
    """The prepared samples with another σ grid's constants (the samples themselves are shared, not copied)."""
    n, d = c.s.shape
    log_norm = math.log(n) + d * np.log(sigmas * math.sqrt(2 * math.pi))
    return replace(
        c,
        sigmas=sigmas,
        factors=[float(f) for f in -0.5 / sigmas**2],
        neg_inv_two_var=torch.as_tensor(-0.5 / sigmas**2, device=c.s.device),
        log_norm=torch.as_tensor(log_norm, device=c.s.device),
    )


def _exact_chunk(c: _Centres, xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (point, sample) term in float64. xc [m, d] centred -> (min ‖x − s‖² [m], Σ exp(·) [m, K])."""
    m, n = xc.shape[0], c.s.shape[0]
    x_sq = xc.square().sum(1)  # [m]
    run_min = torch.full((m,), math.inf, dtype=torch.float64, device=xc.device)  # smallest ‖x − s‖² so far
    sums = torch.zeros(
        (m, len(c.factors)), dtype=torch.float64, device=xc.device
    )  # Σ exp(−(D − run_min)/2σ²)
    scratch = None
    for s_start in range(0, n, c.chunk_size):
        sc, sc_sq = c.s[s_start : s_start + c.chunk_size], c.s_sq[s_start : s_start + c.chunk_size]
        # ‖s‖² − 2x·s = D − ‖x‖²: ‖x‖² is constant along a row, so it is only added to the row minimum.
        dist = torch.addmm(sc_sq, xc, sc.T, alpha=-2.0)  # [m, n_c]
        # Rounding can make a near-zero distance slightly negative: clamp the distances at 0.
        new_min = torch.minimum(run_min, (dist.amin(1) + x_sq).clamp_(min=0.0))
        # Terms gathered against the old minimum shrink by exp(−(old − new)/2σ²) ≤ 1; with old = inf
        # (first block) the factor is 0 and so are the sums.
        sums.mul_(torch.exp((run_min - new_min)[:, None] * c.neg_inv_two_var))
        run_min = new_min
        # D − run_min ≥ 0, so every kernel term is in (0, 1] and the sum cannot overflow.
        dist.sub_((run_min - x_sq)[:, None]).clamp_(min=0.0)
        if scratch is None or scratch.shape != dist.shape:
            scratch = torch.empty_like(dist)
        _add_terms(c, dist, sums, scratch)
    return run_min, sums


def _add_terms(c: _Centres, dist: torch.Tensor, sums: torch.Tensor, scratch: torch.Tensor) -> None:
    """sums[:, k] += Σ_j exp(f_k·Δ_ij) for a block Δ [m, n_c] of distances above the running minimum (≥ 0).

    A small σ's terms vanish beyond a window of Δ (on MNIST the five smallest of the paper's grid keep < 0.1% of
    them), so the σ whose window holds few entries (estimated on every 16th column) sum only the entries inside
    the largest such window, gathered once; the others go through every entry. Dropped terms are < e^-30/N of a
    point's largest term each: together < 1e-13 of its sum, as in the screened path."""
    n = c.s.shape[0]
    windows = (math.log(n) + _SCREEN_TAIL_NATS) / -c.neg_inv_two_var  # [K], in Δ
    inside = (dist[:, ::16, None] < windows).flatten(0, 1).count_nonzero(0)  # [K]
    sparse = inside <= _SPARSE_FRACTION * dist[:, ::16].numel()
    if int(sparse.count_nonzero()) < 2:  # the gathering would cost more than it saves
        sparse[:] = False
    for k in (~sparse).nonzero()[:, 0].tolist():
        # Arguments below −708 give (sub)normals that add < 1e-300 to a sum ≥ 1, and exp() takes a slow
        # path there (7× slower on this AVX2 CPU), so they are clamped to −700 first.
        torch.mul(dist, c.factors[k], out=scratch).clamp_(min=-700.0)
        sums[:, k] += scratch.exp_().sum(1)
    if sparse.any():
        i, j = torch.nonzero(dist < windows[sparse].max(), as_tuple=True)
        terms = torch.exp((dist[i, j][:, None] * c.neg_inv_two_var[sparse]).clamp_(min=-700.0))  # [P, K_sparse]
        sums[:, sparse] += torch.zeros_like(sums[:, sparse]).index_add_(0, i, terms)


# Screening drops the terms that lie this many nats (plus log N) below a point's largest term: together they
# are < e^-30 ≈ 1e-13 of the sum, far below the 1e-6 nats we promise.
_SCREEN_TAIL_NATS = 30.0
# A σ whose window holds at most this share of a block's entries sums only the entries inside it (_add_terms).
_SPARSE_FRACTION = 0.01
# More candidates than this per point (a collapsed generator, a large σ) and the exact path is cheaper.
_SCREEN_PAIRS_PER_ROW = 32
# Pairs whose exact distances are computed at once: 6 MB at d = 784, which stays in cache (4,096 ran 2× slower).
_PAIR_BATCH = 1024


def _can_screen(device: torch.device, d: int) -> bool:
    # Only on the CPU (a GPU's float64 matmul is fast enough), only with true float32 matmuls (the error
    # bound does not hold for TF32/bfloat16, see torch.set_float32_matmul_precision), and while d·u is small.
    return device.type == "cpu" and torch.get_float32_matmul_precision() == "highest" and d * 2.0**-24 < 0.01


def _rounded_up(threshold: torch.Tensor, unit: float) -> torch.Tensor:
    """A float64 threshold in float32, rounded up rather than to nearest, so that no pair it admits is lost."""
    return (threshold + 4 * unit * threshold.abs()).float()


def _screened_chunk(c: _Centres, xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Like _exact_chunk, but finds each point's few non-negligible samples with a float32 matmul and computes
    only those terms, in float64 from x − s. Returns None when the candidates exceed the budget."""
    assert c.s32 is not None and c.s_sq32 is not None
    (m, d), n = xc.shape, c.s.shape[0]
    unit = 2.0**-24  # float32 unit roundoff
    x_norm, s_sq_max = xc.norm(dim=1), float(c.s_sq.max())  # [m], scalar
    if s_sq_max > 1e30 or float(x_norm.max()) > 1e15:
        return None  # float32 would overflow
    # A bound on |E32 − E| for E = ‖s‖² − 2x·s, doubled for safety: the matmul's accumulation error is
    # ≤ γ_d·Σ|x_i s_i| ≤ γ_d·‖x‖‖s‖ in any summation order (γ_d = d·u/(1 − d·u)); rounding x, s and ‖s‖² to
    # float32 and the final rounding add ≤ 6u·‖x‖‖s‖ + 2u·‖s‖².
    gamma = d * unit / (1 - d * unit)
    error = 2 * ((2 * gamma + 6 * unit) * x_norm * math.sqrt(s_sq_max) + 2 * unit * s_sq_max)  # [m]
    # A term outside the window is ≥ (log N + 30)/|f| above the nearest in true distance, for every σ.
    window = (math.log(n) + _SCREEN_TAIL_NATS) / min(-f for f in c.factors) + 2 * error  # [m]
    x32 = xc.float()
    run_min32 = torch.full((m,), math.inf, dtype=torch.float64, device=xc.device)
    rows, cols, values, count = [], [], [], 0
    for s_start in range(0, n, c.chunk_size):
        e32 = torch.addmm(
            c.s_sq32[s_start : s_start + c.chunk_size],
            x32,
            c.s32[s_start : s_start + c.chunk_size].T,
            alpha=-2.0,
        )  # [m, n_c], E in float32
        run_min32 = torch.minimum(run_min32, e32.amin(1).double())
        kept = e32 <= _rounded_up(run_min32 + window, unit)[:, None]
        # The first block is counted before its pairs are gathered: that is where a grid whose largest σ spans
        # most samples (the paper's on MNIST) overruns the budget, and gathering them would cost more.
        if s_start == 0 and int(kept.count_nonzero()) > _SCREEN_PAIRS_PER_ROW * m:
            return None
        i, j = torch.nonzero(kept, as_tuple=True)
        count += len(i)
        if count > _SCREEN_PAIRS_PER_ROW * m:
            return None
        rows.append(i)
        cols.append(j + s_start)
        values.append(e32[i, j])
    i, j = torch.cat(rows), torch.cat(cols)
    # The early blocks kept pairs against a running minimum that later blocks lowered: the final window keeps
    # about half of them on MNIST, and only those get exact distances.
    final = torch.cat(values) <= _rounded_up(run_min32 + window, unit)[i]
    i, j = i[final], j[final]
    dist = torch.empty(len(i), dtype=torch.float64, device=xc.device)  # exact ‖x − s‖² of each candidate pair
    for b in range(0, len(i), _PAIR_BATCH):
        diff = torch.index_select(xc, 0, i[b : b + _PAIR_BATCH]).sub_(torch.index_select(c.s, 0, j[b : b + _PAIR_BATCH]))
        dist[b : b + _PAIR_BATCH] = torch.linalg.vector_norm(diff, dim=1).square_()
    # Every point has its true nearest sample among its candidates, so this is its exact minimum.
    run_min = torch.full((m,), math.inf, dtype=torch.float64, device=xc.device).scatter_reduce_(
        0, i, dist, "amin"
    )
    terms = torch.exp(((dist - run_min[i])[:, None] * c.neg_inv_two_var).clamp_(min=-700.0))  # [P, K]
    sums = torch.zeros((m, len(c.factors)), dtype=torch.float64, device=xc.device).index_add_(0, i, terms)
    return run_min, sums


def _blocks(x: torch.Tensor, c: _Centres) -> Iterator[torch.Tensor]:
    """Yields log p̂ [m, K] (float64, CPU) for consecutive chunks of the rows of x, K = number of σ."""
    screen = c.s32 is not None
    for start in range(0, x.shape[0], c.chunk_size):
        xc = x[start : start + c.chunk_size].to(device=c.s.device, dtype=torch.float64) - c.centre  # [m, d]
        found = _screened_chunk(c, xc) if screen else None
        if found is None:
            screen = False  # the next chunks would most likely miss the budget too
            found = _exact_chunk(c, xc)
        run_min, sums = found
        # sums ≥ 1 (the nearest sample contributes exp(0)), so the log is finite.
        yield (run_min[:, None] * c.neg_inv_two_var + sums.log() - c.log_norm).cpu()


def parzen_log_density(
    x: torch.Tensor,
    samples: torch.Tensor,
    sigmas: SigmaGrid,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """log p̂(x) for every point and every σ, float64 [M, len(sigmas)] on the CPU.

    x [M, d] and samples [N, d] are used as given (no rescaling): pass them in the space to evaluate.
    All σ share one pass over the squared distances. `chunk_size` rows of x and of samples form one block of
    distances (memory ≈ 16·chunk_size² bytes). `device` defaults to the samples' device ("cuda": the GPU).
    """
    _check_pair("x", x, samples)
    return torch.cat(list(_blocks(x, _centres(samples, _sigma_array(sigmas), chunk_size, device))))


def _centres(
    samples: torch.Tensor, sigmas: np.ndarray, chunk_size: int, device: str | torch.device | None
) -> _Centres:
    """The checked samples prepared on `device` (default: theirs), screened where the CPU allows."""
    if chunk_size < 1:
        raise UserError(f"chunk_size must be >= 1, got {chunk_size}")
    dev = torch.device(device) if device is not None else samples.device
    return _prepare(samples, sigmas, chunk_size, dev, screen=_can_screen(dev, samples.shape[1]))


def select_sigma(
    valid: torch.Tensor,
    samples: torch.Tensor,
    sigmas: SigmaGrid = PAPER_SIGMAS,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    device: str | torch.device | None = None,
) -> tuple[float, list[float]]:
    """The σ with the highest mean validation log p̂ (first one on ties), and the mean for every σ.

    valid [M, d] and samples [N, d] are used as given; chunk_size and device as in parzen_log_density.
    """
    sigma_values = _sigma_array(sigmas)
    _check_pair("valid", valid, samples)
    return _select(valid, _centres(samples, sigma_values, chunk_size, device))


def _select(valid: torch.Tensor, centres: _Centres) -> tuple[float, list[float]]:
    """select_sigma on prepared samples (σ grid and all)."""
    means = torch.cat(list(_blocks(valid, centres))).mean(0).numpy()  # [K]
    best = int(np.argmax(means))
    return float(centres.sigmas[best]), [float(v) for v in means]


@dataclass
class ParzenResult:
    """One Parzen score with its protocol; `name` states the sample count (e.g. parzen10k)."""

    name: str
    mean: float  # mean test log-likelihood, nats
    se: float  # std/√n_test, numpy std with ddof=0 (docs/paper.md §2)
    sigma: float  # the bandwidth chosen on the validation set
    sigmas: list[float]  # the grid σ was chosen from
    valid_means: list[float]  # mean validation log-likelihood per grid σ
    n_samples: int
    n_valid: int
    n_test: int
    dim: int
    pixel_range: str  # the range the inputs came in; the score itself is always on [0, 1] pixels
    seed: int | None  # the seed that generated the samples, recorded for the protocol (not used here)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.name} = {self.mean:.2f} ± {self.se:.2f} nats (σ={self.sigma:.4f} from {len(self.sigmas)} "
            f"values on {self.n_valid} valid, {self.n_test} test)"
        )


def describe_parzen(record: dict[str, Any]) -> str:
    """A parzen record (eval.jsonl) in one line, as `advnets eval` prints it: ParzenResult's wording."""
    fields = ParzenResult.__dataclass_fields__
    return str(ParzenResult(**{k: v for k, v in record.items() if k in fields}))


PAPER_VALID, PAPER_TEST = 1000, 10000  # validation images that choose σ, test images scored (docs/paper.md §2)


def protocol_name(
    n_samples: int, sigmas: SigmaGrid = PAPER_SIGMAS, n_valid: int = PAPER_VALID, n_test: int = PAPER_TEST
) -> str:
    """parzen10k for 10,000 samples, parzen500 for 500: the sample count is part of the metric's name. A σ grid
    other than the paper's is named too (parzen10k-sigma30[0.1-0.4]), since σ moves the score by many nats
    near the optimum and scores from different grids must not be compared as one (docs/paper.md §7); so are
    validation and test counts other than the paper's 1,000 and 10,000 (parzen10k-valid200-test197)."""
    name = f"parzen{n_samples // 1000}k" if n_samples % 1000 == 0 else f"parzen{n_samples}"
    grid = _sigma_array(sigmas)
    if not (grid.shape == PAPER_SIGMAS.shape and np.allclose(grid, PAPER_SIGMAS, rtol=1e-9, atol=0)):
        name = f"{name}-sigma{grid.size}[{grid.min():.4g}-{grid.max():.4g}]"
    if (n_valid, n_test) != (PAPER_VALID, PAPER_TEST):
        name = f"{name}-valid{n_valid}-test{n_test}"
    return name


def to_unit_range(images: torch.Tensor, pixel_range: str, name: str) -> torch.Tensor:
    """Flattens [N, ...] to [N, d] and maps pixels from `pixel_range` to [0, 1]."""
    if pixel_range not in PIXEL_RANGES:
        raise UserError(
            f"unknown pixel_range {pixel_range!r}; choose one of: {', '.join(PIXEL_RANGES)} "
            "(unit = [0, 1] as from a sigmoid, symmetric = [-1, 1] as from a tanh)"
        )
    if images.ndim < 2:
        raise UserError(f"{name} must be [N, d] or [N, C, H, W], got shape {tuple(images.shape)}")
    flat = images.flatten(1)  # [N, d]
    if not flat.is_floating_point():
        raise UserError(f"{name} has dtype {flat.dtype}; convert it to floating point in the declared range")
    return pixels.to_unit_range(flat, pixel_range)


def _check_range(name: str, unit: torch.Tensor, pixel_range: str) -> None:
    # Only real images are checked: a generator with a linear output may legitimately leave the range.
    if unit.numel() and not bool(torch.isnan(unit).any()):
        lo, hi = float(unit.min()), float(unit.max())
        if lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
            raise UserError(
                f"{name} images are outside the declared pixel_range={pixel_range!r} (rescaled to [0, 1] "
                f"they span [{lo:.3g}, {hi:.3g}]); pass the range the images are in (unit = [0, 1], "
                "symmetric = [-1, 1]) or rescale them: the Parzen score depends on the scale (docs/paper.md §4)"
            )


def parzen_score(
    samples: torch.Tensor,
    valid: torch.Tensor,
    test: torch.Tensor,
    *,
    pixel_range: str = "unit",
    sigmas: SigmaGrid = PAPER_SIGMAS,
    seed: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ParzenResult:
    """The paper's Parzen protocol: σ chosen on `valid`, mean ± SE of log p̂ on `test` (docs/paper.md §2).

    samples, valid and test are images [N, C, H, W] or flat [N, d] in `pixel_range` ("unit" = [0, 1],
    "symmetric" = [-1, 1]); all are flattened and rescaled to [0, 1] here. `seed` is only recorded.
    """
    samples_u = to_unit_range(samples, pixel_range, "samples")
    valid_u = to_unit_range(valid, pixel_range, "valid")
    test_u = to_unit_range(test, pixel_range, "test")
    _check_range("valid", valid_u, pixel_range)
    _check_range("test", test_u, pixel_range)
    _check_pair("valid", valid_u, samples_u)
    _check_pair("test", test_u, samples_u)
    # The samples are prepared once, for the grid on `valid` and again, with the chosen σ, for `test`.
    grid = _centres(samples_u, _sigma_array(sigmas), DEFAULT_CHUNK_SIZE, device)
    sigma, valid_means = _select(valid_u, grid)
    blocks = _blocks(test_u, _with_sigmas(grid, np.array([sigma])))
    if progress:
        from tqdm.auto import tqdm

        n_chunks = math.ceil(test_u.shape[0] / DEFAULT_CHUNK_SIZE)
        blocks = tqdm(blocks, total=n_chunks, desc="parzen test", unit="chunk")
    log_p = torch.cat(list(blocks))[:, 0].numpy()  # [n_test]
    return ParzenResult(
        name=protocol_name(samples_u.shape[0], sigmas, valid_u.shape[0], test_u.shape[0]),
        mean=float(log_p.mean()),
        se=float(log_p.std() / math.sqrt(len(log_p))),  # numpy std: ddof=0, as parzen_ll.py
        sigma=sigma,
        sigmas=[float(v) for v in _sigma_array(sigmas)],
        valid_means=valid_means,
        n_samples=int(samples_u.shape[0]),
        n_valid=int(valid_u.shape[0]),
        n_test=int(test_u.shape[0]),
        dim=int(samples_u.shape[1]),
        pixel_range=pixel_range,
        seed=seed,
    )
