"""Chains of dense layers (advnets.training.chains): a population's written-out forward of the MLP generator and
the set discriminator gives each member what its own module gives, and nets that are not such chains keep vmap."""

import pytest
import torch
from torch.func import stack_module_state

from advnets.config import load_config
from advnets.models.mlp import MaxoutDiscriminator, MLPGenerator
from advnets.models.set_discriminator import SetDiscriminator
from advnets.training.chains import chain_of
from advnets.training.population import Population, StackedModule
from advnets.training.trainer import Trainer

MEMBERS, BATCH = 3, 200


def stacked(nets):
    params, _ = stack_module_state(nets)
    return {name: tensor.detach().requires_grad_() for name, tensor in params.items()}


def members_outputs_and_grads(nets, inputs):
    """Each member's own module on its own input: outputs [N, ...] and the gradients of their sum."""
    outputs = torch.stack([net(x) for net, x in zip(nets, inputs, strict=True)])
    outputs.sum().backward()
    return outputs, [torch.stack([dict(net.named_parameters())[name].grad for net in nets]) for name, _ in nets[0].named_parameters()]


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (lambda: MLPGenerator(1, [100, 100], (1,), activation=["elu", "sigmoid"], output="linear"), (1,)),
        (lambda: MLPGenerator(8, [16], (1, 4, 4), activation="leaky_relu", output="tanh"), (8,)),
        (lambda: SetDiscriminator((1,), 100, [50, 50], activation="elu", sort=False), (1,)),
        (lambda: SetDiscriminator((1,), 50, [20], activation="relu", sort=True), (1,)),
    ],
)
def test_a_chains_members_get_what_their_own_modules_give(build, shape):
    torch.manual_seed(0)
    nets = [build() for _ in range(MEMBERS)]
    inputs = torch.randn(MEMBERS, BATCH, *shape)
    want, want_grads = members_outputs_and_grads(nets, inputs)
    params = stacked(nets)
    chain = chain_of(nets[0])
    assert chain is not None
    got = chain(params, inputs)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    got.sum().backward()
    for (name, _), grad in zip(nets[0].named_parameters(), want_grads, strict=True):
        torch.testing.assert_close(params[name].grad, grad, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MLPGenerator(8, [16], (4,), norm="virtual_batch", reference_batch=4),  # a buffer, VBN layers
        lambda: MLPGenerator(8, [16], (4,), norm="batch"),  # batch norm: running statistics
        lambda: MaxoutDiscriminator((1, 4, 4), [12], pieces=2, input_keep=1.0, hidden_keep=1.0),
        lambda: torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(3, 2)),
    ],
)
def test_nets_that_are_not_chains_of_dense_layers_keep_vmap(build):
    assert chain_of(build()) is None


def test_a_set_discriminators_chain_refuses_a_batch_of_broken_sets():
    net = SetDiscriminator((1,), 100, [8])
    with pytest.raises(ValueError, match="multiple of 100"):
        chain_of(net)(stacked([net, SetDiscriminator((1,), 100, [8])]), torch.randn(2, 150, 1))


def test_toy_1d_members_step_the_same_with_the_chain_as_with_vmap():
    """The 1-D lab's G and set D run as chains; the same population through vmap takes the same updates."""

    def population():
        cfgs = [load_config("toy-1d", [f"seed={seed}", "log.progress=false", "log.tensorboard=false"]) for seed in range(3)]
        return Population([Trainer.from_config(cfg) for cfg in cfgs])

    chained, vmapped = population(), population()
    assert all(isinstance(net, StackedModule) and net.chain is not None for net in (chained.parts.G, chained.parts.D))
    vmapped.parts.G.chain = vmapped.parts.D.chain = None
    for _ in range(5):
        for a, b in zip(chained.train_step(), vmapped.train_step(), strict=True):
            assert {k: float(v) for k, v in a.items()} == pytest.approx({k: float(v) for k, v in b.items()}, rel=1e-5)
    for a, b in zip(chained.members, vmapped.members, strict=True):
        for p, q in zip([*a.G.parameters(), *a.D.parameters()], [*b.G.parameters(), *b.D.parameters()], strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
