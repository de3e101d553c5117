"""Pairwise reward-model losses: small functions in a registry keyed by name.

Framework-free (plain torch, no Django). Every loss takes the scalar rewards of
the chosen and rejected responses of a batch of pairs and returns the loss of
each pair (shape ``[B]``, not reduced): the trainer owns the reduction, so that
pair weights and gradient accumulation normalise over the whole optimizer step
(batch 8 == batch 1 x 8 accumulation steps).

Notation: ``d = r_c - r_r`` (chosen minus rejected reward), ``σ`` the logistic
function, ``m >= 0`` the pair's margin (consensus strength), ``t`` a tie flag.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F

PairLoss = Callable[..., torch.Tensor]

REWARD_LOSSES: dict[str, PairLoss] = {}


def register(name: str) -> Callable[[PairLoss], PairLoss]:
    def add(fn: PairLoss) -> PairLoss:
        if name in REWARD_LOSSES:
            raise ValueError(f"loss {name!r} registered twice")
        REWARD_LOSSES[name] = fn
        return fn
    return add


def get_loss(name: str) -> PairLoss:
    try:
        return REWARD_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(REWARD_LOSSES)}") from None


@register("bradley_terry")
def bradley_terry(chosen: torch.Tensor, rejected: torch.Tensor, **_) -> torch.Tensor:
    """Bradley–Terry negative log-likelihood (InstructGPT reward model).

        loss = -log σ(r_c - r_r) = softplus(-(r_c - r_r))

    ``softplus`` is the numerically stable form of ``-log σ``.
    """
    return F.softplus(-(chosen - rejected))


@register("bradley_terry_margin")
def bradley_terry_margin(chosen: torch.Tensor, rejected: torch.Tensor, *,
                         margin: torch.Tensor | None = None, margin_scale: float = 1.0,
                         **_) -> torch.Tensor:
    """Bradley–Terry with a margin from preference strength (Llama 2 reward model).

        loss = -log σ(r_c - r_r - λ·m)

    A strong consensus (large ``m``) asks for a larger reward gap; ``m = 0``
    gives back plain Bradley–Terry. ``λ`` is ``margin_scale``.
    """
    if margin is None:
        return bradley_terry(chosen, rejected)
    return F.softplus(-(chosen - rejected - margin_scale * margin))


def tie_equal_reward(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Bradley–Terry toward equal reward for a tie (target probability 1/2).

        loss = -½·log σ(d) - ½·log σ(-d)

    Minimal (= ln 2) at ``d = 0``; symmetric in chosen/rejected, so the order
    the tie was stored in does not matter.
    """
    d = chosen - rejected
    return 0.5 * (F.softplus(-d) + F.softplus(d))


def center_penalty(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Reward centering (Eisenstein et al. 2023; TRL ``center_rewards_coefficient``).

        penalty = (r_c + r_r)²

    Multiplied by a small coefficient and added to each pair's loss, it keeps
    rewards near zero mean without changing the preference term.
    """
    return (chosen + rejected) ** 2


def pair_losses(name: str, chosen: torch.Tensor, rejected: torch.Tensor, *,
                margin: torch.Tensor | None = None, is_tie: torch.Tensor | None = None,
                margin_scale: float = 1.0, center_coefficient: float = 0.0) -> torch.Tensor:
    """Per-pair loss: the named preference loss on decided pairs, the
    equal-reward loss on ties (``is_tie``), plus the centering penalty."""
    losses = get_loss(name)(chosen, rejected, margin=margin, margin_scale=margin_scale)
    if is_tie is not None:
        # torch.where, not `if is_tie.any()`: no host-device sync on a GPU.
        losses = torch.where(is_tie, tie_equal_reward(chosen, rejected), losses)
    if center_coefficient:
        losses = losses + center_coefficient * center_penalty(chosen, rejected)
    return losses
