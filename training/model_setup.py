"""What the reward and policy trainers do to a loaded model before training it:
dropout off when asked, gradient checkpointing, QLoRA's k-bit preparation and
LoRA adapters (peft, loaded only for those runs) kept in float32."""

import torch

from training.device import trainable_to_float32


def model_setup(model: torch.nn.Module, config, *, task_type: str) -> torch.nn.Module:
    """``model`` ready to train under ``config`` (a RewardConfig or PolicyConfig);
    ``task_type``: peft's "CAUSAL_LM" (a policy) or "SEQ_CLS" (a reward model,
    whose new head then stays fully trainable as one of peft's modules_to_save)."""
    if config.disable_dropout:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model.config, "use_cache"):
            model.config.use_cache = False  # a KV cache contradicts recomputing the forward
    if config.qlora:
        from peft import prepare_model_for_kbit_training

        # Norms and a head in float32, inputs requiring grad for checkpointing.
        model = prepare_model_for_kbit_training(model,
                                                use_gradient_checkpointing=config.gradient_checkpointing)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            task_type=task_type, r=config.lora_r, lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout, target_modules=config.lora_target_modules or "all-linear"))
        trainable_to_float32(model)
    return model
