"""Which parameters each update changes, and with which gradients (plain SGD, lr 1, no momentum)."""

import copy

import torch
from torch.testing import assert_close

from advnets.config import build_config
from advnets.losses import LOSSES, bce_d_loss, non_saturating_g_loss
from advnets.training.optim import ClassicalSGD
from advnets.training.parts import Parts
from advnets.training.steps import d_step, g_step, joint_step
from tests.models.helpers import discriminator, generator

SHAPE = (1, 4, 4)


def nets(dropout: bool):
    keep = "0.5" if dropout else "1.0"
    cfg = build_config(
        overrides=[
            "model.z_dim=3",
            "model.generator.hidden=[5]",
            "model.generator.bias_from_marginals=false",
            "model.generator.init_range=0.3",
            "model.discriminator.hidden=[6]",
            "model.discriminator.pieces=2",
            "model.discriminator.init_range=0.3",
            f"model.discriminator.input_keep={keep}",
            f"model.discriminator.hidden_keep={keep}",
        ]
    )
    torch.manual_seed(0)
    return generator(cfg.model, SHAPE), discriminator(cfg.model, SHAPE)


def params(m):
    return [p.detach().clone() for p in m.parameters()]


def sgd(m):
    return ClassicalSGD(m.parameters(), lr=1.0, momentum=0.0)


def parts(G, D, g_opt=None, d_opt=None, **extra):
    return Parts(G, D, g_opt or sgd(G), d_opt or sgd(D), LOSSES.get("ns")(build_config().loss), **extra)

REAL = torch.rand(4, *SHAPE)
Z = torch.rand(4, 3)


def test_d_step_changes_only_d_by_its_gradient():
    G, D = nets(dropout=False)
    G0, D0 = params(G), params(D)
    ref_D = copy.deepcopy(D)
    loss = bce_d_loss(ref_D(REAL), ref_D(G(Z).detach()), half=True)
    grads = torch.autograd.grad(loss, list(ref_D.parameters()))
    d_step(parts(G, D), REAL, Z, step=0)
    for before, after in zip(G0, G.parameters()):
        assert torch.equal(before, after)
    for before, after, g in zip(D0, D.parameters(), grads):
        assert_close(after.detach(), before - g)
    assert all(p.grad is None for p in G.parameters())


def test_g_step_changes_only_g_and_leaves_no_gradient_on_d():
    G, D = nets(dropout=False)
    G0, D0 = params(G), params(D)
    ref_G = copy.deepcopy(G)
    grads = torch.autograd.grad(non_saturating_g_loss(D(ref_G(Z))), list(ref_G.parameters()))
    g_step(parts(G, D), Z, step=0)
    for before, after in zip(D0, D.parameters()):
        assert torch.equal(before, after)
    assert all(p.grad is None for p in D.parameters()) and all(p.requires_grad for p in D.parameters())
    for before, after, g in zip(G0, G.parameters(), grads):
        assert_close(after.detach(), before - g)


def test_simultaneous_step_uses_one_fake_batch_and_the_same_dropout_masks():
    G, D = nets(dropout=True)
    G0, D0 = params(G), params(D)
    ref_G, ref_D = copy.deepcopy(G), copy.deepcopy(D)
    # Expected: one D pass over one fake batch; both losses from it (same masks), each player's own gradient.
    torch.manual_seed(123)
    fake = ref_G(Z)
    real_logits, fake_logits = ref_D(REAL), ref_D(fake)
    d_grads = torch.autograd.grad(
        bce_d_loss(real_logits, fake_logits, half=True), list(ref_D.parameters()), retain_graph=True
    )
    g_grads = torch.autograd.grad(non_saturating_g_loss(fake_logits), list(ref_G.parameters()))
    torch.manual_seed(123)
    joint_step(parts(G, D), REAL, Z, step=0)
    for before, after, g in zip(D0, D.parameters(), d_grads):
        assert_close(after.detach(), before - g)
    for before, after, g in zip(G0, G.parameters(), g_grads):
        assert_close(after.detach(), before - g)
    # A second D pass for G's loss (fresh masks) would give a different G update: the test can tell them apart.
    torch.manual_seed(123)
    fake = ref_G(Z)
    ref_D(REAL), ref_D(fake)
    other = torch.autograd.grad(non_saturating_g_loss(ref_D(fake)), list(ref_G.parameters()))
    assert any(not torch.allclose(a, b) for a, b in zip(other, g_grads))
