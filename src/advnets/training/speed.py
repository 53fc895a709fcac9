"""The speed switches of `cfg.speed` (advnets.config.SpeedConfig): what fast hardware offers, off by default.

Each switch changes how the same maths runs, never what is computed, and each is exercised on the CPU by the tests
(tests/training/test_speed.py) so that the GPU paths do not rot on machines without one:

- `autocast: bf16`: the forward passes of every training update (G, D, the losses' inputs) run under
  `torch.autocast` in bfloat16; weights, gradients, optimiser state and the losses themselves stay float32 (D's
  logits are cast back before any loss sees them, `Parts.discriminate`). bfloat16 keeps float32's exponent range,
  so no loss scaling is needed (float16 would need a GradScaler; not offered). Backward runs outside the context,
  as PyTorch recommends. Sampling, pictures and metrics stay float32.
- `tf32`: CUDA's float32 matrix products and cuDNN convolutions in TF32 (10-bit mantissa), both set explicitly
  either way, so a run's numbers do not depend on PyTorch's defaults (cuDNN allows TF32 unless told not to). These
  are process-wide flags; they touch no CPU kernel.
- `channels_last`: convolutional nets' 4-D weights and the real image batches in NHWC order, the layout tensor cores
  and oneDNN convolutions want. Values are unchanged; only strides differ.
- `compile`: `nn.Module.compile` on G and D in place, so their state_dict keys, checkpoints and hooks are the
  uncompiled modules' (a `torch.compile(module)` wrapper would prefix every key with `_orig_mod.`). On a GPU
  `reduce-overhead` and `max-autotune` would record CUDA graphs, which fail inside the updates: they are refused
  there (`refuse_cuda_graphs`). advnets' dropout draws from the run's generator, which the compiler leaves outside
  its graphs (a graph break at each dropout layer: the same masks, a smaller graph). Double backward (gradient penalty, R1, the unrolled rule) is refused by the config
  check: compiled graphs do not support it. G's weight average is left uncompiled (it only samples).

One process setting needs no switch, because it changes no number: the command line keeps freed memory for reuse
(advnets.allocator).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import nn

from advnets.config import SpeedConfig
from advnets.errors import UserError

AutocastContext = Callable[[], AbstractContextManager[object]]


def autocast_context(options: SpeedConfig, device: torch.device) -> AutocastContext:
    """A factory of the context every training update's forward pass runs in (a no-op unless autocast is on)."""
    if options.autocast == "none":
        return contextlib.nullcontext
    dtype = {"bf16": torch.bfloat16}[options.autocast]
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def refuse_cuda_graphs(options: SpeedConfig, device: torch.device) -> None:
    """On a GPU, inductor's reduce-overhead and max-autotune modes replay CUDA graphs, which fail inside advnets'
    updates (seen on an H200 with torch 2.11, benchmarks/RESULTS.md "On a GPU": a graph's output was overwritten by
    its next replay before the update had used it, for DCGAN's and the ring lab's nets). Refused before training
    starts rather than failing at the first update; on a CPU these modes record no graphs and are allowed."""
    if device.type == "cuda" and options.compile in ("reduce-overhead", "max-autotune"):
        raise UserError(
            f"speed.compile={options.compile} records CUDA graphs on a GPU, which advnets' training updates do not "
            "support yet (a graph's outputs are overwritten by its next replay within one update); use "
            "speed.compile=default (inductor's kernels without CUDA graphs)"
        )


def set_tf32(options: SpeedConfig) -> None:
    """TF32 for CUDA matrix products and cuDNN convolutions, on or off as the config says (process-wide)."""
    torch.backends.cuda.matmul.allow_tf32 = options.tf32
    torch.backends.cudnn.allow_tf32 = options.tf32


def is_convolutional(module: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in module.modules())


def to_channels_last(module: nn.Module) -> nn.Module:
    """The module's 4-D weights in NHWC order (in place: the Parameter objects stay, only their strides change)."""
    return module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # documented; stubs lack it


def images_channels_last(x: torch.Tensor) -> torch.Tensor:
    """An image batch [N, C, H, W] in NHWC order; other tensors as they are."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def apply_speed(options: SpeedConfig, G: nn.Module, D: nn.Module) -> None:
    """The switches that change the nets (call before the optimisers are built and after G's average is copied)."""
    set_tf32(options)
    if options.channels_last:
        for module in (G, D):
            if is_convolutional(module):
                to_channels_last(module)
    if options.compile != "none":
        # The simultaneous update backpropagates D's and G's losses through one graph (retain_graph on the first),
        # which compiled backward graphs refuse when they donate their buffers; this is PyTorch's own remedy.
        torch._functorch.config.donated_buffer = False  # type: ignore[attr-defined]
        mode = None if options.compile == "default" else options.compile
        for module in (G, D):
            module.compile(mode=mode, backend=options.compile_backend)

