"""The search for a recipe with the paper's MNIST nets that reaches the paper's 225 nats within 200 epochs:
`advnets reproduce paper-mnist-search`.

Each row is `mnist-fast` (the paper's nets with Adam, one-sided label smoothing and G's weight average) with one
change, trained for 50 epochs on seed 0 and scored every 5 epochs on the paper's protocol (parzen10k-ema). A row
is a probe: it is kept whether it won or lost, so the table says what each change was worth. The reference is
`mnist-fast` itself, whose three 200-epoch seeds (reproductions/paper-mnist, row `fast`) give the published rows.
"""

from __future__ import annotations

from advnets.studies import STUDIES, Column, Published, Row, Study

PROBE = ("train.epochs=50", "eval.every_epochs=5", "log.sample_every_steps=5000")
EPOCHS = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
# mnist-fast's own scores (parzen10k-ema) at those epochs: reproductions/paper-mnist/fast/seed-{0,1,2}/eval.jsonl.
FAST_MEAN = ("46.2", "142.4", "169.9", "176.4", "181.0", "182.7", "185.2", "187.4", "189.0", "190.7")
FAST_SEED0 = ("47.4", "149.5", "171.8", "178.6", "183.0", "183.3", "186.7", "188.0", "188.3", "191.6")


def probe(name: str, label: str, *overrides: str) -> Row:
    return Row(name, label, "mnist-fast", (*PROBE, *overrides))


STUDIES["paper-mnist-search"] = Study(
    title="paper-mnist-search: one change at a time to mnist-fast, 50 epochs, seed 0",
    metric="parzen",
    columns=(Column("mean", "parzen10k-ema at epoch 50 (nats)", digits=1), Column("se", "its standard error", digits=1)),
    rows=(
        probe(
            "ema-9999-late",
            "G's weight average over more updates (decay 0.9999), from update 10,000 (epoch 20)",
            "train.ema_decay=0.9999",
            "train.ema_start=10000",
        ),
        probe("g-lr-4e-4", "G's learning rate doubled (4e-4)", "train.g_optimizer.lr=0.0004"),
        probe("r1", "R1 penalty on D (γ = 1)", "penalties.r1.weight=1"),
        probe(
            "noise-annealed",
            "instance noise on D's inputs, std 0.1 falling to 0 at update 25,000 (epoch 50)",
            "transforms.instance_noise.std=0.1",
            "transforms.instance_noise.anneal_steps=25000",
        ),
        probe(
            "decay-late",
            "both learning rates held to epoch 25, then decaying 10× by epoch 50 (G 2e-4 → 2e-5, D 1e-4 → 1e-5)",
            "train.g_optimizer.lr_decay=1.000184215",
            "train.g_optimizer.lr_decay_start=12500",
            "train.g_optimizer.lr_min=0.00002",
            "train.d_optimizer.lr_decay=1.000184215",
            "train.d_optimizer.lr_decay_start=12500",
            "train.d_optimizer.lr_min=0.00001",
        ),
        probe(
            "d-steps-2",
            "two D updates per G update (Algorithm 1, k = 2), D's rate halved (5e-5)",
            "train.update=alternating",
            "train.d_steps=2",
            "train.d_optimizer.lr=0.00005",
        ),
    ),
    published=(
        Published(
            "mnist-fast, 3 seeds (reproductions/paper-mnist, row `fast`)",
            {"mean": "190.7 ± 0.8"},
            dict(zip(EPOCHS, FAST_MEAN, strict=True)),
        ),
        Published("mnist-fast, seed 0 (the probes' seed)", {"mean": "191.6", "se": "2.3"}, dict(zip(EPOCHS, FAST_SEED0, strict=True))),
    ),
    seeds=1,
    by_epoch=EPOCHS,
    notes=(
        "Issue 21's search: `mnist-fast` (the paper's nets, Adam with D at half G's rate, one-sided label smoothing, "
        "G's weight average; docs/mnist-fast.md) with one change per row, seed 0, 50 epochs, scored every 5 epochs "
        "on the paper's protocol: Parzen log-likelihood of 10,000 samples of G's weight average, σ chosen on 1,000 "
        "validation images, mean ± standard error over the 10,000 test images (`parzen10k-ema`). The reference is "
        "mnist-fast's own three seeds at the same epochs: 190.7 ± 0.8 (std) at epoch 50. A change counts as a clear "
        "winner when it scores above 193.1 at epoch 50 (the reference's mean + 3 std); only winners go on to 200 "
        "epochs × 3 seeds (a recipe row of `advnets reproduce paper-mnist`). `g-lr-4e-4` was stopped at epoch 20: "
        "from epoch 8 on D won outright (D(G(z)) below 0.01, G's loss 6-23, the health monitor's `mode_collapse` "
        "and `d_overconfident` flags), as Adam at equal rates did in the search behind mnist-fast."
    ),
)


# The second stage: changes that can only matter late (a longer weight average) are probed on `mnist-fast-ema`
# itself for its whole 200 epochs, against that preset's own seeds (reproductions/paper-mnist, row `fast-ema`).
LATE_EPOCHS = (50, 75, 100, 125, 150, 175, 200)
# mnist-fast-ema's scores (parzen10k-ema) at those epochs: reproductions/paper-mnist/fast-ema/seed-{0,1,2}/eval.jsonl.
FAST_EMA_MEAN = ("206.7", "217.4", "218.9", "219.9", "220.9", "221.4", "222.7")
FAST_EMA_SEED0 = ("207.8", "217.3", "218.1", "218.2", "218.7", "219.5", "221.8")

STUDIES["paper-mnist-late"] = Study(
    title="paper-mnist-late: changes to mnist-fast-ema that act late, 200 epochs, seed 0 (a winner: 3 seeds)",
    metric="parzen",
    columns=(Column("mean", "parzen10k-ema at epoch 200 (nats)", digits=1), Column("se", "its standard error", digits=1)),
    rows=(
        Row(
            "ema-99995",
            "G's weight average twice as long (decay 0.99995, from update 10,000)",
            "mnist-fast-ema",
            ("eval.every_epochs=5", "train.ema_decay=0.99995"),
        ),
    ),
    published=(
        Published(
            "mnist-fast-ema, 3 seeds (reproductions/paper-mnist, row `fast-ema`)",
            {"mean": "222.7 ± 0.8"},
            dict(zip(LATE_EPOCHS, FAST_EMA_MEAN, strict=True)),
        ),
        Published(
            "mnist-fast-ema, seed 0 (the probes' seed)",
            {"mean": "221.8", "se": "2.3"},
            dict(zip(LATE_EPOCHS, FAST_EMA_SEED0, strict=True)),
        ),
    ),
    seeds=3,  # the winner's; a new probe row takes seeds=1 until it wins
    by_epoch=LATE_EPOCHS,
    notes=(
        "Issue 21's second stage. `mnist-fast-ema` (mnist-fast sampling G's weight average with decay 0.9999 from "
        "update 10,000) reaches 222.7 ± 0.8 nats at epoch 200 (3 seeds), 3 short of the paper's 225, and its curve "
        "is flat from epoch 75 on (about 218 to 222). A change to what is sampled late cannot be judged at epoch 50, "
        "so each row here is that preset with one change, trained for its whole 200 epochs on seed 0 and scored "
        "every 5 epochs on the paper's protocol (`parzen10k-ema`: 10,000 samples of G's weight average, σ chosen "
        "on 1,000 validation images, mean ± standard error over the 10,000 test images). G trains exactly as "
        "mnist-fast-ema's seed 0 (the average does not feed back into training), so a row differs from the "
        "preset's seed-0 row only in which G is sampled. A clear winner scores above the preset's seeds by more "
        "than their spread (validation log-likelihood agreeing) and goes on to seeds 1 and 2, here and as a recipe "
        "row of `advnets reproduce paper-mnist`: the twice-longer average did, as the preset `mnist-best` (its "
        "3 runs are paper-mnist's `best` row)."
    ),
)
