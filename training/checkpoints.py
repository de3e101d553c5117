"""Training checkpoints: atomic, no pickles of code.

A checkpoint is a folder ``step-00000120/`` holding

- ``model.safetensors``: the trainable parameters (all of them for full
  fine-tuning, only the adapters and head for LoRA; frozen weights come back
  from the base model),
- ``optimizer.pt``: optimizer and scheduler state, ``rng.pt``: RNG states —
  plain tensors and numbers, read back with ``torch.load(weights_only=True)``,
  which refuses to unpickle anything else,
- ``trainer_state.json``: step, data position and the run's bookkeeping,
- ``deepspeed/`` (DeepSpeed runs only): the engine's own checkpoint, one file
  of optimizer state per rank (training/distributed/deepspeed_engine.py); then
  ``optimizer.pt`` holds the scheduler only.

It is written under a temporary name and renamed into place, so a kill at any
moment leaves either the previous checkpoint or the new one, never half of one.
"""

import json
import os
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

PREFIX = "step-"
STATE_FILE = "trainer_state.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def rng_restore(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # named_parameters() yields a tied parameter once: safetensors refuses
    # two names for one storage.
    return {name: p.detach().to("cpu").contiguous()
            for name, p in model.named_parameters() if p.requires_grad}


def checkpoint_save(directory: Path, *, step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler, state: dict, keep: int = 2,
                    gathered: tuple[dict, dict] | None = None, engine_files: Path | None = None) -> Path:
    """Write checkpoint ``step`` under ``directory`` atomically; keep the newest ``keep``.

    ``gathered``: (trainable parameters, optimizer state by parameter name) of a
    sharded model, gathered whole on this rank (training/distributed/sharding.py).
    ``engine_files``: a folder DeepSpeed's ranks wrote their states into, moved
    into the checkpoint as ``deepspeed/`` (the optimizer state is there).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{PREFIX}{step:08d}"
    tmp = directory / f".tmp-{PREFIX}{step:08d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    params, optim = gathered if gathered else (trainable_state(model), optimizer.state_dict())
    save_file(params, tmp / "model.safetensors", metadata={"step": str(step)})
    keys = "deepspeed" if engine_files else "names" if gathered else "indices"
    torch.save({"optimizer": {} if engine_files else optim, "scheduler": scheduler.state_dict(),
                "optimizer_keys": keys}, tmp / "optimizer.pt")
    torch.save(rng_state(), tmp / "rng.pt")
    (tmp / STATE_FILE).write_text(json.dumps(state | {"step": step}, indent=1, sort_keys=True))
    for name in ("model.safetensors", "optimizer.pt", "rng.pt", STATE_FILE):
        _fsync_file(tmp / name)
    if engine_files:
        os.replace(engine_files, tmp / "deepspeed")  # same filesystem: a rename
    _fsync_dir(tmp)
    if final.exists():
        # A resumed run re-reaching a step it had saved: move the old one aside first
        # (a folder cannot be replaced by rename while it has files in it).
        stale = directory / f".old-{final.name}-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(tmp, final)
    _fsync_dir(directory)
    for old in checkpoints_list(directory)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints_list(directory: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir()
             if p.is_dir() and p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def checkpoint_latest(directory: Path) -> Path | None:
    found = checkpoints_list(directory)
    return found[-1] if found else None


def checkpoint_load(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler) -> dict:
    """Restore model, optimizer, scheduler and RNG from ``path``; return the trainer state."""
    # FSDP: loaded only when a run is sharded.
    from training.distributed.sharding import is_sharded, states_load

    path = Path(path)
    params = load_file(path / "model.safetensors")
    # weights_only=True: tensors, numbers, strings and containers only — no code.
    opt = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
    if opt.get("optimizer_keys") == "deepspeed":
        raise ValueError(f"checkpoint {path} was written by a DeepSpeed run: resume it with the same "
                         "strategy")
    by_name = opt.get("optimizer_keys", "indices") == "names"
    if is_sharded(model) != by_name:
        writer = "an fsdp" if by_name else "a ddp or single-process"
        raise ValueError(f"checkpoint {path} was written by {writer} run: resume it with the same strategy")
    if by_name:
        states_load(model, optimizer, params, opt["optimizer"])  # every rank keeps its shard
    else:
        missing = [name for name, p in model.named_parameters() if p.requires_grad and name not in params]
        if missing:
            raise ValueError(f"checkpoint {path} lacks trainable parameters: {missing[:5]}")
        with torch.no_grad():
            named = dict(model.named_parameters())
            for name, tensor in params.items():
                named[name].copy_(tensor)
        optimizer.load_state_dict(opt["optimizer"])
    return trainer_state_load(path, scheduler=scheduler, saved=opt)


def trainer_state_load(path: Path, *, scheduler, saved: dict) -> dict:
    """Restore the scheduler (from ``saved``, the checkpoint's optimizer.pt) and the RNG
    from checkpoint ``path``; return the trainer state."""
    path = Path(path)
    scheduler.load_state_dict(saved["scheduler"])
    rng_restore(torch.load(path / "rng.pt", map_location="cpu", weights_only=True))
    return json.loads((path / STATE_FILE).read_text())
