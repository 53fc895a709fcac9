"""Randomness per run: every draw of an iteration (noise, dropout masks, the gradient penalty's ε, instance noise)
comes from the run's own generator, so runs share a process without disturbing each other or the global RNG, and
the generator's state travels in checkpoints (also those written when the global RNG held the run's stream)."""

import copy

import torch

from advnets.randomness import (
    MaskSpec,
    current_generator,
    draw_mask,
    drawing_from,
    dropout,
    given_masks,
    recording_masks,
)
from advnets.training.trainer import Trainer
from tests.conftest import tiny_config

# Dropout in D (tiny's maxout keeps 0.8 / 0.5), a gradient penalty's ε and annealed instance noise: every kind of draw.
RANDOM = [
    "train.update=alternating",
    "penalties.gradient_penalty.weight=1",
    "transforms.instance_noise.std=0.1",
    "transforms.instance_noise.anneal_steps=100",
]


def weights(trainer):
    return [p.detach().clone() for p in [*trainer.G.parameters(), *trainer.D.parameters()]]


def losses(trainer, steps):
    return [{k: float(v) for k, v in trainer.train_step().items()} for _ in range(steps)]


def test_two_runs_stepped_in_turn_in_one_process_equal_each_run_alone():
    alone = [losses(Trainer.from_config(tiny_config(*RANDOM, f"seed={seed}")), 4) for seed in (0, 1)]
    a, b = (Trainer.from_config(tiny_config(*RANDOM, f"seed={seed}")) for seed in (0, 1))
    together: list[list[dict]] = [[], []]
    for _ in range(4):
        together[0] += losses(a, 1)
        together[1] += losses(b, 1)
    assert together == alone
    assert alone[0] != alone[1]


def test_a_training_step_leaves_the_global_rng_alone():
    trainer = Trainer.from_config(tiny_config(*RANDOM))
    before = torch.get_rng_state()
    trainer.train_step()
    assert torch.equal(torch.get_rng_state(), before)
    # ... and the global RNG does not reach the run: reseeding it changes nothing.
    twin = Trainer.from_config(tiny_config(*RANDOM))
    twin.train_step()
    torch.manual_seed(999)
    assert losses(trainer, 2) == losses(twin, 2)


def test_a_checkpoint_written_with_the_global_rng_state_resumes_the_same_stream():
    trainer = Trainer.from_config(tiny_config(*RANDOM))
    losses(trainer, 2)
    state = copy.deepcopy(trainer.state_dict())
    expected = losses(trainer, 3)
    # Before runs owned their generators a checkpoint saved torch.get_rng_state(), which was the run's stream.
    old = {**state, "rng": {"torch": state["rng"]["run"]}}
    resumed = Trainer.from_config(tiny_config(*RANDOM))
    resumed.load_state_dict(old)
    assert losses(resumed, 3) == expected


def test_dropout_draws_from_the_current_generator_like_torch_dropout():
    x = torch.randn(50, 30, requires_grad=True)
    torch.manual_seed(5)
    want = torch.nn.functional.dropout(x, 0.3, training=True)
    with drawing_from(torch.Generator().manual_seed(5)) as gen:
        assert current_generator() is gen
        got = dropout(x, 0.3)
    assert current_generator() is None
    assert torch.equal(got, want)
    (g_want,) = torch.autograd.grad(want.sum(), x)
    (g_got,) = torch.autograd.grad(got.sum(), x)
    assert torch.equal(g_got, g_want)


def test_a_recorded_dropout_call_is_redrawn_exactly_and_given_back():
    # A population records what each dropout call would draw, draws it per member, and hands the masks back: the
    # same numbers as the call drawing for itself, also for an input that is not contiguous (a transposed one).
    x = torch.randn(30, 50).t()
    with drawing_from(torch.Generator().manual_seed(5)):
        want = dropout(x, 0.3)
    with recording_masks() as specs:
        assert dropout(x, 0.3) is x  # records, draws nothing
        dropout(x[:10], 0.5)
    assert specs == [MaskSpec((50, 30), x.stride(), torch.float32, 0.3), MaskSpec((10, 30), x.stride(), torch.float32, 0.5)]
    gen = torch.Generator().manual_seed(5)
    mask = draw_mask(specs[0], x.device, gen)
    assert torch.equal(x * mask, want)
    with given_masks([mask, mask[:10]]):
        assert torch.equal(dropout(x, 0.3), want)
        assert torch.equal(dropout(x[:10], 0.5), want[:10])
