"""The set discriminator (docs/paper.md §6, the 1-D lab): one logit per set, sorting, batch checks, penalties."""

import pytest
import torch
from torch import nn

from advnets.config import build_config, load_config
from advnets.data import VectorKind
from advnets.errors import UserError
from advnets.models import ModelSpec, build_discriminator, examples_per_logit
from advnets.models.set_discriminator import SetDiscriminator, check_batch_sizes
from advnets.penalties import gradient_penalty, input_gradients, r1_penalty
from advnets.training.components import build_components

ONE_D = ModelSpec(1, (1,), VectorKind())


def lab_d(**keys) -> nn.Module:
    model = build_config(base={"data": {"name": "gauss-1d"}, "model": {"discriminator": {"arch": "set", **keys}}}).model
    torch.manual_seed(0)
    return build_discriminator(model.discriminator, ONE_D)


def test_the_lab_d_is_100_50_elu_50_elu_1():
    D = lab_d()
    layers = [(type(m).__name__, getattr(m, "in_features", None), getattr(m, "out_features", None)) for m in D.modules()]
    layers = [entry for entry in layers if entry[0] in ("Linear", "ELU")]
    assert layers == [
        ("Linear", 100, 50),
        ("ELU", None, None),
        ("Linear", 50, 50),
        ("ELU", None, None),
        ("Linear", 50, 1),
    ]
    assert examples_per_logit(D) == 100


def test_one_logit_per_set_of_consecutive_examples():
    D = lab_d(set_size=4, hidden=[8], sort=False)
    x = torch.randn(12, 1)
    logits = D(x)
    assert logits.shape == (3,)
    # Set 2 is rows 8..11: the same logit alone as in the batch.
    torch.testing.assert_close(D(x[8:12]), logits[2:3], rtol=0, atol=1e-6)
    assert D.features(x).shape == (3, 8)


def test_sorting_makes_d_permutation_invariant_and_unsorted_is_not():
    x = torch.randn(5, 1)
    shuffled = x[torch.tensor([3, 0, 4, 1, 2])]
    sorted_d = lab_d(set_size=5, hidden=[7])
    torch.testing.assert_close(sorted_d(shuffled), sorted_d(x), rtol=0, atol=0)
    plain = lab_d(set_size=5, hidden=[7], sort=False)
    assert not torch.allclose(plain(shuffled), plain(x))
    # Sorted, D's input is the set in increasing order: the linear layer sees exactly that vector.
    first = sorted_d.hidden[0]
    expected = first(x[:, 0].sort().values.unsqueeze(0))
    torch.testing.assert_close(sorted_d.hidden[0](sorted_d.sets(shuffled)), expected, rtol=0, atol=0)


def test_gradients_reach_every_sample_through_the_sort():
    D = lab_d(set_size=3, hidden=[4])
    x = torch.tensor([[2.0], [0.5], [1.0]], requires_grad=True)
    D(x).sum().backward()
    assert x.grad is not None and x.grad.shape == (3, 1) and bool((x.grad != 0).all())
    # The gradient of the largest sample against a finite difference that keeps the sorted order.
    eps = 1e-3
    with torch.no_grad():
        bumped = x.detach().clone()
        bumped[0, 0] += eps
        numeric = (D(bumped) - D(x.detach())) / eps
    torch.testing.assert_close(x.grad[0, 0], numeric[0], rtol=0, atol=1e-3)


def test_a_batch_that_is_not_whole_sets_is_refused():
    D = lab_d(set_size=4, hidden=[8])
    with pytest.raises(ValueError, match="multiple of 4"):
        D(torch.randn(6, 1))
    with pytest.raises(UserError, match=r"train\.g_batch_size=50 is not a multiple of model\.discriminator\.set_size=100"):
        check_batch_sizes(lab_d(), {"train.batch_size": 100, "train.g_batch_size": 50})
    check_batch_sizes(lab_d(), {"train.batch_size": 200, "train.g_batch_size": None})


def test_the_batch_size_check_happens_when_the_run_is_built():
    cfg = load_config("toy-1d", ["train.batch_size=150", "data.n=300"])
    with pytest.raises(UserError, match=r"train\.batch_size=150 is not a multiple of .*set_size=100"):
        build_components(cfg)


def test_sort_needs_1d_examples():
    model = build_config(base={"model": {"discriminator": {"arch": "set", "set_size": 2}}}).model
    with pytest.raises(UserError, match="sort=false"):
        build_discriminator(model.discriminator, ModelSpec(2, (2,), VectorKind()))
    unsorted = build_config(
        base={"model": {"discriminator": {"arch": "set", "set_size": 2, "sort": False, "hidden": [3]}}}
    ).model
    D = build_discriminator(unsorted.discriminator, ModelSpec(2, (2,), VectorKind()))
    assert D(torch.randn(6, 2)).shape == (3,)


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("set_size", 0, r"set_size=0 is impossible"),
        ("hidden", [50, 0], r"hidden=\[50, 0\] must list positive"),
        ("activation", "swish", r"activation='swish' is not allowed"),
    ],
)
def test_bad_options_name_the_key(key, value, message):
    with pytest.raises(UserError, match=message):
        build_config(base={"model": {"discriminator": {"arch": "set", key: value}}})


def test_input_gradients_are_per_set_and_penalties_use_them():
    D = SetDiscriminator((1,), 2, [3], activation="tanh", sort=False)
    x = torch.randn(4, 1)
    grads = input_gradients(D, x)
    assert grads.shape == (2, 2)  # one row per set, one column per sample of the set
    # By hand: the gradient of set k's logit w.r.t. its two samples, one at a time.
    for k in range(2):
        pair = x[2 * k : 2 * k + 2].clone().requires_grad_(True)
        (by_hand,) = torch.autograd.grad(D(pair).sum(), pair)
        torch.testing.assert_close(grads[k], by_hand.flatten(), rtol=0, atol=1e-6)
    torch.testing.assert_close(r1_penalty(D, x), grads.square().sum(1).mean(), rtol=0, atol=1e-6)


def test_gradient_penalty_mixes_whole_sets_along_one_segment():
    class Spy(nn.Module):
        set_size = 2

        def __init__(self) -> None:
            super().__init__()
            self.seen: list[torch.Tensor] = []
            self.w = nn.Parameter(torch.ones(2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append(x.detach().clone())
            return x.reshape(-1, 2) @ self.w

    real = torch.ones(4, 1)
    fake = torch.zeros(4, 1)
    spy = Spy()
    torch.manual_seed(3)
    penalty = gradient_penalty(spy, real, fake)
    mixed = spy.seen[0][:, 0]  # with real 1 and fake 0, each mixed value is its ε
    assert mixed[0] == mixed[1] and mixed[2] == mixed[3] and mixed[0] != mixed[2]
    # D is linear with weights (1, 1): each set's gradient norm is sqrt 2, so the penalty is (sqrt 2 - 1)^2.
    torch.testing.assert_close(penalty, torch.tensor((2**0.5 - 1) ** 2), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "extra",
    [
        ["penalties.gradient_penalty.weight=10"],
        ["penalties.r1.weight=1"],
        ["g_objectives.feature_matching.weight=1"],
        ["train.update=unrolled", "train.rule.steps=2"],
        ["train.update=simultaneous"],
        ["model.discriminator.spectral_norm=true"],
    ],
)
def test_the_set_d_trains_with_every_axis(extra):
    from advnets.training.trainer import Trainer

    cfg = load_config(
        "toy-1d",
        ["data.n=400", "train.max_steps=2", "model.discriminator.hidden=[6]", "log.progress=false", *extra],
    )
    trainer = Trainer.from_config(cfg)
    trainer.fit()
    assert trainer.step == 2
    assert all(torch.isfinite(p).all() for p in trainer.D.parameters())
