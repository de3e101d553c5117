"""What each policy loss is, without its formula: the one place that says which
losses exist, which need a reference model, which train on pairs, and which
parameters belong to which loss (with their defaults and bounds).

Torch-free on purpose: the web process reads it to validate configs and draw
the training page's form without importing the training stack.
``training.policy.losses`` registers one function per spec (a test keeps the
two equal), ``training.policy.config`` builds its loss fields and the
"parameter of another loss" checks from it, and the page lists the losses and
their inputs from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossParameter:
    """A PolicyConfig field that only some losses read."""

    name: str  # the PolicyConfig field
    default: float | bool
    help: str
    label: str  # short form label, e.g. "ε (cdpo)"
    min: float | None = None  # inclusive, checked for every loss
    gt: float | None = None  # exclusive, checked for every loss
    # The open interval the owning loss needs the value in (cdpo's ε: a value of 0 is plain DPO).
    owner_range: tuple[float, float] | None = None
    kwarg: str | None = None  # the loss function's keyword for it; None: read by the trainer itself

    @property
    def is_number(self) -> bool:
        return not isinstance(self.default, bool)

    def limits(self) -> dict:
        """The ``param(...)`` limits of the config field."""
        return {k: v for k, v in (("min", self.min), ("gt", self.gt)) if v is not None}


@dataclass(frozen=True)
class LossSpec:
    name: str
    title: str  # what the page shows
    kind: str  # the run kind that trains with it: "dpo" (preference losses) or "sft"
    needs_reference: bool  # reads log π_ref: the trainer computes (and caches) reference log-probs
    paired: bool  # False: a batch of single responses each marked desirable or not (KTO)
    parameters: tuple[str, ...] = ()  # the LossParameter names it reads (β is every loss's)


LOSS_PARAMETERS: dict[str, LossParameter] = {p.name: p for p in (
    LossParameter("label_smoothing", 0.0, "ε of cdpo: the assumed chance that a label is flipped, in "
                  "(0, 0.5). Only cdpo uses it.", "ε (cdpo)", min=0, owner_range=(0.0, 0.5),
                  kwarg="label_smoothing"),
    LossParameter("simpo_gamma", 0.5, "γ of simpo: the target reward margin.", "γ (simpo)", min=0,
                  kwarg="simpo_gamma"),
    LossParameter("rpo_alpha", 0.0, "α of RPO: adds α × the chosen response's per-token NLL to a paired "
                  "reference loss (guards against likelihood displacement); 0 = off.", "α (RPO)", min=0),
    LossParameter("kto_desirable_weight", 1.0, "λ_D of kto: weight of desirable responses.", "λ_D (kto)",
                  gt=0, kwarg="desirable_weight"),
    LossParameter("kto_undesirable_weight", 1.0, "λ_U of kto: weight of undesirable responses.",
                  "λ_U (kto)", gt=0, kwarg="undesirable_weight"),
    LossParameter("kto_both_bad", True, "kto: also train on responses that labelers marked 'both bad' (as "
                  "undesirable), besides each pair's chosen (desirable) and rejected (undesirable) "
                  "responses.", "Both-bad responses (kto)"),
)}

_RPO = "rpo_alpha"  # the RPO term applies to the paired losses that have a reference

LOSS_SPECS: dict[str, LossSpec] = {s.name: s for s in (
    LossSpec("sigmoid", "DPO (sigmoid)", "dpo", needs_reference=True, paired=True, parameters=(_RPO,)),
    LossSpec("cdpo", "Conservative DPO", "dpo", needs_reference=True, paired=True,
             parameters=("label_smoothing", _RPO)),
    LossSpec("ipo", "IPO", "dpo", needs_reference=True, paired=True, parameters=(_RPO,)),
    LossSpec("hinge", "Hinge (SLiC)", "dpo", needs_reference=True, paired=True, parameters=(_RPO,)),
    LossSpec("simpo", "SimPO (no reference)", "dpo", needs_reference=False, paired=True,
             parameters=("simpo_gamma",)),
    LossSpec("orpo", "ORPO (no reference)", "dpo", needs_reference=False, paired=True),
    LossSpec("kto", "KTO (single responses)", "dpo", needs_reference=True, paired=False,
             parameters=("kto_desirable_weight", "kto_undesirable_weight", "kto_both_bad")),
    LossSpec("sft", "SFT (chosen responses)", "sft", needs_reference=False, paired=True),
)}
assert all(p in LOSS_PARAMETERS for s in LOSS_SPECS.values() for p in s.parameters)

LOSS_NAMES = tuple(LOSS_SPECS)
DEFAULT_LOSS = {"dpo": "sigmoid", "sft": "sft"}


def loss_spec(name: str) -> LossSpec:
    try:
        return LOSS_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown policy loss {name!r}; choose one of {', '.join(LOSS_NAMES)}") from None


def losses_for_kind(kind: str) -> tuple[LossSpec, ...]:
    return tuple(s for s in LOSS_SPECS.values() if s.kind == kind)


def parameter_owners(name: str) -> tuple[str, ...]:
    return tuple(s.name for s in LOSS_SPECS.values() if name in s.parameters)


def loss_parameters_check(*, loss: str, values: dict, given: set[str]) -> None:
    """Refuse a loss parameter set (to a non-default value) for a loss that does
    not read it (a silent no-op misleads), and one outside the range its own loss
    needs. ValueError's message starts with the field's name."""
    spec = loss_spec(loss)
    for name, parameter in LOSS_PARAMETERS.items():
        if name in spec.parameters:
            if parameter.owner_range is not None:
                low, high = parameter.owner_range
                if not low < values[name] < high:
                    raise ValueError(f"{name}: {loss} needs {parameter.label.split()[0]} between {low:g} "
                                     f"and {high:g} (exclusive)")
        elif name in given:
            owners = parameter_owners(name)
            noun = "loss uses" if len(owners) == 1 else "losses use"
            raise ValueError(f"{name}: only the {', '.join(owners)} {noun} it, not {loss}")


def loss_kwargs(values: dict) -> dict:
    """The keyword arguments every loss function takes from a config's values."""
    return {"beta": values["beta"], **{p.kwarg: values[p.name] for p in LOSS_PARAMETERS.values() if p.kwarg}}
