import pytest
import torch
from torch.testing import assert_close

from advnets.config import OptimizerConfig
from advnets.training.optim import ClassicalSGD, apply_schedule, build_optimizer, lr_at, momentum_at


def test_classical_momentum_follows_the_paper_rule_with_changing_lr():
    # v <- mu v - lr g; theta <- theta + v (pylearn2), by hand for two updates with different learning rates.
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = ClassicalSGD([p], lr=0.1, momentum=0.5)
    p.grad = torch.tensor([1.0, 2.0])
    opt.step()  # v = -0.1*g = [-0.1, -0.2]
    assert_close(p.data, torch.tensor([0.9, -2.2]))
    opt.param_groups[0]["lr"] = 0.05
    p.grad = torch.tensor([-1.0, 4.0])
    opt.step()  # v = 0.5*[-0.1, -0.2] - 0.05*[-1, 4] = [0.0, -0.3]
    assert_close(p.data, torch.tensor([0.9, -2.5]))
    # torch.optim.SGD would step by lr*(mu*buf + g) = 0.05*[-0.5, 5]: a different point, hence our own optimiser
    assert not torch.allclose(p.data, torch.tensor([0.9, -2.2]) - 0.05 * torch.tensor([-0.5, 5.0]))


def test_momentum_schedule_is_pylearn2_momentum_adjustor():
    cfg = OptimizerConfig()  # 0.5 -> 0.7, saturating at epoch 250
    assert momentum_at(cfg, 1) == pytest.approx(0.5)
    assert momentum_at(cfg, 125) == pytest.approx(0.5 + 0.2 * 124 / 249)
    assert momentum_at(cfg, 250) == pytest.approx(0.7)
    assert momentum_at(cfg, 1000) == pytest.approx(0.7)


def test_lr_decays_per_update_with_a_floor():
    cfg = OptimizerConfig()  # lr 0.1, /1.000004 per update, floor 1e-6
    assert lr_at(cfg, 1) == pytest.approx(0.1)
    assert lr_at(cfg, 2) == pytest.approx(0.1 / 1.000004)
    assert lr_at(cfg, 50_001) == pytest.approx(0.1 * 1.000004**-50_000)
    assert lr_at(cfg, 50_001) / 0.1 == pytest.approx(0.8187, abs=1e-4)  # the "x0.819 after 50k" of docs/paper.md §0
    assert lr_at(cfg, 3_000_000) == pytest.approx(1e-6)  # floored
    assert lr_at(OptimizerConfig(lr_decay=1.0), 10_000) == pytest.approx(0.1)


def test_apply_schedule_sets_groups_and_builders():
    cfg = OptimizerConfig()
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer(cfg, [p])
    apply_schedule(opt, cfg, update=11, epoch=250)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / 1.000004**10)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.7)
    adam = build_optimizer(OptimizerConfig(name="adam", lr=2e-4, betas=[0.5, 0.9]), [p])
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["betas"] == (0.5, 0.9)
    assert isinstance(build_optimizer(OptimizerConfig(name="rmsprop", lr=5e-5), [p]), torch.optim.RMSprop)


def test_the_decay_can_start_late_and_is_floored():
    # By hand: lr 1.0, divided by 2 per update after the first 3 (updates 1-4 at 1.0), floored at 0.1.
    cfg = OptimizerConfig(lr=1.0, lr_decay=2.0, lr_decay_start=3, lr_min=0.1)
    assert [lr_at(cfg, t) for t in range(1, 10)] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125, 0.1, 0.1]
    # lr_decay_start=0 is the schedule from the first update (the paper's, and every pinned preset's).
    paper = OptimizerConfig(lr=0.1, lr_decay=1.000004, lr_min=1e-6)
    assert [lr_at(paper, t) for t in (1, 2, 1000)] == [0.1, 0.1 / 1.000004, 0.1 / 1.000004**999]
