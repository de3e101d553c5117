"""Our reward trainer's step losses equal TRL's RewardTrainer on the same model,
data and batch (the check benchmarks/reward.py makes at full size)."""

import argparse

import pytest

from tests.packages import installed

installed("trl", "pip install -r requirements-dev.txt")


def test_first_step_losses_equal_trls_reward_trainer(tmp_path):
    from benchmarks.reward import config_for, run_ours, run_trl
    from training.synthetic import synthetic_pairs, tiny_backbone

    model_dir = tiny_backbone(tmp_path / "tiny")
    config = config_for(argparse.Namespace(batch_size=4, steps=4, lr=5e-3, max_length=64, seed=0))
    pairs = synthetic_pairs(16, seed=9)
    trl = run_trl(model_dir, pairs, config, tmp_path)
    ours = run_ours(model_dir, pairs, config, tmp_path)
    assert len(ours["losses"]) == len(trl["losses"]) == 4
    assert ours["losses"] == pytest.approx(trl["losses"], abs=1e-5)
    assert ours["losses"][-1] < ours["losses"][0]  # it did learn: lr high enough to move
