"""Losses against values computed by hand (framework-free: no database)."""

import math

import pytest
import torch

from training.reward.losses import REWARD_LOSSES, get_loss, pair_losses, tie_equal_reward

T = torch.tensor


def test_bradley_terry_matches_hand_computed_values():
    # -log σ(d) = log(1 + e^-d): d = 1, 0, -2
    losses = get_loss("bradley_terry")(T([2.0, 0.0, -1.0]), T([1.0, 0.0, 1.0]))
    expected = [math.log(1 + math.exp(-1)), math.log(2), math.log(1 + math.exp(2))]
    assert losses.tolist() == pytest.approx(expected, abs=1e-7)
    assert expected == pytest.approx([0.3132616875, 0.6931471806, 2.1269280110], abs=1e-9)


def test_bradley_terry_margin_subtracts_the_scaled_margin():
    loss = get_loss("bradley_terry_margin")
    # d = 1, m = 0.5: -log σ(0.5) = log(1 + e^-0.5) = 0.474077
    assert loss(T([2.0]), T([1.0]), margin=T([0.5])).item() == pytest.approx(0.4740769842, abs=1e-7)
    # λ = 2: d - λm = 0 → ln 2
    assert loss(T([2.0]), T([1.0]), margin=T([0.5]), margin_scale=2.0).item() == pytest.approx(
        math.log(2), abs=1e-7)
    # m = 0 is plain Bradley–Terry
    assert loss(T([2.0]), T([1.0]), margin=T([0.0])).item() == pytest.approx(0.3132616875, abs=1e-7)


def test_bradley_terry_is_stable_for_large_gaps():
    losses = get_loss("bradley_terry")(T([100.0, -100.0]), T([0.0, 0.0]))
    assert torch.isfinite(losses).all()
    assert losses[1].item() == pytest.approx(100.0, abs=1e-5)


def test_tie_loss_is_symmetric_and_minimal_at_equal_rewards():
    # d = 1: ½(log(1+e^-1) + log(1+e^1)) = 0.813262
    assert tie_equal_reward(T([2.0]), T([1.0])).item() == pytest.approx(0.8132616875, abs=1e-7)
    assert tie_equal_reward(T([1.0]), T([2.0])).item() == pytest.approx(0.8132616875, abs=1e-7)
    assert tie_equal_reward(T([0.3]), T([0.3])).item() == pytest.approx(math.log(2), abs=1e-7)


def test_pair_losses_uses_the_tie_loss_on_ties_and_adds_centering():
    chosen, rejected = T([2.0, 2.0]), T([1.0, 1.0])
    losses = pair_losses("bradley_terry", chosen, rejected, is_tie=T([False, True]),
                         center_coefficient=0.01)
    # centering: 0.01 * (2 + 1)² = 0.09
    assert losses.tolist() == pytest.approx([0.3132616875 + 0.09, 0.8132616875 + 0.09], abs=1e-6)


def test_losses_are_registered_by_name_and_unknown_names_fail():
    assert {"bradley_terry", "bradley_terry_margin"} <= set(REWARD_LOSSES)
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("hinge-ish")


def test_bradley_terry_gradient_is_sigmoid_of_minus_d():
    chosen = T([2.0], requires_grad=True)
    get_loss("bradley_terry")(chosen, T([1.0])).sum().backward()
    # d/dr_c of -log σ(d) = -(1 - σ(d)) = -σ(-d)
    assert chosen.grad.item() == pytest.approx(-1 / (1 + math.exp(1)), abs=1e-7)


def test_the_config_lists_exactly_the_registered_losses():
    from training.reward.config import LOSS_NAMES

    assert set(LOSS_NAMES) == set(REWARD_LOSSES)
