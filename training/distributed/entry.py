"""What every rank of a distributed run executes: ``python -m training.distributed.entry SPEC.json``.

torchrun starts it once per process with RANK/WORLD_SIZE/LOCAL_RANK set. No
Django: the worker wrote the pairs and the configuration to files
(training/distributed/launch.py), and rank 0 answers through an append-only
JSON-lines events file that the worker reads and applies to the run's row.
Every rank writes its pid next to it, so an operator (or a test) can find one.
"""

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from training.hooks import TimeLimitReached, TrainingHooks
from training.policy.config import policy_config_from_dict
from training.reward.config import config_from_dict


class EventHooks(TrainingHooks):
    """Rank 0's callbacks, one JSON line each (flushed: the worker tails the file)."""

    def __init__(self, path: Path, *, heartbeat_every: float = 1.0):
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run's lifetime
        self.heartbeat_every = heartbeat_every
        self.last = 0.0

    def emit(self, event: str, **fields) -> None:
        self.file.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self.file.flush()
        self.last = time.monotonic()

    def on_heartbeat(self) -> None:
        if time.monotonic() - self.last >= self.heartbeat_every:
            self.emit("heartbeat")

    def on_start(self, *, total_steps: int, start_step: int, device: str) -> None:
        self.emit("start", total_steps=total_steps, start_step=start_step, device=device)

    def on_log(self, *, step: int, split: str, values: dict) -> None:
        self.emit("log", step=step, split=split, values=values)

    def on_progress(self, *, step: int, total_steps: int) -> None:
        self.emit("progress", step=step, total_steps=total_steps)

    def on_checkpoint(self, *, step: int, path: Path) -> None:
        self.emit("checkpoint", step=step, path=str(path))


def _read_jsonl(path: str, cls) -> list:
    if not path:
        return []
    with open(path, encoding="utf-8") as f:
        return [cls(**json.loads(line)) for line in f if line.strip()]


def _train(spec: dict, **common) -> dict:
    """Run the spec's trainer on this rank; its result as a dict."""
    if spec["trainer"] == "reward":
        from training.reward.data import PreferencePair  # the training stack (torch): worker-side only
        from training.reward.trainer import train_reward_model

        return asdict(train_reward_model(config_from_dict(spec["config"]),
                                         train_pairs=_read_jsonl(spec["train"], PreferencePair),
                                         eval_pairs=_read_jsonl(spec["eval"], PreferencePair), **common))
    # The training stack (torch): worker-side only.
    from training.policy.data import PreferencePair as PolicyPair
    from training.policy.data import UnpairedResponse
    from training.policy.trainer import train_policy

    return asdict(train_policy(policy_config_from_dict(spec["config"], kind=spec["kind"]),
                               train_pairs=_read_jsonl(spec["train"], PolicyPair),
                               eval_pairs=_read_jsonl(spec["eval"], PolicyPair),
                               extra_unpaired=_read_jsonl(spec.get("extra_unpaired", ""), UnpairedResponse),
                               reference_cache_dir=spec.get("reference_cache_dir"), **common))


def run(spec: dict) -> int:
    from training.distributed.runtime import dist_from_env  # the training stack (torch): worker-side only

    dist = dist_from_env(spec.get("resources", {}).get("strategy", "ddp"))
    launch_dir = Path(spec["events"]).parent
    (launch_dir / f"rank-{dist.rank}.pid").write_text(str(os.getpid()))
    # Rank 0 reports; the other ranks train with no-op callbacks.
    events = EventHooks(Path(spec["events"])) if dist.is_main else None
    try:
        result = _train(spec, model_path=spec["model_path"], output_dir=spec["output_dir"],
                        hooks=events or TrainingHooks(), deadline=spec.get("deadline"), dist=dist)
    except TimeLimitReached as error:  # every rank got the same verdict; the checkpoint is written
        if events:
            events.emit("time_limit", message=str(error))
        return 0
    except Exception as error:
        if events:
            events.emit("error", message=f"{type(error).__name__}: {error}")
        raise
    if events:
        events.emit("result", result=result)
    dist.barrier()  # nobody tears the group down while rank 0 still saves
    if dist.active:
        import torch.distributed  # the torch stack: loaded where a model is used, never in the web process

        torch.distributed.destroy_process_group()
    return 0

if __name__ == "__main__":
    sys.exit(run(json.loads(Path(sys.argv[1]).read_text())))
