"""Policy (preference-optimisation) losses: small functions in a registry keyed by name.

Framework-free (plain torch). A paired loss takes, for a batch of B pairs,
the summed response log-probabilities of the chosen and rejected responses
under the policy (``chosen``, ``rejected``) and, for the losses that have one,
under the reference (``ref_chosen``, ``ref_rejected``), plus the response
lengths in tokens; it returns the loss of each pair (shape ``[B]``, not
reduced: the trainer owns the reduction, as for the reward losses).

Notation: ``log π(y)`` the policy's summed log-probability of response ``y``
given its prompt, ``log π_ref(y)`` the reference's, ``|y|`` its token count,
``y_c`` / ``y_r`` chosen / rejected, ``σ`` the logistic function, and

    h = β · [(log π(y_c) − log π_ref(y_c)) − (log π(y_r) − log π_ref(y_r))]

the DPO logit (β times the implicit-reward gap). ``−log σ(x)`` is computed
as ``softplus(−x)``, its numerically stable form.

The unpaired KTO loss has its own signature (examples, not pairs); it sits in
the same registry. Each loss's properties (reference or not, paired or not,
its parameters) live in the torch-free ``training.policy.loss_specs``; every
spec has its function here (checked at import, below).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training.policy.loss_specs import LOSS_NAMES, LossSpec, loss_spec


@dataclass(frozen=True)
class PolicyLoss:
    fn: Callable[..., torch.Tensor]
    spec: LossSpec  # its properties, from training.policy.loss_specs (torch-free)

    @property
    def needs_reference(self) -> bool:  # reads log π_ref: the trainer computes (and caches) them
        return self.spec.needs_reference

    @property
    def paired(self) -> bool:  # False: KTO, a batch of single responses each marked desirable or not
        return self.spec.paired


POLICY_LOSSES: dict[str, PolicyLoss] = {}


def register(name: str):
    """Register ``fn`` as the formula of the loss ``loss_specs`` names ``name``."""
    spec = loss_spec(name)  # a formula for a loss the spec does not know is refused here

    def add(fn):
        if name in POLICY_LOSSES:
            raise ValueError(f"policy loss {name!r} registered twice")
        POLICY_LOSSES[name] = PolicyLoss(fn=fn, spec=spec)
        return fn
    return add


def get_policy_loss(name: str) -> PolicyLoss:
    try:
        return POLICY_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown policy loss {name!r}; choose one of {sorted(POLICY_LOSSES)}") from None


def dpo_logits(chosen, rejected, ref_chosen, ref_rejected, beta: float) -> torch.Tensor:
    """h = β · [(log π(y_c) − log π_ref(y_c)) − (log π(y_r) − log π_ref(y_r))]"""
    return beta * ((chosen - ref_chosen) - (rejected - ref_rejected))


@register("sigmoid")
def dpo_sigmoid(chosen, rejected, ref_chosen, ref_rejected, *, beta: float, **_) -> torch.Tensor:
    """DPO (Rafailov et al. 2023), the sigmoid loss.

        loss = −log σ(h)

    Worked example: β = 0.1 and a log-ratio gap of 0.59 nats, i.e. an
    implicit-reward gap h = 0.059, give σ(h) = 0.515 and a loss of 0.664.
    """
    return F.softplus(-dpo_logits(chosen, rejected, ref_chosen, ref_rejected, beta))


@register("cdpo")
def conservative_dpo(chosen, rejected, ref_chosen, ref_rejected, *, beta: float, label_smoothing: float,
                     **_) -> torch.Tensor:
    """Conservative DPO (Mitchell 2023): the preference label is flipped with probability ε.

        loss = −(1 − ε) · log σ(h) − ε · log σ(−h)

    ε = ``label_smoothing`` in [0, 0.5); ε = 0 is plain DPO. Unlike DPO the
    loss is minimal at a finite h, so the gap stops growing.
    """
    h = dpo_logits(chosen, rejected, ref_chosen, ref_rejected, beta)
    return (1 - label_smoothing) * F.softplus(-h) + label_smoothing * F.softplus(h)


@register("ipo")
def ipo(chosen, rejected, ref_chosen, ref_rejected, *, beta: float, chosen_lengths, rejected_lengths,
        **_) -> torch.Tensor:
    """IPO (Azar et al. 2023): regress the log-ratio gap onto 1/(2β) instead of pushing it to ∞.

        ρ = (log π(y_c) − log π_ref(y_c)) / |y_c| − (log π(y_r) − log π_ref(y_r)) / |y_r|
        loss = (ρ − 1/(2β))²

    Log-probabilities are averaged per token, as in the IPO paper and TRL's
    ``loss_type="ipo"`` (at initialisation ρ = 0, so the loss is 1/(4β²) = 25
    for β = 0.1).
    """
    rho = (chosen - ref_chosen) / chosen_lengths - (rejected - ref_rejected) / rejected_lengths
    return (rho - 1 / (2 * beta)) ** 2


@register("hinge")
def hinge(chosen, rejected, ref_chosen, ref_rejected, *, beta: float, **_) -> torch.Tensor:
    """SLiC-style hinge on the DPO logit (Zhao et al. 2023; TRL ``loss_type="hinge"``).

        loss = max(0, 1 − h)

    Pairs already separated by h ≥ 1 give no gradient.
    """
    return torch.relu(1 - dpo_logits(chosen, rejected, ref_chosen, ref_rejected, beta))


@register("simpo")
def simpo(chosen, rejected, *, beta: float, simpo_gamma: float, chosen_lengths, rejected_lengths,
          **_) -> torch.Tensor:
    """SimPO (Meng et al. 2024): reference-free, length-normalised, with a target margin γ.

        loss = −log σ(β · log π(y_c) / |y_c| − β · log π(y_r) / |y_r| − γ)

    The paper uses β around 2–2.5 and γ around 0.5–1.5 (``simpo_gamma``).
    """
    return F.softplus(-(beta * chosen / chosen_lengths - beta * rejected / rejected_lengths - simpo_gamma))


def _log_odds(avg_logp: torch.Tensor) -> torch.Tensor:
    """log(p / (1 − p)) with p = exp(avg_logp); log(1 − p) as log(−expm1(·)), stable near p → 1."""
    avg_logp = avg_logp.clamp(max=-1e-6)  # p < 1: the odds stay finite
    return avg_logp - torch.log(-torch.expm1(avg_logp))


@register("orpo")
def orpo(chosen, rejected, *, beta: float, chosen_lengths, rejected_lengths, **_) -> torch.Tensor:
    """ORPO (Hong et al. 2024): SFT on the chosen response plus an odds-ratio penalty, no reference.

        p(y) = exp(log π(y) / |y|)          (the per-token geometric mean)
        loss = −log π(y_c) / |y_c| − β · log σ(log odds p(y_c) − log odds p(y_r))

    β plays the paper's λ (the odds-ratio weight), as in TRL's ORPOTrainer.
    The NLL term is each pair's per-token mean (TRL averages over the tokens of
    the whole batch; the two agree for equal lengths).
    """
    avg_c, avg_r = chosen / chosen_lengths, rejected / rejected_lengths
    return -avg_c + beta * F.softplus(-(_log_odds(avg_c) - _log_odds(avg_r)))


@register("sft")
def sft(chosen, rejected=None, *, chosen_lengths, **_) -> torch.Tensor:
    """Supervised fine-tuning on the chosen response (the ``sft`` run kind).

        loss = −log π(y_c) / |y_c|

    The per-token negative log-likelihood of each chosen response.
    """
    return -chosen / chosen_lengths


@register("kto")
def kto(logps, ref_logps, *, desirable: torch.Tensor, kl: torch.Tensor, beta: float,
        desirable_weight: float, undesirable_weight: float, **_) -> torch.Tensor:
    """KTO (Ethayarajh et al. 2024) on single responses marked desirable or undesirable.

        r(y) = log π(y) − log π_ref(y)
        z    = max(0, KL(π ‖ π_ref) estimate), held constant (no gradient)
        loss = λ_D · (1 − σ(β · (r(y) − z)))   for a desirable y
        loss = λ_U · (1 − σ(β · (z − r(y))))   for an undesirable y

    λ_D, λ_U = ``desirable_weight``, ``undesirable_weight`` (balance them when
    one kind outnumbers the other). ``kl`` is the trainer's estimate of z.
    """
    r = logps - ref_logps
    z = kl.detach().clamp(min=0)
    good = desirable_weight * (1 - torch.sigmoid(beta * (r - z)))
    bad = undesirable_weight * (1 - torch.sigmoid(beta * (z - r)))
    return torch.where(desirable, good, bad)


def rpo_nll(chosen: torch.Tensor, chosen_lengths: torch.Tensor) -> torch.Tensor:
    """RPO's extra term (Pang et al. 2024): α · (−log π(y_c) / |y_c|), added to a paired loss.

    Keeps the chosen response's likelihood up: a guard against likelihood
    displacement (DPO lowering both responses' log-probabilities).
    """
    return -chosen / chosen_lengths


def implicit_rewards(name: str, chosen, rejected, ref_chosen, ref_rejected, *, beta: float,
                     chosen_lengths, rejected_lengths) -> tuple[torch.Tensor, torch.Tensor]:
    """The rewards the loss implicitly assigns, for the metrics.

    With a reference: β · (log π(y) − log π_ref(y)) (DPO's implicit reward).
    Reference-free losses (SimPO, ORPO, SFT): β · log π(y) / |y|, as TRL's CPO/ORPO trainers report.
    """
    if get_policy_loss(name).needs_reference:
        return beta * (chosen - ref_chosen), beta * (rejected - ref_rejected)
    return beta * chosen / chosen_lengths, beta * rejected / rejected_lengths


_missing = set(LOSS_NAMES) - set(POLICY_LOSSES)
if _missing:
    raise ImportError(f"policy losses in loss_specs without a function: {sorted(_missing)}")
