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

import numpy as np
import pytest

from tests.packages import installed
from tests.training.test_distributed import (
    Log,
    assert_killed_rank_resumes_exactly,
    assert_resumes_exactly,
    assert_same_losses,
    assert_same_weights,
    policy_config,
    reward_ranks_against_one,
    weighted_pairs,
)
from training.distributed.launch import distributed_train
from training.distributed.resources import Resources
from training.policy.synthetic import tiny_policy
from training.policy.trainer import train_policy

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
    run, two, log = reward_ranks_against_one(two_ranks(strategy), tiny_model_dir, tmp_path, atol=WEIGHTS_ATOL,
                                             gradient_accumulation_steps=2)
    # Beside our whole weights: the engine's own files, one optimizer partition per rank.
    checkpoints = tmp_path / "two" / "checkpoints"
    assert len(list((checkpoints / "step-00000002" / "deepspeed" / "engine").glob("*optim_states.pt"))) == 2
    assert not list(checkpoints.glob(".deepspeed-*"))  # staging moved in
    assert_resumes_exactly(run, two, log, tmp_path)


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
    assert_killed_rank_resumes_exactly(two_ranks(strategy), tiny_model_dir, tmp_path, max_steps=24)
