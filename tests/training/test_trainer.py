import pytest
import torch

from advnets.errors import UserError
from advnets.training.trainer import Trainer, changed_keys, check_resumable
from tests.conftest import tiny_config


def test_k_discriminator_steps_per_generator_step_each_with_a_fresh_batch():
    trainer = Trainer.from_config(tiny_config("train.update=alternating", "train.d_steps=3", "train.max_steps=4"))
    seen = []
    original = trainer.batches.next
    trainer.batches.next = lambda: seen.append(original()) or seen[-1]
    trainer.fit()
    assert (trainer.step, trainer.g_updates, trainer.d_updates) == (4, 4, 12)
    assert len(seen) == 12  # one real minibatch per D step
    assert len({tuple(ix.tolist()) for ix in seen}) == 12


def test_simultaneous_updates_both_players_once_per_batch():
    trainer = Trainer.from_config(tiny_config("train.max_steps=5"))
    trainer.fit()
    assert (trainer.step, trainer.g_updates, trainer.d_updates) == (5, 5, 5)


def test_epochs_end_training_and_momentum_follows_epochs():
    trainer = Trainer.from_config(tiny_config("train.epochs=3", "train.g_optimizer.momentum_saturate_epochs=3"))
    trainer.fit()
    assert trainer.epoch == 3 and trainer.step == 3 * trainer.batches.batches_per_epoch
    assert trainer.g_opt.param_groups[0]["momentum"] == pytest.approx(0.7)  # epoch 3 of 3 -> final momentum


def test_every_epoch_reshuffles_and_covers_the_data():
    trainer = Trainer.from_config(tiny_config())
    b = trainer.batches
    first = torch.cat([b.next() for _ in range(b.batches_per_epoch)])
    second = torch.cat([b.next() for _ in range(b.batches_per_epoch)])
    assert len(set(first.tolist())) == len(first)  # no repeats within an epoch
    assert not torch.equal(first, second)


def test_sigmoid_generator_on_symmetric_data_is_refused():
    with pytest.raises(UserError, match="data.pixel_range=unit"):
        Trainer.from_config(tiny_config("data.pixel_range=symmetric"))


def test_resume_accepts_longer_schedule_and_refuses_model_changes():
    old = tiny_config()
    check_resumable(_d(old), tiny_config("train.epochs=50", "log.every_steps=7", "train.max_steps=9"))
    with pytest.raises(UserError, match="model.z_dim"):
        check_resumable(_d(old), tiny_config("model.z_dim=9"))
    assert changed_keys({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}) == ["a.c"]


def test_a_checkpoint_saved_in_the_earlier_config_layout_resumes():
    cfg = tiny_config("eval.every_epochs=3", "eval.metrics.parzen.samples=100")
    old = _d(cfg)
    parzen = old["eval"]["metrics"]["parzen"]
    old["eval"] = {
        "parzen_every_epochs": 3,
        **{f"parzen_{k}": v for k, v in parzen.items()},
        "seed": old["eval"]["seed"],
    }
    old["model"]["discriminator"]["activation"] = "leaky_relu"  # every family's keys were saved then
    del old["loss"]["real_target"]  # a key added since
    check_resumable(old, cfg)
    with pytest.raises(UserError, match="model.discriminator.pieces"):
        check_resumable(old, tiny_config("eval.every_epochs=3", "eval.metrics.parzen.samples=100", "model.discriminator.pieces=3"))


def _d(cfg):
    from advnets.config import to_dict

    return to_dict(cfg)
