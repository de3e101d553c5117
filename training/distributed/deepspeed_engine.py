"""DeepSpeed ZeRO (strategies ``deepspeed-zero2`` and ``deepspeed-zero3``) behind DistContext.updates.

The trainers keep their own loop, data slicing, loss normalisation, scheduler
and checkpoint metadata; a DeepSpeed engine wrapped around their model and
their torch AdamW does the rest:

- ZeRO-2 splits the gradients and AdamW's state (and its float32 master
  weights) over the ranks; every rank still holds the whole model. ZeRO-3
  splits the weights too: each module gathers its parameters around its own
  forward and backward (hooks on every submodule, so the policy trainer's
  separate body and head calls gather too), which makes every forward a
  collective: every rank evaluates and runs the reference pass with rank 0
  (DistContext.shards_weights).
- The loss of each micro-batch is normalised by the weight of the whole GLOBAL
  step, so the update needs the SUM of the ranks' gradients; DeepSpeed averages
  them, so each rank's loss is multiplied by the ranks, and the engine's own
  division by the accumulation steps is off (``scale_wrt_gas=False``).
- The accumulation boundary is the trainer's: set before every backward, the
  last micro-batch of a step being the boundary. The engine clips (the run's
  ``max_grad_norm``) and steps; the norm it measured before clipping is logged.
  The client optimizer's LambdaLR keeps driving the learning rate (the engine
  steps the client's own parameter groups). The trainers run the module's
  forward themselves, so ``backward`` does engine.forward's per-micro-batch
  bookkeeping (DeepSpeed 0.19.8's, pinned).
- bf16 on a CUDA GPU with bf16 (the engine keeps float32 master weights); float32
  on the CPU, where the ranks join with gloo (DeepSpeed's CPU accelerator
  without oneCCL).

Checkpoints: every rank writes its part with ``engine.save_checkpoint`` into a
staging folder beside the checkpoints; rank 0 then writes our own files (the
trainable parameters gathered whole in float32, the scheduler, the RNG, the
trainer state) and moves the staging folder in as ``deepspeed/`` before the
checkpoint's atomic rename (training/checkpoints.py). Resume: every rank loads
the engine's part, then the scheduler and the trainer state. The saved model is
gathered whole on rank 0 from the float32 master weights.

The accelerate config files (accelerate/deepspeed-zero*.yaml) only choose the
launcher; the engine's settings come from the strategy and the run's config
here.
"""

import json
import shutil
from pathlib import Path

import torch

from training.checkpoints import PREFIX, STATE_FILE, checkpoint_save, trainer_state_load
from training.distributed.resources import DEEPSPEED_INSTALL, DEEPSPEED_VERSION

try:
    import deepspeed
    from deepspeed.runtime.utils import register_output_backward_hooks
    from deepspeed.utils import safe_get_full_fp32_param
except ImportError as error:  # the worker lacks it: say which package and how to install it
    raise ImportError(f"DeepSpeed strategies need the deepspeed package on the worker: {DEEPSPEED_INSTALL}") \
        from error

# backward() does engine.forward's micro-step bookkeeping through this version's
# internals (see there); another version may name or order them differently and
# silently replace gradients instead of accumulating them, so it is refused.
if deepspeed.__version__ != DEEPSPEED_VERSION:
    raise ImportError(f"DeepSpeed strategies are tested with deepspeed {DEEPSPEED_VERSION}, the worker has "
                      f"{deepspeed.__version__}: {DEEPSPEED_INSTALL}")

TAG = "engine"  # the engine's folder inside deepspeed/: one tag per checkpoint


def engine_config(stage: int, *, micro_batch: int, accumulation: int, world: int, max_grad_norm: float,
                  bf16: bool) -> dict:
    """The engine's settings for a run (DeepSpeed checks that the batch sizes multiply)."""
    return {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": accumulation,
        "train_batch_size": micro_batch * accumulation * world,
        "gradient_clipping": float(max_grad_norm) if max_grad_norm > 0 else 0.0,
        "zero_optimization": {"stage": stage},
        "bf16": {"enabled": bf16},
        # The trainers' torch AdamW, stepped by ZeRO on the flat partitions.
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 2**62,  # the trainers log; the engine's own progress lines would flood the log
        "wall_clock_breakdown": False,
    }


class DeepSpeedUpdates:
    """Backward, optimizer step, checkpoints and the consolidated model through a
    DeepSpeed engine (the interface of training.distributed.runtime.Updates)."""

    def __init__(self, dist, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *,
                 max_grad_norm: float, micro_batch: int, accumulation: int):
        self.dist, self.model, self.client = dist, model, optimizer
        cuda = next(model.parameters()).device.type == "cuda"
        config = engine_config(dist.deepspeed_stage, micro_batch=micro_batch, accumulation=accumulation,
                               world=dist.world_size, max_grad_norm=max_grad_norm,
                               bf16=cuda and torch.cuda.is_bf16_supported())
        # The process group is joined already (runtime.dist_from_env): the engine uses it.
        self.engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=config,
                                                    dist_init_required=False)

    def backward(self, loss: torch.Tensor, *, last: bool) -> None:
        self.engine.set_gradient_accumulation_boundary(last)
        # The trainers call the module itself (the policy its body and head apart), not
        # engine.forward, so this does the micro-batch bookkeeping engine.forward would:
        # without it ZeRO-3 stays at micro-step 0 and each micro-batch's gradient
        # REPLACES the previous one's instead of adding to it.
        self.engine.optimizer.clear_backward_seen_flag()
        register_output_backward_hooks(loss, preprocess_once_fn=self.engine._backward_prologue)
        # DeepSpeed averages over the ranks; our losses are normalised for the sum.
        self.engine.backward(loss * self.dist.world_size, scale_wrt_gas=False)

    def step(self) -> float:
        self.engine.step()  # clips, steps and clears the gradients at the boundary
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def whole_state(self, *, trainable_only: bool) -> dict[str, torch.Tensor]:
        """Parameters whole, on rank 0's CPU (empty elsewhere): the trainable ones from
        the float32 master weights, frozen ones (a LoRA base) gathered as they are.
        A collective: every rank calls it, parameter by parameter."""
        state = {}
        for name, p in self.model.named_parameters():
            if trainable_only and not p.requires_grad:
                continue
            whole = None
            if p.requires_grad and p.dtype != torch.float32:  # bf16 weights: the float32 masters
                whole = safe_get_full_fp32_param(p)
            if whole is None:  # float32 weights (the CPU): a copy of the masters, gathered
                with deepspeed.zero.GatheredParameters([p]):  # ZeRO-3 only; a no-op otherwise
                    whole = p.detach().clone()
            if self.dist.is_main:
                state[name] = whole.to("cpu", copy=True).contiguous()
        return state

    def checkpoint_save(self, directory: Path, *, step: int, scheduler, state: dict,
                        keep: int) -> Path | None:
        directory = Path(directory)
        staging = directory / f".deepspeed-{PREFIX}{step:08d}"
        if self.dist.is_main:
            directory.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(staging, ignore_errors=True)  # a killed attempt's leftovers
        self.dist.barrier()
        # Every rank writes its own partition; frozen weights come back from the base model.
        self.engine.save_checkpoint(str(staging), tag=TAG, save_latest=False, exclude_frozen_parameters=True)
        params = self.whole_state(trainable_only=True)
        self.dist.barrier()  # every rank's files are on disk before rank 0 moves them
        path = None
        if self.dist.is_main:
            path = checkpoint_save(directory, step=step, model=self.model, optimizer=self.client,
                                   scheduler=scheduler, state=state, keep=keep, gathered=(params, {}),
                                   engine_files=staging)
        self.dist.barrier()
        return path

    def checkpoint_load(self, path: Path, *, scheduler) -> dict:
        path = Path(path)
        saved = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        if saved.get("optimizer_keys") != "deepspeed" or not (path / "deepspeed").is_dir():
            raise ValueError(f"checkpoint {path} was not written by a DeepSpeed run: resume it with its own "
                             "strategy")
        written = json.loads((path / STATE_FILE).read_text())
        if (written.get("strategy"), written.get("world_size")) != (self.dist.strategy, self.dist.world_size):
            # Each rank's file holds its own partition: another stage or rank count cannot read them.
            raise ValueError(f"checkpoint {path} was written by {written.get('strategy')} on "
                             f"{written.get('world_size')} ranks: resume it with the same strategy and ranks")
        loaded, _ = self.engine.load_checkpoint(str(path / "deepspeed"), tag=TAG, load_module_strict=False,
                                                load_optimizer_states=True, load_lr_scheduler_states=False)
        if loaded is None:
            raise ValueError(f"checkpoint {path}: DeepSpeed found no engine state in it")
        state = trainer_state_load(path, scheduler=scheduler, saved=saved)
        # The learning rate is the scheduler's (the engine restores weights and moments).
        for group, lr in zip(self.client.param_groups, scheduler.get_last_lr(), strict=True):
            group["lr"] = lr
        return state

    def consolidated(self, fresh) -> torch.nn.Module | None:
        """The trained model whole on rank 0: ``fresh()`` builds an unpartitioned copy (on
        the CPU) that takes the gathered weights; None on the other ranks. A collective."""
        whole = self.whole_state(trainable_only=False)
        if not self.dist.is_main:
            return None
        copy = fresh()
        missing = sorted(name for name, _ in copy.named_parameters() if name not in whole)
        if missing:
            raise ValueError(f"gathered model lacks parameters: {missing[:5]}")
        # Buffers are not partitioned and not trained: the fresh copy's are the same.
        copy.load_state_dict(whole, strict=False)
        return copy
