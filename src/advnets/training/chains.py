"""Nets that are chains of dense layers, run for every member of a population at once without vmap.

`vmap` over a member's module turns each `Linear` into a batched product and a separate bias addition, and pays its
batching rules on every operation; for the toy labs' nets (G 1 -> 100 -> 100 -> 1 on 100 samples) that is most of
a step. A chain's stacked forward is written out instead: each `Linear` is one `baddbmm` (bias and product in one
pass) on activations [N, B, width], and each activation module is applied as it is (elementwise, so the member axis
changes nothing). A member's outputs equal vmap's (the same products; the bias is added in the product's kernel).

Recognised: the MLP generator without virtual batch norm and the set discriminator, whose layers are `Linear`s with
biases and the named activations. Anything else (dropout, maxout, norms, convolutions, parametrised weights,
buffers) returns None from `chain_of`, and the population keeps vmap for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from advnets.models.mlp import MLPGenerator
from advnets.models.set_discriminator import SetDiscriminator

# Modules that act elementwise on any shape: a chain applies them to [N, B, width] as they are.
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Identity)

# One link: a Linear's (weight name, bias name) in the module's named parameters, or an elementwise module.
Link = tuple[str, str] | nn.Module
# A chain's stacked forward: (stacked parameters by name, the forward's arguments [N, B, ...]) -> output.
Chain = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


def _links(layers: Sequence[tuple[str, nn.Module]]) -> list[Link] | None:
    links: list[Link] = []
    for name, layer in layers:
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            links.append((f"{name}.weight", f"{name}.bias"))
        elif isinstance(layer, ELEMENTWISE):
            links.append(layer)
        else:
            return None
    return links


def run_links(links: Sequence[Link], params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """h [N, B, in] through the links with each member's own weights: [N, B, out]."""
    for link in links:
        if isinstance(link, tuple):
            weight, bias = params[link[0]], params[link[1]]  # [N, out, in], [N, out]
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        else:
            h = link(h)
    return h


def chain_of(module: nn.Module) -> Chain | None:
    """The stacked forward of `module`'s architecture when it is a chain of dense layers, else None."""
    if any(True for _ in module.buffers()) or any(hasattr(m, "parametrizations") for m in module.modules()):
        return None
    if isinstance(module, MLPGenerator):
        links = _links(
            [
                *((f"hidden.{i}", layer) for i, layer in enumerate(module.hidden)),
                ("output_layer", module.output_layer),
                ("output", module.output_activation),
            ]
        )
        if links is None:
            return None
        g_links, shape = links, module.image_shape

        def generate(params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
            x = run_links(g_links, params, z)  # [N, B, prod(shape)]
            return x.view(*z.shape[:2], *shape)

        return generate
    if isinstance(module, SetDiscriminator):
        links = _links([*((f"hidden.{i}", layer) for i, layer in enumerate(module.hidden)), ("head", module.head)])
        if links is None:
            return None
        d_links, set_size, sort = links, module.set_size, module.sort

        def discriminate(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            n, b = x.shape[:2]
            if b % set_size != 0:
                raise ValueError(f"the set discriminator needs a batch that is a multiple of {set_size}, got {b}")
            sets = x.reshape(n, b // set_size, -1)  # [N, B / s, s * prod(shape)]
            if sort:
                sets = sets.sort(dim=2).values
            return run_links(d_links, params, sets).squeeze(-1)  # [N, B / s]

        return discriminate
    return None
