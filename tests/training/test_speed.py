"""The speed switches (advnets.training.speed), exercised on the CPU: each must act (the test fails when the switch
is ignored) and each must leave the maths as it was, to the precision it trades away."""

import shutil
import sysconfig
from pathlib import Path

import pytest
import torch

from advnets.config import SpeedConfig
from advnets.errors import UserError
from advnets.training.speed import refuse_cuda_graphs
from advnets.training.trainer import Trainer, check_resumable
from tests.conftest import tiny_config
from tests.data.cifar_files import use_fake_cifar

# DCGAN nets on colour images in [-1, 1] (a small CIFAR-10 in the real format: with one channel, NHWC and NCHW are
# the same order), conv and transposed-conv layers.
CONV = (
    "data.name=cifar10",
    "data.download=false",
    "model.generator.arch=dcgan",
    "model.generator.width=4",
    "model.generator.output=tanh",
    "model.discriminator.arch=dcgan",
    "model.discriminator.width=4",
    "train.update=alternating",
)


def losses_of(trainer: Trainer, steps: int = 3) -> list[float]:
    """D's and G's losses of the next `steps` updates, in order."""
    out = []
    for _ in range(steps):
        stats = trainer.train_step()
        out += [float(stats["d_loss"]), float(stats["g_loss"])]
    return out


def first_linear_output_dtypes(trainer: Trainer) -> list[torch.dtype]:
    """The dtype of D's first Linear output in every call during one training step."""
    layer = next(m for m in trainer.D.modules() if isinstance(m, torch.nn.Linear))
    seen: list[torch.dtype] = []
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    try:
        trainer.train_step()
    finally:
        handle.remove()
    return seen


def test_speed_switches_are_off_by_default_and_the_products_run_in_float32():
    cfg = tiny_config()
    assert (cfg.speed.autocast, cfg.speed.tf32, cfg.speed.channels_last, cfg.speed.compile) == (
        "none",
        False,
        False,
        "none",
    )
    assert set(first_linear_output_dtypes(Trainer.from_config(cfg))) == {torch.float32}


def test_bf16_autocast_runs_the_products_in_bfloat16_and_keeps_weights_and_losses_float32():
    plain = Trainer.from_config(tiny_config())
    fast = Trainer.from_config(tiny_config("speed.autocast=bf16"))
    assert set(first_linear_output_dtypes(fast)) == {torch.bfloat16}
    fast = Trainer.from_config(tiny_config("speed.autocast=bf16"))
    expected, got = losses_of(plain), losses_of(fast)
    # bfloat16 keeps 8 bits of mantissa: the losses agree to about 1%, and are not the float32 numbers.
    assert got == pytest.approx(expected, rel=3e-2)
    assert got != expected
    assert all(p.dtype == torch.float32 for p in [*fast.G.parameters(), *fast.D.parameters()])
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in fast.D.parameters())
    stats = fast.train_step()
    assert all(value.dtype == torch.float32 for value in stats.values())


@pytest.mark.parametrize("update", ["simultaneous", "alternating", "unrolled"])
def test_bf16_autocast_covers_every_update_rule(update):
    overrides = [f"train.update={update}", "speed.autocast=bf16"]
    if update == "unrolled":
        overrides += ["train.rule.steps=2"]
    trainer = Trainer.from_config(tiny_config(*overrides))
    assert set(first_linear_output_dtypes(trainer)) == {torch.bfloat16}
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())


def test_tf32_flags_are_set_either_way():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        Trainer.from_config(tiny_config("speed.tf32=true"))
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
        Trainer.from_config(tiny_config())  # off: both explicitly off (cuDNN's own default is on)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_channels_last_puts_conv_weights_and_real_batches_in_nhwc_and_changes_no_value(monkeypatch, tmp_path):
    root = use_fake_cifar(monkeypatch, tmp_path, n_train_per_batch=16, n_test=4)
    conv = (*CONV, f"data.root={root}")
    plain = Trainer.from_config(tiny_config(*conv))
    fast = Trainer.from_config(tiny_config(*conv, "speed.channels_last=true"))
    layers = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    convs = [m.weight for net in (fast.G, fast.D) for m in net.modules() if isinstance(m, layers)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not all(w.is_contiguous() for w in convs)
    batch = fast.next_batch()
    assert batch.real is not None and batch.real.is_contiguous(memory_format=torch.channels_last)
    assert not plain.next_batch().real.is_contiguous(memory_format=torch.channels_last)  # type: ignore[union-attr]
    plain, fast = (Trainer.from_config(tiny_config(*conv, f"speed.channels_last={on}")) for on in (False, True))
    # The same maths in another memory order: another summation order in the convolutions, so float rounding, which
    # batch norm over 32 images and two more updates carry to about 1e-4 (a layout bug moves the first loss by 5%).
    expected, got = losses_of(plain), losses_of(fast)
    assert got[:2] == pytest.approx(expected[:2], rel=1e-5)
    assert got == pytest.approx(expected, rel=1e-3)


def test_compile_keeps_the_modules_their_keys_and_their_numbers():
    plain = Trainer.from_config(tiny_config())
    fast = Trainer.from_config(tiny_config("speed.compile=default", "speed.compile_backend=aot_eager"))
    assert type(fast.G) is type(plain.G) and fast.G._compiled_call_impl is not None  # compiled in place
    assert list(fast.G.state_dict()) == list(plain.G.state_dict())  # no _orig_mod. prefix: checkpoints load alone
    assert losses_of(fast) == pytest.approx(losses_of(plain), rel=1e-6)
    # A compiled run's checkpoint continues in a run without compilation (speed.* may change on resume).
    state = fast.state_dict()
    again = Trainer.from_config(tiny_config())
    again.load_state_dict(state)
    check_resumable(state["config"], tiny_config())


# Inductor writes C++ kernels and builds them against Python's headers.
HAS_TOOLCHAIN = (shutil.which("g++") or shutil.which("c++")) is not None and (
    Path(sysconfig.get_paths()["include"]) / "Python.h"
).exists()


@pytest.mark.skipif(not HAS_TOOLCHAIN, reason="inductor needs a C++ compiler and Python's headers")
def test_compile_with_inductor_on_the_cpu_matches_the_eager_run():
    plain = Trainer.from_config(tiny_config())
    fast = Trainer.from_config(tiny_config("speed.compile=default"))
    assert losses_of(fast, 2) == pytest.approx(losses_of(plain, 2), rel=1e-5)


def test_cuda_graphs_are_refused_on_a_gpu_and_allowed_on_the_cpu():
    # On an H200 (benchmarks/RESULTS.md, "On a GPU") CUDA graphs failed inside the updates; tests/test_cuda.py
    # checks the refusal on a GPU, this the rule itself on any machine.
    for mode in ("reduce-overhead", "max-autotune"):
        with pytest.raises(UserError, match=f"speed.compile={mode} records CUDA graphs.*speed.compile=default"):
            refuse_cuda_graphs(SpeedConfig(compile=mode), torch.device("cuda"))
        refuse_cuda_graphs(SpeedConfig(compile=mode), torch.device("cpu"))
    refuse_cuda_graphs(SpeedConfig(compile="default"), torch.device("cuda"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["speed.autocast=fp16"], "speed.autocast"),
        (["speed.compile=fast"], "speed.compile"),
        (["speed.compile_backend=tvm"], "speed.compile_backend"),
        (["speed.compile=default", "penalties.gradient_penalty.weight=1"], "penalties.gradient_penalty"),
        (["speed.compile=default", "penalties.r1.weight=1"], "double backward"),
        (["speed.compile=default", "train.update=unrolled"], "train.update=unrolled"),
    ],
)
def test_bad_or_unsupported_speed_settings_are_refused_with_the_fix(overrides, message):
    with pytest.raises(UserError, match=message):
        tiny_config(*overrides)
