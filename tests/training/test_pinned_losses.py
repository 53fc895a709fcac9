"""The numbers that must not move: the first 12 updates of the shipped presets, logged before the design refactor
(issue 10) and compared after it, under both update rules. A change here is a bug unless an issue asks for it
(then the README and RESULTS say so, and this file is re-pinned).

Exact on one machine, within a measured tolerance across CPUs (STYLE.md point 17). The pinned file's "_machine"
entry is the fingerprint of the machine on which every pinned number reproduces to the bit: its CPU model,
architecture, torch's vector kernels (`get_cpu_capability`), its thread count and torch version. On that machine
every value must equal its pin exactly. On any other machine the same code runs other kernels (AVX-512 or AVX2
matrix products and convolutions, another summation order), which moves the last bits of float32 results, and the
updates carry them on. How far depends on the case, not on the machine: an adaptive optimiser's first steps
(Adam, RMSProp: each parameter moves by about ±lr whatever the size of its gradient, so a gradient that is rounding
noise moves it a whole step), batch norm, maxout's and ReLU's ties and weight clipping amplify a last-bit difference
by up to 3× per update in some presets (ring-8-best reached 9e-3 relative by update 11 between an AMD EPYC and an
Intel Xeon, both torch 2.13.0 on 2 threads), while in others it stays at a few float32 ulps for all 12 updates.

So each case carries its own measured amplification: when a case is pinned, its run is repeated with every weight
of G and D moved by one ulp before each update (DRIFT_SEEDS random directions: another CPU rounds differently at
every update, not once) and "drift" records, per update, the largest relative change of any pinned value so far (a
difference once made is carried on, even where one update's loss happens to hide it), and "sums_drift" the largest
change of a weight sum relative to the sum of the weights' magnitudes (a sum of a million weights can cancel to
near 0; its rounding error scales with Σ|w|, and one Adam step of lr on one weight moves it by lr, which is what
another CPU does). A machine other than "_machine" then compares each update's values within
max(RELATIVE, AMPLIFY × drift) relative, and each weight sum within max(SUMS_RELATIVE, AMPLIFY × sums_drift) × Σ|w|
(ABSOLUTE for values near 0). RELATIVE = 1e-6 is about 15 float32 ulps (an unamplified case moved by at most 5e-7
between an AMD EPYC and an Intel Xeon). AMPLIFY = 30 is the margin, set by what other CPUs did: an AVX-512 EPYC
moved stacked-mnist's d_loss at update 11 by 2.7× its drift, and CI's machine moved stabilise-after's critic gap at
update 6 by 1.6e-6, 6.4× the drift measured then with a single one-ulp move before the first update (RMSProp's
first steps move a weight whose gradient is rounding noise by 10 lr, and which weights those are changes with
every update's rounding; the moves before every update now measure 1.9e-7 there, so 5.7e-6 is allowed). An AVX-512 Intel Xeon stays
below 0.12 of every allowance. Weight sums moved by at most 2e-7 of Σ|w| where the one-ulp moves barely changed
them, hence SUMS_RELATIVE = 1e-6. A real change moves far more: a 10% higher learning rate breaks the pins of the
steadiest, the most amplifying and a convolutional preset alike (test_a_changed_learning_rate_breaks_the_pins).
"_machine": null means that no machine is known to reproduce every pin (they were recorded before fingerprints
were); then every machine compares within the tolerance.

`python -m tests.training.test_pinned_losses` pins the cases not pinned yet (with their drift), `--repin CASE...`
re-pins cases an issue asked to change, `--drift` measures the drift of every pinned case again without touching
its pins. Each checks every other case on this machine and records it as "_machine" when they all reproduce
exactly; when one does not and a case was pinned, the file mixes machines and "_machine" becomes null. A case whose
data files are absent is skipped, by the test and by the pinning alike.

Data: a preset read from IDX files (MNIST, Fashion-MNIST, and Stacked MNIST, which stacks MNIST's digits) runs on
the files `require_data` finds. The CIFAR-10 presets run on a synthetic CIFAR-10 in the real file format, written
to a temporary folder (tests/data/cifar_files.py: 5 batches of 60 known images, train = the first 270), so their
full-size nets are pinned without the 163 MB download; their pins hold for that synthetic set only.
"""

import itertools
import json
import platform
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from advnets.config import list_presets, load_config
from advnets.training.trainer import Trainer
from tests.conftest import IDX_SOURCES, require_data
from tests.data.cifar_files import use_fake_cifar

PINNED_FILE = Path(__file__).parent / "pinned_losses.json"
PINNED = json.loads(PINNED_FILE.read_text())
MACHINE_KEY = "_machine"
# Every shipped preset as it is, and the paper's setup under the other update rule.
CASES = {
    **{name: (name, []) for name in list_presets()},
    "mnist-paper train.update=alternating train.d_steps=2 train.g_batch_size=50": (
        "mnist-paper",
        ["train.update=alternating", "train.d_steps=2", "train.g_batch_size=50"],
    ),
}
STEPS = 12
# What `pin` records of each update (the losses and every monitor the shipped losses log).
PINNED_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "d_fake_g", "critic_real", "critic_fake", "critic_gap")
RELATIVE, SUMS_RELATIVE, ABSOLUTE, AMPLIFY = 1e-6, 1e-6, 1e-9, 30.0  # across machines; see the module docstring
DRIFT_SEEDS = (1, 2, 3)  # the directions of the one-ulp moves a case's drift is measured with


def cpu_model() -> str:
    """The CPU's model name as the OS reports it (Linux: /proc/cpuinfo), else platform.processor()."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model"):
                return value.strip()
    return platform.processor() or "unknown"


def this_machine() -> dict[str, Any]:
    """What decides the last bits of a CPU run: the fingerprint recorded as "_machine"."""
    return {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


# The IDX files each file-based data set reads: its own, or MNIST's for Stacked MNIST.
IDX_FILES = {**{name: name for name in IDX_SOURCES}, "stacked-mnist": "mnist"}
FAKE_CIFAR = {"n_train_per_batch": 60, "n_test": 10}  # 300 training images: train 270, valid 30 (use_fake_cifar)


@contextmanager
def preset_data(preset: str) -> Iterator[list[str]]:
    """The data overrides a preset's first updates run with, valid inside the block: data.root for a data set read
    from IDX files (skipped when they are absent, tests/conftest.py `require_data`), a synthetic CIFAR-10 in a
    temporary folder for cifar10, nothing for built-in data."""
    name = load_config(preset).data.name
    if name == "cifar10":
        with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
            root = use_fake_cifar(patch, Path(folder), **FAKE_CIFAR)
            yield [f"data.root={root}", "data.download=false"]
    elif name in IDX_FILES:
        yield [f"data.root={require_data(IDX_FILES[name])}"]
    else:
        yield []


def first_updates(case: str, changes: Sequence[str] = ()) -> Trainer:
    """The trainer of `case`, ready for its first update (with `changes`, extra overrides, for the tests that show a
    change breaks the pins)."""
    preset, extra = CASES[case]
    with preset_data(preset) as data_overrides:  # the trainer holds its data in memory once built
        overrides = [*data_overrides, "log.progress=false", "log.tensorboard=false", *extra, *changes]
        return Trainer.from_config(load_config(preset, overrides))


def weight_sums(trainer: Trainer, *, magnitudes: bool = False) -> dict[str, float]:
    """Each net's sum of weights, or with `magnitudes` its Σ|w|: the scale of that sum's rounding error (module
    docstring)."""
    term = torch.abs if magnitudes else torch.positive
    with torch.no_grad():
        return {
            f"{name}_param_sum": float(sum(term(p.double()).sum() for p in net.parameters()))
            for name, net in (("g", trainer.G), ("d", trainer.D))
        }


def relative(got: float, want: float) -> float:
    return abs(got - want) / max(abs(want), 1e-300) if abs(got - want) > ABSOLUTE else 0.0


def mismatches(case: str, trainer: Trainer, *, exact: bool) -> list[str]:
    """Every pinned value of `case` that `trainer`'s next STEPS updates do not reproduce (exactly, or within the
    case's tolerance), described; empty when all do."""
    expected = PINNED[case]
    drift, sums_drift = expected["drift"], expected["sums_drift"]
    found = []
    for step, want in enumerate(expected["steps"], start=1):
        got = {k: float(v) for k, v in trainer.train_step().items()}
        # Every number pinned for this update is checked: a monitor the step stopped logging is a failure too.
        if not set(want) <= set(got):
            return [*found, f"step {step} no longer logs {sorted(set(want) - set(got))}"]
        rel = max(RELATIVE, AMPLIFY * drift[step - 1])
        for key in want:
            if not (got[key] == want[key] if exact else relative(got[key], want[key]) <= rel):
                found.append(
                    f"step {step} {key}: {got[key]!r} != pinned {want[key]!r} (relative difference "
                    f"{relative(got[key], want[key]):.2g}, allowed {0 if exact else rel:.2g})"
                )
    scale = weight_sums(trainer, magnitudes=True)
    for key, got_sum in weight_sums(trainer).items():
        allowed = max(SUMS_RELATIVE, AMPLIFY * sums_drift) * scale[key] + ABSOLUTE
        if not (got_sum == expected[key] if exact else abs(got_sum - expected[key]) <= allowed):
            found.append(
                f"{key} after {STEPS} updates: {got_sum!r} != pinned {expected[key]!r} (difference "
                f"{abs(got_sum - expected[key]):.2g}, allowed {0 if exact else allowed:.2g} = "
                f"{max(SUMS_RELATIVE, AMPLIFY * sums_drift):.2g} of the weights' magnitudes {scale[key]:.4g})"
            )
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_first_updates_log_the_pinned_losses(case):
    assert case in PINNED, f"{case} is not pinned: run `python -m tests.training.test_pinned_losses` to pin it"
    expected = PINNED[case]
    assert len(expected["steps"]) == STEPS, f"{case}: {len(expected['steps'])} updates pinned, not {STEPS}"
    assert len(expected.get("drift", ())) == STEPS and "sums_drift" in expected, (
        f"{case}: no drift measured: run `python -m tests.training.test_pinned_losses --drift`"
    )
    exact = PINNED.get(MACHINE_KEY) == this_machine()
    found = mismatches(case, first_updates(case), exact=exact)
    where = (
        f"exact: this machine is the file's {MACHINE_KEY}"
        if exact
        else f"within the case's measured tolerance: this machine is not the file's {MACHINE_KEY}"
    )
    assert not found, f"{case} moved ({where}):\n" + "\n".join(found)


# The steadiest preset (SGD, no amplification; in its first 12 updates only D's rate moves anything, G barely
# learns), the most amplifying one and a convolutional one: a 10% higher rate must break each.
@pytest.mark.parametrize(
    ("case", "optimizer"),
    [("mnist-paper", "d_optimizer"), ("ring-8-best", "g_optimizer"), ("dcgan-mnist", "g_optimizer")],
)
def test_a_changed_learning_rate_breaks_the_pins(case, optimizer):
    preset, extra = CASES[case]
    lr = getattr(load_config(preset, extra).train, optimizer).lr
    trainer = first_updates(case, [f"train.{optimizer}.lr={lr * 1.1}"])
    assert mismatches(case, trainer, exact=False), f"{case}: train.{optimizer}.lr x1.1 stays within the tolerance"


def test_the_pins_name_the_machine_that_reproduces_them():
    machine = PINNED.get(MACHINE_KEY, "absent")
    assert machine is None or (isinstance(machine, dict) and set(machine) == set(this_machine())), (
        f'{PINNED_FILE.name}: "{MACHINE_KEY}" is {machine!r}; expected null or a fingerprint with the keys '
        "of this_machine(): run `python -m tests.training.test_pinned_losses` to record it"
    )


def record(trainer: Trainer, moves: int | None = None) -> dict:
    """The pinned keys of the trainer's next STEPS updates and both nets' weight sums after them. With `moves` (a
    seed), every weight is moved by one ulp before each update (`move_one_ulp`)."""
    steps = []
    for step in range(STEPS):
        if moves is not None:
            move_one_ulp(trainer, moves * 1000 + step)
        stats = {k: float(v) for k, v in trainer.train_step().items()}
        steps.append({k: stats[k] for k in PINNED_KEYS if k in stats})
    return {"steps": steps, **weight_sums(trainer)}


def move_one_ulp(trainer: Trainer, seed: int) -> None:
    """Moves every weight of G and D by one float ulp, up or down at random: the size of what another CPU's kernels
    change in one rounding."""
    directions = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*trainer.G.parameters(), *trainer.D.parameters()]:
            up = torch.randint(0, 2, p.shape, generator=directions).to(device=p.device, dtype=torch.bool)
            p.copy_(torch.nextafter(p, torch.where(up, torch.inf, -torch.inf).to(p.dtype)))


def drift(case: str, base: dict | None = None) -> dict:
    """How far one-ulp moves of the weights carry `case`'s first updates on this machine: per update, the largest
    relative change of a pinned value; and the largest change of a weight sum relative to Σ|w| (module docstring).
    `base`: the case's record on this machine, when already made."""
    base = base or record(first_updates(case))
    per_step, sums = [0.0] * STEPS, 0.0
    for seed in DRIFT_SEEDS:
        trainer = first_updates(case)
        moved = record(trainer, moves=seed)
        for i, (got, want) in enumerate(zip(moved["steps"], base["steps"], strict=True)):
            per_step[i] = max(per_step[i], *(relative(got[k], want[k]) for k in want))
        scale = weight_sums(trainer, magnitudes=True)
        sums = max(sums, *(abs(moved[k] - base[k]) / scale[k] for k in scale))
    # A difference once made is carried on by the later updates, even where a loss happens to hide it.
    return {"drift": list(itertools.accumulate(per_step, max)), "sums_drift": sums}


def pin(case: str) -> dict:
    """The record a case is pinned with: its first STEPS updates, both nets' weight sums and its drift."""
    base = record(first_updates(case))
    return {**base, **drift(case, base)}


def reproduces(case: str) -> bool:
    """Whether every number pinned for `case` comes out exactly the same on this machine."""
    return not mismatches(case, first_updates(case), exact=True)


def main(argv: list[str]) -> None:
    # Pins the cases not pinned yet; `--repin CASE` re-pins one that an issue asked to change (say so in the README);
    # `--drift` measures every case's drift again, its pins untouched.
    repin = argv[argv.index("--repin") + 1 :] if "--repin" in argv else []
    remeasure = "--drift" in argv
    unknown = [case for case in repin if case not in CASES]
    if unknown:
        raise SystemExit(f"--repin: no case named {unknown}; the cases are {list(CASES)}")
    pinned_now, differ, unchecked = [], [], []
    for case in CASES:
        try:
            if case not in PINNED or case in repin:
                PINNED[case] = pin(case)
                pinned_now.append(case)
                print(f"pinned {case}")
            else:
                if remeasure or "drift" not in PINNED[case]:
                    PINNED[case].update(drift(case))
                    print(f"measured the drift of {case}: {max(PINNED[case]['drift']):.2g} at most")
                if not reproduces(case):
                    differ.append(case)
        except pytest.skip.Exception as skipped:  # its data files are absent here (require_data)
            unchecked.append(case)
            print(f"skipped {case}: {skipped}")
    if differ:
        print(f"not exact on this machine (the test compares them within the tolerance): {', '.join(differ)}")
    if unchecked:
        print(f"not checked here (no data): {', '.join(unchecked)}")
    if not differ and not unchecked:
        PINNED[MACHINE_KEY] = this_machine()
        print(f"every pin reproduces exactly here: {MACHINE_KEY} = {PINNED[MACHINE_KEY]}")
    elif (differ and (pinned_now or MACHINE_KEY not in PINNED)) or (
        # a case not run here cannot vouch for this machine; new pins from another one mix machines
        pinned_now and PINNED.get(MACHINE_KEY) != this_machine()
    ):
        PINNED[MACHINE_KEY] = None  # the file now holds numbers of two machines: none reproduces them all
        print(f"{MACHINE_KEY} = null: no machine is known to reproduce every pin; tolerance everywhere")
    PINNED_FILE.write_text(json.dumps(PINNED, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
