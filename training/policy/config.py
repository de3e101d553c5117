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
from training.policy.loss_specs import (
    DEFAULT_LOSS,
    LOSS_NAMES,
    LOSS_PARAMETERS,
    loss_parameters_check,
    loss_spec,
)

DEVICES = ("auto", "cpu", "cuda")
ATTENTION = ("auto", "sdpa", "eager", "flash_attention_2")


def _loss_param(name: str):
    """A loss parameter's field, its default, help and limits from loss_specs."""
    p = LOSS_PARAMETERS[name]
    return _f(p.default, p.help, **p.limits())



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
    loss: str = _f(DEFAULT_LOSS["dpo"], "Loss from training.policy.loss_specs: sigmoid (DPO), cdpo "
                              "(conservative DPO), ipo, hinge, simpo, orpo, kto; sft runs use sft.",
                   choices=LOSS_NAMES)
    beta: float = _f(0.1, "β: the KL-penalty strength of DPO/cdpo/ipo/hinge/kto, the reward scale of "
                          "simpo (the paper uses ~2) and the odds-ratio weight λ of orpo.", gt=0)
    label_smoothing: float = _loss_param("label_smoothing")
    simpo_gamma: float = _loss_param("simpo_gamma")
    rpo_alpha: float = _loss_param("rpo_alpha")
    kto_desirable_weight: float = _loss_param("kto_desirable_weight")
    kto_undesirable_weight: float = _loss_param("kto_undesirable_weight")
    kto_both_bad: bool = _loss_param("kto_both_bad")
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
        return loss_spec(self.loss).needs_reference

    @property
    def paired(self) -> bool:
        return loss_spec(self.loss).paired


def config_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(PolicyConfig))


def policy_config_from_dict(data: dict[str, Any] | None, *, kind: str = "dpo") -> PolicyConfig:
    """A PolicyConfig for a ``dpo`` or ``sft`` run from user input.

    ValueError's message starts with the bad field's name: ``"beta: must be above 0"``.
    """
    if kind not in ("dpo", "sft"):
        raise ValueError(f"kind: policy training is dpo or sft, not {kind!r}")
    values = values_from_dict(PolicyConfig, data)
    loss = values.setdefault("loss", DEFAULT_LOSS[kind])
    if loss_spec(loss).kind != kind:
        if kind == "sft":
            raise ValueError("loss: an sft run trains with the sft loss")
        raise ValueError(f"loss: '{loss}' is the {loss_spec(loss).kind} run kind's loss; a dpo run takes a "
                         "preference loss")
    config = PolicyConfig(**values)
    # "Set" means "not the default": a stored full config parses again unchanged.
    defaults = PolicyConfig().to_dict()
    _check_loss_parameters(config, given={k for k, v in config.to_dict().items() if v != defaults[k]})
    check_precision(config)
    return config


def _check_loss_parameters(c: PolicyConfig, *, given: set[str]) -> None:
    """The loss parameters (loss_specs decides which loss reads which), then the rest."""
    loss_parameters_check(loss=c.loss, values=c.to_dict(), given=given)
    if c.lora_dropout >= 1:
        raise ValueError("lora_dropout: must be below 1")
