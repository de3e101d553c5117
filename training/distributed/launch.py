"""The worker's side of a distributed run: start the ranks, relay, stop, judge.

    worker (Celery, Django) ──writes──► inputs/*.jsonl + spec.json
        └─ accelerate launch --config_file accelerate/<strategy>.yaml --num_processes P×N
             --num_machines N [--machine_rank …] -m training.distributed.entry spec.json
             (its own process group; accelerate runs torchrun underneath)
        ◄──tails── launch/events-*.jsonl  (rank 0: start, log, progress, checkpoint,
                                           result | time_limit | error)

- Progress, metrics and checkpoints arrive as events and go to the caller's
  ``TrainingHooks`` (the run's row); between events the worker heartbeats the
  row itself, which is also where a cancel is noticed: StopTraining from a hook
  sends SIGTERM to the whole process group (then SIGKILL after a grace period).
- torchrun runs with ``--max_restarts 0``: when any rank dies it stops the
  others and exits non-zero, and the attempt fails with RankFailed (the log's
  tail in the message). Resuming the run starts new ranks that continue from
  the last checkpoint rank 0 wrote.

No Django here either: the service (training/services/runs.py) passes pairs
and hooks, so tests drive real multi-process runs without a database.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from training.distributed.resources import STRATEGIES, Resources, unavailable
from training.hooks import TimeLimitReached, TrainingHooks

REPO_ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 30


class RankFailed(RuntimeError):
    """A rank (or torchrun) exited with an error: the attempt failed; resume continues
    from the last checkpoint."""


class StrategyUnavailable(RuntimeError):
    """This worker lacks a package the run's strategy needs (DeepSpeed): nothing was
    started; the message names the package and its install line."""


ACCELERATE_CONFIGS = Path(__file__).resolve().parent / "accelerate"


def accelerate_config_path(strategy: str) -> Path:
    return ACCELERATE_CONFIGS / STRATEGIES[strategy].accelerate_config


def launch_command(resources: Resources, spec_path: Path, *, machine_rank: int = 0) -> list[str]:
    """The ``accelerate launch`` line for machine ``machine_rank`` (torchrun runs
    underneath). The other machines of a multi-node run run the same line with
    their own ``--machine_rank`` (``python -m training.distributed.node``)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch",
           "--config_file", str(accelerate_config_path(resources.strategy)),
           # accelerate counts processes over all machines
           "--num_processes", str(resources.world_size), "--num_machines", str(resources.nodes),
           "--max_restarts", "0", "--monitor_interval", "1"]
    if resources.nodes == 1:
        cmd += ["--main_process_port", "0"]  # 0: a free local port for the rendezvous
    else:
        cmd += ["--machine_rank", str(machine_rank), "--main_process_ip", resources.master_addr,
                "--main_process_port", str(resources.master_port)]
    return cmd + ["-m", "training.distributed.entry", str(spec_path)]


def launch_env() -> dict[str, str]:
    """The ranks' environment: our modules importable, nothing of Django."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the ranks import nothing of Django
    # accelerate's launcher warns about every value the config leaves to defaults
    env.setdefault("ACCELERATE_LOG_LEVEL", "error")
    return env


def _write_jsonl(path: Path, rows: list) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(asdict(row)) + "\n")
    return str(path)


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:]


def distributed_train(*, trainer: str, kind: str, config: dict, resources: Resources, model_path: str | Path,
                      train_pairs: list, eval_pairs: list, output_dir: str | Path,
                      hooks: TrainingHooks | None = None, deadline: float | None = None,
                      extra_unpaired: list | None = None, reference_cache_dir: str | Path | None = None,
                      poll_seconds: float = 0.2):
    """Run ``trainer`` ('reward' or 'policy') on ``resources.world_size`` ranks; return
    its result (RewardTrainingResult or PolicyTrainingResult) as rank 0 reported it."""
    missing = unavailable(STRATEGIES[resources.strategy])
    if missing:
        raise StrategyUnavailable(missing)
    hooks = hooks or TrainingHooks()
    output_dir = Path(output_dir)
    launch_dir = output_dir / "launch"
    inputs = output_dir / "inputs"
    launch_dir.mkdir(parents=True, exist_ok=True)
    inputs.mkdir(parents=True, exist_ok=True)
    for stale in launch_dir.glob("rank-*.pid"):
        stale.unlink()
    stamp = f"{int(time.time() * 1000)}-{os.getpid()}"
    events = launch_dir / f"events-{stamp}.jsonl"
    events.touch()
    spec = {"trainer": trainer, "kind": kind, "config": config, "model_path": str(model_path),
            "output_dir": str(output_dir), "deadline": deadline, "events": str(events),
            "train": _write_jsonl(inputs / "train.jsonl", train_pairs),
            "eval": _write_jsonl(inputs / "eval.jsonl", eval_pairs),
            "extra_unpaired": _write_jsonl(inputs / "extra_unpaired.jsonl", extra_unpaired or []),
            "reference_cache_dir": str(reference_cache_dir) if reference_cache_dir else None,
            "resources": resources.to_dict()}
    spec_path = launch_dir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    log_path = launch_dir / f"log-{stamp}.txt"
    with open(log_path, "wb") as log:
        # The command is ours (this interpreter, accelerate, our module; the
        # master address was validated as a host name); no other user text in it.
        process = subprocess.Popen(launch_command(resources, spec_path), cwd=REPO_ROOT, env=launch_env(),  # noqa: S603
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    outcome: dict | None = None
    try:
        with open(events, encoding="utf-8") as feed:
            buffer = ""
            while True:
                done = process.poll() is not None
                buffer += feed.read()
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    if line.strip():
                        outcome = _dispatch(json.loads(line), hooks) or outcome
                if done:
                    break
                hooks.on_heartbeat()  # the worker is alive; a cancel surfaces here as StopTraining
                time.sleep(poll_seconds)
    except BaseException:
        _stop(process)  # cancel (StopTraining), a hook's error, or the worker itself stopping
        raise
    code = process.returncode
    if outcome and outcome["event"] == "time_limit":
        raise TimeLimitReached(outcome["message"])
    if code != 0 or not outcome or outcome["event"] != "result":
        reason = outcome["message"] if outcome and outcome["event"] == "error" else f"exit status {code}"
        raise RankFailed(f"distributed run failed ({resources.world_size} processes, {reason}); "
                         f"resume continues from the last checkpoint. Log tail:\n{_tail(log_path)}")
    return _result(trainer, outcome["result"])


def _dispatch(event: dict, hooks: TrainingHooks) -> dict | None:
    kind = event["event"]
    if kind == "heartbeat":
        hooks.on_heartbeat()
    elif kind == "start":
        hooks.on_start(total_steps=event["total_steps"], start_step=event["start_step"],
                       device=event["device"])
    elif kind == "log":
        hooks.on_log(step=event["step"], split=event["split"], values=event["values"])
    elif kind == "progress":
        hooks.on_progress(step=event["step"], total_steps=event["total_steps"])
    elif kind == "checkpoint":
        hooks.on_checkpoint(step=event["step"], path=Path(event["path"]))
    elif kind in ("result", "time_limit", "error"):
        return event
    return None


def _result(trainer: str, data: dict):
    data = {**data, "model_dir": Path(data["model_dir"])}
    if trainer == "reward":
        # The training stack (torch): worker-side only.
        from training.reward.trainer import RewardTrainingResult

        return RewardTrainingResult(**data)
    from training.policy.trainer import PolicyTrainingResult  # the training stack (torch): worker-side only

    return PolicyTrainingResult(**data)
