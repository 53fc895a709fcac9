"""Unrolled GAN (Metz et al. 2017): G's update differentiates through K unrolled D updates.

G's loss is taken against D_K, the discriminator after K plain gradient steps θ_{k+1} = θ_k − η ∇θ L_D(θ_k; x, G(z))
from D's current weights, on this iteration's real batch and G's batch. The unrolled steps are functions of G's
output, so G's gradient includes how D would react to G's move (Metz et al., Eq. 6-7), which discourages G from
collapsing onto the mode D currently misjudges. D itself is updated normally (its k D steps); the unrolled copies
are discarded. Only the adversarial loss is unrolled (penalties and constraints act on D's real updates). The
unrolling uses `torch.func.functional_call` on D with its weights as plain tensors, so D's own
parameters and optimiser are untouched. With K = 0 this is exactly the plain G update.
"""

from __future__ import annotations

import torch
from torch.func import functional_call

from advnets.training.parts import Parts
from advnets.training.steps import Stats, g_objective
from advnets.transforms import apply_transforms


def unrolled_g_loss(
    parts: Parts, z: torch.Tensor, real: torch.Tensor | None, step: int, *, steps: int, lr: float
) -> tuple[torch.Tensor, Stats]:
    """G's loss (and stats) against D unrolled `steps` plain gradient steps of size `lr`; z [M, z_dim]."""
    D = parts.D
    fake = apply_transforms(parts.transforms, parts.G(z), step)  # attached to G
    needs_real = steps > 0 or bool(parts.g_objectives)
    real_in = apply_transforms(parts.transforms, real, step) if needs_real and real is not None else real
    weights = {name: p.detach().requires_grad_(True) for name, p in D.named_parameters()}
    buffers = dict(D.named_buffers())
    for _ in range(steps):
        assert real_in is not None, "unrolling needs this iteration's real batch"
        real_logits = functional_call(D, (weights, buffers), (real_in,))
        fake_logits = functional_call(D, (weights, buffers), (fake,))
        d_loss = parts.loss.d_terms(real_logits, fake_logits)["d_loss"]
        # create_graph: the next weights stay functions of G's output, so G's gradient flows through them.
        grads = torch.autograd.grad(d_loss, list(weights.values()), create_graph=True)
        weights = {name: w - lr * g for (name, w), g in zip(weights.items(), grads)}
    fake_logits = functional_call(D, (weights, buffers), (fake,))
    return g_objective(parts, fake, fake_logits, real_in, step)


def unrolled_g_step(
    parts: Parts, z: torch.Tensor, real: torch.Tensor | None, step: int, *, steps: int, lr: float
) -> Stats:
    """One G update through `steps` unrolled D updates."""
    g_loss, stats = unrolled_g_loss(parts, z, real, step, steps=steps, lr=lr)
    g_params = [p for p in parts.G.parameters() if p.requires_grad]
    parts.g_opt.zero_grad(set_to_none=True)
    g_loss.backward(inputs=g_params)  # only G's parameters: D's are constants of the unrolling
    parts.g_opt.step()
    return stats
