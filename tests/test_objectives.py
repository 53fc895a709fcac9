"""G-side objectives: feature matching against hand-computed values."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from advnets.config import build_config
from advnets.errors import UserError
from advnets.objectives import GInputs, build_g_objectives, feature_matching


class IdentityFeatures(nn.Module):
    def features(self, x):
        return x.flatten(1)

    def forward(self, x):
        return x.flatten(1).sum(1)


def test_feature_matching_is_the_squared_distance_of_the_feature_means():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean [2, 3]
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)  # mean [1, 1]
    value = feature_matching(IdentityFeatures(), real, fake)
    assert_close(value, torch.tensor(5.0))  # (2-1)² + (3-1)²
    (grad,) = torch.autograd.grad(value, fake)
    assert_close(grad, torch.full((2, 2), 0.0) + torch.tensor([[-1.0, -2.0], [-1.0, -2.0]]))  # 2(m_f - m_r)/2
    objective = build_g_objectives(
        build_config(overrides=["g_objectives.feature_matching.weight=2"]).g_objectives
    )["feature_matching"]
    assert not objective.keep_adversarial  # G minimises the feature distance alone, as Salimans et al. did
    fake_logits = IdentityFeatures()(fake)
    assert_close(objective.term(GInputs(IdentityFeatures(), real, fake, fake_logits, 0)), torch.tensor(10.0))


def test_feature_matching_needs_features():
    with pytest.raises(UserError, match="features"):
        feature_matching(nn.Linear(2, 1), torch.zeros(1, 2), torch.zeros(1, 2))
