"""Run by test_memory_plan.py in a fresh process: train a policy for 2 steps and print
the peak resident memory above what the process held before (VmHWM reset first)
next to the planner's estimate for the same run on the CPU (float32, no overhead).

    python tests/training/memory_probe.py MODEL_DIR OUT_DIR BATCH MAX_LENGTH CHECKPOINTING
"""

import json
import sys
from pathlib import Path

import torch

from training.distributed.memory import ModelShape, memory_plan
from training.policy.config import policy_config_from_dict
from training.policy.trainer import train_policy
from training.reward.data import PreferencePair
from training.synthetic import BAD, FILLER, GOOD


def status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024  # kB -> MB
    raise KeyError(key)


def main(model_dir: str, out_dir: str, batch: int, max_length: int, checkpointing: bool) -> dict:
    torch.set_num_threads(1)
    words = GOOD + BAD + FILLER
    # Responses far longer than max_length: every sequence is exactly max_length tokens,
    # the planner's worst case.
    pairs = [PreferencePair([{"role": "user",
                              "content": " ".join(words[(i + j) % len(words)] for j in range(20))}],
                            " ".join(words[(i * 3 + j) % len(words)] for j in range(400)),
                            " ".join(words[(i * 5 + j) % len(words)] for j in range(400)))
             for i in range(batch * 2)]
    config = policy_config_from_dict({
        "device": "cpu", "batch_size": batch, "max_steps": 2, "max_length": max_length,
        "checkpoint_every_steps": 0, "reference_cache": False, "eval_batch_size": batch,
        "gradient_checkpointing": checkpointing}, kind="dpo")
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    base = status("VmRSS:")
    train_policy(config, model_path=model_dir, train_pairs=pairs, eval_pairs=pairs[:2], output_dir=out_dir)
    measured = status("VmHWM:") - base
    shape = ModelShape.from_config(json.loads((Path(model_dir) / "config.json").read_text()), causal=True)
    plan = memory_plan(shape, sequences=2 * batch, max_length=max_length, activation_bytes=4, overhead_gb=0,
                       gradient_checkpointing=checkpointing)
    return {"measured_mb": measured, "planned_mb": plan.total_gb * 1024, "breakdown": plan.breakdown()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")))
