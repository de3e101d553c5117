"""Fully sharded data parallel (strategy ``fsdp``): torch FSDP2 on the trainers' models.

Each rank keeps 1/ranks of every parameter, its gradient and its AdamW state;
a block's full weights are gathered (all-gather) just before its forward and
backward and freed after, and gradients are reduce-scattered in the backward.
The trainers keep their own loop: the loss of each micro-batch is divided by
the weight of the whole GLOBAL step (as under ddp), so the update needs the
SUM of the ranks' gradients: FSDP's reduce-scatter averages them (a divide
factor of 1 needs PREMUL_SUM, which gloo lacks), and DistContext.gradients_sum_
multiplies the averaged shard by the ranks (exact for a power of two).

Which modules become their own shard group (one all-gather each): the classes
in accelerate's ``FSDP_TRANSFORMER_CLS_TO_WRAP`` (from the config file), else
the model's ``_no_split_modules`` (transformers names its decoder blocks
there), else every block of the model's layer lists; then the whole model, whose
own group holds the rest (embeddings, tied head, final norm).

Every rank must run the same forwards (each one is a collective): evaluation
runs on all ranks, and the reference pass pads the ranks' shares to one count
(training/policy/reference.py).

Checkpoints and the saved model are gathered whole ("full state dict") on
rank 0, in the files a ddp or single run writes, except that the optimizer
state is keyed by parameter name; every rank reads a checkpoint back and keeps
its shard (the checkpoint folder is on the filesystem the ranks share).
"""

import os

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import CPUOffloadPolicy, FSDPModule, fully_shard

GATHERED = StateDictOptions(full_state_dict=True, cpu_offload=True)  # whole tensors, on rank 0's CPU


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes")


def is_sharded(model: torch.nn.Module) -> bool:
    return isinstance(model, FSDPModule)


def block_classes(model: torch.nn.Module) -> set[str]:
    named = [c.strip() for c in os.environ.get("FSDP_TRANSFORMER_CLS_TO_WRAP", "").split(",") if c.strip()]
    if named:
        return set(named)
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(inner, "_no_split_modules", None):
        return set(inner._no_split_modules)
    return {type(child).__name__ for module in model.modules() if isinstance(module, torch.nn.ModuleList)
            for child in module}


def model_shard(model: torch.nn.Module, *, cuda: bool) -> torch.nn.Module:
    """Shard ``model`` (already on this rank's device) in place over the process group."""
    classes = block_classes(model)
    options: dict = {"reshard_after_forward": _env_flag("FSDP_RESHARD_AFTER_FORWARD", True)}
    if cuda and _env_flag("FSDP_OFFLOAD_PARAMS", False):
        options["offload_policy"] = CPUOffloadPolicy()
    blocks = [m for m in model.modules() if type(m).__name__ in classes and m is not model]
    for block in blocks:
        fully_shard(block, **options)
    fully_shard(model, **options)
    return model


def trainable_names(model: torch.nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def gathered_model_state(model: torch.nn.Module, *, trainable_only: bool) -> dict[str, torch.Tensor]:
    """Every parameter whole, on rank 0's CPU (an empty dict on the other ranks).
    A collective: every rank calls it."""
    state = get_model_state_dict(model, options=GATHERED)
    if trainable_only and state:
        keep = trainable_names(model)
        state = {name: tensor.contiguous() for name, tensor in state.items() if name in keep}
    return state


def gathered_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """AdamW state keyed by parameter name, whole, on rank 0 (empty elsewhere). A collective."""
    return get_optimizer_state_dict(model, optimizer, options=GATHERED)


def states_load(model: torch.nn.Module, optimizer: torch.optim.Optimizer, model_state: dict,
                optimizer_state: dict) -> None:
    """Every rank loads the whole tensors and keeps its own shard."""
    missing = sorted(trainable_names(model) - set(model_state))
    if missing:
        raise ValueError(f"checkpoint lacks trainable parameters: {missing[:5]}")
    whole = StateDictOptions(full_state_dict=True, strict=False)
    set_model_state_dict(model, model_state, options=whole)
    set_optimizer_state_dict(model, optimizer, optimizer_state, options=whole)
