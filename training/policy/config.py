"""Policy-training (DPO and variants, SFT) hyper-parameters: one dataclass, a help string per field.

The API, the `train` command and the trainer all read this one definition;
`policy_config_from_dict` is the single place that checks what a user sent
(including the rules that tie a loss to its own parameters). No torch here:
the web process validates configs without importing the training stack.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from training.hyperparameters import check_precision, values_from_dict
from training.hyperparameters import param as _f

DEVICES = ("auto", "cpu", "cuda")
ATTENTION = ("auto", "sdpa", "eager", "flash_attention_2")
# The names in training.policy.losses.POLICY_LOSSES (a test keeps them equal).
LOSS_NAMES = ("sigmoid", "cdpo", "ipo", "hinge", "simpo", "orpo", "kto", "sft")
PREFERENCE_LOSSES = tuple(n for n in LOSS_NAMES if n != "sft")
REFERENCE_FREE = ("simpo", "orpo", "sft")



@dataclass
class PolicyConfig:
    # --- data ---
    max_length: int = _f(512, "Tokens per (prompt, response) sequence. Responses are kept; the shared "
                              "prompt is trimmed from the left (at most to half the budget), then the "
                              "responses' tails.", min=8)
    use_weights: bool = _f(True, "Weight each pair by the snapshot's pair weight (a prompt's pairs share "
                                 "one unit of weight).")
    shuffle: bool = _f(True, "Shuffle the training examples each epoch (seeded by seed + epoch).")
    group_by_length: bool = _f(False, "Length-grouped batching: sort each window of 50 micro-batches of "
                                      "the (shuffled) epoch by length, so a micro-batch holds sequences of "
                                      "similar length: less padding, same examples per epoch.")
    # --- optimisation ---
    batch_size: int = _f(4, "Pairs per micro-batch (2 sequences each in one concatenated forward; for "
                            "kto: responses per micro-batch).", min=1)
    gradient_accumulation_steps: int = _f(1, "Micro-batches per optimizer step.", min=1)
    epochs: float = _f(1.0, "Passes over the training split (ignored when max_steps is set).", min=0)
    max_steps: int = _f(0, "Optimizer steps; 0 derives them from epochs.", min=0)
    learning_rate: float = _f(5e-6, "Peak learning rate (AdamW). LoRA usually wants ~10x more.", min=0)
    weight_decay: float = _f(0.0, "AdamW weight decay on matrices (not on biases and norms).", min=0)
    adam_beta1: float = _f(0.9, "AdamW beta1.", min=0)
    adam_beta2: float = _f(0.999, "AdamW beta2.", min=0)
    adam_epsilon: float = _f(1e-8, "AdamW epsilon.", min=0)
    warmup_ratio: float = _f(0.1, "Share of the steps with linear warm-up, then cosine decay to 0.", min=0)
    max_grad_norm: float = _f(1.0, "Clip the gradient norm to this; 0 disables clipping.", min=0)
    # --- loss ---
    loss: str = _f("sigmoid", "Loss from training.policy.losses.POLICY_LOSSES: sigmoid (DPO), cdpo "
                              "(conservative DPO), ipo, hinge, simpo, orpo, kto; sft runs use sft.",
                   choices=LOSS_NAMES)
    beta: float = _f(0.1, "β: the KL-penalty strength of DPO/cdpo/ipo/hinge/kto, the reward scale of "
                          "simpo (the paper uses ~2) and the odds-ratio weight λ of orpo.", gt=0)
    label_smoothing: float = _f(0.0, "ε of cdpo: the assumed chance that a label is flipped, in (0, 0.5). "
                                     "Only cdpo uses it.", min=0)
    simpo_gamma: float = _f(0.5, "γ of simpo: the target reward margin.", min=0)
    rpo_alpha: float = _f(0.0, "α of RPO: adds α × the chosen response's per-token NLL to a paired "
                               "reference loss (guards against likelihood displacement); 0 = off.", min=0)
    kto_desirable_weight: float = _f(1.0, "λ_D of kto: weight of desirable responses.", gt=0)
    kto_undesirable_weight: float = _f(1.0, "λ_U of kto: weight of undesirable responses.", gt=0)
    kto_both_bad: bool = _f(True, "kto: also train on responses that labelers marked 'both bad' (as "
                                  "undesirable), besides each pair's chosen (desirable) and rejected "
                                  "(undesirable) responses.")
    # --- model ---
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass to save memory.")
    lora: bool = _f(False, "Train LoRA adapters (peft) instead of all weights; the reference is the "
                           "adapter-disabled base, and the saved model has the adapters merged in.")
    qlora: bool = _f(False, "QLoRA: load the frozen base in 4-bit NF4 (bitsandbytes) under the LoRA adapters "
                            "(needs lora, device 'cuda' and bitsandbytes; CUDA GPUs only). The saved model "
                            "merges the adapters into the full-precision base.")
    attn_implementation: str = _f("auto", "Attention kernel passed to transformers: 'auto' (its default: "
                                          "SDPA where the model supports it), 'sdpa', 'eager' or "
                                          "'flash_attention_2' (CUDA and the flash-attn package).",
                                  choices=ATTENTION)
    lora_r: int = _f(16, "LoRA rank.", min=1)
    lora_alpha: int = _f(32, "LoRA alpha (scaling = alpha / r).", min=1)
    lora_dropout: float = _f(0.0, "Dropout on the LoRA path.", min=0)
    lora_target_modules: list[str] = _f([], "Module names to adapt; empty means all linear layers.")
    disable_dropout: bool = _f(True, "Set every dropout probability of the model to 0 (log-probabilities "
                                     "of policy and reference then match at step 0).")
    # --- reference ---
    reference_cache: bool = _f(True, "Keep the reference log-probabilities on disk, keyed by model, "
                                     "tokenized data and precision, and reuse them across runs.")
    # --- metrics ---
    displacement_window: int = _f(3, "Likelihood-displacement alarm: the chosen log-prob fell at each of "
                                     "this many consecutive logs ...", min=2)
    displacement_min_drop: float = _f(1.0, "... and by at least this many nats in all.", min=0)
    # --- run ---
    seed: int = _f(42, "Seed for data order and dropout.")
    device: str = _f("auto", "'auto' (CUDA with bf16 when available, else CPU float32), 'cpu' or 'cuda'.",
                     choices=DEVICES)
    eval_batch_size: int = _f(8, "Pairs per evaluation (and reference) batch.", min=1)
    eval_every_steps: int = _f(0, "Evaluate on the test split every N steps; 0 = only at the end.", min=0)
    logging_steps: int = _f(10, "Log training metrics every N steps (and at the last one).", min=1)
    checkpoint_every_steps: int = _f(100, "Checkpoint every N steps (and at the end); 0 = only at the end.",
                                     min=0)
    keep_checkpoints: int = _f(2, "Checkpoints kept on disk (the newest ones).", min=1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def needs_reference(self) -> bool:
        return self.loss not in REFERENCE_FREE

    @property
    def paired(self) -> bool:
        return self.loss != "kto"


def config_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(PolicyConfig))


def policy_config_from_dict(data: dict[str, Any] | None, *, kind: str = "dpo") -> PolicyConfig:
    """A PolicyConfig for a ``dpo`` or ``sft`` run from user input.

    ValueError's message starts with the bad field's name: ``"beta: must be above 0"``.
    """
    if kind not in ("dpo", "sft"):
        raise ValueError(f"kind: policy training is dpo or sft, not {kind!r}")
    values = values_from_dict(PolicyConfig, data)
    if kind == "sft":
        if values.setdefault("loss", "sft") != "sft":
            raise ValueError("loss: an sft run trains with the sft loss")
    elif values.get("loss") == "sft":
        raise ValueError("loss: 'sft' is the sft run kind's loss; a dpo run takes a preference loss")
    config = PolicyConfig(**values)
    # "Set" means "not the default": a stored full config parses again unchanged.
    defaults = PolicyConfig().to_dict()
    _check_loss_parameters(config, given={k for k, v in config.to_dict().items() if v != defaults[k]})
    check_precision(config)
    return config


def _check_loss_parameters(c: PolicyConfig, *, given: set[str]) -> None:
    """Parameters that belong to one loss: refuse them set (to a non-default value)
    for another loss (a silent no-op misleads)."""
    if c.loss == "cdpo" and not 0 < c.label_smoothing < 0.5:
        raise ValueError("label_smoothing: cdpo needs a label-smoothing ε between 0 and 0.5 (exclusive)")
    if c.loss != "cdpo" and c.label_smoothing:
        raise ValueError(f"label_smoothing: only the cdpo loss uses label smoothing, not {c.loss}")
    if c.loss != "simpo" and "simpo_gamma" in given:
        raise ValueError(f"simpo_gamma: only the simpo loss uses γ, not {c.loss}")
    if c.rpo_alpha and c.loss in ("kto", "orpo", "sft", "simpo"):
        raise ValueError(f"rpo_alpha: the RPO term applies to the paired reference losses, not {c.loss}")
    kto_only = {"kto_desirable_weight", "kto_undesirable_weight", "kto_both_bad"} & given
    if c.loss != "kto" and kto_only:
        raise ValueError(f"{sorted(kto_only)[0]}: only the kto loss uses it, not {c.loss}")
    if c.lora_dropout >= 1:
        raise ValueError("lora_dropout: must be below 1")
