"""Reward-model hyper-parameters: one dataclass, a help string per field.

The API, the `train` command and the trainer all read this one definition;
`config_from_dict` is the single place that checks what a user sent.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from training.hyperparameters import check_precision, values_from_dict
from training.hyperparameters import param as _f

TIE_MODES = ("drop", "equal")
DEVICES = ("auto", "cpu", "cuda")
ATTENTION = ("auto", "sdpa", "eager", "flash_attention_2")
# The names in training.reward.losses.REWARD_LOSSES, listed here so that validating a
# config (web process, admin) does not import torch; a test keeps them equal.
LOSS_NAMES = ("bradley_terry", "bradley_terry_margin")



@dataclass
class RewardConfig:
    # --- data ---
    max_length: int = _f(512, "Tokens per (prompt, response) sequence. The response is kept; the prompt "
                              "is trimmed from the left (its end, nearest the response, stays).")
    ties: str = _f("drop", "Tied pairs: 'drop' them, or train them toward equal reward ('equal').",
                   choices=TIE_MODES)
    use_weights: bool = _f(True, "Weight each pair by the snapshot's pair weight (a prompt's pairs share "
                                 "one unit of weight).")
    shuffle: bool = _f(True, "Shuffle the training pairs each epoch (seeded by seed + epoch).")
    # --- optimisation ---
    batch_size: int = _f(8, "Pairs per micro-batch (each pair is two sequences in the forward pass).",
                         min=1)
    gradient_accumulation_steps: int = _f(1, "Micro-batches per optimizer step.", min=1)
    epochs: float = _f(1.0, "Passes over the training split (ignored when max_steps is set).", min=0)
    max_steps: int = _f(0, "Optimizer steps; 0 derives them from epochs.", min=0)
    learning_rate: float = _f(5e-5, "Peak learning rate (AdamW).", min=0)
    weight_decay: float = _f(0.0, "AdamW weight decay on matrices (not on biases and norms).", min=0)
    adam_beta1: float = _f(0.9, "AdamW beta1.", min=0)
    adam_beta2: float = _f(0.999, "AdamW beta2.", min=0)
    adam_epsilon: float = _f(1e-8, "AdamW epsilon.", min=0)
    warmup_ratio: float = _f(0.05, "Share of the steps with linear warm-up, then cosine decay to 0.",
                             min=0)
    max_grad_norm: float = _f(1.0, "Clip the gradient norm to this; 0 disables clipping.", min=0)
    # --- loss ---
    loss: str = _f("bradley_terry", "Pairwise loss from training.reward.losses.REWARD_LOSSES.",
                   choices=LOSS_NAMES)
    margin_scale: float = _f(1.0, "λ in -log σ(r_c - r_r - λ·margin) (bradley_terry_margin only).",
                             min=0)
    center_rewards_coefficient: float = _f(0.0, "Coefficient of the (r_c + r_r)² centering penalty; 0 "
                                                "disables it (0.01 is usual).", min=0)
    # --- model ---
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass to save memory.")
    lora: bool = _f(False, "Train LoRA adapters and the reward head instead of all weights (peft).")
    qlora: bool = _f(False, "QLoRA: load the frozen base in 4-bit NF4 (bitsandbytes) under the LoRA adapters "
                            "(needs lora, device 'cuda' and bitsandbytes; CUDA GPUs only). The saved model "
                            "merges the adapters into the full-precision base.")
    attn_implementation: str = _f("auto", "Attention kernel passed to transformers: 'auto' (its default: "
                                          "SDPA where the model supports it), 'sdpa', 'eager' or "
                                          "'flash_attention_2' (CUDA and the flash-attn package).",
                                  choices=ATTENTION)
    lora_r: int = _f(8, "LoRA rank.", min=1)
    lora_alpha: int = _f(16, "LoRA alpha (scaling = alpha / r).", min=1)
    lora_dropout: float = _f(0.05, "Dropout on the LoRA path.", min=0)
    lora_target_modules: list[str] = _f([], "Module names to adapt; empty means all linear layers.")
    disable_dropout: bool = _f(False, "Set every dropout probability of the model to 0.")
    # --- run ---
    seed: int = _f(42, "Seed for the head's initialisation, data order and dropout.")
    device: str = _f("auto", "'auto' (CUDA with bf16 when available, else CPU float32), 'cpu' or 'cuda'.",
                     choices=DEVICES)
    eval_batch_size: int = _f(32, "Pairs per evaluation batch.", min=1)
    eval_every_steps: int = _f(0, "Evaluate on the test split every N steps; 0 = only at the end.", min=0)
    logging_steps: int = _f(10, "Log training metrics every N steps (and at the last one).", min=1)
    checkpoint_every_steps: int = _f(100, "Checkpoint every N steps (and at the end); 0 = only at the end.",
                                     min=0)
    keep_checkpoints: int = _f(2, "Checkpoints kept on disk (the newest ones).", min=1)
    ece_bins: int = _f(10, "Confidence bins for the expected calibration error.", min=1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(RewardConfig))


def config_from_dict(data: dict[str, Any] | None) -> RewardConfig:
    """A RewardConfig from user input; ValueError names the first bad field."""
    config = RewardConfig(**values_from_dict(RewardConfig, data))
    check_precision(config)
    return config
