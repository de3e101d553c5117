"""Each policy loss against a value worked out by hand from its formula, and the
configuration rules that tie a loss to its parameters."""

import math

import pytest
import torch

from training.policy import config as policy_config
from training.policy.loss_specs import LOSS_PARAMETERS, LOSS_SPECS
from training.policy.losses import POLICY_LOSSES, get_policy_loss, implicit_rewards, register, rpo_nll


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


# One pair: policy log-probs -10 (chosen), -12 (rejected); reference -11, -11.5;
# 4 and 5 response tokens. Log-ratios: chosen +1.0, rejected -0.5; gap 1.5.
PAIR = {"chosen": t(-10.0), "rejected": t(-12.0), "ref_chosen": t(-11.0), "ref_rejected": t(-11.5),
        "chosen_lengths": t(4.0), "rejected_lengths": t(5.0)}


def loss(name, **params):
    return get_policy_loss(name).fn(**PAIR, **params).item()


def test_the_worked_dpo_example():
    # β = 0.1, log-ratio gap 0.59 → implicit-reward gap h = 0.059 → σ(h) = 0.515, loss ≈ 0.664.
    pair = {"chosen": t(-20.0 + 0.59), "rejected": t(-30.0), "ref_chosen": t(-20.0), "ref_rejected": t(-30.0)}
    value = get_policy_loss("sigmoid").fn(**pair, beta=0.1).item()
    assert sigmoid(0.059) == pytest.approx(0.515, abs=5e-4)
    assert value == pytest.approx(0.664, abs=5e-4)
    assert value == pytest.approx(-math.log(sigmoid(0.059)), abs=1e-12)


def test_dpo_sigmoid():
    assert loss("sigmoid", beta=0.1) == pytest.approx(-math.log(sigmoid(0.15)), abs=1e-12)
    assert loss("sigmoid", beta=0.1) == pytest.approx(0.6210, abs=1e-4)


def test_conservative_dpo_mixes_the_flipped_label():
    expected = -0.9 * math.log(sigmoid(0.15)) - 0.1 * math.log(sigmoid(-0.15))
    assert loss("cdpo", beta=0.1, label_smoothing=0.1) == pytest.approx(expected, abs=1e-12)
    assert loss("cdpo", beta=0.1, label_smoothing=0.0) == pytest.approx(loss("sigmoid", beta=0.1), abs=1e-12)


def test_ipo_regresses_the_per_token_gap_onto_one_over_two_beta():
    # ρ = 1.0 / 4 - (-0.5) / 5 = 0.35; 1 / (2 · 0.1) = 5; (0.35 - 5)² = 21.6225
    assert loss("ipo", beta=0.1) == pytest.approx(21.6225, abs=1e-9)


def test_ipo_at_initialisation_is_one_over_four_beta_squared():
    same = {"chosen": t(-3.0), "rejected": t(-4.0), "ref_chosen": t(-3.0), "ref_rejected": t(-4.0),
            "chosen_lengths": t(2.0), "rejected_lengths": t(3.0)}
    assert get_policy_loss("ipo").fn(**same, beta=0.1).item() == pytest.approx(25.0)


def test_hinge():
    assert loss("hinge", beta=0.1) == pytest.approx(0.85, abs=1e-12)
    assert loss("hinge", beta=1.0) == 0.0  # h = 1.5 ≥ 1: separated, no gradient


def test_simpo_is_length_normalised_and_reference_free():
    # β·(-10/4) - β·(-12/5) - γ with β = 2, γ = 0.5: -5 + 4.8 - 0.5 = -0.7
    assert loss("simpo", beta=2.0, simpo_gamma=0.5) == pytest.approx(math.log(1 + math.exp(0.7)), abs=1e-12)
    assert not get_policy_loss("simpo").needs_reference


def test_orpo_adds_the_odds_ratio_penalty_to_the_chosen_nll():
    def log_odds(avg):
        return avg - math.log(1 - math.exp(avg))

    ratio = log_odds(-10 / 4) - log_odds(-12 / 5)
    expected = 2.5 + 0.1 * -math.log(sigmoid(ratio))
    assert loss("orpo", beta=0.1) == pytest.approx(expected, abs=1e-12)
    assert not get_policy_loss("orpo").needs_reference


def test_orpo_stays_finite_when_a_response_is_certain():
    value = get_policy_loss("orpo").fn(chosen=t(0.0), rejected=t(-5.0), chosen_lengths=t(3.0),
                                       rejected_lengths=t(3.0), beta=0.1)
    assert torch.isfinite(value).all()


def test_sft_is_the_chosen_per_token_nll():
    assert loss("sft") == pytest.approx(2.5)


def test_kto_scores_each_response_against_the_reference_point():
    logps, ref = t(-10.0, -12.0), t(-11.0, -11.5)  # log-ratios +1.0 (desirable), -0.5 (undesirable)
    kto = get_policy_loss("kto")
    assert not kto.paired
    values = kto.fn(logps, ref, desirable=torch.tensor([True, False]), kl=t(0.2), beta=0.1,
                    desirable_weight=1.0, undesirable_weight=2.0)
    assert values[0].item() == pytest.approx(1 - sigmoid(0.1 * (1.0 - 0.2)), abs=1e-12)
    assert values[1].item() == pytest.approx(2 * (1 - sigmoid(0.1 * (0.2 + 0.5))), abs=1e-12)
    # A negative KL estimate is clamped to 0, and z carries no gradient.
    kl = t(-3.0).requires_grad_()
    clamped = kto.fn(logps, ref, desirable=torch.tensor([True, False]), kl=kl, beta=0.1,
                     desirable_weight=1.0, undesirable_weight=1.0)
    assert clamped[0].item() == pytest.approx(1 - sigmoid(0.1), abs=1e-12)
    assert not clamped.requires_grad


def test_rpo_term_and_implicit_rewards():
    assert rpo_nll(t(-10.0), t(4.0)).item() == pytest.approx(2.5)
    c, r = implicit_rewards("sigmoid", t(-10.0), t(-12.0), t(-11.0), t(-11.5), beta=0.1,
                            chosen_lengths=t(4.0), rejected_lengths=t(5.0))
    assert (c.item(), r.item()) == pytest.approx((0.1, -0.05))
    c, r = implicit_rewards("simpo", t(-10.0), t(-12.0), None, None, beta=2.0,
                            chosen_lengths=t(4.0), rejected_lengths=t(5.0))
    assert (c.item(), r.item()) == pytest.approx((-5.0, -4.8))


def test_losses_are_per_pair_and_differentiable():
    chosen = torch.tensor([-10.0, -8.0], requires_grad=True)
    values = get_policy_loss("sigmoid").fn(
        chosen=chosen, rejected=t(-12.0, -9.0).float(), ref_chosen=t(-11.0, -8.0).float(),
        ref_rejected=t(-11.5, -9.0).float(), beta=0.1)
    assert values.shape == (2,)
    values.sum().backward()
    assert (chosen.grad < 0).all()  # raising the chosen log-prob lowers the loss


def test_every_spec_has_exactly_one_registered_formula_with_its_properties():
    assert set(POLICY_LOSSES) == set(LOSS_SPECS)
    for name, spec in LOSS_SPECS.items():
        loss = get_policy_loss(name)
        assert (loss.needs_reference, loss.paired) == (spec.needs_reference, spec.paired)
        assert loss.fn.__doc__ and "loss" in loss.fn.__doc__
    assert policy_config.PolicyConfig(loss="simpo").needs_reference is False
    assert policy_config.PolicyConfig(loss="kto").paired is False
    with pytest.raises(ValueError, match="unknown policy loss 'nope'"):
        register("nope")


def test_the_config_fields_take_each_loss_parameters_default_and_bounds_from_the_spec():
    fields = {f.name: f for f in policy_config.config_fields()}
    assert set(fields["loss"].metadata["choices"]) == set(LOSS_SPECS)
    for name, parameter in LOSS_PARAMETERS.items():
        assert getattr(policy_config.PolicyConfig(), name) == parameter.default
        assert fields[name].metadata["help"] == parameter.help
        for bound in ("min", "gt"):
            assert fields[name].metadata.get(bound) == getattr(parameter, bound)
    # A bound from the spec is enforced by the config check.
    with pytest.raises(ValueError, match="kto_desirable_weight: must be above 0"):
        policy_config.policy_config_from_dict({"loss": "kto", "kto_desirable_weight": 0})


@pytest.mark.parametrize("name", sorted(LOSS_PARAMETERS))
def test_a_loss_parameter_is_accepted_by_its_owners_and_refused_by_every_other_loss(name):
    parameter = LOSS_PARAMETERS[name]
    value = (not parameter.default) if not parameter.is_number else 0.25
    for loss, spec in LOSS_SPECS.items():
        data = {"loss": loss, name: value}
        if name != "label_smoothing" and spec.name == "cdpo":
            data["label_smoothing"] = 0.1
        kind = spec.kind
        if name in spec.parameters:
            assert getattr(policy_config.policy_config_from_dict(data, kind=kind), name) == value
        else:
            with pytest.raises(ValueError, match=f"^{name}: only the .* not {loss}"):
                policy_config.policy_config_from_dict(data, kind=kind)


@pytest.mark.parametrize(("data", "message"), [
    ({"beta": 0.0}, "beta: must be above 0"),
    ({"beta": -1}, "beta: must be above 0"),
    ({"loss": "cdpo"}, "label_smoothing: cdpo needs"),
    ({"loss": "cdpo", "label_smoothing": 0.5}, "label_smoothing: cdpo needs"),
    ({"label_smoothing": 0.2}, "label_smoothing: only the cdpo loss"),
    ({"simpo_gamma": 1.0}, "simpo_gamma: only the simpo loss"),
    ({"loss": "kto", "rpo_alpha": 0.5}, "rpo_alpha:"),
    ({"kto_undesirable_weight": 1.5}, "kto_undesirable_weight: only the kto loss"),
    ({"loss": "dpo"}, "loss: must be one of"),
    ({"lora_target_modules": "q_proj"}, "lora_target_modules: must be a list of strings"),
    ({"max_steps": 1.5}, "max_steps: must be an integer"),
    ({"nope": 1}, "nope: unknown hyper-parameter"),
])
def test_bad_configs_name_their_field(data, message):
    with pytest.raises(ValueError, match=message):
        policy_config.policy_config_from_dict(data)


def test_good_configs_and_the_sft_kind():
    c = policy_config.policy_config_from_dict({"loss": "cdpo", "label_smoothing": 0.1, "beta": 0.05})
    assert (c.loss, c.label_smoothing, c.beta) == ("cdpo", 0.1, 0.05)
    again = policy_config.policy_config_from_dict(c.to_dict())  # a stored config parses unchanged
    assert again == c
    assert policy_config.policy_config_from_dict({"loss": "simpo", "simpo_gamma": 1.0, "beta": 2}).beta == 2.0
    assert policy_config.policy_config_from_dict({}, kind="sft").loss == "sft"
    with pytest.raises(ValueError, match="loss: an sft run"):
        policy_config.policy_config_from_dict({"loss": "sigmoid"}, kind="sft")
    with pytest.raises(ValueError, match="loss: 'sft' is the sft run kind"):
        policy_config.policy_config_from_dict({"loss": "sft"}, kind="dpo")
