"""The reward trainer on a tiny random BERT (CPU, seconds): no database."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from training.device import placement_choose
from training.evaluation import pairwise_metrics
from training.hooks import TrainingHooks
from training.reward.config import RewardConfig
from training.reward.data import pairs_encode
from training.reward.trainer import (
    model_load,
    rewards_compute,
    train_reward_model,
)
from training.synthetic import synthetic_pairs


class Recorder(TrainingHooks):
    def __init__(self):
        self.logs = []

    def on_log(self, *, step, split, values):
        self.logs.append((step, split, values))


def weights(model_dir):
    return load_file(model_dir / "model.safetensors")


def accuracy_of(model_dir, pairs, config):
    tokenizer, model = model_load(model_dir, config)
    chosen, rejected, ties = rewards_compute(
        model, pairs_encode(pairs, tokenizer, config.max_length), pad_id=tokenizer.pad_token_id,
        batch_size=32, placement=placement_choose("cpu"))
    return pairwise_metrics(chosen, rejected, is_tie=ties)["accuracy"]


def test_accuracy_rises_on_a_learnable_preference_and_parameters_change(
        tiny_model_dir, learnable_pairs, tmp_path):
    train, test = learnable_pairs
    config = RewardConfig(max_steps=30, learning_rate=3e-3, batch_size=8, logging_steps=5,
                          device="cpu", checkpoint_every_steps=0)
    before = accuracy_of(tiny_model_dir, test, config)
    hooks = Recorder()
    result = train_reward_model(config, model_path=tiny_model_dir, train_pairs=train, eval_pairs=test,
                                output_dir=tmp_path, hooks=hooks)
    assert result.steps == 30
    assert result.eval_metrics["accuracy"] >= 0.9 > before + 0.2
    assert result.eval_metrics["loss"] < 0.5
    base, trained = weights(tiny_model_dir), weights(result.model_dir)
    changed = [k for k in base if k in trained and not torch.equal(base[k], trained[k])]
    assert len(changed) >= len(base) // 2  # most tensors moved, not only the head
    train_logs = [v for _, split, v in hooks.logs if split == "train"]
    assert train_logs[-1]["loss"] < train_logs[0]["loss"]
    assert {"loss", "accuracy", "margin", "learning_rate", "grad_norm", "tokens_per_s",
            "memory_mb"} <= set(train_logs[0])


def test_batch_of_8_equals_8_accumulated_batches_of_1(tiny_model_dir, tmp_path):
    # Unequal weights and a margin loss: the normalisation must be per optimizer step.
    pairs = [p.__class__(**{**p.__dict__, "weight": w})
             for p, w in zip(synthetic_pairs(32, seed=3), np.linspace(0.2, 1.0, 32), strict=True)]
    common = dict(max_steps=3, learning_rate=1e-3, device="cpu", checkpoint_every_steps=0,
                  loss="bradley_terry_margin", center_rewards_coefficient=0.01, warmup_ratio=0.0)
    hooks_a, hooks_b = Recorder(), Recorder()
    a = train_reward_model(RewardConfig(batch_size=8, gradient_accumulation_steps=1, logging_steps=1,
                                        **common),
                           model_path=tiny_model_dir, train_pairs=pairs, eval_pairs=pairs[:4],
                           output_dir=tmp_path / "a", hooks=hooks_a)
    b = train_reward_model(RewardConfig(batch_size=1, gradient_accumulation_steps=8, logging_steps=1,
                                        **common),
                           model_path=tiny_model_dir, train_pairs=pairs, eval_pairs=pairs[:4],
                           output_dir=tmp_path / "b", hooks=hooks_b)
    losses_a = [v["loss"] for _, s, v in hooks_a.logs if s == "train"]
    losses_b = [v["loss"] for _, s, v in hooks_b.logs if s == "train"]
    assert losses_a == pytest.approx(losses_b, abs=1e-5)
    wa, wb = weights(a.model_dir), weights(b.model_dir)
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], atol=1e-5, rtol=0)


class Kill(Exception):
    pass


class KillAt(TrainingHooks):
    def __init__(self, step):
        self.step = step

    def on_progress(self, *, step, total_steps):
        if step == self.step:
            raise Kill(step)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_kill_and_resume_ends_with_the_weights_of_an_uninterrupted_run(
        tiny_dropout_model_dir, tmp_path, lora):
    # Dropout on, shuffled data, ties trained toward equal reward: RNG, data
    # position, optimizer and scheduler must all come back for equality.
    train, test = synthetic_pairs(48, seed=4, ties=6), synthetic_pairs(8, seed=5)
    config = RewardConfig(max_steps=14, batch_size=4, learning_rate=2e-3, checkpoint_every_steps=4,
                          ties="equal", device="cpu", lora=lora, warmup_ratio=0.2)
    whole = train_reward_model(config, model_path=tiny_dropout_model_dir, train_pairs=train,
                               eval_pairs=test, output_dir=tmp_path / "whole")
    with pytest.raises(Kill):
        train_reward_model(config, model_path=tiny_dropout_model_dir, train_pairs=train, eval_pairs=test,
                           output_dir=tmp_path / "killed", hooks=KillAt(10))
    resumed = train_reward_model(config, model_path=tiny_dropout_model_dir, train_pairs=train,
                                 eval_pairs=test, output_dir=tmp_path / "killed")
    assert resumed.resumed_from == 8
    a, b = weights(whole.model_dir), weights(resumed.model_dir)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.eval_metrics == whole.eval_metrics


def test_gradient_checkpointing_gives_the_same_first_steps(tiny_model_dir, tmp_path):
    common = dict(max_steps=2, batch_size=4, device="cpu", checkpoint_every_steps=0, logging_steps=1)
    pairs = synthetic_pairs(8, seed=6)
    plain, ckpt = Recorder(), Recorder()
    train_reward_model(RewardConfig(**common), model_path=tiny_model_dir, train_pairs=pairs,
                       eval_pairs=pairs, output_dir=tmp_path / "a", hooks=plain)
    train_reward_model(RewardConfig(gradient_checkpointing=True, **common), model_path=tiny_model_dir,
                       train_pairs=pairs, eval_pairs=pairs, output_dir=tmp_path / "b", hooks=ckpt)
    assert [v["loss"] for _, s, v in plain.logs if s == "train"] == pytest.approx(
        [v["loss"] for _, s, v in ckpt.logs if s == "train"], abs=1e-6)


def test_lora_trains_adapters_and_the_head_and_saves_a_merged_model(tiny_model_dir, tmp_path):
    pairs = synthetic_pairs(16, seed=7)
    result = train_reward_model(RewardConfig(max_steps=3, batch_size=4, device="cpu", lora=True,
                                             learning_rate=1e-2, checkpoint_every_steps=0),
                                model_path=tiny_model_dir, train_pairs=pairs, eval_pairs=pairs,
                                output_dir=tmp_path)
    merged = weights(result.model_dir)
    assert not any("lora" in name for name in merged)  # a plain model, loadable without peft
    base = weights(tiny_model_dir)
    assert not torch.equal(base["classifier.weight"], merged["classifier.weight"])
    checkpoint = load_file(next((tmp_path / "checkpoints").iterdir()) / "model.safetensors")
    assert any("lora_A" in name for name in checkpoint)
    assert not any("word_embeddings" in name for name in checkpoint)  # frozen weights not copied


def test_all_ties_dropped_is_an_error(tiny_model_dir, tmp_path):
    pairs = synthetic_pairs(4, ties=4)
    with pytest.raises(ValueError, match="no training pairs"):
        train_reward_model(RewardConfig(max_steps=1, device="cpu"), model_path=tiny_model_dir,
                           train_pairs=pairs, eval_pairs=pairs, output_dir=tmp_path)


def test_a_trained_model_scores_good_responses_above_bad_ones(tiny_model_dir, learnable_pairs, tmp_path):
    from training.scoring import rewards_score

    train, test = learnable_pairs
    result = train_reward_model(RewardConfig(max_steps=25, learning_rate=3e-3, device="cpu",
                                             checkpoint_every_steps=0),
                                model_path=tiny_model_dir, train_pairs=train, eval_pairs=test[:4],
                                output_dir=tmp_path)
    pair = test[0]
    good, bad = rewards_score(model_dir=result.model_dir, prompt_messages=pair.prompt_messages,
                              responses=[pair.chosen, pair.rejected], device="cpu")
    assert good > bad
