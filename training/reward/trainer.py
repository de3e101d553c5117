"""Bradley–Terry reward-model training, top to bottom.

    config → model + tokenizer → encoded pairs → optimizer + schedule
    → (resume from the last checkpoint) → flat loop of optimizer steps
    → evaluation on the test split → saved model

No Django: the caller passes pairs and an output folder, and receives
callbacks (``TrainingHooks``) for metrics, progress/heartbeat and checkpoints.

Data parallel (``dist``, see training/distributed/runtime.py): every rank takes
the same global micro-batch of ``batch_size × world`` pairs from the seeded
cursor and trains on its slice; gradients are summed over ranks before the
optimizer step, so the run equals one process with batch ``batch_size × world``
(without dropout: each rank draws its own dropout masks). Rank 0 alone writes
checkpoints, evaluates and saves. Under fsdp each rank holds a shard of the
model (training/distributed/sharding.py): every rank evaluates with rank 0,
and checkpoints and the saved model are gathered whole on rank 0.
"""

import json
import math
import resource
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from training.checkpoints import checkpoint_latest
from training.device import (
    Placement,
    adapters_onto_full_base,
    load_options,
    placement_choose,
)
from training.distributed.runtime import DistContext
from training.evaluation import pairwise_metrics
from training.hooks import TimeLimitReached, TrainingHooks
from training.model_setup import model_setup
from training.reward.config import RewardConfig
from training.reward.data import (
    DataCursor,
    EncodedPair,
    PreferencePair,
    collate,
    pairs_encode,
    total_steps_for,
)
from training.reward.losses import pair_losses


@dataclass
class RewardTrainingResult:
    model_dir: Path
    steps: int
    eval_metrics: dict
    timings: dict
    device: str
    resumed_from: int


def cosine_with_warmup(warmup: int, total: int):
    """lr multiplier: linear 0→1 over ``warmup`` steps, then cosine 1→0 at ``total``
    (the formula of transformers' get_cosine_schedule_with_warmup)."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return factor


def model_load(path: str | Path, config: RewardConfig, placement: Placement | None = None):
    """Tokenizer and scalar-head model (num_labels=1) from a local folder, loaded
    for ``placement`` (None: float32 on the CPU; see training.device.load_options)."""
    hf_logging.disable_progress_bar()  # per-shard bars would flood the worker's log
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        # Causal tokenizers often have no pad token; the mask hides pads anyway.
        tokenizer.pad_token = tokenizer.eos_token
    # Seed before loading: the reward head is freshly initialised from the RNG.
    torch.manual_seed(config.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(path), num_labels=1, **load_options(placement, lora=config.lora, qlora=config.qlora,
                                                attn_implementation=config.attn_implementation))
    model.config.pad_token_id = tokenizer.pad_token_id
    model = model_setup(model, config, task_type="SEQ_CLS")
    return tokenizer, model


def optimizer_build(model: torch.nn.Module, config: RewardConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    # Decay matrices only; biases and norm gains (1-D) are not decayed.
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
                             eps=config.adam_epsilon)


def _forward(model, batch: dict, placement: Placement) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = {k: batch[k].to(placement.device, non_blocking=True)
              for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    with placement.autocast():
        logits = model(**inputs).logits
    # Rewards in float32 whatever the autocast dtype: the loss is computed in fp32.
    rewards = logits.squeeze(-1).float()
    n = rewards.shape[0] // 2
    return rewards[:n], rewards[n:]


@torch.no_grad()
def rewards_compute(model, pairs: list[EncodedPair], *, pad_id: int, batch_size: int,
                    placement: Placement, on_batch=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chosen rewards, rejected rewards, is_tie) for ``pairs``, in eval mode."""
    was_training = model.training
    model.eval()
    chosen, rejected = [], []
    for start in range(0, len(pairs), batch_size):
        batch = collate(pairs[start:start + batch_size], pad_id=pad_id)
        c, r = _forward(model, batch, placement)
        chosen.append(c.cpu())
        rejected.append(r.cpu())
        if on_batch:
            on_batch()
    model.train(was_training)
    if not chosen:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    return (torch.cat(chosen).numpy(), torch.cat(rejected).numpy(),
            np.array([p.is_tie for p in pairs], dtype=bool))


def _memory_mb(placement: Placement) -> float:
    if placement.is_cuda:
        return torch.cuda.max_memory_allocated(placement.device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def train_reward_model(config: RewardConfig, *, model_path: str | Path, train_pairs: list[PreferencePair],
                       eval_pairs: list[PreferencePair], output_dir: str | Path,
                       hooks: TrainingHooks | None = None, deadline: float | None = None,
                       dist: DistContext | None = None) -> RewardTrainingResult:
    """Train, evaluate and save a reward model under ``output_dir``.

    ``output_dir/checkpoints`` holds the checkpoints: when one exists the run
    resumes from it. ``deadline`` (time.time()) is the soft time limit: past
    it, a checkpoint is written and TimeLimitReached raised.
    """
    hooks = hooks or TrainingHooks()
    dist = dist or DistContext()
    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    # ---- model, data ------------------------------------------------------
    placement = placement_choose(config.device)
    tokenizer, model = model_load(model_path, config, placement)
    if not config.qlora:  # a 4-bit model is placed by its load
        model.to(placement.device)
    model = dist.prepare_model(model, cuda=placement.is_cuda)  # fsdp: this rank's shard only
    timings["load_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    if config.ties == "drop":
        train_pairs = [p for p in train_pairs if not p.is_tie]
    # Tokenizing a large snapshot takes minutes: keep heartbeating meanwhile.
    hooks.on_heartbeat()
    train = pairs_encode(train_pairs, tokenizer, config.max_length, on_progress=hooks.on_heartbeat)
    test = pairs_encode(eval_pairs, tokenizer, config.max_length, on_progress=hooks.on_heartbeat)
    timings["tokenize_s"] = time.perf_counter() - t
    if not train:
        raise ValueError("no training pairs left (all ties dropped, or an empty snapshot)")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    world = dist.world_size
    pairs_per_step = config.batch_size * config.gradient_accumulation_steps * world
    total_steps = total_steps_for(n_train=len(train), epochs=config.epochs, max_steps=config.max_steps,
                                  pairs_per_step=pairs_per_step)
    warmup = int(config.warmup_ratio * total_steps)
    optimizer = optimizer_build(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(warmup, total_steps))
    # Backward, step and checkpoints: plain torch, or a DeepSpeed engine (it partitions
    # the model and the optimizer state now, under ZeRO).
    updates = dist.updates(model, optimizer, max_grad_norm=config.max_grad_norm,
                           micro_batch=config.batch_size, accumulation=config.gradient_accumulation_steps)

    # ---- resume -----------------------------------------------------------
    step, cursor = 0, DataCursor(len(train), seed=config.seed, shuffle=config.shuffle)
    latest = checkpoint_latest(ckpt_dir)
    if latest is not None:
        state = updates.checkpoint_load(latest, scheduler=scheduler)
        step = state["step"]
        cursor = DataCursor(len(train), seed=config.seed, shuffle=config.shuffle,
                            epoch=state["data"]["epoch"], offset=state["data"]["offset"])
    resumed_from = step
    where = placement.description + (f" x {world} processes" if world > 1 else "")
    hooks.on_start(total_steps=total_steps, start_step=step, device=where)

    def save_checkpoint(at: int) -> None:
        # A collective (rank 0 writes; under sharding every rank contributes its part).
        path = updates.checkpoint_save(ckpt_dir, step=at, scheduler=scheduler, keep=config.keep_checkpoints,
                                       state={"data": cursor.state(), "total_steps": total_steps,
                                              "world_size": world, "strategy": dist.strategy})
        if path is not None:
            hooks.on_checkpoint(step=at, path=path)

    def evaluate(at: int) -> dict:
        chosen, rejected, ties = rewards_compute(
            model, test, pad_id=pad_id, batch_size=config.eval_batch_size, placement=placement,
            on_batch=hooks.on_heartbeat)
        values = pairwise_metrics(chosen, rejected, is_tie=ties, bins=config.ece_bins)
        hooks.on_log(step=at, split="eval", values=values)
        return values

    # ---- loop -------------------------------------------------------------
    model.train()
    t_train = time.perf_counter()
    # Running sums between two logs stay on the device: `.item()` is a
    # host-device sync, so it happens once per log, not once per micro-batch.
    sums = {"loss": torch.zeros((), device=placement.device),
            "correct": torch.zeros((), device=placement.device),
            "margin": torch.zeros((), device=placement.device)}
    # Counts; summed over ranks they come back as floats (dist.sum_numbers).
    decided: float
    tokens: float
    pairs_seen: float
    decided = tokens = pairs_seen = steps_in_window = 0
    window_start = time.perf_counter()
    while step < total_steps:
        global_micro = [cursor.take(config.batch_size * world)
                        for _ in range(config.gradient_accumulation_steps)]
        # Normalise by the weight of the whole (global) optimizer step, not per
        # micro-batch or per rank: then batch 8 equals batch 1 x 8 accumulation
        # steps equals 2 ranks x batch 4 (per-micro-batch means would weight a
        # short or light micro-batch more).
        step_weight = sum(train[i].weight if config.use_weights else 1.0 for mb in global_micro for i in mb)
        micro = [[train[i] for i in dist.shard(mb)] for mb in global_micro]
        for k, pairs in enumerate(micro):
            batch = collate(pairs, pad_id=pad_id, use_weights=config.use_weights)
            chosen, rejected = _forward(model, batch, placement)
            losses = pair_losses(
                config.loss, chosen, rejected, margin=batch["margin"].to(placement.device),
                is_tie=batch["is_tie"].to(placement.device), margin_scale=config.margin_scale,
                center_coefficient=config.center_rewards_coefficient)
            loss = (losses * batch["weight"].to(placement.device)).sum() / step_weight
            updates.backward(loss, last=k == len(micro) - 1)
            with torch.no_grad():
                real = ~batch["is_tie"].to(placement.device)
                d = (chosen - rejected)[real]
                sums["loss"] += loss.detach()
                sums["correct"] += (d > 0).sum()
                sums["margin"] += d.sum()
            decided += int(len(pairs) - int(batch["is_tie"].sum()))
            tokens += int(batch["attention_mask"].sum())
            pairs_seen += len(pairs)
        grad_norm = updates.step()  # summed over ranks, clipped, applied
        scheduler.step()
        step += 1
        steps_in_window += 1

        if step % config.logging_steps == 0 or step == total_steps:
            for value in sums.values():
                dist.all_reduce_(value)
            decided, tokens, pairs_seen = dist.sum_numbers(decided, tokens, pairs_seen)
            elapsed = max(time.perf_counter() - window_start, 1e-9)
            hooks.on_log(step=step, split="train", values={
                "loss": sums["loss"].item() / steps_in_window,
                "accuracy": sums["correct"].item() / decided if decided else None,
                "margin": sums["margin"].item() / decided if decided else None,
                "learning_rate": scheduler.get_last_lr()[0],
                "grad_norm": float(grad_norm),
                "tokens_per_s": tokens / elapsed,
                "pairs_per_s": pairs_seen / elapsed,
                "memory_mb": _memory_mb(placement),
                "epoch": cursor.epoch + cursor.offset / cursor.n,
            })
            for value in sums.values():
                value.zero_()
            decided = tokens = pairs_seen = steps_in_window = 0
            window_start = time.perf_counter()
        hooks.on_progress(step=step, total_steps=total_steps)
        if config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0:
            save_checkpoint(step)
        # Rank 0 evaluates (with sharded weights every rank runs the forwards with it).
        if config.eval_every_steps and step % config.eval_every_steps == 0 and step < total_steps \
                and (dist.is_main or dist.shards_weights):
            evaluate(step)
        # One verdict for all ranks: each reads its own clock, and a rank that
        # stopped alone would leave the others waiting in the next all-reduce.
        if deadline is not None and step < total_steps and dist.any(time.time() > deadline):
            save_checkpoint(step)
            raise TimeLimitReached(f"soft time limit reached at step {step}/{total_steps}")
    timings["train_s"] = time.perf_counter() - t_train
    if not (config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0):
        save_checkpoint(step)  # the final one, unless the loop just wrote it

    # ---- evaluate, save -----------------------------------------------------
    model_dir = output_dir / "model"
    t = time.perf_counter()
    eval_metrics = evaluate(step) if dist.is_main or dist.shards_weights else {}
    timings["eval_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = updates.consolidated(lambda: model_load(model_path, config)[1])
    if not dist.is_main:  # rank 0 saves the (identical, or gathered) weights
        timings["total_s"] = time.perf_counter() - t0
        return RewardTrainingResult(model_dir=model_dir, steps=step, eval_metrics={}, timings=timings,
                                    device=where, resumed_from=resumed_from)
    if config.qlora:  # the adapters go onto the full-precision base, not the 4-bit one
        full_precision = replace(config, qlora=False)
        model = adapters_onto_full_base(model, lambda: model_load(model_path, full_precision)[1])
    final = model.merge_and_unload() if config.lora else model
    final.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    (model_dir / "palate_reward.json").write_text(json.dumps(
        {"config": config.to_dict(), "eval": eval_metrics, "steps": step}, indent=1))
    timings["save_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return RewardTrainingResult(model_dir=model_dir, steps=step, eval_metrics=eval_metrics,
                                timings=timings, device=where, resumed_from=resumed_from)
