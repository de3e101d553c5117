"""Sharded data parallel (strategy fsdp, torch FSDP2 through ``accelerate launch``) and
multi-machine launches, on the CPU.

2 real ranks (gloo), each holding half of every parameter, against 1 process
with the same global batch: the logged losses agree to 1e-5 and the final
weights to 5e-5 for a reward run and a DPO run. (The weights' tolerance: the
ranks add in another order, and AdamW divides each gradient by its running RMS,
so an element whose gradient is ~0 turns that rounding into a step of up to
lr; measured here: 1.1e-5 on one LayerNorm gain at lr 1e-3.) The fsdp
checkpoint is written once, whole, by rank 0, and a run resumed from it ends
with exactly the weights of the uninterrupted run. Two launchers on one host stand for two machines
(``num_machines=2``): a KTO run on them equals one process, its reference point
all-reduced. No database: the launcher takes pairs and hooks.
"""

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.training.test_distributed import (
    Log,
    assert_resumes_exactly,
    assert_same_losses,
    assert_same_weights,
    policy_config,
    reward_ranks_against_one,
    weighted_pairs,
)
from training.distributed.launch import REPO_ROOT, distributed_train
from training.distributed.resources import Resources
from training.policy.synthetic import tiny_policy
from training.policy.trainer import train_policy

FSDP2 = Resources(strategy="fsdp", processes_per_node=2)
WEIGHTS_ATOL = 5e-5


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    return tiny_policy(tmp_path_factory.mktemp("policy") / "base")


def test_two_fsdp_reward_ranks_equal_one_process_and_resume_exactly(tiny_model_dir, tmp_path):
    run, two, log = reward_ranks_against_one(FSDP2, tiny_model_dir, tmp_path, atol=WEIGHTS_ATOL)
    assert_resumes_exactly(run, two, log, tmp_path)


def test_two_fsdp_dpo_ranks_equal_one_process_with_the_same_global_batch(policy_dir, tmp_path):
    pairs = weighted_pairs(24, seed=5)
    one_log, two_log = Log(), Log()
    one = train_policy(policy_config(batch_size=4), model_path=policy_dir, train_pairs=pairs,
                       eval_pairs=pairs[:5], output_dir=tmp_path / "one", hooks=one_log)
    two = distributed_train(trainer="policy", kind="dpo", config=policy_config(batch_size=2).to_dict(),
                            resources=FSDP2, model_path=policy_dir, train_pairs=pairs, eval_pairs=pairs[:5],
                            output_dir=tmp_path / "two", hooks=two_log)
    assert two.steps == one.steps == 4
    assert two_log.train[0][1] == pytest.approx(np.log(2), abs=1e-4)  # sharded reference = the policy
    assert_same_losses(one_log, two_log)
    assert_same_weights(one.model_dir, two.model_dir, atol=WEIGHTS_ATOL)
    assert two.eval_metrics["loss"] == pytest.approx(one.eval_metrics["loss"], abs=1e-5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_second_node(spec: Path, done: threading.Event, procs: list) -> None:
    """What an operator runs on machine 1 once the worker has written the run's spec."""
    while not spec.exists() and not done.is_set():
        time.sleep(0.05)
    if not done.is_set():
        procs.append(subprocess.Popen([sys.executable, "-m", "training.distributed.node", str(spec),  # noqa: S603
                                       "--machine-rank", "1"], cwd=REPO_ROOT))


def test_kto_on_two_nodes_equals_one_process(policy_dir, tmp_path):
    """Two launchers on localhost (num_machines=2, one rank each, gloo) against one
    process. KTO's reference point z is the mean log-ratio of the global
    micro-batch: unshuffled, rank 0 holds the desirable and rank 1 the
    undesirable response of each pair, so a per-rank z would differ from step 2 on."""
    pairs = weighted_pairs(12, seed=7)
    settings = dict(loss="kto", shuffle=False, max_steps=6, learning_rate=1e-3)
    one_log, two_log = Log(), Log()
    one = train_policy(policy_config(batch_size=2, **settings), model_path=policy_dir, train_pairs=pairs,
                       eval_pairs=pairs[:3], output_dir=tmp_path / "one", hooks=one_log)
    nodes = Resources(strategy="ddp", processes_per_node=1, nodes=2, master_addr="127.0.0.1",
                      master_port=free_port())
    done, procs = threading.Event(), []
    helper = threading.Thread(target=start_second_node,
                              args=(tmp_path / "two" / "launch" / "spec.json", done, procs))
    helper.start()
    try:
        two = distributed_train(trainer="policy", kind="dpo", config=policy_config(batch_size=1, **settings)
                                .to_dict(), resources=nodes, model_path=policy_dir, train_pairs=pairs,
                                eval_pairs=pairs[:3], output_dir=tmp_path / "two", hooks=two_log)
    finally:
        done.set()
        helper.join()
        for proc in procs:
            assert proc.wait(timeout=120) == 0
    assert procs and two.steps == one.steps == 6 and "x 2 processes" in two.device
    assert_same_losses(one_log, two_log)
    assert_same_weights(one.model_dir, two.model_dir, atol=WEIGHTS_ATOL)
