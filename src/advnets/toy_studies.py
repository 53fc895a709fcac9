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

# Minibatch discrimination (Salimans et al. 2016) is being added to the toolkit: its row goes here, e.g.
# Row("minibatch", "minibatch discrimination", PRESET, ("model.discriminator.minibatch_kernels=...", ...)).
MINIBATCH_PENDING = (
    "a minibatch-discrimination row (keys model.discriminator.minibatch_kernels / minibatch_kernel_dims)."
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
        Row("unrolled", "unrolled GAN (K = 5)", preset, ("train.update=unrolled", "train.unroll_steps=5")),
        # Row("minibatch", ...): see MINIBATCH_PENDING
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

STUDIES["ring-8"] = Study(
    title="ring-8: mode coverage of 8 Gaussians on a ring, the vanilla GAN and its remedies",
    metric="modes",
    columns=MODES_COLUMNS,
    rows=remedy_rows("ring-8", noise_std=0.1, steps=6000),
    published=(
        Published("vanilla GAN (VEEGAN, Table 1)", {"modes": "1"}),
        Published("vanilla GAN (PacGAN, Table 1)", {"modes": "6.3 ± 0.5", "high_quality": "98.2%"}),
        Published("unrolled GAN (VEEGAN, Table 1)", {"modes": "7.6"}),
        Published("PacGAN4 (PacGAN, Table 1)", {"modes": "7.8", "high_quality": "95.9%"}),
    ),
    notes=NOTES.format(what="8 Gaussians (std 0.01) on the unit circle", preset="ring-8", k=8),
    pending=(MINIBATCH_PENDING,),
)

STUDIES["grid-25"] = Study(
    title="grid-25: mode coverage of 25 Gaussians on a grid, the vanilla GAN and its remedies",
    metric="modes",
    columns=MODES_COLUMNS,
    rows=remedy_rows("grid-25", noise_std=0.25, steps=6000),
    published=(
        Published("vanilla GAN (VEEGAN, Table 1)", {"modes": "3.3"}),
        Published("vanilla GAN (PacGAN, Table 1)", {"modes": "17.3 ± 0.8", "high_quality": "94.8%"}),
        Published("unrolled GAN (VEEGAN, Table 1)", {"modes": "23.6"}),
        Published("PacGAN4 (PacGAN, Table 1)", {"modes": "24.8", "high_quality": "93.6%"}),
    ),
    notes=NOTES.format(what="25 Gaussians (std 0.05) on a 5 × 5 grid, 2 apart", preset="grid-25", k=25),
    pending=(MINIBATCH_PENDING,),
)
