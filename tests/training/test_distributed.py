"""Data-parallel training on the CPU: 2 real processes (torchrun, gloo) against 1.

The same global batch (2 ranks × 2 pairs vs 1 process × 4 pairs) must give the
same logged losses and the same final weights to 1e-5, for a reward run and a
DPO run; killing one rank fails the attempt, and the resumed run ends with the
weights of an uninterrupted one. No database: the launcher takes pairs and hooks.
"""

import json
import os
import shutil
import signal
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from training.distributed.launch import RankFailed, distributed_train
from training.distributed.resources import Resources
from training.hooks import StopTraining, TrainingHooks
from training.policy.config import policy_config_from_dict
from training.policy.synthetic import tiny_policy
from training.policy.trainer import train_policy
from training.reward.config import RewardConfig
from training.reward.trainer import train_reward_model
from training.synthetic import synthetic_pairs

TWO = Resources(strategy="ddp", processes_per_node=2)


class Log(TrainingHooks):
    def __init__(self):
        self.train, self.progress, self.started = [], [], []

    def on_start(self, *, total_steps, start_step, device):
        self.started.append((total_steps, start_step, device))

    def on_log(self, *, step, split, values):
        if split == "train":
            self.train.append((step, values["loss"]))

    def on_progress(self, *, step, total_steps):
        self.progress.append(step)


def weighted_pairs(n, seed):
    # Unequal pair weights: the normalisation must be by the global step's weight.
    return [p.__class__(**{**p.__dict__, "weight": float(w)})
            for p, w in zip(synthetic_pairs(n, seed=seed), np.linspace(0.2, 1.0, n), strict=True)]


def assert_same_weights(dir_a, dir_b, atol=1e-5):
    a, b = load_file(dir_a / "model.safetensors"), load_file(dir_b / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=atol, rtol=0, msg=name)


def assert_same_losses(log_a, log_b):
    assert [s for s, _ in log_a.train] == [s for s, _ in log_b.train]
    assert [v for _, v in log_a.train] == pytest.approx([v for _, v in log_b.train], abs=1e-5)


def reward_ranks_against_one(resources, model_dir, tmp_path, *, atol, **extra):
    """A 4-step reward run on ``resources`` (2 ranks x 2 pairs) against 1 process x 4
    pairs, checkpointing every 2 steps: same losses, weights within ``atol``, same
    accuracy, and a checkpoint at step 2 holding every trainable weight whole.
    Returns (the run's launch arguments, its result, its log)."""
    pairs = weighted_pairs(32, seed=3)
    common = dict(max_steps=4, learning_rate=1e-3, device="cpu", checkpoint_every_steps=2, logging_steps=1,
                  loss="bradley_terry_margin", center_rewards_coefficient=0.01, warmup_ratio=0.0, **extra)
    one_log, two_log = Log(), Log()
    one = train_reward_model(RewardConfig(batch_size=4, **common), model_path=model_dir,
                             train_pairs=pairs, eval_pairs=pairs[:6], output_dir=tmp_path / "one",
                             hooks=one_log)
    run = dict(trainer="reward", kind="reward", config=RewardConfig(batch_size=2, **common).to_dict(),
               resources=resources, model_path=model_dir, train_pairs=pairs, eval_pairs=pairs[:6])
    two = distributed_train(output_dir=tmp_path / "two", hooks=two_log, **run)
    assert two.steps == one.steps == 4 and "x 2 processes" in two.device
    assert_same_losses(one_log, two_log)
    assert_same_weights(one.model_dir, two.model_dir, atol=atol)
    assert two.eval_metrics["accuracy"] == pytest.approx(one.eval_metrics["accuracy"])

    # Rank 0 wrote the trainable weights whole, once.
    ckpt = tmp_path / "two" / "checkpoints" / "step-00000002"
    saved = load_file(ckpt / "model.safetensors")
    reference = load_file(one.model_dir / "model.safetensors")
    assert saved.keys() == reference.keys()
    assert all(saved[k].shape == reference[k].shape for k in saved)
    assert json.loads((ckpt / "trainer_state.json").read_text())["strategy"] == resources.strategy
    return run, two, two_log


def assert_resumes_exactly(run, result, log, tmp_path):
    """Drop the last checkpoint and the model of ``reward_ranks_against_one``'s run: the
    run continues at step 2 with the same losses and ends with the same weights."""
    shutil.rmtree(tmp_path / "two" / "checkpoints" / "step-00000004")
    shutil.rmtree(tmp_path / "two" / "model")
    again = Log()
    resumed = distributed_train(output_dir=tmp_path / "two", hooks=again, **run)
    assert resumed.resumed_from == 2 and again.started[0][1] == 2
    assert_same_weights(result.model_dir, resumed.model_dir, atol=0)
    assert [v for _, v in again.train] == [v for s, v in log.train if s > 2]


def assert_killed_rank_resumes_exactly(resources, model_dir, tmp_path, *, max_steps):
    """Kill rank 1 at step 7 of a reward run: the attempt fails with RankFailed, and
    the run resumed from its last checkpoint ends with the uninterrupted run's weights."""
    pairs = synthetic_pairs(48, seed=4)
    # Progress reaches the launcher through rank 0's events file, a moment after the
    # step: enough steps after the kill that the ranks cannot finish in that moment.
    config = RewardConfig(max_steps=max_steps, batch_size=2, learning_rate=2e-3, checkpoint_every_steps=3,
                          device="cpu", warmup_ratio=0.2, logging_steps=1).to_dict()
    run = dict(trainer="reward", kind="reward", config=config, resources=resources, model_path=model_dir,
               train_pairs=pairs, eval_pairs=pairs[:6])
    whole = distributed_train(output_dir=tmp_path / "whole", **run)
    killed_dir = tmp_path / "killed"
    with pytest.raises(RankFailed, match="2 processes"):
        distributed_train(output_dir=killed_dir, hooks=KillRankAt(killed_dir / "launch", 7), **run)
    checkpoints = sorted(p.name for p in (killed_dir / "checkpoints").glob("step-*"))
    assert checkpoints and checkpoints[-1] < f"step-{max_steps:08d}"  # it did not finish
    log = Log()
    resumed = distributed_train(output_dir=killed_dir, hooks=log, **run)
    assert log.started[0][1] % 3 == 0 and 3 <= log.started[0][1] < max_steps
    assert resumed.resumed_from == log.started[0][1]
    assert_same_weights(whole.model_dir, resumed.model_dir, atol=0)
    assert resumed.eval_metrics == whole.eval_metrics


def test_two_reward_ranks_equal_one_process_with_the_same_global_batch(tiny_model_dir, tmp_path):
    pairs = weighted_pairs(32, seed=3)
    common = dict(max_steps=4, learning_rate=1e-3, device="cpu", checkpoint_every_steps=0, logging_steps=1,
                  loss="bradley_terry_margin", center_rewards_coefficient=0.01, warmup_ratio=0.0)
    one_log, two_log = Log(), Log()
    one = train_reward_model(RewardConfig(batch_size=4, **common), model_path=tiny_model_dir,
                             train_pairs=pairs, eval_pairs=pairs[:6], output_dir=tmp_path / "one",
                             hooks=one_log)
    two = distributed_train(trainer="reward", kind="reward",
                            config=RewardConfig(batch_size=2, **common).to_dict(), resources=TWO,
                            model_path=tiny_model_dir, train_pairs=pairs, eval_pairs=pairs[:6],
                            output_dir=tmp_path / "two", hooks=two_log)
    assert two.steps == one.steps == 4
    assert "x 2 processes" in two.device and two_log.started[0][:2] == (4, 0)
    assert_same_losses(one_log, two_log)
    # 5e-5: at lr 1e-3 AdamW turns the ranks' other summation order on a ~0 gradient
    # into a step of up to lr (1.1e-5 measured on bert.embeddings.LayerNorm.weight).
    assert_same_weights(one.model_dir, two.model_dir, atol=5e-5)
    assert two.eval_metrics["accuracy"] == pytest.approx(one.eval_metrics["accuracy"])


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    return tiny_policy(tmp_path_factory.mktemp("policy") / "base")


def policy_config(**kw):
    # Adam divides each gradient by its running RMS, so an element whose gradient
    # is ~0 turns summation-order noise into a step of up to lr: a small lr keeps
    # that below the 1e-5 the weights are compared to (at 3e-3 one element of
    # 65K differed by 2e-5).
    base = {"device": "cpu", "learning_rate": 5e-4, "logging_steps": 1, "max_steps": 4, "max_length": 64,
            "warmup_ratio": 0.0, "checkpoint_every_steps": 0, "eval_batch_size": 4}
    return policy_config_from_dict(base | kw, kind="dpo")


def test_two_dpo_ranks_equal_one_process_with_the_same_global_batch(policy_dir, tmp_path):
    pairs = weighted_pairs(24, seed=5)
    one_log, two_log = Log(), Log()
    one = train_policy(policy_config(batch_size=4), model_path=policy_dir, train_pairs=pairs,
                       eval_pairs=pairs[:5], output_dir=tmp_path / "one", hooks=one_log)
    two = distributed_train(trainer="policy", kind="dpo", config=policy_config(batch_size=2).to_dict(),
                            resources=TWO, model_path=policy_dir, train_pairs=pairs, eval_pairs=pairs[:5],
                            output_dir=tmp_path / "two", hooks=two_log)
    assert two.steps == one.steps == 4
    # The first sigmoid DPO loss is ln 2 (policy = reference): the sharded
    # reference log-probs are the policy's own.
    assert two_log.train[0][1] == pytest.approx(np.log(2), abs=1e-4)
    assert_same_losses(one_log, two_log)
    assert_same_weights(one.model_dir, two.model_dir)
    assert two.eval_metrics["loss"] == pytest.approx(one.eval_metrics["loss"], abs=1e-5)
    # Rank 0 cached the reference log-probs it assembled from both ranks.
    assert list((tmp_path / "two" / "reference").glob("ref-*.safetensors"))


class KillRankAt(Log):
    """SIGKILL rank 1 once rank 0 reports ``step`` (a real process death mid-run)."""

    def __init__(self, launch_dir, step):
        super().__init__()
        self.launch_dir, self.step = launch_dir, step

    def on_progress(self, *, step, total_steps):
        super().on_progress(step=step, total_steps=total_steps)
        if step == self.step:
            os.kill(int((self.launch_dir / "rank-1.pid").read_text()), signal.SIGKILL)
            time.sleep(0.5)  # let rank 0 run into the dead peer rather than past the end


def test_killing_one_rank_fails_the_attempt_and_the_resumed_run_ends_with_the_same_weights(
        tiny_model_dir, tmp_path):
    assert_killed_rank_resumes_exactly(TWO, tiny_model_dir, tmp_path, max_steps=48)


class CancelAt(Log):
    """What RunHooks does when the run was cancelled: StopTraining from a hook."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_progress(self, *, step, total_steps):
        super().on_progress(step=step, total_steps=total_steps)
        if step == self.step:
            raise StopTraining("cancelled")


def test_a_cancel_stops_every_rank(tiny_model_dir, tmp_path):
    config = RewardConfig(max_steps=400, batch_size=2, device="cpu", checkpoint_every_steps=0,
                          logging_steps=50).to_dict()
    with pytest.raises(StopTraining):
        distributed_train(trainer="reward", kind="reward", config=config, resources=TWO,
                          model_path=tiny_model_dir, train_pairs=synthetic_pairs(32, seed=1),
                          eval_pairs=synthetic_pairs(4, seed=2), output_dir=tmp_path, hooks=CancelAt(2))
    # The launcher waited for the process group: no rank is left running.
    for pid_file in (tmp_path / "launch").glob("rank-*.pid"):
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)
    assert not (tmp_path / "model").exists()
