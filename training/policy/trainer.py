"""Policy training (DPO and its variants, KTO, SFT), top to bottom.

    config → causal LM + tokenizer (+ LoRA) → encoded pairs
    → reference log-probs (once, cached; before any step or checkpoint load)
    → optimizer + schedule → (resume from the last checkpoint)
    → flat loop of optimizer steps → evaluation on the test split
    → saved model (LoRA merged into the weights)

No Django: the caller passes pairs and an output folder, and receives
callbacks (``TrainingHooks``) for metrics, progress/heartbeat and checkpoints.

Data parallel (``dist``): as the reward trainer (training/reward/trainer.py):
each rank trains on its slice of the global micro-batch, gradients are summed
over ranks, rank 0 writes checkpoints, evaluates and saves. The reference
log-probs are computed sharded (each rank a strided share of the sequences,
then one all-reduce) and cached by rank 0. Under fsdp the model itself is
sharded (training/distributed/sharding.py): every rank evaluates with rank 0,
and checkpoints and the saved model are gathered whole on rank 0.

Response lengths in the metrics are those of the chosen and rejected responses
of the batch (the loop does not sample); the length a trained policy actually
produces is measured by the post-training evaluation, which samples.
"""

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from training.checkpoints import checkpoint_latest
from training.device import (
    Placement,
    adapters_onto_full_base,
    load_options,
    placement_choose,
)
from training.distributed.runtime import DistContext
from training.hooks import TimeLimitReached, TrainingHooks
from training.model_setup import model_setup
from training.policy.config import PolicyConfig
from training.policy.data import (
    EncodedPolicyPair,
    EncodedResponse,
    PreferencePair,
    UnpairedResponse,
    collate_sequences,
    pairs_to_unpaired,
    policy_pairs_encode,
    responses_encode,
)
from training.policy.loss_specs import loss_kwargs
from training.policy.losses import get_policy_loss, implicit_rewards, rpo_nll
from training.policy.metrics import (
    DisplacementAlarm,
    MetricWindow,
    accumulate,
    window_all_reduce,
    window_values,
)
from training.policy.reference import model_fingerprint, reference_logps, sequence_logps
from training.reward.data import DataCursor, total_steps_for
from training.reward.trainer import _memory_mb, cosine_with_warmup

logger = logging.getLogger(__name__)


@dataclass
class PolicyTrainingResult:
    model_dir: Path
    steps: int
    eval_metrics: dict
    train_metrics: dict
    timings: dict
    device: str
    resumed_from: int
    displacement_step: int | None = None  # first logged step whose likelihood-displacement alarm fired
    reference_cached: bool = False
    notes: list[str] = field(default_factory=list)


def policy_model_load(path: str | Path, config: PolicyConfig, placement: Placement | None = None):
    """Tokenizer and causal LM from a local folder, loaded for ``placement`` (None:
    float32 on the CPU): float32 weights that train, bf16 autocast on CUDA; a LoRA
    base in bf16 on a bf16 GPU, in 4-bit under QLoRA (training.device.load_options)."""
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # the attention mask hides pads anyway
    torch.manual_seed(config.seed)  # LoRA's A matrices are drawn from the RNG
    model = AutoModelForCausalLM.from_pretrained(
        str(path), **load_options(placement, lora=config.lora, qlora=config.qlora,
                                  attn_implementation=config.attn_implementation))
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False  # no KV cache while training
    model = model_setup(model, config, task_type="CAUSAL_LM")
    return tokenizer, model


def optimizer_build(model: torch.nn.Module, config: PolicyConfig, *,
                    fused: bool = True) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters, decaying matrices only (not biases and norms).

    ``fused=True``: one kernel per parameter group instead of a Python loop over
    tensors (torch has fused AdamW for CPU and CUDA); same update rule. Not for
    sharded (DTensor) parameters, which take the per-tensor loop.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
                             eps=config.adam_epsilon, fused=fused)


def _loss_kwargs(config: PolicyConfig) -> dict:
    return loss_kwargs(config.to_dict())


def paired_step(model, pairs: list[EncodedPolicyPair], ref: torch.Tensor | None, config: PolicyConfig, *,
                pad_id: int, placement: Placement) -> dict:
    """One concatenated forward of a micro-batch of pairs: the B chosen sequences,
    then the B rejected ones (the ``sft`` loss forwards the chosen ones only).

    Returns per-pair losses and what the metrics need (all on the device).
    ``ref`` is [B, 2] (reference log-probs of chosen, rejected) or None.
    """
    n = len(pairs)
    chosen_only = config.loss == "sft"
    sequences = [p.chosen for p in pairs] + ([] if chosen_only else [p.rejected for p in pairs])
    batch = collate_sequences(sequences, pad_id=pad_id)
    logps = sequence_logps(model, batch, placement)
    # A response trimmed to nothing has length 0: divide by 1 (its log-prob is 0).
    lengths = batch["lengths"].clamp(min=1).to(placement.device, dtype=torch.float32)
    chosen, chosen_len = logps[:n], lengths[:n]
    rejected, rejected_len = (logps[n:], lengths[n:]) if not chosen_only else (None, None)
    ref_c = ref_r = None
    if ref is not None:
        ref = ref.to(placement.device)
        ref_c, ref_r = ref[:, 0], ref[:, 1]
    losses = get_policy_loss(config.loss).fn(
        chosen=chosen, rejected=rejected, ref_chosen=ref_c, ref_rejected=ref_r, chosen_lengths=chosen_len,
        rejected_lengths=rejected_len, **_loss_kwargs(config))
    if config.rpo_alpha:
        losses = losses + config.rpo_alpha * rpo_nll(chosen, chosen_len)
    out = {"losses": losses, "chosen_logp": chosen, "rejected_logp": rejected,
           "chosen_len": batch["lengths"][:n], "rejected_len": None if chosen_only else batch["lengths"][n:],
           "tokens": int(batch["attention_mask"].sum())}
    if not chosen_only:
        out["chosen_reward"], out["rejected_reward"] = implicit_rewards(
            config.loss, chosen, rejected, ref_c, ref_r, beta=config.beta, chosen_lengths=chosen_len,
            rejected_lengths=rejected_len)
    if ref_c is not None:
        out["chosen_logratio"] = chosen - ref_c
    return out


def unpaired_step(model, examples: list[EncodedResponse], ref: torch.Tensor, config: PolicyConfig, *,
                  pad_id: int, placement: Placement, dist: DistContext | None = None) -> dict:
    """One forward of a micro-batch of single responses (KTO).

    KTO's reference point z is estimated from this batch: the mean log-ratio
    log π − log π_ref of its responses, clamped at 0 and held constant. (TRL
    estimates it on mismatched prompt/response pairs; the batch's own responses
    need no extra forward.) Over several ranks the batch is the GLOBAL
    micro-batch: the sum and count are all-reduced, so every rank uses the z of
    the one-process run.
    """
    batch = collate_sequences([e.sequence for e in examples], pad_id=pad_id)
    logps = sequence_logps(model, batch, placement)
    ref = ref.to(placement.device)
    desirable = torch.tensor([e.desirable for e in examples], device=placement.device)
    log_ratio = (logps - ref).detach()
    totals = torch.stack([log_ratio.sum(), torch.tensor(float(len(examples)), device=log_ratio.device)])
    if dist is not None:
        dist.all_reduce_(totals)
    kl = totals[0] / totals[1]
    losses = get_policy_loss("kto").fn(logps, ref, desirable=desirable, kl=kl, **_loss_kwargs(config))
    rewards = config.beta * (logps - ref)
    return {"losses": losses, "logps": logps, "rewards": rewards, "desirable": desirable, "kl": kl,
            "lengths": batch["lengths"], "tokens": int(batch["attention_mask"].sum())}


def example_lengths(train: list, config: PolicyConfig) -> list[int]:
    """The padded width each training example brings to its micro-batch (a pair's
    two responses share one forward: the longer counts; sft forwards the chosen)."""
    if not config.paired:
        return [len(e.sequence.ids) for e in train]
    if config.loss == "sft":
        return [len(p.chosen.ids) for p in train]
    return [max(len(p.chosen.ids), len(p.rejected.ids)) for p in train]


def train_policy(config: PolicyConfig, *, model_path: str | Path, train_pairs: list[PreferencePair],
                 eval_pairs: list[PreferencePair], output_dir: str | Path,
                 extra_unpaired: list[UnpairedResponse] | None = None, hooks: TrainingHooks | None = None,
                 deadline: float | None = None, reference_cache_dir: str | Path | None = None,
                 dist: DistContext | None = None) -> PolicyTrainingResult:
    """Train, evaluate and save a policy under ``output_dir/model``.

    ``output_dir/checkpoints`` holds the checkpoints: when one exists the run
    resumes from it. ``extra_unpaired`` adds single responses to a kto run
    (e.g. 'both bad' ones, undesirable). ``reference_cache_dir`` is where
    reference log-probs are kept across runs (default ``output_dir/reference``).
    ``deadline`` (time.time()) is the soft time limit: past it, a checkpoint is
    written and TimeLimitReached raised.
    """
    hooks = hooks or TrainingHooks()
    dist = dist or DistContext()
    world = dist.world_size
    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    cache_dir = None
    if config.reference_cache:
        cache_dir = Path(reference_cache_dir) if reference_cache_dir else output_dir / "reference"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    # ---- model, data ------------------------------------------------------
    placement = placement_choose(config.device)
    tokenizer, model = policy_model_load(model_path, config, placement)
    if not config.qlora:  # a 4-bit model is placed by its load
        model.to(placement.device)
    model = dist.prepare_model(model, cuda=placement.is_cuda)  # fsdp: this rank's shard only
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    timings["load_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    hooks.on_heartbeat()
    # DPO has no use for ties (neither response is preferred).
    train_pairs = [p for p in train_pairs if not p.is_tie]
    eval_pairs = [p for p in eval_pairs if not p.is_tie]
    paired = config.paired
    if paired:
        train: list = policy_pairs_encode(train_pairs, tokenizer, config.max_length,
                                          on_progress=hooks.on_heartbeat)
    else:
        train = responses_encode(pairs_to_unpaired(train_pairs) + list(extra_unpaired or []), tokenizer,
                                 config.max_length, on_progress=hooks.on_heartbeat)
    test = policy_pairs_encode(eval_pairs, tokenizer, config.max_length, on_progress=hooks.on_heartbeat)
    timings["tokenize_s"] = time.perf_counter() - t
    if not train:
        raise ValueError("no training pairs (an empty snapshot, or only ties)")

    # ---- reference log-probs: now, while the weights are still the reference -----
    t = time.perf_counter()
    ref_train = ref_test = None
    cached = True
    needs_reference = config.needs_reference or not paired
    if needs_reference:
        model_key = model_fingerprint(model_path)

        def ref_of(sequences):
            nonlocal cached
            logps, hit = reference_logps(model, sequences, pad_id=pad_id, batch_size=config.eval_batch_size,
                                         placement=placement, model_key=model_key, cache_dir=cache_dir,
                                         on_batch=hooks.on_heartbeat, dist=dist)
            cached = cached and hit
            return logps

        if paired:
            ref_train = torch.stack([ref_of([p.chosen for p in train]),
                                     ref_of([p.rejected for p in train])], dim=1)
        else:
            ref_train = ref_of([e.sequence for e in train])
        if test:
            ref_test = torch.stack([ref_of([p.chosen for p in test]), ref_of([p.rejected for p in test])], 1)
    timings["reference_s"] = time.perf_counter() - t

    examples_per_step = config.batch_size * config.gradient_accumulation_steps * world
    total_steps = total_steps_for(n_train=len(train), epochs=config.epochs, max_steps=config.max_steps,
                                  pairs_per_step=examples_per_step)
    warmup = int(config.warmup_ratio * total_steps)
    optimizer = optimizer_build(model, config, fused=not dist.shards_weights)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(warmup, total_steps))
    # Backward, step and checkpoints: plain torch, or a DeepSpeed engine (it partitions
    # the model and the optimizer state now, under ZeRO).
    updates = dist.updates(model, optimizer, max_grad_norm=config.max_grad_norm,
                           micro_batch=config.batch_size, accumulation=config.gradient_accumulation_steps)

    # ---- resume -----------------------------------------------------------
    grouping: dict[str, Any] = {"lengths": example_lengths(train, config),
                                "group": config.batch_size * world} if config.group_by_length else {}
    step, cursor = 0, DataCursor(len(train), seed=config.seed, shuffle=config.shuffle, **grouping)
    alarm = DisplacementAlarm(config.displacement_window, config.displacement_min_drop)
    latest = checkpoint_latest(ckpt_dir)
    if latest is not None:
        state = updates.checkpoint_load(latest, scheduler=scheduler)
        step = state["step"]
        cursor = DataCursor(len(train), seed=config.seed, shuffle=config.shuffle,
                            epoch=state["data"]["epoch"], offset=state["data"]["offset"], **grouping)
        alarm.values = state.get("displacement", {}).get("values", [])
        alarm.first_step = state.get("displacement", {}).get("first_step")
    resumed_from = step
    where = placement.description + (f" x {world} processes" if world > 1 else "")
    hooks.on_start(total_steps=total_steps, start_step=step, device=where)

    def save_checkpoint(at: int) -> None:
        # A collective (rank 0 writes; under sharding every rank contributes its part).
        path = updates.checkpoint_save(ckpt_dir, step=at, scheduler=scheduler, keep=config.keep_checkpoints,
                                       state={"data": cursor.state(), "total_steps": total_steps,
                                              "world_size": world, "strategy": dist.strategy,
                                              "displacement": {"values": alarm.values,
                                                               "first_step": alarm.first_step}})
        if path is not None:
            hooks.on_checkpoint(step=at, path=path)

    def evaluate(at: int) -> dict:
        values = policy_evaluate(model, test, ref_test, config, pad_id=pad_id, placement=placement,
                                 on_batch=hooks.on_heartbeat)
        hooks.on_log(step=at, split="eval", values=values)
        return values

    # ---- loop -------------------------------------------------------------
    model.train()
    t_train = time.perf_counter()
    window = MetricWindow(placement.device)
    last_train: dict = {}
    while step < total_steps:
        global_micro = [cursor.take(config.batch_size * world)
                        for _ in range(config.gradient_accumulation_steps)]
        # Normalise by the weight of the whole global optimizer step (not per
        # micro-batch or rank): then batch 8 equals batch 1 x 8 accumulation steps
        # equals 2 ranks x batch 4.
        step_weight = sum(train[i].weight if config.use_weights else 1.0 for mb in global_micro for i in mb)
        micro = [dist.shard(mb) for mb in global_micro]
        for k, indices in enumerate(micro):
            items = [train[i] for i in indices]
            weights = torch.tensor([x.weight if config.use_weights else 1.0 for x in items],
                                   device=placement.device)
            ref = ref_train[indices] if ref_train is not None else None
            if paired:
                out = paired_step(model, items, ref, config, pad_id=pad_id, placement=placement)
            else:
                out = unpaired_step(model, items, ref, config, pad_id=pad_id, placement=placement, dist=dist)
            loss = (out["losses"] * weights).sum() / step_weight
            updates.backward(loss, last=k == len(micro) - 1)
            accumulate(window, out, loss, paired=paired)
        grad_norm = updates.step()  # summed over ranks, clipped, applied
        scheduler.step()
        step += 1
        window.steps += 1

        if step % config.logging_steps == 0 or step == total_steps:
            window_all_reduce(window, dist)
            values = window_values(window, config)
            fired = alarm.update(step, values.get("chosen_logratio"))
            if fired:
                logger.warning("likelihood displacement at step %s: the chosen log-ratio fell to %.3f "
                               "over the last %s logs", step, values["chosen_logratio"],
                               config.displacement_window)
            elapsed = max(time.perf_counter() - window.started, 1e-9)
            values |= {
                "likelihood_displacement": fired,
                "learning_rate": scheduler.get_last_lr()[0],
                "grad_norm": float(grad_norm),
                "tokens_per_s": window.tokens / elapsed,
                "sequences_per_s": window.sequences / elapsed,
                "memory_mb": _memory_mb(placement),
                "epoch": cursor.epoch + cursor.offset / cursor.n,
            }
            hooks.on_log(step=step, split="train", values=values)
            last_train = values
            window.reset()
        hooks.on_progress(step=step, total_steps=total_steps)
        if config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0:
            save_checkpoint(step)
        # Rank 0 evaluates (with sharded weights every rank runs the forwards with it).
        if config.eval_every_steps and step % config.eval_every_steps == 0 and step < total_steps and test \
                and (dist.is_main or dist.shards_weights):
            evaluate(step)
        # One verdict for all ranks (each reads its own clock; a rank stopping
        # alone would leave the others waiting in the next all-reduce).
        if deadline is not None and step < total_steps and dist.any(time.time() > deadline):
            save_checkpoint(step)
            raise TimeLimitReached(f"soft time limit reached at step {step}/{total_steps}")
    timings["train_s"] = time.perf_counter() - t_train
    if not (config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0):
        save_checkpoint(step)

    # ---- evaluate, save -----------------------------------------------------
    model_dir = output_dir / "model"
    t = time.perf_counter()
    eval_metrics = evaluate(step) if test and (dist.is_main or dist.shards_weights) else {}
    timings["eval_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = updates.consolidated(lambda: policy_model_load(model_path, config)[1])
    if not dist.is_main:  # rank 0 saves the (identical, or gathered) weights
        timings["total_s"] = time.perf_counter() - t0
        return PolicyTrainingResult(model_dir=model_dir, steps=step, eval_metrics={},
                                    train_metrics=last_train, timings=timings, device=where,
                                    resumed_from=resumed_from)
    if config.qlora:  # the adapters go onto the full-precision base, not the 4-bit one
        full_precision = replace(config, qlora=False)
        model = adapters_onto_full_base(model, lambda: policy_model_load(model_path, full_precision)[1])
    # Merged, so that transformers and vLLM load the folder as a plain model.
    final = model.merge_and_unload() if config.lora else model
    if hasattr(final.config, "use_cache"):
        final.config.use_cache = True  # for generation by whoever loads it
    final.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    (model_dir / "palate_policy.json").write_text(json.dumps(
        {"config": config.to_dict(), "eval": eval_metrics, "train": last_train, "steps": step,
         "base_model_path": str(model_path)}, indent=1))
    timings["save_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return PolicyTrainingResult(model_dir=model_dir, steps=step, eval_metrics=eval_metrics,
                                train_metrics=last_train, timings=timings, device=where,
                                resumed_from=resumed_from, displacement_step=alarm.first_step,
                                reference_cached=needs_reference and cached)


@torch.no_grad()
def policy_evaluate(model, pairs: list[EncodedPolicyPair], ref: torch.Tensor | None, config: PolicyConfig, *,
                    pad_id: int, placement: Placement, on_batch=None) -> dict:
    """Held-out pairs: mean loss, preference accuracy of the implicit rewards
    (chosen above rejected), margins, rewards, log-probs and lengths.

    Every loss is evaluated on pairs: kto scores each pair's chosen response as
    desirable and its rejected one as undesirable; sft reports its NLL as the
    loss and the per-token log-prob comparison as accuracy.
    """
    was_training = model.training
    model.eval()
    eval_config = config
    if config.loss == "sft":
        # Score both responses (reference-free rewards: β · mean log-prob).
        eval_config = PolicyConfig(**(config.to_dict() | {"loss": "orpo"}))
    window = MetricWindow(placement.device)
    sft_nll = 0.0
    for start in range(0, len(pairs), config.eval_batch_size):
        chunk = pairs[start:start + config.eval_batch_size]
        r = ref[start:start + len(chunk)] if ref is not None else None
        if config.paired:
            out = paired_step(model, chunk, r, eval_config, pad_id=pad_id, placement=placement)
        else:
            out = paired_step(model, chunk, r, PolicyConfig(**(config.to_dict() | {"loss": "sigmoid"})),
                              pad_id=pad_id, placement=placement)
            as_unpaired = [EncodedResponse(p.chosen, True, p.weight) for p in chunk] + \
                          [EncodedResponse(p.rejected, False, p.weight) for p in chunk]
            assert r is not None  # unpaired losses (kto) have a reference model
            ref_flat = torch.cat([r[:, 0], r[:, 1]])
            out["losses"] = unpaired_step(model, as_unpaired, ref_flat, config, pad_id=pad_id,
                                          placement=placement)["losses"]
        if config.loss == "sft":
            sft_nll += float((-out["chosen_logp"] / out["chosen_len"].clamp(min=1).to(
                out["chosen_logp"].device)).sum())
        accumulate(window, out, out["losses"].sum(), paired=True)
        window.steps += len(out["losses"])
        if on_batch is not None:
            on_batch()
    model.train(was_training)
    values = window_values(window, eval_config if config.paired else
                            PolicyConfig(**(config.to_dict() | {"loss": "sigmoid"})))
    if config.loss == "sft":
        values["loss"] = sft_nll / max(len(pairs), 1)
    values["pairs"] = len(pairs)
    return values
