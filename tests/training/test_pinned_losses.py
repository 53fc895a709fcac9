"""The numbers that must not move: the first 12 updates of the shipped presets, logged before the design refactor
(issue 10) and compared after it, under both update rules. A change here is a bug unless an issue asks for it
(then the README and RESULTS say so, and this file is re-pinned).

Exact on one machine, within a stated tolerance across CPUs (STYLE.md point 17). The pinned file's "_machine"
entry is the fingerprint of the machine on which every pinned number reproduces to the bit: its CPU model,
architecture, torch's vector kernels (`get_cpu_capability`), its thread count and torch version. On that machine
every value must equal its pin exactly. On any other machine the same code runs other kernels (AVX-512 or AVX2
matrix products, another summation order), which moves the last bits of float32 results, and 12 updates carry
them on: on an AMD EPYC (AVX2, torch 2.13.0, 2 threads) the pins of this file differ by up to 1.7e-7 relative
(mnist-zeros-collapse's d_loss at update 8: a few float32 ulps) and the weight sums by up to 1.7e-8 (toy-1d-best's
G: -10.62362929664232 for -10.6236291128007). There each value (every pinned loss and monitor, both nets' weight
sums) must agree within RELATIVE = 1e-6, with ABSOLUTE = 1e-9 for values near 0: six times the largest drift
measured, and orders of magnitude below what a real change does (another loss, sign, learning rate or order of
the steps). Nets with convolutions drift far more across CPUs: torch picks another convolution kernel per vector
unit, and Adam's first steps (each parameter's update divided by its own tiny gradient scale) and batch norm
amplify the last bits about 2-3× per update. On an AMD EPYC with AVX-512 (torch 2.13.0, 2 threads) dcgan-mnist,
cgan-mnist and stacked-mnist moved by up to 2e-5 relative in their first 4 updates and up to 2.4e-3 by update 12
(stacked-mnist's d_loss at update 11), the weight sums by up to 2e-4. So a case whose nets have a convolution
compares its first CONV_EARLY updates within CONV_RELATIVE_EARLY = 1e-4 and the later updates and weight sums
within CONV_RELATIVE = 1e-2 (5× the drift measured each time): a changed loss, sign or learning rate moves the
first updates by far more (a 10% higher rate for G or D moves dcgan-mnist's update 2 by 4e-2). "_machine": null means that no machine is known to reproduce every pin (they were recorded before
fingerprints were, and not on that AMD EPYC); then every machine compares within the tolerance.

`python -m tests.training.test_pinned_losses` pins the cases not pinned yet, `--repin CASE...` re-pins cases an
issue asked to change. Both check every other case on this machine and record it as "_machine" when they all
reproduce exactly; when one does not and a case was pinned, the file mixes machines and "_machine" becomes null.
A case whose data files are absent is skipped, by the test and by the pinning alike.

Data: a preset read from IDX files (MNIST, Fashion-MNIST, and Stacked MNIST, which stacks MNIST's digits) runs on
the files `require_data` finds. The CIFAR-10 presets run on a synthetic CIFAR-10 in the real file format, written
to a temporary folder (tests/data/cifar_files.py: 5 batches of 60 known images, train = the first 270), so their
full-size nets are pinned without the 163 MB download; their pins hold for that synthetic set only.
"""

import json
import math
import platform
import tempfile
from collections.abc import Iterator
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
RELATIVE, ABSOLUTE = 1e-6, 1e-9  # across machines; see the module docstring
CONV_EARLY, CONV_RELATIVE_EARLY, CONV_RELATIVE = 4, 1e-4, 1e-2  # the same, for nets with convolutions


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


def first_updates(case: str) -> Trainer:
    preset, extra = CASES[case]
    with preset_data(preset) as data_overrides:  # the trainer holds its data in memory once built
        overrides = [*data_overrides, "log.progress=false", "log.tensorboard=false", *extra]
        return Trainer.from_config(load_config(preset, overrides))


def weight_sums(trainer: Trainer) -> dict[str, float]:
    with torch.no_grad():
        return {
            "g_param_sum": float(sum(p.double().sum() for p in trainer.G.parameters())),
            "d_param_sum": float(sum(p.double().sum() for p in trainer.D.parameters())),
        }


def has_convolutions(trainer: Trainer) -> bool:
    return any(
        isinstance(m, torch.nn.modules.conv._ConvNd) for net in (trainer.G, trainer.D) for m in net.modules()
    )


def assert_matches(
    case: str, where: str, got: float, want: float, *, exact: bool, rel: float = RELATIVE
) -> None:
    if exact:
        assert got == want, (
            f"{case}: {where} moved: {got!r} != pinned {want!r} "
            f"(exact: this machine is the file's {MACHINE_KEY})"
        )
    else:
        assert math.isclose(got, want, rel_tol=rel, abs_tol=ABSOLUTE), (
            f"{case}: {where} moved: {got!r} != pinned {want!r}, beyond rel {rel:g} / abs {ABSOLUTE:g} "
            f"(relative difference {abs(got - want) / max(abs(want), 1e-300):.2g}; compared within the "
            f"tolerance because this machine is not the file's {MACHINE_KEY})"
        )


@pytest.mark.parametrize("case", list(CASES))
def test_first_updates_log_the_pinned_losses(case):
    assert case in PINNED, f"{case} is not pinned: run `python -m tests.training.test_pinned_losses` to pin it"
    exact = PINNED.get(MACHINE_KEY) == this_machine()
    trainer = first_updates(case)
    conv = has_convolutions(trainer)
    expected = PINNED[case]
    assert len(expected["steps"]) == STEPS, f"{case}: {len(expected['steps'])} updates pinned, not {STEPS}"
    for step, want in enumerate(expected["steps"], start=1):
        got = {k: float(v) for k, v in trainer.train_step().items()}
        # Every number pinned for this update is checked: a monitor the step stopped logging is a failure too.
        assert set(want) <= set(got), f"{case}: step {step} no longer logs {sorted(set(want) - set(got))}"
        rel = (CONV_RELATIVE_EARLY if step <= CONV_EARLY else CONV_RELATIVE) if conv else RELATIVE
        for key in want:
            assert_matches(case, f"step {step} {key}", got[key], want[key], exact=exact, rel=rel)
    for key, got_sum in weight_sums(trainer).items():
        rel = CONV_RELATIVE if conv else RELATIVE
        assert_matches(case, f"{key} after {STEPS} updates", got_sum, expected[key], exact=exact, rel=rel)


def test_the_pins_name_the_machine_that_reproduces_them():
    machine = PINNED.get(MACHINE_KEY, "absent")
    assert machine is None or (isinstance(machine, dict) and set(machine) == set(this_machine())), (
        f'{PINNED_FILE.name}: "{MACHINE_KEY}" is {machine!r}; expected null or a fingerprint with the keys '
        "of this_machine(): run `python -m tests.training.test_pinned_losses` to record it"
    )


def pin(case: str) -> dict:
    """The record a case is pinned with: the pinned keys of its first STEPS updates and both nets' weight sums."""
    trainer = first_updates(case)
    steps = []
    for _ in range(STEPS):
        stats = {k: float(v) for k, v in trainer.train_step().items()}
        steps.append({k: stats[k] for k in PINNED_KEYS if k in stats})
    return {"steps": steps, **weight_sums(trainer)}


def reproduces(case: str) -> bool:
    """Whether every number pinned for `case` comes out exactly the same on this machine."""
    trainer = first_updates(case)
    for want in PINNED[case]["steps"]:
        got = {k: float(v) for k, v in trainer.train_step().items()}
        if any(got.get(key) != value for key, value in want.items()):
            return False
    sums = weight_sums(trainer)
    return all(sums[key] == PINNED[case][key] for key in sums)


def main(argv: list[str]) -> None:
    # Pins the cases not pinned yet; `--repin CASE` re-pins one that an issue asked to change (say so in the README).
    repin = argv[argv.index("--repin") + 1 :] if "--repin" in argv else []
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
            elif not reproduces(case):
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
