"""DeepSpeed ZeRO-2 and ZeRO-3 (strategies deepspeed-zero2/3, ``accelerate launch``) on the CPU.

2 real ranks (gloo; DeepSpeed's CPU accelerator) against 1 process with the
same global batch, with 2 accumulation steps (the engine's boundary is the
trainer's): the logged losses agree to 1e-5 and the final weights to 5e-5 (the
tolerance of the fsdp tests, for the same reason: the ranks add in another
order) for a reward run and a DPO run under each stage. The checkpoint holds
the trainable weights whole and the engine's partitions; a run resumed from it
ends with exactly the weights of the uninterrupted run, and so does one resumed
after a rank was killed mid-run (the attempt fails with RankFailed). No
database: the launcher takes pairs and hooks.
"""

import json
import shutil

import numpy as np
import pytest
from safetensors.torch import load_file

from tests.packages import installed
from tests.training.test_distributed import (
    KillRankAt,
    Log,
    assert_same_losses,
    assert_same_weights,
    policy_config,
    weighted_pairs,
)
from training.distributed.launch import RankFailed, distributed_train
from training.distributed.resources import Resources
from training.policy.synthetic import tiny_policy
from training.policy.trainer import train_policy
from training.reward.config import RewardConfig
from training.reward.trainer import train_reward_model
from training.synthetic import synthetic_pairs

installed("deepspeed", "DS_BUILD_OPS=0 pip install --no-build-isolation -r requirements-deepspeed.txt")

STAGES = ["deepspeed-zero2", "deepspeed-zero3"]
WEIGHTS_ATOL = 5e-5


def two_ranks(strategy: str) -> Resources:
    return Resources(strategy=strategy, processes_per_node=2)


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    return tiny_policy(tmp_path_factory.mktemp("policy") / "base")


@pytest.mark.parametrize("strategy", STAGES)
def test_two_deepspeed_reward_ranks_equal_one_process_and_resume_exactly(strategy, tiny_model_dir, tmp_path):
    pairs = weighted_pairs(32, seed=3)
    common = dict(max_steps=4, learning_rate=1e-3, device="cpu", checkpoint_every_steps=2, logging_steps=1,
                  loss="bradley_terry_margin", center_rewards_coefficient=0.01, warmup_ratio=0.0,
                  gradient_accumulation_steps=2)
    one_log, two_log = Log(), Log()
    one = train_reward_model(RewardConfig(batch_size=4, **common), model_path=tiny_model_dir,
                             train_pairs=pairs, eval_pairs=pairs[:6], output_dir=tmp_path / "one",
                             hooks=one_log)
    run = dict(trainer="reward", kind="reward", config=RewardConfig(batch_size=2, **common).to_dict(),
               resources=two_ranks(strategy), model_path=tiny_model_dir, train_pairs=pairs,
               eval_pairs=pairs[:6])
    two = distributed_train(output_dir=tmp_path / "two", hooks=two_log, **run)
    assert two.steps == one.steps == 4 and "x 2 processes" in two.device
    assert_same_losses(one_log, two_log)
    assert_same_weights(one.model_dir, two.model_dir, atol=WEIGHTS_ATOL)
    assert two.eval_metrics["accuracy"] == pytest.approx(one.eval_metrics["accuracy"])

    # The checkpoint: the trainable weights whole (rank 0 wrote them once) and the
    # engine's own files, one optimizer partition per rank.
    ckpt = tmp_path / "two" / "checkpoints" / "step-00000002"
    saved = load_file(ckpt / "model.safetensors")
    reference = load_file(one.model_dir / "model.safetensors")
    assert saved.keys() == reference.keys()
    assert all(saved[k].shape == reference[k].shape for k in saved)
    assert json.loads((ckpt / "trainer_state.json").read_text())["strategy"] == strategy
    assert len(list((ckpt / "deepspeed" / "engine").glob("*optim_states.pt"))) == 2
    assert not list((tmp_path / "two" / "checkpoints").glob(".deepspeed-*"))  # staging moved in

    # Resume: drop the last checkpoint and the model; the run continues at step 2.
    shutil.rmtree(tmp_path / "two" / "checkpoints" / "step-00000004")
    shutil.rmtree(tmp_path / "two" / "model")
    log = Log()
    resumed = distributed_train(output_dir=tmp_path / "two", hooks=log, **run)
    assert resumed.resumed_from == 2 and log.started[0][1] == 2
    assert_same_weights(two.model_dir, resumed.model_dir, atol=0)
    assert [v for _, v in log.train] == [v for s, v in two_log.train if s > 2]


@pytest.mark.parametrize("strategy", STAGES)
def test_two_deepspeed_dpo_ranks_equal_one_process_with_the_same_global_batch(strategy, policy_dir, tmp_path):
    pairs = weighted_pairs(24, seed=5)
    one_log, two_log = Log(), Log()
    one = train_policy(policy_config(batch_size=4), model_path=policy_dir, train_pairs=pairs,
                       eval_pairs=pairs[:5], output_dir=tmp_path / "one", hooks=one_log)
    two = distributed_train(trainer="policy", kind="dpo", config=policy_config(batch_size=2).to_dict(),
                            resources=two_ranks(strategy), model_path=policy_dir, train_pairs=pairs,
                            eval_pairs=pairs[:5], output_dir=tmp_path / "two", hooks=two_log)
    assert two.steps == one.steps == 4
    assert two_log.train[0][1] == pytest.approx(np.log(2), abs=1e-4)  # the reference = the initial policy
    assert_same_losses(one_log, two_log)
    assert_same_weights(one.model_dir, two.model_dir, atol=WEIGHTS_ATOL)
    assert two.eval_metrics["loss"] == pytest.approx(one.eval_metrics["loss"], abs=1e-5)


@pytest.mark.parametrize("strategy", STAGES)
def test_killing_a_deepspeed_rank_fails_the_attempt_and_the_resumed_run_ends_with_the_same_weights(
        strategy, tiny_model_dir, tmp_path):
    pairs = synthetic_pairs(48, seed=4)
    # Enough steps after the kill that the ranks cannot finish before rank 0 notices.
    config = RewardConfig(max_steps=24, batch_size=2, learning_rate=2e-3, checkpoint_every_steps=3,
                          device="cpu", warmup_ratio=0.2, logging_steps=1).to_dict()
    run = dict(trainer="reward", kind="reward", config=config, resources=two_ranks(strategy),
               model_path=tiny_model_dir, train_pairs=pairs, eval_pairs=pairs[:6])
    whole = distributed_train(output_dir=tmp_path / "whole", **run)
    killed_dir = tmp_path / "killed"
    with pytest.raises(RankFailed, match="2 processes"):
        distributed_train(output_dir=killed_dir, hooks=KillRankAt(killed_dir / "launch", 7), **run)
    checkpoints = sorted(p.name for p in (killed_dir / "checkpoints").glob("step-*"))
    assert checkpoints and checkpoints[-1] < "step-00000024"  # it did not finish
    log = Log()
    resumed = distributed_train(output_dir=killed_dir, hooks=log, **run)
    assert log.started[0][1] % 3 == 0 and 3 <= log.started[0][1] < 24
    assert resumed.resumed_from == log.started[0][1]
    assert_same_weights(whole.model_dir, resumed.model_dir, atol=0)
    assert resumed.eval_metrics == whole.eval_metrics
