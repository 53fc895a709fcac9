"""Which parameters each update changes, and with which gradients (plain SGD, lr 1, no momentum)."""

import copy

import pytest
import torch
from torch.testing import assert_close

from advnets.config import build_config
from advnets.losses import LOSSES, bce_d_loss, non_saturating_g_loss
from advnets.training.optim import ClassicalSGD
from advnets.training.parts import Batch, Parts
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
BATCH = Batch(REAL, None, Z, None)


def test_d_step_changes_only_d_by_its_gradient():
    G, D = nets(dropout=False)
    G0, D0 = params(G), params(D)
    ref_D = copy.deepcopy(D)
    loss = bce_d_loss(ref_D(REAL), ref_D(G(Z).detach()), half=True)
    grads = torch.autograd.grad(loss, list(ref_D.parameters()))
    d_step(parts(G, D), BATCH, step=0)
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
    g_step(parts(G, D), BATCH, step=0)
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
    joint_step(parts(G, D), BATCH, step=0)
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


def test_apply_syncs_each_players_gradients_between_backward_and_the_optimiser_step():
    G, D = nets(dropout=False)
    seen = []

    def sync(params):
        # Called once per player, with gradients already there and the weights not moved yet.
        seen.append(([p.grad.clone() for p in params], [p.detach().clone() for p in params]))
        for p in params:
            p.grad.mul_(2.0)  # what an all-reduce may do; the step must use the synced gradients

    G0, D0 = params(G), params(D)
    ref_G, ref_D = copy.deepcopy(G), copy.deepcopy(D)
    fake = ref_G(Z)
    real_logits, fake_logits = ref_D(REAL), ref_D(fake)
    d_grads = torch.autograd.grad(
        bce_d_loss(real_logits, fake_logits, half=True), list(ref_D.parameters()), retain_graph=True
    )
    g_grads = torch.autograd.grad(non_saturating_g_loss(fake_logits), list(ref_G.parameters()))
    joint_step(parts(G, D, sync_grads=sync), BATCH, step=0)
    assert len(seen) == 2  # D's parameters, then G's
    (d_seen, d_weights), (g_seen, g_weights) = seen
    for got, want in zip(d_seen, d_grads):
        assert_close(got, want)
    for got, want in zip(g_seen, g_grads):
        assert_close(got, want)
    assert all(torch.equal(a, b) for a, b in zip(d_weights, D0)) and all(torch.equal(a, b) for a, b in zip(g_weights, G0))
    for before, after, g in zip(D0, D.parameters(), d_grads):
        assert_close(after.detach(), before - 2.0 * g)
    for before, after, g in zip(G0, G.parameters(), g_grads):
        assert_close(after.detach(), before - 2.0 * g)


def test_labels_reach_conditional_players_through_the_two_entry_points():
    calls = []

    class Conditional(torch.nn.Module):
        conditional = True

        def __init__(self, d_in, d_out):
            super().__init__()
            self.linear = torch.nn.Linear(d_in, d_out)

        def forward(self, x, labels):
            calls.append((type(self).__name__, labels.tolist()))
            return self.linear(x.flatten(1) + labels[:, None].float())

    class CondG(Conditional):
        def forward(self, z, labels):
            return super().forward(z, labels).view(len(z), *SHAPE)

    class CondD(Conditional):
        def forward(self, x, labels):
            return super().forward(x, labels).squeeze(-1)

    G, D = CondG(3, 16), CondD(16, 1)
    batch = Batch(REAL, torch.tensor([0, 1, 2, 3]), Z, torch.tensor([3, 3, 1, 1]))
    d_step(parts(G, D), batch, step=0)
    assert calls == [("CondG", [3, 3, 1, 1]), ("CondD", [0, 1, 2, 3]), ("CondD", [3, 3, 1, 1])]
    calls.clear()
    g_step(parts(G, D), batch, step=0)
    assert calls == [("CondG", [3, 3, 1, 1]), ("CondD", [3, 3, 1, 1])]
    with pytest.raises(ValueError, match="conditional"):
        d_step(parts(G, D), Batch(REAL, None, Z, None), step=0)
