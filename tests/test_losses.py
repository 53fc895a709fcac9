import math

import pytest
import torch
from torch.testing import assert_close

from advnets.config import build_config
from advnets.errors import UserError
from advnets.losses import LOSSES, bce_d_loss, build_loss, minimax_g_loss, non_saturating_g_loss


def neg_log_sigmoid(x: float) -> float:  # -log D for logit x, written out by hand
    return math.log(1.0 + math.exp(-x))


REAL = torch.tensor([0.0, 2.0])
FAKE = torch.tensor([-1.0, 1.0])


def test_d_loss_matches_hand_values_with_and_without_the_half():
    real_term = (neg_log_sigmoid(0.0) + neg_log_sigmoid(2.0)) / 2  # -log D(x)
    fake_term = (neg_log_sigmoid(1.0) + neg_log_sigmoid(-1.0)) / 2  # -log(1 - D(G(z))) = -log sigmoid(-l)
    assert real_term == pytest.approx(0.4100375, abs=1e-6)
    assert fake_term == pytest.approx(0.8132617, abs=1e-6)
    assert_close(bce_d_loss(REAL, FAKE, half=False), torch.tensor(real_term + fake_term))
    assert_close(bce_d_loss(REAL, FAKE, half=True), torch.tensor(0.5 * (real_term + fake_term)))


def test_generator_losses_match_hand_values():
    # minimax: mean log(1 - sigmoid(l)); ns: mean -log sigmoid(l)
    minimax = (math.log(1 - 1 / (1 + math.exp(1.0))) + math.log(1 - 1 / (1 + math.exp(-1.0)))) / 2
    ns = (neg_log_sigmoid(-1.0) + neg_log_sigmoid(1.0)) / 2
    assert_close(minimax_g_loss(FAKE), torch.tensor(minimax))
    assert_close(non_saturating_g_loss(FAKE), torch.tensor(ns))
    assert minimax == pytest.approx(-0.8132617, abs=1e-6)


def test_losses_are_finite_for_extreme_logits():
    big = torch.tensor([-200.0, 200.0])
    for value in (bce_d_loss(big, big), minimax_g_loss(big), non_saturating_g_loss(big)):
        assert torch.isfinite(value)
    # -log D for a fake D is sure about (logit -200) is 200 exactly, not inf
    assert_close(non_saturating_g_loss(torch.tensor([-200.0])), torch.tensor(200.0))


def test_minimax_saturates_where_non_saturating_does_not():
    # Early in training D rejects fakes (logit -10): the paper's reason for the non-saturating loss (Section 3).
    logit = torch.tensor([-10.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(minimax_g_loss(logit), logit)
    (g_ns,) = torch.autograd.grad(non_saturating_g_loss(logit), logit)
    assert_close(g_mm, -torch.sigmoid(torch.tensor([-10.0])))  # d/dl of -softplus(l) = -sigmoid(l) ~ -4.5e-5
    assert_close(g_ns, -torch.sigmoid(torch.tensor([10.0])))  # d/dl of softplus(-l) = -sigmoid(-l) ~ -1
    assert abs(g_ns.item()) > 1e4 * abs(g_mm.item())


def test_registry_builds_losses_bound_to_their_options():
    assert set(LOSSES.names()) >= {"minimax", "ns"}
    loss = build_loss(build_config(overrides=["loss.name=ns", "loss.d_half=false"]).loss)
    assert loss.g_loss is non_saturating_g_loss and loss.half is False
    assert build_loss(build_config(overrides=["loss.name=minimax"]).loss).g_loss is minimax_g_loss
    with pytest.raises(UserError, match="unknown loss.name 'hinge2'.*minimax"):
        LOSSES.get("hinge2")
    with pytest.raises(UserError, match=r"unknown config key 'loss.half'.*did you mean loss.d_half"):
        build_config(overrides=["loss.half=true"])
    # A key of another loss names the loss selected and those that have the key, rather than guess a spelling.
    with pytest.raises(UserError, match=r"'loss.real_target' for loss.name=wgan; lsgan, minimax, ns have it; `adv"):
        build_config(overrides=["loss.name=wgan", "loss.real_target=0.9"])


def test_named_terms_carry_the_loss_and_its_monitoring_values():
    loss = build_loss(build_config().loss)
    d = loss.d_terms(REAL, FAKE)
    assert_close(d["d_loss"], bce_d_loss(REAL, FAKE, half=True))
    assert_close(d["d_real"], torch.sigmoid(REAL).mean())
    assert_close(d["d_fake"], torch.sigmoid(FAKE).mean())
    g = loss.g_terms(FAKE)
    assert_close(g["g_loss"], non_saturating_g_loss(FAKE))
    assert_close(g["d_fake_g"], torch.sigmoid(FAKE).mean())
    assert loss.panel.keys == ("d_real", "d_fake") and loss.panel.reference == 0.5


def test_one_sided_label_smoothing_matches_hand_values():
    # target 0.9 on real logits [0, 2]: 0.9*softplus(-l) + 0.1*softplus(l), fakes unchanged.
    real = (0.9 * neg_log_sigmoid(0.0) + 0.1 * neg_log_sigmoid(-0.0)) / 2 + (
        0.9 * neg_log_sigmoid(2.0) + 0.1 * neg_log_sigmoid(-2.0)
    ) / 2
    fake = (neg_log_sigmoid(1.0) + neg_log_sigmoid(-1.0)) / 2
    assert real == pytest.approx(0.5100, abs=1e-4)
    smoothed = build_loss(build_config(overrides=["loss.real_target=0.9"]).loss)
    assert_close(smoothed.d_terms(REAL, FAKE)["d_loss"], torch.tensor(0.5 * (real + fake)))
    with pytest.raises(UserError, match="loss.real_target=1.5"):
        build_config(overrides=["loss.real_target=1.5"])


def test_smoothing_above_only_penalises_d_real_above_the_target():
    # t = 0.9, logit(t) = ln 9 = 2.197225. Real logit 0 (D = 0.5) is below t: plain -log D = ln 2. Real logit 3
    # (D = 0.952574) is above: the cross-entropy against 0.9 shifted to meet -log D at t,
    # 0.9*softplus(-3) + 0.1*softplus(3) + 0.1*ln(1/9) = 0.043728 + 0.304859 - 0.219722 = 0.128865.
    real = torch.tensor([0.0, 3.0], requires_grad=True)
    fake = torch.tensor([-1.0, 1.0])
    above = build_loss(build_config(overrides=["loss.real_target=0.9", "loss.smoothing=above"]).loss)
    loss = above.d_terms(real, fake)["d_loss"]
    real_term = (0.693147 + 0.128865) / 2
    fake_term = (neg_log_sigmoid(1.0) + neg_log_sigmoid(-1.0)) / 2
    assert float(loss.detach()) == pytest.approx(0.5 * (real_term + fake_term), abs=1e-5)
    loss.backward()
    # d/dl: -(1 - D) = -0.5 below t; D - t = 0.052574 above it (pulled back to t); /2 (mean), /2 (half)
    assert real.grad.tolist() == pytest.approx([-0.5 / 4, 0.052574 / 4], abs=1e-5)
    # Continuous at D(x) = t, where both sides equal -log t.
    at_t = torch.tensor([math.log(9.0)])
    a = above.d_terms(at_t, fake)["d_loss"]
    assert float(a) == pytest.approx(0.5 * (-math.log(0.9) + fake_term), abs=1e-6)
    with pytest.raises(UserError, match="loss.smoothing='under'"):
        build_config(overrides=["loss.smoothing=under"])


def test_critic_and_least_squares_losses_match_hand_values():
    # REAL = [0, 2], FAKE = [-1, 1]
    wgan = build_loss(build_config(overrides=["loss.name=wgan"]).loss)
    d = wgan.d_terms(REAL, FAKE)
    assert_close(d["d_loss"], torch.tensor(0.0 - 1.0))  # mean fake 0 - mean real 1
    assert_close(d["critic_gap"], torch.tensor(1.0))
    assert_close(wgan.g_terms(FAKE)["g_loss"], torch.tensor(-0.0))
    assert "d_real" not in d and wgan.panel.reference is None  # a critic reports scores, not probabilities

    hinge = build_loss(build_config(overrides=["loss.name=hinge"]).loss)
    # real: relu(1 - 0) = 1, relu(1 - 2) = 0 -> 0.5; fake: relu(1 - 1) = 0, relu(1 + 1) = 2 -> 1.0
    assert_close(hinge.d_terms(REAL, FAKE)["d_loss"], torch.tensor(1.5))
    assert_close(hinge.g_terms(FAKE)["g_loss"], torch.tensor(0.0))

    ls = build_loss(build_config(overrides=["loss.name=lsgan"]).loss)
    # D: 0.5 * mean((0-1)², (2-1)²) + 0.5 * mean((-1)², 1²) = 0.5 + 0.5; G: 0.5 * mean((-1-1)², (1-1)²) = 1
    assert_close(ls.d_terms(REAL, FAKE)["d_loss"], torch.tensor(1.0))
    assert_close(ls.g_terms(FAKE)["g_loss"], torch.tensor(1.0))
    shifted = build_loss(build_config(overrides=["loss.name=lsgan", "loss.fake_target=-1", "loss.g_target=0"]).loss)
    # D fake: 0.5 * mean(0², 2²) = 1 -> 0.5 + 1; G: 0.5 * mean(1, 1) = 0.5
    assert_close(shifted.d_terms(REAL, FAKE)["d_loss"], torch.tensor(1.5))
    assert_close(shifted.g_terms(FAKE)["g_loss"], torch.tensor(0.5))


# Logits whose means are far from 0 (real 1.5, fake -0.75), so that a flipped sign or a swapped real/fake term
# changes every value below. softplus(l) = ln(1 + e^l): softplus(-0.5) = 0.474077, softplus(-2.5) = 0.078890,
# softplus(-2) = 0.126928, softplus(0.5) = 0.974077, softplus(2) = 2.126928.
REAL_OFF = torch.tensor([0.5, 2.5])
FAKE_OFF = torch.tensor([-2.0, 0.5])
SHIPPED_LOSSES = {
    # ns / minimax D: ½ (mean softplus(-real) + mean softplus(fake)) = ½ (0.276483 + 0.550503)
    # ns G: mean softplus(-fake) = (2.126928 + 0.474077) / 2; minimax G: -mean softplus(fake)
    "ns": (0.4134929, 1.3005025),
    "minimax": (0.4134929, -0.5505025),
    # wgan D: mean fake - mean real = -0.75 - 1.5; G: -mean fake
    "wgan": (-2.25, 0.75),
    # hinge D: mean relu(1 - real) + mean relu(1 + fake) = (0.5 + 0) / 2 + (0 + 1.5) / 2; G: -mean fake
    "hinge": (1.0, 0.75),
    # lsgan (b = 1, a = 0, c = 1) D: ½ mean((0.5-1)², (2.5-1)²) + ½ mean((-2)², 0.5²) = 0.625 + 1.0625;
    # G: ½ mean((-2-1)², (0.5-1)²) = ½ (9 + 0.25) / 2
    "lsgan": (1.6875, 2.3125),
}


def test_every_shipped_loss_is_checked_here():
    assert set(SHIPPED_LOSSES) <= set(LOSSES.names())


@pytest.mark.parametrize("name", list(SHIPPED_LOSSES))
def test_every_loss_matches_hand_values_on_logits_with_nonzero_means(name):
    d_loss, g_loss = SHIPPED_LOSSES[name]
    loss = build_loss(build_config(overrides=[f"loss.name={name}"]).loss)
    got_d, got_g = loss.d_terms(REAL_OFF, FAKE_OFF)["d_loss"], loss.g_terms(FAKE_OFF)["g_loss"]
    assert_close(got_d, torch.tensor(d_loss), rtol=0, atol=1e-6, msg=lambda m: f"{name} d_loss: {m}")
    assert_close(got_g, torch.tensor(g_loss), rtol=0, atol=1e-6, msg=lambda m: f"{name} g_loss: {m}")
