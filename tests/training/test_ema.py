"""G's weight average (advnets.training.ema) against hand-computed values, and how the trainer keeps it: after
every G update, never touching what training computes, nowhere at all when train.ema_decay is unset."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from advnets.config import to_dict
from advnets.config_reference import reference_text
from advnets.errors import UserError
from advnets.training.ema import batch_norm_layers, make_ema, standing_statistics, update_ema
from advnets.training.trainer import Trainer, check_resumable
from tests.conftest import tiny_config


def linear(weight: float, bias: float, seen: int) -> nn.Linear:
    """nn.Linear(1, 1) with hand-set weights and an integer buffer (a batch-norm-like counter)."""
    G = nn.Linear(1, 1)
    with torch.no_grad():
        G.weight.fill_(weight)
        G.bias.fill_(bias)
    G.register_buffer("seen", torch.tensor(seen))
    return G


def set_weights(G: nn.Linear, weight: float, bias: float, seen: int) -> None:
    with torch.no_grad():
        G.weight.fill_(weight)
        G.bias.fill_(bias)
        G.seen.fill_(seen)


def test_two_updates_with_decay_one_half_give_the_hand_computed_weights():
    G = linear(weight=1.0, bias=0.0, seen=0)
    G_ema = make_ema(G)
    set_weights(G, weight=3.0, bias=-1.0, seen=5)
    update_ema(G_ema, G, decay=0.5)
    # 0.5 * 1 + 0.5 * 3 = 2; 0.5 * 0 + 0.5 * (-1) = -0.5; the buffer is G's, not an average.
    assert (G_ema.weight.item(), G_ema.bias.item(), G_ema.seen.item()) == (2.0, -0.5, 5)
    set_weights(G, weight=5.0, bias=1.0, seen=9)
    update_ema(G_ema, G, decay=0.5)
    # 0.5 * 2 + 0.5 * 5 = 3.5; 0.5 * (-0.5) + 0.5 * 1 = 0.25
    assert (G_ema.weight.item(), G_ema.bias.item(), G_ema.seen.item()) == (3.5, 0.25, 9)
    assert (G.weight.item(), G.bias.item()) == (5.0, 1.0)  # G itself is only read


def test_the_decay_is_the_weight_kept_by_the_average():
    G = linear(weight=1.0, bias=2.0, seen=0)
    G_ema = make_ema(G)
    set_weights(G, weight=11.0, bias=-8.0, seen=0)
    update_ema(G_ema, G, decay=0.9)
    assert_close(G_ema.weight, torch.tensor([[2.0]]))  # 0.9 * 1 + 0.1 * 11
    assert_close(G_ema.bias, torch.tensor([1.0]))  # 0.9 * 2 + 0.1 * (-8)


def test_the_average_starts_as_a_frozen_copy_in_eval_mode_and_draws_no_random_numbers():
    G = linear(weight=0.5, bias=0.25, seen=3)
    rng = torch.get_rng_state()
    G_ema = make_ema(G)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not G_ema.training and G.training
    assert all(not p.requires_grad for p in G_ema.parameters()) and G.weight.requires_grad
    for a, b in zip(G_ema.state_dict().values(), G.state_dict().values()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


@pytest.mark.parametrize("update", [[], ["train.update=alternating", "train.d_steps=2"]])
def test_the_trainer_averages_g_after_every_g_update(update):
    trainer = Trainer.from_config(tiny_config(*update, "train.ema_decay=0.5"))
    G_ema = trainer.parts.G_ema
    assert G_ema is not None and trainer.G_for_samples is G_ema
    for _ in range(3):
        before = [p.clone() for p in G_ema.parameters()]
        trainer.train_step()
        for old, new, g in zip(before, G_ema.parameters(), trainer.G.parameters()):
            assert_close(new, 0.5 * old + 0.5 * g)
    assert not G_ema.training
    assert all(p.grad is None for p in G_ema.parameters())


def test_the_average_starts_at_ema_start_and_follows_g_exactly_before():
    trainer = Trainer.from_config(tiny_config("train.ema_decay=0.5", "train.ema_start=2"))
    G_ema = trainer.parts.G_ema
    assert G_ema is not None
    for _ in range(2):  # updates 1 and 2: a copy of G, bit for bit
        trainer.train_step()
        assert all(torch.equal(e, g) for e, g in zip(G_ema.parameters(), trainer.G.parameters()))
    before = [p.clone() for p in trainer.G.parameters()]
    trainer.train_step()  # update 3 is the first one averaged: G after update 2 and G after update 3, half each
    for old, new, g in zip(before, G_ema.parameters(), trainer.G.parameters()):
        assert not torch.equal(new, g)
        assert_close(new, 0.5 * old + 0.5 * g)
    with pytest.raises(UserError, match="train.ema_start=-1 must be 0 or more"):
        tiny_config("train.ema_decay=0.5", "train.ema_start=-1")


def test_fit_leaves_the_average_in_eval_mode_and_frozen():
    trainer = Trainer.from_config(tiny_config("train.ema_decay=0.9", "train.max_steps=3"))
    trainer.fit()
    G_ema = trainer.parts.G_ema
    assert G_ema is not None and not G_ema.training and trainer.G.training
    assert all(not p.requires_grad and p.grad is None for p in G_ema.parameters())
    assert "G_ema" in trainer.state_dict()


def test_the_average_changes_nothing_that_training_computes():
    # One after the other: both draw their noise from the global RNG, which each build seeds.
    plain = Trainer.from_config(tiny_config())
    plain_stats = [plain.train_step() for _ in range(5)]
    averaged = Trainer.from_config(tiny_config("train.ema_decay=0.99"))
    averaged_stats = [averaged.train_step() for _ in range(5)]
    for a, b in zip(plain_stats, averaged_stats):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for x, y in zip(
        [*plain.G.state_dict().values(), *plain.D.state_dict().values()],
        [*averaged.G.state_dict().values(), *averaged.D.state_dict().values()],
    ):
        assert torch.equal(x, y)
    assert torch.equal(plain.fixed_z, averaged.fixed_z)


def test_without_ema_decay_there_is_no_average_anywhere():
    trainer = Trainer.from_config(tiny_config("train.max_steps=2"))
    trainer.fit()
    assert trainer.parts.G_ema is None and trainer.G_for_samples is trainer.G
    assert "G_ema" not in trainer.state_dict()


def test_advnets_config_explains_the_key():
    text = reference_text(tiny_config("train.ema_decay=0.999"))
    line = next(row for row in text.splitlines() if row.startswith("train.ema_decay = "))
    assert line.startswith("train.ema_decay = 0.999") and "G_ema" in line and "null = off" in line


def test_a_resume_can_neither_switch_the_average_on_nor_change_its_decay():
    switched_on = (tiny_config(), "train.ema_decay=0.9")
    decay_changed = (tiny_config("train.ema_decay=0.9"), "train.ema_decay=0.99")
    for saved, new in (switched_on, decay_changed):
        with pytest.raises(UserError, match="train.ema_decay changed"):
            check_resumable(to_dict(saved), tiny_config(new))


# ------------------------------------------------------------------------------------------ batch-norm statistics
def test_standing_statistics_are_the_plain_average_over_the_seeded_noise_batches():
    torch.manual_seed(0)
    G = make_ema(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.3), nn.Dropout(0.5), nn.Linear(4, 2)))
    standing_statistics(G, 3, "gaussian", batch_size=5, batches=3, seed=11, num_classes=None)
    gen = torch.Generator().manual_seed(11)
    zs = [torch.randn(5, 3, generator=gen) for _ in range(3)]
    with torch.no_grad():
        pre = [G[0](z) for z in zs]
    bn = G[1]
    # Each batch's mean and unbiased variance, averaged with equal weights (momentum None).
    assert_close(bn.running_mean, torch.stack([h.mean(0) for h in pre]).mean(0))
    assert_close(bn.running_var, torch.stack([h.var(0) for h in pre]).mean(0))
    assert int(bn.num_batches_tracked) == 3 and bn.momentum == 0.3
    assert not G.training and not bn.training and not G[2].training  # dropout never saw training mode
    before = [t.clone() for t in G.state_dict().values()]
    standing_statistics(G, 3, "gaussian", batch_size=5, batches=3, seed=11, num_classes=None)
    assert all(torch.equal(a, b) for a, b in zip(before, G.state_dict().values()))  # a function of the weights


def test_a_g_without_batch_norm_is_left_as_it_is():
    G = make_ema(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    before = [t.clone() for t in G.state_dict().values()]
    standing_statistics(G, 3, "gaussian", batch_size=5, batches=3, seed=0, num_classes=None)
    assert batch_norm_layers(G) == [] and all(torch.equal(a, b) for a, b in zip(before, G.state_dict().values()))


def _bn_statistics(G):
    return [t.clone() for layer in batch_norm_layers(G) for t in (layer.running_mean, layer.running_var)]


def test_the_average_samples_and_is_saved_with_batch_norm_statistics_of_its_own_weights():
    trainer = Trainer.from_config(tiny_config("model.generator.norm=batch", "train.ema_decay=0.9", "train.max_steps=4"))
    trainer.fit()
    G_ema = trainer.parts.G_ema
    copied = _bn_statistics(trainer.G)
    own = _bn_statistics(trainer.G_for_samples)
    assert trainer.G_for_samples is G_ema and not any(torch.equal(a, b) for a, b in zip(own, copied))
    expected = make_ema(G_ema)
    model = trainer.cfg.model
    standing_statistics(expected, 8, model.noise, batch_size=32, batches=16, seed=trainer.cfg.seed + 104729, num_classes=None)
    assert all(torch.equal(a, b) for a, b in zip(own, _bn_statistics(expected)))
    saved = trainer.state_dict()["G_ema"]
    layer_names = [name for name, m in G_ema.named_modules() if m in batch_norm_layers(G_ema)]
    assert torch.equal(saved[f"{layer_names[0]}.running_mean"], own[0])
    # Training after it copies G's statistics again; the next use re-estimates them for the new weights.
    trainer.train_step()
    assert all(torch.equal(a, b) for a, b in zip(_bn_statistics(G_ema), _bn_statistics(trainer.G)))
    assert not any(torch.equal(a, b) for a, b in zip(_bn_statistics(trainer.G_for_samples), _bn_statistics(trainer.G)))


def test_with_no_batches_the_average_keeps_g_s_statistics():
    cfg = tiny_config("model.generator.norm=batch", "train.ema_decay=0.9", "train.max_steps=3", "train.ema_bn_batches=0")
    trainer = Trainer.from_config(cfg)
    trainer.fit()
    assert all(torch.equal(a, b) for a, b in zip(_bn_statistics(trainer.G_for_samples), _bn_statistics(trainer.G)))
    with pytest.raises(UserError, match="ema_bn_batches=-1 must be 0 or more"):
        tiny_config("train.ema_bn_batches=-1")
