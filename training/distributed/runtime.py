"""One rank's view of a data-parallel run (torch.distributed directly; fsdp: sharding.py).

Data parallelism without a wrapper: every rank holds the whole model, reads
its slice of each global micro-batch, and after the accumulation steps the
gradients are summed across ranks (one all-reduce per flat bucket). With the
loss of each micro-batch divided by the weight of the whole GLOBAL optimizer
step, the summed gradient is exactly the one-process gradient of the same
global batch, so losses and weights agree to float rounding (the order of the
additions is all that differs).

Why not DistributedDataParallel: the policy trainer calls the model's body and
head separately (the head only on response positions) and the reference pass
runs with adapters disabled; DDP's reducer expects every forward through its
wrapper. One explicit all-reduce after the last micro-batch is what DDP's
``no_sync`` + final backward would do, without that constraint.

Single process: ``DistContext()`` is world 1 and every collective is a no-op,
so the trainers have one code path.

The optimizer step and the checkpoints go through ``DistContext.updates``:
``Updates`` here for single, ddp and fsdp (backward, gradient sum, clip, step;
rank 0 writes checkpoints), ``DeepSpeedUpdates`` (deepspeed_engine.py, loaded
only then) for the DeepSpeed ZeRO strategies, whose engine owns all of that.
"""

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from training.checkpoints import checkpoint_load, checkpoint_save

if TYPE_CHECKING:
    from training.distributed.deepspeed_engine import DeepSpeedUpdates

DEEPSPEED_STAGES = {"deepspeed-zero2": 2, "deepspeed-zero3": 3}


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # "fsdp": the model is sharded (training/distributed/sharding.py); "deepspeed-zero2/3":
    # a DeepSpeed engine steps it (training/distributed/deepspeed_engine.py).
    strategy: str = "ddp"

    @property
    def shards_weights(self) -> bool:
        """Each rank holds a shard of the weights, so every forward is a collective:
        every rank must run the same ones (evaluation included)."""
        return self.active and self.strategy in ("fsdp", "deepspeed-zero3")

    @property
    def fsdp(self) -> bool:
        """torch FSDP shards the model (training/distributed/sharding.py)."""
        return self.active and self.strategy == "fsdp"

    @property
    def deepspeed_stage(self) -> int:
        """The ZeRO stage of a DeepSpeed run, else 0."""
        return DEEPSPEED_STAGES.get(self.strategy, 0) if self.active else 0

    def prepare_model(self, model: torch.nn.Module, *, cuda: bool) -> torch.nn.Module:
        """The model as this strategy trains it: sharded under fsdp, else as it is
        (DeepSpeed partitions it later, in ``updates``, when it has the optimizer)."""
        if not self.fsdp:
            return model
        from training.distributed.sharding import model_shard  # FSDP: loaded only when a run is sharded

        return model_shard(model, cuda=cuda)

    def updates(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, max_grad_norm: float,
                micro_batch: int, accumulation: int) -> "Updates | DeepSpeedUpdates":
        """What steps ``model`` with ``optimizer`` (built on the trainable parameters,
        before any checkpoint is loaded): a DeepSpeed engine under deepspeed-zero2/3,
        else plain torch (today's loop)."""
        if self.deepspeed_stage:
            # DeepSpeed: loaded only when a run asks for it (not a runtime requirement).
            from training.distributed.deepspeed_engine import DeepSpeedUpdates

            return DeepSpeedUpdates(self, model, optimizer, max_grad_norm=max_grad_norm,
                                    micro_batch=micro_batch, accumulation=accumulation)
        return Updates(self, model, optimizer, max_grad_norm=max_grad_norm)

    def gathered_states(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple | None:
        """Under fsdp, (trainable parameters, optimizer state) gathered whole on rank 0
        for a checkpoint (a collective: every rank calls it); else None (rank 0
        holds them already)."""
        if not self.fsdp:
            return None
        # FSDP: loaded only when a run is sharded.
        from training.distributed.sharding import gathered_model_state, gathered_optimizer_state

        return gathered_model_state(model, trainable_only=True), gathered_optimizer_state(model, optimizer)

    def consolidated(self, model: torch.nn.Module, fresh) -> torch.nn.Module | None:
        """Under fsdp, the trained model whole on rank 0: ``fresh()`` builds an unsharded
        copy (on the CPU) that takes the gathered weights; None on the other ranks.
        Unsharded: the model itself."""
        if not self.fsdp:
            return model
        # FSDP: loaded only when a run is sharded.
        from training.distributed.sharding import gathered_model_state

        whole = gathered_model_state(model, trainable_only=False)
        if not self.is_main:
            return None
        copy = fresh()
        copy.load_state_dict(whole)
        return copy

    def clip_grad_norm_(self, params: list[torch.nn.Parameter], max_norm: float) -> float:
        """Clip to ``max_norm`` (0: measure only) and return the total norm over all
        ranks' shards (a sharded gradient's norm is a distributed tensor)."""
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
        if hasattr(norm, "full_tensor"):
            norm = norm.full_tensor()
        return float(norm)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def shard(self, indices: list[int]) -> list[int]:
        """This rank's contiguous slice of a global micro-batch (equal slices: the
        caller takes ``per-device batch × world`` indices)."""
        if not self.active:
            return indices
        per = len(indices) // self.world_size
        return indices[self.rank * per:(self.rank + 1) * per]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def all_reduce_(self, tensor: torch.Tensor, op=dist.ReduceOp.SUM) -> torch.Tensor:
        if self.active:
            dist.all_reduce(tensor, op=op)
        return tensor

    def sum_numbers(self, *values: float) -> list[float]:
        """Python numbers summed over ranks (token and example counts of a log window)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one: decisions that must not diverge
        (the soft deadline is read from each rank's own clock)."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    @property
    def device(self) -> torch.device:
        # NCCL reduces CUDA tensors only; gloo reduces CPU ones.
        if self.active and dist.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def gradients_sum_(self, params: list[torch.nn.Parameter]) -> None:
        """Sum the gradients of ``params`` over ranks, in flat buckets (one
        collective per ~25M elements instead of one per tensor). Under fsdp the
        backward pass already reduce-scattered their MEAN into each rank's shard:
        times the ranks is the sum."""
        if not self.active:
            return
        if self.fsdp:
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(self.world_size)
            return
        grads = [p.grad for p in params if p.grad is not None]
        bucket: list[torch.Tensor] = []
        size = 0
        for g in grads + [None]:
            if g is not None:
                bucket.append(g)
                size += g.numel()
            if bucket and (g is None or size >= 25_000_000):
                flat = torch._utils._flatten_dense_tensors(bucket)
                dist.all_reduce(flat)
                for dst, src in zip(bucket, torch._utils._unflatten_dense_tensors(flat, bucket),
                                    strict=True):
                    dst.copy_(src)
                bucket, size = [], 0


class Updates:
    """Backward, optimizer step and checkpoints in plain torch (single, ddp, fsdp).

    ``step`` sums the gradients over ranks (the losses are normalised for a sum),
    clips, steps and clears them; checkpoints are written once, by rank 0 (under
    fsdp gathered whole first), and read back by every rank.
    """

    def __init__(self, dist: DistContext, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *,
                 max_grad_norm: float):
        self.dist, self.model, self.optimizer = dist, model, optimizer
        self.max_grad_norm = max_grad_norm
        self.params = [p for p in model.parameters() if p.requires_grad]

    def backward(self, loss: torch.Tensor, *, last: bool) -> None:
        """``loss``: this rank's share of the global step's loss; ``last``: the step's
        last micro-batch (the sum over ranks waits for ``step``)."""
        loss.backward()

    def step(self) -> float:
        """Apply the step's gradients; the total gradient norm before clipping."""
        self.dist.gradients_sum_(self.params)  # every rank now holds the global step's gradient
        grad_norm = self.dist.clip_grad_norm_(self.params, self.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def checkpoint_save(self, directory: Path, *, step: int, scheduler, state: dict,
                        keep: int) -> Path | None:
        """A collective: every rank calls it. The checkpoint's path on rank 0, None elsewhere."""
        # Every rank holds the same weights and optimizer state (under fsdp, its
        # shard: gathered whole on rank 0 first): rank 0 writes them once; the
        # others wait, so none runs ahead of a checkpoint being written.
        gathered = self.dist.gathered_states(self.model, self.optimizer)
        path = None
        if self.dist.is_main:
            path = checkpoint_save(directory, step=step, model=self.model, optimizer=self.optimizer,
                                   scheduler=scheduler, state=state, keep=keep, gathered=gathered)
        self.dist.barrier()
        return path

    def checkpoint_load(self, path: Path, *, scheduler) -> dict:
        """Every rank restores the checkpoint; returns the trainer state."""
        return checkpoint_load(path, model=self.model, optimizer=self.optimizer, scheduler=scheduler)

    def consolidated(self, fresh) -> torch.nn.Module | None:
        """The trained model whole on rank 0 (a collective), None on the other ranks'
        sharded runs; see DistContext.consolidated."""
        return self.dist.consolidated(self.model, fresh)


def dist_from_env(strategy: str = "ddp") -> DistContext:
    """The context torchrun describes in the environment (RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR/PORT); joins the process group on first call.
    Without those variables: a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        # A rank that dies leaves the others blocked in a collective; torchrun
        # notices the death and stops them, the timeout is only the last resort.
        dist.init_process_group(backend="nccl" if cuda else "gloo",
                                timeout=datetime.timedelta(minutes=30))
    return DistContext(rank=rank, world_size=world, local_rank=local, strategy=strategy)
