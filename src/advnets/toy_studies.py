"""The 2-D mode-collapse studies, `advnets reproduce ring-8` and `advnets reproduce grid-25`: PacGAN's vanilla GAN
(the `ring-8` / `grid-25` presets) and each remedy against mode collapse the toolkit has, one row each, scored with
PacGAN's protocol (`modes2500`, advnets.metrics.modes) at the last epoch, beside the published points of VEEGAN
(Srivastava et al. 2017, Table 1) and PacGAN (Lin et al. 2018, Table 1).

A row is a preset plus dotted overrides; the remedies' settings are the literature's usual ones, scaled to the
data where they act on distances (instance noise), and the `best` rows are the presets `ring-8-best` /
`grid-25-best`, whose headers say how they were chosen.
"""

from __future__ import annotations

from advnets.studies import STUDIES, Column, Published, Row, Study

MODES_COLUMNS = (
    Column("modes", "modes covered", digits=1),
    Column("high_quality", "high-quality samples", scale=100.0, digits=1, unit="%"),
    Column("reverse_kl", "reverse KL (nats)", digits=3),
)

def remedy_rows(preset: str, noise_std: float, steps: int) -> tuple[Row, ...]:
    """The vanilla GAN of `preset` and one row per remedy; `noise_std` is instance noise's starting std, annealed
    to 0 over the run's `steps` G updates, so the last samples are scored against noise-free data."""
    return (
        Row("vanilla", "vanilla GAN (Algorithm 1)", preset),
        Row("best", "advnets best recipe", f"{preset}-best"),
        Row("r1", "R1 penalty on real data (γ = 1)", preset, ("penalties.r1.weight=1",)),
        Row("gradient-penalty", "gradient penalty (λ = 1)", preset, ("penalties.gradient_penalty.weight=1",)),
        Row("spectral-norm", "spectral norm on D", preset, ("model.discriminator.spectral_norm=true",)),
        Row(
            "instance-noise",
            f"instance noise (std {noise_std:g} → 0)",
            preset,
            (
                f"transforms.instance_noise.std={noise_std:g}",
                f"transforms.instance_noise.anneal_steps={steps}",
            ),
        ),
        Row("ema", "EMA of G (0.999)", preset, ("train.ema_decay=0.999",)),
        Row("simultaneous", "simultaneous update (PacGAN's code)", preset, ("train.update=simultaneous",)),
        Row("unrolled", "unrolled GAN (K = 5)", preset, ("train.update=unrolled", "train.rule.steps=5")),
        # Few, small kernels: on ring-8, seed 0, B = 20 let D win outright (0 of 8 modes).
        Row(
            "minibatch",
            "minibatch discrimination (B = 5, C = 3)",
            preset,
            ("model.discriminator.minibatch_kernels=5", "model.discriminator.minibatch_kernel_dims=3"),
        ),
    )


NOTES = (
    "PacGAN's 2-D experiment: {what}. Each row is a preset with overrides (last column): `{preset}` is PacGAN's "
    "vanilla GAN shortened to 6,000 updates, `{preset}-best` the advnets recipe (its header says how it was "
    "chosen). Protocol `modes2500` (PacGAN, after VEEGAN): 2,500 samples from G "
    "(from G's weight average for the EMA row, `modes2500-ema`), each *high quality* within 3 std of its nearest "
    "centre; *modes covered*: components with at least one high-quality sample (of {k}); *reverse KL*: KL of the "
    "high-quality samples' histogram over the components from the uniform one (0 = even spread). Published rows "
    "are as quoted in the issue (VEEGAN: its own nets and schedule; PacGAN: 400,000 updates at lr 1e-4)."
)

# The unrolled GAN in its authors' own 2-D settings (the `ring-8-unrolled` preset's header), and that setup without
# unrolling (K = 0, the authors' own "unrolled 0" baseline), so the table says whether the unrolling or the rest of
# the setup made the difference against the `unrolled` row above (ring-8's nets and rates, K = 5).
UNROLLED_AUTHORS = (
    # 3 seeds: 25,000 updates with 5 unrolled steps each are about an hour a seed on a 2-core CPU.
    Row("unrolled-authors", "unrolled GAN, its authors' 2-D settings (K = 5)", "ring-8-unrolled", seeds=3),
    Row(
        "unrolled-authors-k0",
        "its authors' 2-D settings, K = 0 (no unrolling)",
        "ring-8-unrolled",
        ("train.rule.steps=0",),
        seeds=1,
    ),
)

# Why two remedies fail on the ring (docs/toy-2d.md, "Two remedies that fail here"): spectral norm with another D
# family and with the ring scaled up tenfold, and minibatch discrimination with D's rate lowered tenfold; one seed
# each, as a diagnosis.
DIAGNOSES = (
    Row(
        "spectral-norm-mlp",
        "spectral norm on an MLP D (3 × 200 leaky ReLU)",
        "ring-8",
        (
            "model.discriminator.arch=mlp",
            "model.discriminator.hidden=[200,200,200]",
            "model.discriminator.activation=leaky_relu",
            "model.discriminator.spectral_norm=true",
        ),
        seeds=1,
    ),
    Row(
        "spectral-norm-x10",
        "spectral norm on D, the ring × 10 (radius 10, std 0.1)",
        "ring-8",
        ("model.discriminator.spectral_norm=true", "data.radius=10", "data.std=0.1"),
        seeds=1,
    ),
    Row(
        "minibatch-d-slow",
        "minibatch discrimination (B = 5, C = 3), D's rate 1e-4",
        "ring-8",
        (
            "model.discriminator.minibatch_kernels=5",
            "model.discriminator.minibatch_kernel_dims=3",
            "train.d_optimizer.lr=0.0001",
        ),
        seeds=1,
    ),
)


def mode_study(
    preset: str,
    name: str,
    what: str,
    k: int,
    noise_std: float,
    published: dict[str, dict[str, str]],
    extra: tuple[Row, ...] = (),
    seeds: int = 3,
) -> Study:
    """The study of a 2-D mixture: its remedy rows (then `extra`), the modes columns and the published points
    (label -> cells)."""
    return Study(
        title=f"{preset}: mode coverage of {name}, the vanilla GAN and its remedies",
        metric="modes",
        columns=MODES_COLUMNS,
        rows=remedy_rows(preset, noise_std=noise_std, steps=6000) + extra,
        published=tuple(Published(label, cells) for label, cells in published.items()),
        notes=NOTES.format(what=what, preset=preset, k=k),
        seeds=seeds,
    )


STUDIES["ring-8"] = mode_study(
    "ring-8",
    "8 Gaussians on a ring",
    "8 Gaussians (std 0.01) on the unit circle",
    8,
    noise_std=0.1,
    published={
        "vanilla GAN (VEEGAN, Table 1)": {"modes": "1"},
        "vanilla GAN (PacGAN, Table 1)": {"modes": "6.3 ± 0.5", "high_quality": "98.2%"},
        "unrolled GAN (VEEGAN, Table 1)": {"modes": "7.6"},
        "PacGAN4 (PacGAN, Table 1)": {"modes": "7.8", "high_quality": "95.9%"},
    },
    extra=UNROLLED_AUTHORS + DIAGNOSES,
    seeds=5,  # every remedy row (issue 20); the costly unrolled-authors row and the one-seed diagnoses fewer
)
STUDIES["grid-25"] = mode_study(
    "grid-25",
    "25 Gaussians on a grid",
    "25 Gaussians (std 0.05) on a 5 × 5 grid, 2 apart",
    25,
    noise_std=0.25,
    published={
        "vanilla GAN (VEEGAN, Table 1)": {"modes": "3.3"},
        "vanilla GAN (PacGAN, Table 1)": {"modes": "17.3 ± 0.8", "high_quality": "94.8%"},
        "unrolled GAN (VEEGAN, Table 1)": {"modes": "23.6"},
        "PacGAN4 (PacGAN, Table 1)": {"modes": "24.8", "high_quality": "93.6%"},
    },
)

# ---------------------------------------------------------------------------------------------- the 1-D lab
MOMENTUM = tuple(
    f"train.{player}_optimizer.{key}=0.9" for player in ("g", "d") for key in ("momentum", "momentum_final")
)
ADAM = ("train.g_optimizer.name=adam", "train.d_optimizer.name=adam")

STUDIES["toy-1d"] = Study(
    title="toy-1d: a 1-D Gaussian, G's sample mean and variance by optimiser",
    metric="moments",
    columns=(
        Column("mean", "mean of G's samples", digits=3),
        Column("variance", "variance of G's samples", digits=3),
    ),
    rows=(
        Row("sgd", "plain SGD (the source's setup)", "toy-1d"),
        Row("momentum", "SGD with momentum 0.9", "toy-1d", MOMENTUM),
        Row("adam", "Adam, betas (0.9, 0.999)", "toy-1d", ADAM),
        Row("best", "advnets best recipe", "toy-1d-best"),
        Row(
            "best-per-sample-d",
            "best recipe with a per-sample D",
            "toy-1d-best",
            (
                "model.discriminator.arch=mlp",
                "model.discriminator.hidden=[50,50]",
                "model.discriminator.activation=elu",
            ),
        ),
    ),
    published=(
        Published("the data, N(4, 1.25)", {"mean": "4", "variance": "1.25"}),
        Published("plain SGD (the source's run)", {"mean": "4.21", "variance": "0.03"}),
        Published("SGD with momentum (the source's run)", {"mean": "3.82", "variance": "1.13"}),
        Published("Adam (the source's run)", {"mean": "4.26", "variance": "1.09"}),
    ),
    notes=(
        "The 1-D lab of docs/toy-1d.md: data N(4, variance 1.25); G 1 → 100 ELU → 100 sigmoid → 1 on U(0, 1) noise; "
        "D judges a whole set of 100 samples (100 → 50 → 50 → 1, ELU); BCE, one D and one G step per iteration, lr "
        "2e-4, batch 100, 30,000 iterations (`toy-1d`, plain SGD; the other rows override its optimiser). "
        "`toy-1d-best` sorts each set, uses Adam with a decaying lr and scores G's weight average (`moments10k-ema`). "
        "Protocol `moments10k`: mean and unbiased variance of 10,000 samples of G at the last iteration. The "
        "source's single runs are quoted for comparison (docs/paper.md §6); the goal is SGD's collapse reproduced "
        "and the best recipe within 0.05 of the mean and 5% of the variance."
    ),
    seeds=5,  # a row's new seeds train as one population (docs/populations.md)
)
